"""Which image a job's pod runs: repository and tag from deploy-time configuration, never `latest`.

Resolution for job `push-logs` (env var, else the Airflow Variable of the same name):

1. ``INGEST_IMAGE_PUSH_LOGS``: the full reference, ``repository:tag`` or
   ``repository@sha256:<digest>`` (the chart renders one per job);
2. else ``INGEST_IMAGE_REGISTRY`` + ``/push-logs:`` + ``INGEST_IMAGE_TAG``.

An empty, missing or floating (``latest``) tag fails the DAG file's import with a message that
says what to set.
"""

from __future__ import annotations

import re

from ingest import config

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
FLOATING_TAGS = frozenset({"latest", "stable", "main", "master", "edge", "nightly"})


def split_reference(reference: str) -> tuple[str, str | None, str | None]:
    """`registry:5000/a/b:1.2@sha256:...` -> (`registry:5000/a/b`, `1.2`, `sha256:...`)."""
    rest, _, digest = reference.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest or None
    return rest, None, digest or None


def check_reference(reference: str, *, what: str, fix: str) -> str:
    """Returns `reference` when it pins a version; raises ConfigError saying `fix` otherwise."""
    repository, tag, digest = split_reference(reference.strip())
    problem = None
    if not repository or repository.endswith("/") or " " in reference.strip():
        problem = f"{reference!r} is not an image reference"
    elif digest is not None and not _DIGEST.match(digest):
        problem = f"{reference!r} has an invalid digest (expected sha256:<64 hex>)"
    elif tag is None and digest is None:
        problem = f"{reference!r} has no tag (that means a floating :latest)"
    elif tag is not None and tag.lower() in FLOATING_TAGS and digest is None:
        problem = f"{reference!r} uses the floating tag {tag!r}"
    elif tag is not None and not _TAG.match(tag):
        problem = f"{reference!r} has an invalid tag {tag!r}"
    if problem:
        raise config.ConfigError(f"{what}: {problem}; {fix}")
    return reference.strip()


def image_for(job: str) -> str:
    """The image reference the job's pods run."""
    key = config.env_key(job)
    per_job = f"{config.IMAGE_PREFIX}{key}"
    fix = (
        f"set {per_job}=<repository>:<release tag> for this job, or {config.IMAGE_REGISTRY} "
        f"(e.g. ghcr.io/acme/ingest-tasks) and {config.IMAGE_TAG} (e.g. 0.1.0) for all jobs, "
        "as env vars of the dag processor and workers or as Airflow Variables; "
        "floating tags such as latest are refused"
    )
    what = f"image of job {job}"
    explicit = config.setting(per_job)
    if explicit:
        return check_reference(explicit, what=f"{what} ({per_job})", fix=fix)
    registry = config.setting(config.IMAGE_REGISTRY)
    tag = config.setting(config.IMAGE_TAG)
    if not registry:
        raise config.ConfigError(
            f"{what}: neither {per_job} nor {config.IMAGE_REGISTRY} is set; {fix}"
        )
    if not tag:
        raise config.ConfigError(f"{what}: {config.IMAGE_TAG} is not set; {fix}")
    reference = f"{registry.rstrip('/')}/{job}:{tag}"
    return check_reference(reference, what=f"{what} ({config.IMAGE_TAG})", fix=fix)
