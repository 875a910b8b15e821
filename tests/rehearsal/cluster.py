"""The parts of a cluster the rehearsal plays itself, each as close to the real one as a test
without Kubernetes can get (see the suite's docstring for what is real and what stands in):

- the chart, rendered by the real `helm template`;
- the Secret `kubectl create secret generic` makes from the command in docs/deploy.md;
- the kubelet's share of starting a container: resolving `env`/`envFrom` (secretKeyRef and
  configMapKeyRef, `optional`, CreateContainerConfigError), `$(VAR)` expansion, the volumes and
  the termination message;
- a read-only stand-in of the Kubernetes API for preflight's `get secrets/<name>`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.harness import SENTINEL_AWS_SECRET

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "ingest-tasks"
RELEASE = "ingest-tasks"
NAMESPACE = "airflow"
# The images' user (Dockerfile `USER 65532:65532`).
POD_UID = 65532
# The kubelet keeps at most this much of a termination message.
TERMINATION_MESSAGE_MAX = 4096
# FallbackToLogsOnError: the last 80 lines or 2048 bytes of the log, whichever is smaller.
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048


class CreateContainerConfigError(AssertionError):
    """The kubelet could not build the container's environment: the pod never starts."""


# --- helm ----------------------------------------------------------------------------------------


def helm_binary() -> str:
    tools = Path(os.environ.get("INGEST_TOOLS", Path.home() / ".cache" / "ingest-tasks" / "tools"))
    found = shutil.which("helm", path=f"{tools / 'bin'}:{os.environ.get('PATH', '')}")
    if not found:
        pytest.fail("helm not found: run scripts/install-tools.sh", pytrace=False)
    return found


def helm_template(values: dict, workdir: Path, *, refused: bool = False) -> list[dict] | str:
    """The chart's manifests for `values`, rendered by the real helm; with `refused`, helm's
    error (the values must be refused)."""
    import yaml

    path = workdir / f"values-{len(list(workdir.glob('values-*')))}.yaml"
    path.write_text(json.dumps(values))
    out = subprocess.run(
        [helm_binary(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if refused:
        assert out.returncode != 0, "helm accepted the values"
        return out.stderr
    assert out.returncode == 0, f"helm template failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def find(manifests: list[dict], kind: str, name: str | None = None) -> dict:
    found = [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''} in the chart, found {len(found)}"
    return found[0]


def as_api_object(manifest: dict) -> dict:
    """What the API server stores: a Secret's stringData becomes base64 data."""
    obj = json.loads(json.dumps(manifest))
    if obj["kind"] == "Secret":
        data = dict(obj.get("data") or {})
        for key, value in (obj.pop("stringData", None) or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    return obj


# --- the Secret from docs/deploy.md --------------------------------------------------------------

_KUBECTL_RE = re.compile(r"^kubectl\b.*\bcreate secret generic\b", re.M)


def kubectl_commands_in_docs(doc: Path) -> list[str]:
    """Every `kubectl ... create secret generic` command in the doc's shell blocks, with its
    continuation lines joined."""
    commands = []
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", doc.read_text(), re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if _KUBECTL_RE.match(line):
                commands.append(line)
    return commands


def secret_from_kubectl(command: str, env: dict[str, str], files: dict[str, bytes]) -> dict:
    """The Secret object `command` creates (or, piped to `kubectl apply`, replaces), with `$VAR`s
    from `env` and `--from-file` paths from `files`; fails on a flag it does not understand (the
    docs must stay simple)."""
    words = shlex.split(command, comments=True)
    words = [re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", lambda m: env[m.group(1)], w) for w in words]
    assert words[:1] == ["kubectl"], command
    if "|" in words:
        # `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`: the same Secret,
        # created or replaced (how the docs rotate a value).
        cut = words.index("|")
        assert words[cut + 1 :] == ["kubectl", "apply", "-f", "-"], command
        words = [w for w in words[:cut] if w not in ("--dry-run=client", "-o", "yaml")]
    namespace, name, data = None, None, {}
    rest = words[1:]
    i = 0
    positional = []
    while i < len(rest):
        word = rest[i]
        if word in ("-n", "--namespace"):
            namespace = rest[i + 1]
            i += 2
            continue
        if word.startswith("--namespace="):
            namespace = word.split("=", 1)[1]
        elif word.startswith("--from-literal="):
            key, _, value = word.split("=", 1)[1].partition("=")
            data[key] = value.encode()
        elif word.startswith("--from-file="):
            spec = word.split("=", 1)[1]
            key, _, path = spec.partition("=") if "=" in spec else (Path(spec).name, "", spec)
            assert path in files, f"{command}: no test content for --from-file {path}"
            data[key] = files[path]
        elif word.startswith("-"):
            raise AssertionError(f"{command}: the rehearsal does not know {word}")
        else:
            positional.append(word)
        i += 1
    assert positional[:3] == ["create", "secret", "generic"], command
    name = positional[3]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace or "default"},
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


# --- the kubelet ---------------------------------------------------------------------------------

_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined references replaced, `$$` -> `$`, undefined ones
    left as they are."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR_REF.sub(sub, value)


class Objects:
    """The namespace's objects (Secrets, ConfigMaps, ServiceAccounts, Roles, RoleBindings), as
    the API server stores them."""

    def __init__(self, *manifests: dict):
        self.items: dict[tuple[str, str], dict] = {}
        for m in manifests:
            self.add(m)

    def add(self, manifest: dict) -> None:
        obj = as_api_object(manifest)
        self.items[(obj["kind"], obj["metadata"]["name"])] = obj

    def remove(self, kind: str, name: str) -> None:
        self.items.pop((kind, name), None)

    def get(self, kind: str, name: str) -> dict | None:
        return self.items.get((kind, name))

    def value(self, kind: str, name: str, key: str) -> str | None:
        obj = self.get(kind, name)
        if obj is None or key not in (obj.get("data") or {}):
            return None
        raw = obj["data"][key]
        return base64.b64decode(raw).decode() if kind == "Secret" else raw


def container_env(container: dict, objects: Objects, who: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env in order,
    `$(VAR)` expanded against what is defined so far. A missing Secret/ConfigMap or key that is
    not `optional` raises CreateContainerConfigError, naming it."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, ref_key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(ref_key)
            if not ref:
                continue
            obj = objects.get(kind, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    continue
                raise CreateContainerConfigError(f"{who}: {kind.lower()} {ref['name']!r} not found")
            for key in obj.get("data") or {}:
                env[prefix + key] = objects.value(kind, ref["name"], key)
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value") or "", env)
            continue
        source = var["valueFrom"]
        for kind, ref_key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            ref = source.get(ref_key)
            if not ref:
                continue
            obj = objects.get(kind, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    break
                raise CreateContainerConfigError(
                    f"{who}: env {name}: {kind.lower()} {ref['name']!r} not found"
                )
            value = objects.value(kind, ref["name"], ref["key"])
            if value is None:
                if ref.get("optional"):
                    break
                raise CreateContainerConfigError(
                    f"{who}: env {name}: couldn't find key {ref['key']} in {kind} "
                    f"{NAMESPACE}/{ref['name']}"
                )
            env[name] = value
            break
        else:
            raise AssertionError(f"{who}: env {name}: the rehearsal does not resolve {source}")
    return env


# --- running a container -----------------------------------------------------------------------


@dataclass
class Ended:
    """How a container ended, as the pod's status reports it."""

    exit_code: int
    stdout: str
    stderr: str
    termination_message: str
    reason: str  # the container's terminated reason: Completed, Error, OOMKilled
    pod_reason: str | None = None  # DeadlineExceeded
    argv: list[str] = field(default_factory=list)


@dataclass
class Sandbox:
    """A pod's filesystem as the job sees it: a read-only working directory (the image root:
    nothing may be written there), one host directory per emptyDir, the termination-log file."""

    root: Path
    cwd: Path
    volumes: dict[str, Path]
    termination_log: Path

    def written_outside_volumes(self) -> list[str]:
        return sorted(str(p.relative_to(self.cwd)) for p in self.cwd.rglob("*"))


def make_sandbox(base: Path, mounts: dict[str, str]) -> Sandbox:
    """`mounts`: mount path -> volume name (emptyDir)."""
    root = Path(tempfile.mkdtemp(prefix="pod-", dir=base))
    root.chmod(0o755)
    cwd = root / "rootfs"
    cwd.mkdir()
    volumes = {}
    for mount_path, volume in mounts.items():
        host = root / f"volume-{volume}"
        host.mkdir()
        _own(host)
        volumes[mount_path] = host
    log = root / "termination-log"
    log.write_text("")
    _own(log)
    cwd.chmod(0o555)  # read-only root filesystem
    return Sandbox(root=root, cwd=cwd, volumes=volumes, termination_log=log)


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        os.chown(path, POD_UID, POD_UID)


def map_paths(value: str, sandbox: Sandbox) -> str:
    """A value naming a mounted path (TMPDIR=/tmp) points at the volume's host directory."""
    for mount_path, host in sandbox.volumes.items():
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(host) + value[len(mount_path.rstrip("/")) :]
    return value


def termination_message(sandbox: Sandbox, exit_code: int, stdout: str, stderr: str, policy: str):
    """The kubelet's termination message: the file, else (FallbackToLogsOnError, failed
    container) the log's tail. The binary's stdout ends with its summary, after its stderr
    logs: the tail is taken from the log with stdout last."""
    message = sandbox.termination_log.read_text()[:TERMINATION_MESSAGE_MAX]
    if message or policy != "FallbackToLogsOnError" or exit_code == 0:
        return message
    lines = (stderr + stdout).splitlines()[-FALLBACK_LINES:]
    return "\n".join(lines)[-FALLBACK_BYTES:]


def run_container(
    argv: list[str],
    env: dict[str, str],
    sandbox: Sandbox,
    *,
    policy: str = "FallbackToLogsOnError",
    deadline: float | None = None,
    grace: float = 5.0,
    kill_after: float | None = None,
    kill_reason: str = "OOMKilled",
) -> Ended:
    """Runs the container's process as the pod's user with its environment only, from the
    read-only root. `deadline` (activeDeadlineSeconds): SIGTERM, then SIGKILL after `grace`,
    pod reason DeadlineExceeded. `kill_after`: SIGKILL after that many seconds (an OOM kill
    mid-run; the caller makes sure the job cannot finish before)."""
    kwargs = {}
    if os.geteuid() == 0:
        kwargs = {"user": POD_UID, "group": POD_UID, "extra_groups": []}
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=sandbox.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
    out: list[str] = []
    err: list[str] = []
    killed = threading.Event()

    def read_out():
        for line in proc.stdout:
            out.append(line)

    def read_err():
        for line in proc.stderr:
            err.append(line)

    def kill():
        if proc.poll() is None:
            killed.set()
            proc.send_signal(signal.SIGKILL)

    timer = threading.Timer(kill_after, kill) if kill_after is not None else None
    if timer:
        timer.start()
    readers = [threading.Thread(target=read_out), threading.Thread(target=read_err)]
    for t in readers:
        t.start()
    pod_reason = None
    try:
        proc.wait(timeout=deadline if deadline is not None else 600)
    except subprocess.TimeoutExpired:
        if deadline is None:
            proc.kill()
            raise
        pod_reason = "DeadlineExceeded"
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if timer:
        timer.cancel()
    for t in readers:
        t.join()
    code = proc.returncode
    if code < 0:  # killed by a signal: the runtime reports 128 + signal
        code = 128 - code
    stdout, stderr = "".join(out), "".join(err)
    if killed.is_set():
        reason = kill_reason
    else:
        reason = "Completed" if code == 0 else "Error"
    return Ended(
        exit_code=code,
        stdout=stdout,
        stderr=stderr,
        termination_message=termination_message(sandbox, code, stdout, stderr, policy),
        reason=reason,
        pod_reason=pod_reason,
        argv=argv,
    )


# --- the env the image and the cluster add ----------------------------------------------------

IMAGE_ENV = {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}  # the Dockerfile's ENV


def cluster_env(moto: str, sandbox: Sandbox, s3_endpoint: str | None = None) -> dict:
    """What EKS and the kubelet put in every pod besides its spec's env: the kubelet's service
    env and termination-log mount, IRSA's AWS env (here: static keys for moto, and moto's
    endpoint: stand-ins for the role and the real S3)."""
    return {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SENTINEL_AWS_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "INGEST_S3_ENDPOINT": s3_endpoint or moto,
        "INGEST_S3_FORCE_PATH_STYLE": "true",
        "INGEST_S3_MAX_ATTEMPTS": "2",
        "INGEST_TERMINATION_LOG": str(sandbox.termination_log),
    }


def start_pod(pod: dict, objects: Objects, hostdir: Path, extra_env: dict, who: str):
    """Resolves the pod's single container as the kubelet would and prepares its sandbox.
    Returns (job, command, args, env, sandbox)."""
    spec = pod["spec"]
    (container,) = spec["containers"]
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    mounts = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "emptyDir" not in volume:
            continue  # the preflight pod's ServiceAccount token: the kubeconfig stands for it
        mounts[mount["mountPath"]] = mount["name"]
    security = container.get("securityContext") or {}
    assert security.get("readOnlyRootFilesystem") is True, f"{who}: root filesystem is writable"
    assert security.get("runAsNonRoot") is True, f"{who}: may run as root"
    sandbox = make_sandbox(hostdir, mounts)
    env = dict(IMAGE_ENV)
    env["HOSTNAME"] = pod["metadata"].get("name") or who
    env.update(container_env(container, objects, who))  # CreateContainerConfigError
    env = {k: map_paths(v, sandbox) for k, v in env.items()}
    for name, value in extra_env(sandbox).items() if callable(extra_env) else extra_env.items():
        env.setdefault(name, value)  # the pod's own env wins, as with IRSA's webhook
    image = container["image"]
    job = image.rsplit("/", 1)[1].split(":")[0].split("@")[0]
    # The image's ENTRYPOINT (/usr/local/bin/job) runs the job's binary: named by the image here.
    command = container.get("command") or [f"/usr/local/bin/{job}"]
    args = [expand(a, env) for a in container.get("args") or []]
    return job, command, args, env, sandbox


# --- the Kubernetes API, for preflight's `get secrets/<name>` and `get serviceaccounts/<name>` ---

_RESOURCES = {"secrets": "Secret", "serviceaccounts": "ServiceAccount"}


def rbac_allows(objects: Objects, service_account: str, resource: str, name: str) -> bool:
    """Whether a Role bound to `service_account` grants `get` on `resource`/`name`, as the API
    server's RBAC authorizer decides for namespaced Roles (resourceNames, verbs, core group)."""
    roles = set()
    for (kind, _), binding in objects.items.items():
        if kind != "RoleBinding":
            continue
        subjects = binding.get("subjects") or []
        if any(
            s.get("kind") == "ServiceAccount" and s.get("name") == service_account for s in subjects
        ):
            roles.add(binding["roleRef"]["name"])
    for role_name in roles:
        role = objects.get("Role", role_name) or {}
        for rule in role.get("rules") or []:
            if (
                "" in rule.get("apiGroups", [])
                and resource in rule.get("resources", [])
                and "get" in rule.get("verbs", [])
                and (not rule.get("resourceNames") or name in rule["resourceNames"])
            ):
                return True
    return False


class FakeApiServer:
    """Answers GET /api/v1/namespaces/<ns>/{secrets,serviceaccounts}/<name> from `objects`, 404
    otherwise, the way the API server does. With `service_account`, requests are authorized by
    the Roles and RoleBindings in `objects` (403 otherwise), so the chart's RBAC is checked too.
    A stand-in: no API server can run in the test (kind needs Docker)."""

    def __init__(self, objects: Objects, token: str, service_account: str | None = None):
        self.objects = objects
        self.token = token
        self.service_account = service_account
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                api.requests.append(self.path)
                m = re.fullmatch(
                    r"/api/v1/namespaces/([^/]+)/(secrets|serviceaccounts)/([^/?]+)(\?.*)?",
                    self.path,
                )
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._reply(401, _status(401, "Unauthorized", "Unauthorized"))
                if m is None:
                    return self._reply(404, _status(404, "NotFound", f"{self.path} not found"))
                namespace, resource, name = m.group(1), m.group(2), m.group(3)
                if api.service_account and not rbac_allows(
                    api.objects, api.service_account, resource, name
                ):
                    who = f"system:serviceaccount:{namespace}:{api.service_account}"
                    return self._reply(
                        403,
                        _status(
                            403,
                            "Forbidden",
                            f'{resource} "{name}" is forbidden: User "{who}" cannot get '
                            f'resource "{resource}" in API group "" in the namespace "{namespace}"',
                        ),
                    )
                obj = api.objects.get(_RESOURCES[resource], name)
                if obj is None or obj["metadata"].get("namespace", NAMESPACE) != namespace:
                    return self._reply(
                        404, _status(404, "NotFound", f'{resource} "{name}" not found')
                    )
                return self._reply(200, obj)

            def _reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: Path, namespace: str) -> Path:
        """The in-cluster identity of the pod (its ServiceAccount token), as a kubeconfig."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "rehearsal", "cluster": {"server": self.url}}],
            "users": [{"name": "sa", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "rehearsal",
                    "context": {"cluster": "rehearsal", "user": "sa", "namespace": namespace},
                }
            ],
            "current-context": "rehearsal",
        }
        path.write_text(json.dumps(config))
        path.chmod(0o644)
        return path

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
