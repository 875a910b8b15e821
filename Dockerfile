# One Dockerfile for every image, one stage for all of them: pick the image with build arg JOB (a
# crate with a registry entry, `scripts/registry.py list`), nothing else:
#
#   docker buildx build --build-arg JOB=push-logs -t ingest/push-logs .
#
# A new job crate needs no change here.
#
# Stages:
#   chef      rust (Debian bookworm) + cargo-chef
#   planner   the dependency recipe of the workspace (changes only when a manifest changes)
#   build     cooks the dependencies (a cached layer), then builds one job as a static binary
#             (glibc with crt-static; TLS is rustls + ring, so no OpenSSL) and puts it and the
#             CA bundle under /out (the context is the workspace plus dags/ingest/registry.json,
#             the job list preflight embeds: .dockerignore)
#   prebuilt  the same /out, taken from the build context instead (see below)
#   runtime   (the default target) FROM scratch: the binary as /usr/local/bin/job (the ENTRYPOINT:
#             an exec-form ENTRYPOINT cannot take a build arg, so the path is the same in every
#             image; the binaries name themselves in --help whatever path runs them), the CA
#             bundle, nothing else; runs as 65532:65532
#
# Where the binary comes from is chosen by build arg BIN_STAGE:
#   build     (default) compile it here: what CI and `docker build` use;
#   prebuilt  copy out/ from the build context: what scripts/check-images.sh uses on a machine
#             with no Docker engine and no registry access (Debian's buildah, `FROM scratch`
#             only). Unused stages are skipped by BuildKit and buildah alike, so the rust image is
#             never pulled there, and the runtime stage below is the same in both
#             cases: the check exercises exactly the stages that ship.
#
# HTTPS (S3, Snowflake, the webhook): rustls reads the system roots (rustls-native-certs through
# aws-smithy-http-client and rustls-platform-verifier), so the image carries Debian's
# ca-certificates bundle and SSL_CERT_FILE points at it. DNS uses glibc's built-in files and dns
# resolvers (glibc >= 2.34 needs no NSS plug-ins for them), which work in a static binary.

ARG RUST_VERSION=1.95
ARG BIN_STAGE=build

# The build stages run on the builder's own platform and cross-compile for the image's
# (TARGETARCH: amd64 or arm64), so an arm64 image needs no emulation to build.
FROM --platform=$BUILDPLATFORM docker.io/library/rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install --locked --version "${CARGO_CHEF_VERSION}" cargo-chef
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
ARG JOB
ARG TARGETARCH
ENV RUSTFLAGS="-C target-feature=+crt-static" \
    CARGO_TERM_COLOR=never \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The Rust target of the image's platform; arm64 also needs the cross C toolchain (ring builds
# C) and glibc's static libraries for aarch64.
RUN case "${TARGETARCH:-amd64}" in \
      amd64) echo x86_64-unknown-linux-gnu >/rust-target ;; \
      arm64) echo aarch64-unknown-linux-gnu >/rust-target \
        && apt-get update \
        && apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu=4:12.2.0-3 \
             libc6-dev-arm64-cross=2.36-8cross1 \
        && rm -rf /var/lib/apt/lists/* ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}: amd64 or arm64" >&2; exit 2 ;; \
    esac \
    && rustup target add "$(cat /rust-target)"
COPY --from=planner /src/recipe.json recipe.json
# The dependency layer: rebuilt only when Cargo.toml/Cargo.lock change.
RUN cargo chef cook --release --locked --target "$(cat /rust-target)" --recipe-path recipe.json
COPY . .
RUN test -n "${JOB}" || { echo "build arg JOB is required: one of scripts/registry.py list" >&2; exit 2; }; \
    target="$(cat /rust-target)" \
    && cargo build --release --locked --target "${target}" --bin "${JOB}" \
    && mkdir -p /out \
    && install -m 0555 "target/${target}/release/${JOB}" "/out/${JOB}" \
    && install -m 0444 /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt \
    && { ! readelf -d "/out/${JOB}" | grep -q '(NEEDED)' || { echo "${JOB} is not static" >&2; exit 1; }; }

FROM scratch AS prebuilt
COPY out/ /out/

# BIN_STAGE names one of the two stages above (build or prebuilt).
FROM ${BIN_STAGE} AS bin

FROM scratch AS runtime
ARG JOB
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/acme/ingest-tasks
LABEL org.opencontainers.image.title="${JOB}" \
      org.opencontainers.image.description="Ingest job ${JOB}: one day of raw files into the lake" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="acme"
COPY --from=bin /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=bin /out/${JOB} /usr/local/bin/job
# glibc raises its mmap threshold each time a large buffer is freed, and from then on serves
# buffers that size from its heap, where freed row-group and multipart buffers fragment it: peak
# RSS of a telemetry run with an S3 lake measured 72 MiB with the dynamic threshold, 60 MiB with
# it fixed at glibc's default (128 KiB). scripts/bench.py runs the jobs with this same value.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/job"]
