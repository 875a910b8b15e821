"""Deployment rehearsal: the chart, the Secret, the DAGs' pods and the release binaries, run
together the way a cluster runs them, with the seams between them checked end to end.

For each scenario:

1. the chart is rendered by the real `helm template`, with a chart-managed Secret or with an
   `existingSecret` created from the `kubectl create secret generic` command in docs/deploy.md
   (parsed from the doc: the test follows the docs, not its own idea of them);
2. the DAGs are parsed by real Airflow with the rendered ConfigMap's data as their environment
   (what the official chart's `extraEnvFrom` gives the dag processor and workers), and every
   task's pod is built by KubernetesPodOperator's own `build_pod_request_obj`; the preflight
   hook's pod is the chart's Job;
3. each container's environment is resolved as the kubelet does (`env`, `envFrom`,
   `secretKeyRef`/`configMapKeyRef` with `optional`, `$(VAR)` expansion in values and args): a
   reference the deployment cannot satisfy fails the scenario with CreateContainerConfigError
   naming the Secret and key;
4. the container's exact command and arguments run with that environment and nothing else,
   using the release-profile static binaries check-images builds for the images
   (INGEST_RELEASE_BIN_DIR; the panic scenario uses the same build with the `fault-injection`
   feature, INGEST_FAULT_BIN_DIR); a missing binary FAILS the suite;
5. Airflow's try loop is driven with Airflow's own code: the exception KubernetesPodOperator
   raises for the ended pod (its `cleanup()`), the task runner's failure handling with the DAG's
   retry policy (`_handle_current_task_failed`), then the next try or the task's real
   `on_failure_callback` (MattermostNotifier), up to `retries + 1` tries.

Binaries run directly, not in `buildah run --isolation chroot` of the image: a chroot run costs
seconds per container and the rehearsal starts ~40 containers, which would take the suite past
its few-minute budget; check-images already runs every image (user, no shell, CA bundle, HTTPS)
with the same binaries, so the rehearsal adds the deployment around them instead. What the pod
gives the process is reproduced: when the suite runs as root (CI), the process runs as the
images' user 65532:65532 (non-root, as `runAsNonRoot` requires); its working directory is a
read-only directory standing for the read-only root filesystem (asserted empty afterwards);
the pod's emptyDir volumes are host directories, and env values naming a mount path (TMPDIR=/tmp)
point at them; the kubelet's /dev/termination-log mount is a file named by
INGEST_TERMINATION_LOG; FallbackToLogsOnError is applied when that file is empty.

Real parts: helm, Airflow, KubernetesPodOperator, the release binaries, moto's S3 server on
127.0.0.1 (sources and the s3:// lake), fakesnow's server (the warehouse), DuckDB (reads the
lake back), an HTTP receiver standing for Mattermost. Stand-ins, because nothing real can run
here: the Kubernetes API for preflight's `get secrets/<name>` (cluster.FakeApiServer, serving
the rendered or kubectl-made Secret), and the env EKS injects into pods (IRSA's AWS_* and, for
moto, the S3 endpoint), listed in CLUSTER_ENV.

Secret values are sentinels; every captured output (stdout, stderr, termination messages,
Mattermost posts, Airflow's log) is grepped for them.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import upload_tree
from tests.harness import SENTINEL_AWS_SECRET, SENTINEL_WEBHOOK_TOKEN, free_port, start_webhook
from tests.rehearsal import cluster
from tests.rehearsal.cluster import (
    NAMESPACE,
    CreateContainerConfigError,
    FakeApiServer,
    Objects,
    cluster_env,
    container_env,
    find,
    helm_template,
    make_sandbox,
    run_container,
    start_pod,
)

# The DAG harness (real Airflow in a throwaway AIRFLOW_HOME; sets Airflow's env before Airflow
# is imported) lives with the DAG tests.
DAG_TESTS = cluster.REPO / "dags" / "tests"
if str(DAG_TESTS) not in sys.path:
    sys.path.insert(0, str(DAG_TESTS))
import dag_harness  # noqa: E402

DATE = "2026-11-20"
NEXT = "2026-11-21"  # license-exports reads the export named for the next day
SENTINEL_PASSWORD = "SENTINEL-snowflake-pw-rehearsal-41d2"
SENTINEL_SA_TOKEN = "SENTINEL-sa-token-rehearsal-8e0a"
SENTINELS = (SENTINEL_WEBHOOK_TOKEN, SENTINEL_PASSWORD, SENTINEL_AWS_SECRET, SENTINEL_SA_TOKEN)
pytestmark = pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning")
JOB_TASKS = [(d, t) for d, tasks in dag_harness.EXPECTED.items() for t in tasks]


# --- binaries ------------------------------------------------------------------------------------


def _bin_dir(var: str, what: str, names: tuple[str, ...]) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.fail(
            f"{var} is not set: the rehearsal runs {what}. scripts/test.sh builds them (after "
            "check-images) and sets it",
            pytrace=False,
        )
    missing = [n for n in names if not (Path(value) / n).is_file()]
    if missing:
        pytest.fail(f"{var}={value}: missing {', '.join(missing)}", pytrace=False)
    return Path(value)


@pytest.fixture(scope="session")
def hostdir():
    """A directory the pods' user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="ingest-rehearsal-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def bins(hostdir):
    """The release binaries (and the fault-injection push-logs), copied where user 65532 can
    run them."""
    # Every image of the job registry (what scripts/test.sh copies there).
    images = json.loads((dag_harness.DAGS / "ingest" / "registry.json").read_text())["images"]
    jobs = tuple(images)
    release = _bin_dir(
        "INGEST_RELEASE_BIN_DIR",
        "the release-profile static binaries the images ship",
        (*jobs, "sample-data"),
    )
    fault = _bin_dir(
        "INGEST_FAULT_BIN_DIR", "push-logs built with --features fault-injection", ("push-logs",)
    )
    out = {}
    for kind, src, names in (
        ("release", release, (*jobs, "sample-data")),
        ("fault", fault, ("push-logs",)),
    ):
        dst = hostdir / "bin" / kind
        dst.mkdir(parents=True)
        for name in names:
            shutil.copy2(src / name, dst / name)
            (dst / name).chmod(0o755)
        out[kind] = dst
    return out


# --- S3, Mattermost, the warehouse ---------------------------------------------------------------


@pytest.fixture(scope="session")
def s3client(moto_endpoint):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint[0],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=SENTINEL_AWS_SECRET,
    )


@pytest.fixture(scope="session")
def mattermost():
    hook = start_webhook()
    yield hook
    hook.server.shutdown()


@dataclass
class Sources:
    """The day's raw files on S3, per setting: the locations the chart's values point at."""

    push_logs: dict[str, str]
    telemetry: list[str]
    server_pingbacks: list[str]
    license_exports: list[str]
    bad_push_logs: str  # 20% malformed lines


@pytest.fixture(scope="session")
def sources(bins, s3client, hostdir) -> Sources:
    import subprocess

    def sample(*args):
        subprocess.run(
            [str(bins["release"] / "sample-data"), *args], check=True, capture_output=True
        )

    bucket = f"src-{uuid.uuid4().hex[:8]}"
    s3client.create_bucket(Bucket=bucket)
    root = hostdir / "samples"
    alb = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"
    sample("alb", "--date", DATE, "--out", str(root / "alb"), "--files", "2", "--lines", "150")
    sample(
        "alb",
        "--date",
        DATE,
        "--out",
        str(root / "bad"),
        "--files",
        "2",
        "--lines",
        "100",
        "--malformed-every",
        "5",
    )
    for dist, seed in (("E2EXAMPLE1", "1"), ("E1EXAMPLE9", "2")):
        sample(
            "cloudfront",
            "--date",
            DATE,
            "--out",
            str(root / "cf"),
            "--kind",
            "telemetry",
            "--prefix",
            "telemetry",
            "--distribution",
            dist,
            "--lines",
            "20",
            "--seed",
            seed,
        )
    sample(
        "cloudfront",
        "--date",
        DATE,
        "--out",
        str(root / "cf"),
        "--kind",
        "pingbacks",
        "--prefix",
        "releases",
        "--distribution",
        "E3EXAMPLE2",
        "--lines",
        "20",
    )
    sample("licenses", "--date", NEXT, "--out", str(root / "lic"), "--rows", "60")
    for deployment in ("us", "test", "eu"):
        for path in sorted((root / "alb").rglob("*")):
            if path.is_file():
                key = f"{deployment}/{path.relative_to(root / 'alb').as_posix()}"
                s3client.upload_file(str(path), bucket, key)
    for path in sorted((root / "bad").rglob("*")):
        if path.is_file():
            s3client.upload_file(
                str(path), bucket, f"bad/{path.relative_to(root / 'bad').as_posix()}"
            )
    upload_tree(s3client, bucket, root / "cf")
    upload_tree(s3client, bucket, root / "lic")
    return Sources(
        push_logs={d: f"s3://{bucket}/{d}/{alb}" for d in ("us", "test", "eu")},
        telemetry=[f"s3://{bucket}/telemetry/E2EXAMPLE1", f"s3://{bucket}/telemetry/E1EXAMPLE9"],
        server_pingbacks=[f"s3://{bucket}/releases/E3EXAMPLE2"],
        license_exports=[f"s3://{bucket}/licenses"],
        bad_push_logs=f"s3://{bucket}/bad/{alb}",
    )


@pytest.fixture(scope="module")
def warehouse(fakesnow_server):
    """fakesnow's server with the schemas of the jobs' tables; `url(bucket)` makes a stage over
    that lake and returns the chart's warehouse.url for it."""
    from tests.test_snowflake import start_proxy

    kwargs, conn = fakesnow_server
    cur = conn.cursor()
    for schema in ("PUSH_PROXY", "DIAGNOSTICS", "RELEASES", "LICENSES"):
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS DB.{schema}")
    # fakesnow answers in Arrow whatever the session asks; the proxy gives the job the JSON
    # results real Snowflake sends for the format the job pins, so its COPY check runs as in
    # production (tests/test_snowflake.py, as_json_result).
    proxy = start_proxy(kwargs["port"])

    def url(bucket: str) -> str:
        stage = "LAKE_" + re.sub(r"\W", "_", bucket).upper()
        cur.execute(
            f"CREATE OR REPLACE STAGE DB.INGEST.{stage} URL = 's3://{bucket}/lake/' "
            "STORAGE_INTEGRATION = INGEST_LAKE FILE_FORMAT = (TYPE = PARQUET)"
        )
        return (
            f"snowflake://fakesnow/DB?stage=DB.INGEST.{stage}&warehouse=LOAD_WH"
            f"&role=INGEST_LOADER&endpoint={proxy.endpoint}&max_attempts=2"
        )

    def count(table: str) -> int:
        schema, name = table.upper().split(".")
        c = conn.cursor()
        c.execute(f"SELECT count(*) FROM DB.{schema}.{name} WHERE dt = '{DATE}'::DATE")
        return c.fetchone()[0]

    url.proxy = proxy  # its logins, for the key-rotation test
    yield url, count
    proxy.server.shutdown()


# --- a deployment --------------------------------------------------------------------------------


# What the stand-in API server holds of a rendered release (hooks included: a hook's objects
# exist while it runs).
API_KINDS = ("Secret", "ConfigMap", "ServiceAccount", "Role", "RoleBinding")


@dataclass
class Deployment:
    """One `helm upgrade` of the chart plus the namespace's objects."""

    label: str
    manifests: list[dict]
    objects: Objects
    settings: dict[str, str]  # the rendered ConfigMap's data
    lake_bucket: str
    secret_name: str
    outputs: list[str] = field(default_factory=list)  # everything captured, for the sentinel grep

    def hook_job(self) -> dict:
        return find(self.manifests, "Job", f"{cluster.RELEASE}-preflight")

    def hook_env(self, name: str) -> str | None:
        (container,) = self.hook_job()["spec"]["template"]["spec"]["containers"]
        return next((e["value"] for e in container["env"] if e["name"] == name), None)


def chart_values(sources: Sources, lake_bucket: str, **overrides) -> dict:
    values = {
        "image": {"registry": "registry.rehearsal.test/ingest", "tag": "0.0.0-rehearsal"},
        "lake": f"s3://{lake_bucket}/lake",
        "jobs": {
            "push-logs": {"sourcesByDeployment": dict(sources.push_logs)},
            "telemetry": {"sources": sources.telemetry},
            "server-pingbacks": {"sources": sources.server_pingbacks},
            "license-exports": {"sources": sources.license_exports},
        },
        "alerts": {"channel": "ingest-alerts", "username": "ingest-bot"},
        "preflight": {"hook": {"enabled": True}},
    }
    for key, value in overrides.items():
        target = values
        *path, last = key.split(".")
        for part in path:
            target = target.setdefault(part, {})
        target[last] = value
    return values


def docs_secret(webhook_url: str, *, warehouse: bool, private_key: str = "") -> dict:
    """The Secret `kubectl create secret generic` makes from docs/deploy.md's command (the one
    with the Snowflake key when `warehouse`)."""
    commands = [
        c
        for c in cluster.kubectl_commands_in_docs(cluster.REPO / "docs" / "deploy.md")
        if "kubectl apply" not in c
    ]
    assert len(commands) == 2, f"docs/deploy.md: expected the two kubectl commands, got {commands}"
    command = next(c for c in commands if ("snowflake" in c) == warehouse)
    return cluster.secret_from_kubectl(
        command,
        env={"MATTERMOST_WEBHOOK_URL": webhook_url},
        files={"rsa_key.p8": private_key.encode()},
    )


@pytest.fixture()
def deploy(sources, s3client, mattermost, hostdir):
    """deploy(label, existing_secret=None | Secret manifest, **values) -> Deployment."""

    def make(
        label: str, existing_secret: dict | None = None, lake_bucket: str | None = None, **values
    ):
        lake_bucket = lake_bucket or f"lake-{uuid.uuid4().hex[:8]}"
        try:
            s3client.create_bucket(Bucket=lake_bucket)
        except s3client.exceptions.BucketAlreadyOwnedByYou:
            pass
        if existing_secret is not None:
            values["secret.existingSecret"] = existing_secret["metadata"]["name"]
        else:
            # The chart-managed Secret (opt-in: secret.create defaults to false).
            values.setdefault("secret.create", True)
            values.setdefault("secret.stringData", {"mattermost-webhook-url": mattermost.url})
        manifests = helm_template(chart_values(sources, lake_bucket, **values), hostdir)
        objects = Objects(*[m for m in manifests if m["kind"] in API_KINDS])
        if existing_secret is not None:
            assert not [m for m in manifests if m["kind"] == "Secret"]
            objects.add(existing_secret)
        configmap = find(manifests, "ConfigMap")
        settings = dict(configmap["data"])
        return Deployment(
            label=label,
            manifests=manifests,
            objects=objects,
            settings=settings,
            lake_bucket=lake_bucket,
            secret_name=settings["INGEST_SECRET_NAME"],
        )

    return make


@pytest.fixture()
def airflow_env(monkeypatch):
    """load(deployment) -> DagBag, parsed with the deployment's ConfigMap as the environment
    (and the Airflow chart's `secret` mapping of the webhook key, docs/deploy.md)."""

    def load(dep: Deployment):
        for name in list(os.environ):
            if name.startswith("INGEST_"):
                monkeypatch.delenv(name)
        for name, value in dep.settings.items():
            monkeypatch.setenv(name, value)
        webhook = dep.objects.value("Secret", dep.secret_name, "mattermost-webhook-url")
        if webhook:
            monkeypatch.setenv("INGEST_ALERT_WEBHOOK_URL", webhook)
        return dag_harness.load_dagbag()

    return load


# --- one pod, one task --------------------------------------------------------------------------


@dataclass
class Try:
    try_number: int
    ended: cluster.Ended
    env: dict[str, str]
    sandbox: cluster.Sandbox
    exception: BaseException | None = None


@dataclass
class TaskRun:
    state: str  # success | failed
    tries: list[Try]
    callback_ran: bool = False


def pod_dict(pod) -> dict:
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(pod)


def kpo_exception(task, pod_obj, ended: cluster.Ended) -> BaseException:
    """The exception KubernetesPodOperator raises for the ended pod: its own cleanup() on the
    finished pod the API would return."""
    from kubernetes.client import models as k8s

    remote = copy.deepcopy(pod_obj)
    remote.status = k8s.V1PodStatus(
        phase="Failed",
        reason=ended.pod_reason,
        container_statuses=[
            k8s.V1ContainerStatus(
                name="base",
                image=pod_obj.spec.containers[0].image,
                image_id="",
                ready=False,
                restart_count=0,
                state=k8s.V1ContainerState(
                    terminated=k8s.V1ContainerStateTerminated(
                        exit_code=ended.exit_code,
                        reason=ended.reason,
                        message=ended.termination_message or None,
                    )
                ),
            )
        ],
    )
    task.pod_manager = mock.MagicMock()  # the Kubernetes API: answers with the finished pod
    task.pod_manager.read_pod.return_value = remote
    task.client = mock.MagicMock()
    try:
        task.cleanup(pod_obj, remote, None)
    except Exception as exc:  # noqa: BLE001 - whatever the operator raises is the failure
        return exc
    raise AssertionError("KubernetesPodOperator did not fail a pod that failed")


def run_task(
    dep: Deployment,
    bag,
    dag_id: str,
    task_id: str,
    bins_dir: Path,
    hostdir: Path,
    moto: str,
    *,
    task=None,
    s3_for_try=None,
    extra_env: dict | None = None,
    kill_after: float | None = None,
    deadline_scale: float | None = None,
) -> TaskRun:
    """Airflow's try loop for one task of the run for DATE."""
    import structlog
    from airflow.sdk.execution_time.task_runner import _handle_current_task_failed
    from airflow.utils.state import TaskInstanceState

    dag = bag.dags[dag_id] if task is None else task.dag
    original = dag.get_task(task_id) if task is None else task
    tries: list[Try] = []
    for try_number in range(1, original.retries + 2):
        t = copy.deepcopy(original)
        context = dag_harness.task_context(dag, t, DATE, try_number)
        t.render_template_fields(context)
        pod_obj = t.build_pod_request_obj(context, dry_run=True)
        pod = pod_dict(pod_obj)
        endpoint = s3_for_try(try_number) if s3_for_try else None
        job, command, args, env, sandbox = start_pod(
            pod,
            dep.objects,
            hostdir,
            lambda sb, endpoint=endpoint: {**cluster_env(moto, sb, endpoint), **(extra_env or {})},
            f"{dag_id}.{task_id} try {try_number}",
        )
        argv = [str(bins_dir / Path(command[0]).name), *command[1:], *args]
        deadline = pod["spec"].get("activeDeadlineSeconds")
        ended = run_container(
            argv,
            env,
            sandbox,
            policy=pod["spec"]["containers"][0].get("terminationMessagePolicy", "File"),
            deadline=deadline,
            grace=float(pod["spec"].get("terminationGracePeriodSeconds") or 30),
            kill_after=kill_after,
        )
        assert sandbox.written_outside_volumes() == [], "written to the read-only root"
        dep.outputs += [ended.stdout, ended.stderr, ended.termination_message, " ".join(argv)]
        attempt = Try(try_number, ended, env, sandbox)
        tries.append(attempt)
        if ended.exit_code == 0:
            return TaskRun("success", tries)
        exc = kpo_exception(t, pod_obj, ended)
        attempt.exception = exc
        dep.outputs.append(str(exc))
        ti = context["ti"]
        ti._ti_context_from_server = ti._ti_context_from_server.model_copy(
            update={"should_retry": try_number <= original.retries}
        )
        _, state = _handle_current_task_failed(ti, exc, structlog.get_logger(), context)
        if state == TaskInstanceState.UP_FOR_RETRY:
            continue
        assert state == TaskInstanceState.FAILED, state
        context["exception"] = exc
        callbacks = t.on_failure_callback
        for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
            callback(context)
        return TaskRun("failed", tries, callback_ran=True)
    raise AssertionError(f"{dag_id}.{task_id}: more tries than retries + 1")


def assert_no_sentinels(dep: Deployment, mattermost, caplog=None):
    texts = list(dep.outputs) + [raw.decode(errors="replace") for raw in mattermost.raw]
    if caplog is not None:
        texts.append(caplog.text)
    for sentinel in SENTINELS:
        for text in texts:
            assert sentinel not in text, f"secret value {sentinel[:12]}... leaked: {text[:300]}"


def alerts(mattermost) -> list[dict]:
    return list(mattermost.posts)


def source_of(post: dict) -> str:
    """Who posted: the DAG's notifier marks its posts (props.ingest_alert.source)."""
    props = (post.get("props") or {}).get("ingest_alert") or {}
    return "airflow" if props.get("source") == "airflow" else "binary"


def text_of(post: dict) -> str:
    parts = [post.get("text") or ""]
    parts += [a.get("text") or "" for a in post.get("attachments") or []]
    return "\n".join(parts)


@pytest.fixture()
def hook(mattermost):
    mattermost.posts.clear()
    mattermost.raw.clear()
    mattermost.statuses.clear()
    return mattermost


def read_back(s3client, bucket: str, table: str, workdir: Path) -> int:
    """Rows of the date's partition in the lake, read by DuckDB from the Parquet files."""
    import duckdb

    schema, name = table.split(".")
    prefix = f"lake/{schema}/{name}/dt={DATE}/"
    keys = [
        o["Key"]
        for o in s3client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        if o["Key"].endswith(".parquet")
    ]
    assert keys, f"no Parquet files under s3://{bucket}/{prefix}"
    local = workdir / f"{bucket}-{schema}-{name}"
    local.mkdir(parents=True, exist_ok=True)
    for key in keys:
        s3client.download_file(bucket, key, str(local / key.rsplit("/", 1)[1]))
    return (
        duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{local}/*.parquet')")
        .fetchone()[0]
    )


# --- scenarios -----------------------------------------------------------------------------------


@pytest.mark.parametrize("setup", ["chart-secret-with-warehouse", "existing-secret-from-docs"])
def test_every_job_succeeds_with_zero_alerts(
    setup,
    deploy,
    airflow_env,
    bins,
    hostdir,
    moto_endpoint,
    s3client,
    hook,
    warehouse,
    tmp_path,
    caplog,
):
    warehouse_url, warehouse_count = warehouse
    if setup == "chart-secret-with-warehouse":
        lake = f"lake-{uuid.uuid4().hex[:8]}"
        dep = deploy(
            setup,
            lake_bucket=lake,
            **{
                "warehouse.url": warehouse_url(lake),
                "warehouse.user": "SVC_INGEST",
                "secret.stringData": {
                    "mattermost-webhook-url": hook.url,
                    "snowflake-password": SENTINEL_PASSWORD,
                },
            },
        )
    else:
        dep = deploy(setup, existing_secret=docs_secret(hook.url, warehouse=False))
        assert set(dep.objects.get("Secret", dep.secret_name)["data"]) == {"mattermost-webhook-url"}
    bag = airflow_env(dep)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == sorted(dag_harness.EXPECTED)
    for dag_id, task_id in JOB_TASKS:
        job, table, _ = dag_harness.EXPECTED[dag_id][task_id]
        run = run_task(dep, bag, dag_id, task_id, bins["release"], hostdir, moto_endpoint[0])
        (attempt,) = run.tries
        assert run.state == "success", attempt.ended.stderr[-3000:]
        summary = json.loads(attempt.sandbox.termination_log.read_text())
        assert (summary["exit_code"], summary["date"], summary["table"]) == (0, DATE, table)
        assert summary["rows_loaded"] > 0
        assert read_back(s3client, dep.lake_bucket, table, tmp_path) == summary["rows_loaded"]
        if setup == "chart-secret-with-warehouse":
            assert attempt.env["SNOWFLAKE_USER"] == "SVC_INGEST"
            assert warehouse_count(table) == summary["rows_loaded"]
        else:
            assert "SNOWFLAKE_PASSWORD" not in attempt.env
    assert alerts(hook) == []
    assert_no_sentinels(dep, hook, caplog)


def test_too_many_rejects_one_alert_no_retry_and_the_rerun_command_works(
    deploy, airflow_env, bins, hostdir, moto_endpoint, sources, hook, caplog
):
    dep = deploy(
        "rejects",
        existing_secret=docs_secret(hook.url, warehouse=False),
        **{
            "jobs.push-logs.sourcesByDeployment": {**sources.push_logs, "us": sources.bad_push_logs}
        },
    )
    bag = airflow_env(dep)
    run = run_task(
        dep, bag, "ingest_push_logs", "load_us", bins["release"], hostdir, moto_endpoint[0]
    )
    assert run.state == "failed" and len(run.tries) == 1  # exit 3: not retried
    (attempt,) = run.tries
    assert attempt.ended.exit_code == 3
    (post,) = alerts(hook)
    assert source_of(post) == "binary"
    text = text_of(post)
    # The notification names the deployment; the Airflow re-run is the exact clear command
    # (tests/test_runbook.py runs that form against a real Airflow database).
    assert "**push-logs** load\\_us (push\\_proxy.logs\\_us\\_new) failed for" in post["text"]
    clear = f"airflow tasks clear ingest_push_logs -t load_us -s {DATE} -e {DATE}T23:59:59 -y"
    assert clear in text, text
    # The re-run command, as posted, in the same pod environment, with the threshold the alert
    # says would pass (in the command, or next to it).
    command = rerun_command(text)
    argv = shlex.split(command)
    assert argv[0] == "push-logs", command
    if "--max-reject-ratio" not in argv:
        rerun_section = text[text.rindex("**Re-run**") :]
        ratio = re.findall(r"--max-reject-ratio[ =]([0-9.]+)", rerun_section)
        assert ratio, f"the alert does not say which --max-reject-ratio would pass:\n{text}"
        argv += ["--max-reject-ratio", ratio[-1]]
    argv[0] = str(bins["release"] / "push-logs")
    sandbox = make_sandbox(hostdir, {"/tmp": "tmp"})
    env = {k: v for k, v in attempt.env.items() if k != "INGEST_TERMINATION_LOG"}
    env["INGEST_TERMINATION_LOG"] = str(sandbox.termination_log)
    env["TMPDIR"] = str(sandbox.volumes["/tmp"])
    ended = run_container(argv, env, sandbox)
    dep.outputs += [ended.stdout, ended.stderr]
    assert ended.exit_code == 0, ended.stderr[-3000:]
    assert len(alerts(hook)) == 1
    assert_no_sentinels(dep, hook, caplog)


def rerun_command(text: str) -> str:
    """The shell command in the alert's re-run section (its fenced sh block)."""
    blocks = [
        body
        for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
        if lang in ("sh", "bash", "shell", "")
    ]
    for candidate in blocks:
        joined = re.sub(r"\\\n\s*", " ", candidate).strip()
        if "--date" in joined:
            return joined
    raise AssertionError(f"no re-run command in the alert:\n{text}")


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


class Stalled:
    """A TCP listener that accepts and never answers: an S3 that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("outage", ["try-1-only", "every-try"])
def test_s3_outage(outage, deploy, airflow_env, bins, hostdir, moto_endpoint, hook, caplog):
    dep = deploy("s3-outage", existing_secret=docs_secret(hook.url, warehouse=False))
    bag = airflow_env(dep)
    down = closed_endpoint()
    run = run_task(
        dep,
        bag,
        "ingest_telemetry",
        "load",
        bins["release"],
        hostdir,
        moto_endpoint[0],
        s3_for_try=lambda n: down if outage == "every-try" or n == 1 else None,
    )
    codes = [t.ended.exit_code for t in run.tries]
    retries = bag.dags["ingest_telemetry"].get_task("load").retries
    if outage == "try-1-only":
        assert (run.state, codes) == ("success", [4, 0])
        assert alerts(hook) == []
    else:
        assert (run.state, codes) == ("failed", [4] * (retries + 1))
        (post,) = alerts(hook)
        assert source_of(post) == "binary"
        for t in run.tries[:-1]:
            summary = json.loads(t.ended.termination_message)
            assert (summary["alert_sent"], summary.get("alert_deferred")) == (False, True)
    assert_no_sentinels(dep, hook, caplog)


def test_container_killed_every_try_one_alert_from_the_dag(
    deploy, airflow_env, bins, hostdir, moto_endpoint, hook, caplog
):
    dep = deploy("oom", existing_secret=docs_secret(hook.url, warehouse=False))
    bag = airflow_env(dep)
    stalled = Stalled()
    try:
        run = run_task(
            dep,
            bag,
            "ingest_server_pingbacks",
            "load",
            bins["release"],
            hostdir,
            moto_endpoint[0],
            s3_for_try=lambda n: stalled.endpoint,
            kill_after=1.0,
        )
    finally:
        stalled.close()
    retries = bag.dags["ingest_server_pingbacks"].get_task("load").retries
    assert [t.ended.exit_code for t in run.tries] == [137] * (retries + 1)
    assert run.state == "failed" and run.callback_ran
    (post,) = alerts(hook)
    props = post["props"]["ingest_alert"]
    assert (props["source"], props["failure"], props["reason"]) == (
        "airflow",
        "killed",
        "OOMKilled",
    )
    assert_no_sentinels(dep, hook, caplog)


def test_panic_in_the_release_binary_one_alert(
    deploy, airflow_env, bins, hostdir, moto_endpoint, hook, caplog
):
    dep = deploy("panic", existing_secret=docs_secret(hook.url, warehouse=False))
    bag = airflow_env(dep)
    run = run_task(
        dep,
        bag,
        "ingest_push_logs",
        "load_eu",
        bins["fault"],
        hostdir,
        moto_endpoint[0],
        extra_env={"INGEST_FAULT": "panic-in-parse"},
    )
    (attempt,) = run.tries  # exit 1 is deterministic: no retry
    assert attempt.ended.exit_code == 1, attempt.ended.stderr[-2000:]
    summary = json.loads(attempt.ended.termination_message)
    assert (summary["exit_code"], summary["alert_sent"]) == (1, True)
    (post,) = alerts(hook)
    assert source_of(post) == "binary"
    assert_no_sentinels(dep, hook, caplog)


def test_the_shipped_binary_has_no_fault_hook(
    deploy, airflow_env, bins, hostdir, moto_endpoint, hook
):
    """INGEST_FAULT does nothing in the release build the images ship."""
    dep = deploy("no-fault", existing_secret=docs_secret(hook.url, warehouse=False))
    bag = airflow_env(dep)
    run = run_task(
        dep,
        bag,
        "ingest_push_logs",
        "load_eu",
        bins["release"],
        hostdir,
        moto_endpoint[0],
        extra_env={"INGEST_FAULT": "panic-in-parse"},
    )
    assert run.state == "success"


DEADLINE_S = 4


def test_active_deadline_one_alert_out_of_time_no_retry(
    deploy, airflow_env, bins, hostdir, moto_endpoint, hook, caplog
):
    """A date that does not fit in the pod's deadline: IngestJob(timeout=...) as a DAG file
    would set it (short here), S3 hanging so the job cannot finish."""
    from ingest import IngestJob

    dep = deploy("deadline", existing_secret=docs_secret(hook.url, warehouse=False))
    airflow_env(dep)
    job = IngestJob("server-pingbacks", timeout=timedelta(seconds=DEADLINE_S))
    with job.dag(doc_md="rehearsal", start_date=datetime(2026, 11, 1, tzinfo=UTC)):
        task = job.task(
            "load", table="releases.log_entries", source_setting="INGEST_SOURCE_SERVER_PINGBACKS"
        )
    stalled = Stalled()
    try:
        run = run_task(
            dep,
            None,
            task.dag.dag_id,
            "load",
            bins["release"],
            hostdir,
            moto_endpoint[0],
            task=task,
            s3_for_try=lambda n: stalled.endpoint,
        )
    finally:
        stalled.close()
    assert run.state == "failed"
    (attempt,) = run.tries  # no retry into the same deadline
    assert attempt.env["INGEST_DEADLINE_SECONDS"] == str(DEADLINE_S)
    assert attempt.ended.exit_code == 5, attempt.ended.stderr[-2000:]
    (post,) = alerts(hook)
    text = text_of(post)
    assert "out of time" in text.lower(), text
    assert str(DEADLINE_S) in text and "timeout" in text, text
    assert_no_sentinels(dep, hook, caplog)


# --- preflight -----------------------------------------------------------------------------------


def run_hook(dep: Deployment, bins, hostdir, moto: str, objects: Objects | None = None):
    job = dep.hook_job()
    pod = {"metadata": {"name": job["metadata"]["name"]}, "spec": job["spec"]["template"]["spec"]}
    api = FakeApiServer(
        objects or dep.objects, SENTINEL_SA_TOKEN, service_account=pod["spec"]["serviceAccountName"]
    )
    try:

        def extra(sandbox):
            env = cluster_env(moto, sandbox)
            env["KUBECONFIG"] = str(api.kubeconfig(sandbox.root / "kubeconfig", NAMESPACE))
            return env

        _, command, args, env, sandbox = start_pod(
            pod, dep.objects, hostdir, extra, "preflight hook"
        )
        argv = [str(bins["release"] / Path(command[0]).name), *command[1:], *args]
        ended = run_container(
            argv, env, sandbox, policy="File", deadline=job["spec"]["activeDeadlineSeconds"]
        )
    finally:
        api.close()
    assert sandbox.written_outside_volumes() == []
    dep.outputs += [ended.stdout, ended.stderr, ended.termination_message]
    assert any(r.startswith(f"/api/v1/namespaces/{NAMESPACE}/secrets/") for r in api.requests)
    report = json.loads(ended.stdout.strip().splitlines()[-1])
    return ended, report


def rows(report: dict, check: str) -> list[dict]:
    return [r for r in report["checks"] if r["check"] == check]


@pytest.mark.parametrize("setup", ["chart-secret-with-warehouse", "existing-secret-from-docs"])
def test_preflight_hook(
    setup, deploy, airflow_env, bins, hostdir, moto_endpoint, hook, warehouse, caplog
):
    warehouse_url, _ = warehouse
    if setup == "chart-secret-with-warehouse":
        lake = f"lake-{uuid.uuid4().hex[:8]}"
        dep = deploy(
            setup,
            lake_bucket=lake,
            **{
                "warehouse.url": warehouse_url(lake),
                "warehouse.user": "SVC_INGEST",
                "preflight.warehouseCheck": True,
                "secret.stringData": {
                    "mattermost-webhook-url": hook.url,
                    "snowflake-password": SENTINEL_PASSWORD,
                },
            },
        )
    else:
        dep = deploy(setup, existing_secret=docs_secret(hook.url, warehouse=False))
    # The hook checks exactly the keys the job pods reference: the required ones by name, the
    # optional ones as "one of them".
    bag = airflow_env(dep)
    required, optional = set(), set()
    for dag_id, task_id in JOB_TASKS:
        pod, _ = dag_harness.build_pod(bag, dag_id, task_id)
        for var in pod_dict(pod)["spec"]["containers"][0]["env"]:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                (optional if ref.get("optional") else required).add(ref["key"])
    (container,) = dep.hook_job()["spec"]["template"]["spec"]["containers"]
    checked = next(
        e["value"] for e in container["env"] if e["name"] == "INGEST_REQUIRED_SECRET_KEYS"
    ).split(",")
    expected_checked = sorted(required) + (
        ["|".join(sorted(optional, reverse=True))] if optional else []
    )
    assert sorted(checked) == sorted(expected_checked)

    ended, report = run_hook(dep, bins, hostdir, moto_endpoint[0])
    assert ended.exit_code == 0, ended.stdout[-3000:]
    keys = {r["target"].split("/", 1)[1]: r["status"] for r in rows(report, "secret-key")}
    expected = {"mattermost-webhook-url": "ok"}
    if setup == "chart-secret-with-warehouse":
        expected["snowflake-private-key|snowflake-password"] = "ok"
        (row,) = rows(report, "warehouse")
        assert row["status"] == "ok", row
    assert keys == expected
    s3_rows = rows(report, "s3-list")
    assert len(s3_rows) == 7 and {r["status"] for r in s3_rows} <= {"ok", "warn"}, s3_rows

    # A key the job pods need is missing: the job pods would not start, and the hook says so
    # by name, before the upgrade.
    # The lake is written and the probe deleted; a source object is read; the ServiceAccount is
    # the release's own (created after the hook), so not checked by the hook.
    (lake,) = rows(report, "lake-write")
    assert lake["status"] == "ok", lake
    assert rows(report, "s3-read") and {r["status"] for r in rows(report, "s3-read")} == {"ok"}
    (sa,) = rows(report, "service-account")
    assert sa["status"] == "skipped", sa
    # With a chart-managed Secret the hook checks this release's values (its candidate copy).
    checked_secret = dep.hook_env("INGEST_SECRET_NAME")
    if setup == "chart-secret-with-warehouse":
        assert checked_secret == f"{cluster.RELEASE}-preflight-candidate"
    else:
        assert checked_secret == dep.secret_name
    broken = Objects(*dep.objects.items.values())
    for name in {dep.secret_name, checked_secret}:
        secret = copy.deepcopy(broken.get("Secret", name))
        del secret["data"]["mattermost-webhook-url"]
        broken.add(secret)
    ended, report = run_hook(dep, bins, hostdir, moto_endpoint[0], objects=broken)
    assert ended.exit_code == 2
    (row,) = [r for r in rows(report, "secret-key") if "mattermost-webhook-url" in r["target"]]
    assert row["status"] == "fail" and "missing" in row["detail"]
    assert "mattermost-webhook-url" in ended.stdout
    with pytest.raises(
        CreateContainerConfigError, match="couldn't find key mattermost-webhook-url"
    ):
        bag_pod_env(dep, broken)
    assert_no_sentinels(dep, hook, caplog)


def test_preflight_finds_the_files_the_jobs_read(deploy, bins, hostdir, moto_endpoint, hook):
    dep = deploy("sources", existing_secret=docs_secret(hook.url, warehouse=False))
    ended, report = run_hook(dep, bins, hostdir, moto_endpoint[0])
    assert ended.exit_code == 0
    warned = [r["jobs"] for r in rows(report, "s3-list") if r["status"] != "ok"]
    assert warned == []


def bag_pod_env(dep: Deployment, objects: Objects):
    """Resolves one job pod's env against `objects` (as the kubelet would at start)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("INGEST_"):
                mp.delenv(name)
        for name, value in dep.settings.items():
            mp.setenv(name, value)
        bag = dag_harness.load_dagbag()
        pod, _ = dag_harness.build_pod(bag, "ingest_license_exports", "load")
    (container,) = pod_dict(pod)["spec"]["containers"]
    return container_env(container, objects, "ingest_license_exports.load")


def test_preflight_warehouse_without_a_snowflake_key_fails(
    deploy, bins, hostdir, moto_endpoint, hook, warehouse
):
    warehouse_url, _ = warehouse
    lake = f"lake-{uuid.uuid4().hex[:8]}"
    dep = deploy(
        "warehouse-no-key",
        existing_secret=docs_secret(hook.url, warehouse=False),
        lake_bucket=lake,
        **{"warehouse.url": warehouse_url(lake), "warehouse.user": "SVC_INGEST"},
    )
    ended, report = run_hook(dep, bins, hostdir, moto_endpoint[0])
    assert ended.exit_code == 2
    (row,) = [r for r in rows(report, "secret-key") if "snowflake" in r["target"]]
    assert row["status"] == "fail"
    # The job pods still start (their Snowflake refs are optional): the hook is what stops it.
    env = bag_pod_env(dep, dep.objects)
    assert "SNOWFLAKE_PASSWORD" not in env and "SNOWFLAKE_PRIVATE_KEY" not in env


def test_pod_scheduling_values_reach_every_job_pod(deploy, airflow_env, hook):
    """The chart's podScheduling (all jobs) and jobs.<job>.podScheduling, through the ConfigMap
    and the DAGs, to the pods and the tasks' Airflow pool."""
    dep = deploy(
        "scheduling",
        existing_secret=docs_secret(hook.url, warehouse=False),
        **{
            "podScheduling": {
                "nodeSelector": {"nodegroup": "batch"},
                "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
                "priorityClassName": "batch-low",
                "pool": "ingest",
            },
            "jobs.push-logs.podScheduling": {"priorityClassName": "batch-high", "poolSlots": 2},
        },
    )
    bag = airflow_env(dep)
    assert bag.import_errors == {}
    for dag_id, task_id in JOB_TASKS:
        pod = pod_dict(dag_harness.build_pod(bag, dag_id, task_id)[0])
        spec = pod["spec"]
        assert spec["nodeSelector"] == {"nodegroup": "batch"}, (dag_id, spec)
        assert spec["tolerations"] == [
            {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}
        ]
        annotations = pod["metadata"]["annotations"]
        assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
        task = bag.dags[dag_id].get_task(task_id)
        push = dag_id == "ingest_push_logs"
        assert spec["priorityClassName"] == ("batch-high" if push else "batch-low")
        assert (task.pool, task.pool_slots) == ("ingest", 2 if push else 1)


def rotated_docs_secret(webhook_url: str, private_key: str) -> dict:
    """The Secret after docs/deploy.md's rotation command (`... --dry-run=client -o yaml |
    kubectl apply -f -`) with the new key file."""
    (command,) = [
        c
        for c in cluster.kubectl_commands_in_docs(cluster.REPO / "docs" / "deploy.md")
        if "kubectl apply" in c
    ]
    files = {
        path: private_key.encode() for path in re.findall(r"snowflake-private-key=(\S+)", command)
    }
    return cluster.secret_from_kubectl(
        command, env={"MATTERMOST_WEBHOOK_URL": webhook_url}, files=files
    )


def rsa_key() -> tuple[str, str]:
    """A new Snowflake key pair: the private key's PEM (PKCS#8) and the public key's fingerprint
    as `DESC USER` shows it (RSA_PUBLIC_KEY_FP without "SHA256:")."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(hashlib.sha256(der).digest()).decode()


def jwt_issuer(login: dict) -> str:
    """The `iss` claim of a key-pair login: `<ACCOUNT>.<USER>.SHA256:<public key fingerprint>`."""
    import base64

    token = login["data"]["TOKEN"]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iss"]


@pytest.mark.parametrize("setup", ["chart-secret", "existing-secret-from-docs"])
def test_a_rotation_is_checked_by_the_hook_before_it_goes_live(
    setup, deploy, bins, hostdir, moto_endpoint, hook, warehouse, caplog
):
    """docs/deploy.md, "Rotating secrets": a new webhook and a new Snowflake key (in the user's
    second key slot) are checked by the pre-upgrade hook, not the values they replace."""
    warehouse_url, _ = warehouse
    proxy = warehouse_url.proxy
    new_hook = start_webhook()
    old_key, old_fp = rsa_key()
    new_key, new_fp = rsa_key()
    lake = f"lake-{uuid.uuid4().hex[:8]}"
    values = {
        "warehouse.url": warehouse_url(lake),
        "warehouse.user": "SVC_INGEST",
        "preflight.warehouseCheck": True,
        "preflight.webhookCheck": True,
    }
    try:
        if setup == "chart-secret":
            before = deploy(
                "rotation-before",
                lake_bucket=lake,
                **values,
                **{
                    "secret.stringData": {
                        "mattermost-webhook-url": hook.url,
                        "snowflake-private-key": old_key,
                    }
                },
            )
            after = deploy(
                "rotation-after",
                lake_bucket=lake,
                **values,
                **{
                    "secret.stringData": {
                        "mattermost-webhook-url": new_hook.url,
                        "snowflake-private-key": new_key,
                    }
                },
            )
            # While the hook runs, the release's Secret still holds the old values; the hook's
            # candidate copy holds the new ones.
            objects = Objects(*after.objects.items.values())
            objects.add(before.objects.get("Secret", before.secret_name))
            assert objects.value("Secret", after.secret_name, "snowflake-private-key") == old_key
        else:
            # The operator re-ran the docs' kubectl command with the new files (apply), then
            # upgraded: the hook reads the Secret as it now is.
            rotated = rotated_docs_secret(new_hook.url, new_key)
            after = deploy("rotation-after", existing_secret=rotated, lake_bucket=lake, **values)
            objects = after.objects
        proxy.logins.clear()
        ended, report = run_hook(after, bins, hostdir, moto_endpoint[0], objects=objects)
        assert ended.exit_code == 0, ended.stdout[-3000:]
        (row,) = rows(report, "warehouse")
        assert row["status"] == "ok", row
        # The deploy check went to the new webhook, not the old one.
        assert len(new_hook.posts) == 1 and alerts(hook) == [], (new_hook.posts, alerts(hook))
        # The warehouse login was signed with the new key: its JWT names the new fingerprint.
        issuers = [jwt_issuer(login) for login in proxy.logins]
        assert issuers, "the warehouse check did not log in"
        assert all(i.endswith(f".SHA256:{new_fp}") for i in issuers), (issuers, new_fp, old_fp)
        out = ended.stdout + ended.stderr + ended.termination_message
        for key in (new_key, old_key):
            assert key.splitlines()[1] not in out  # a line of the key's base64
        assert new_hook.url.split("/")[-1] not in out
    finally:
        new_hook.server.shutdown()
    assert_no_sentinels(after, hook, caplog)


def test_an_existing_service_account_without_its_irsa_role_fails_the_hook(
    deploy, bins, hostdir, moto_endpoint, hook
):
    """With serviceAccount.create=false the jobs' ServiceAccount is managed elsewhere: the hook
    checks it exists and carries the IRSA role the values name (and RBAC lets it read it)."""
    role = "arn:aws:iam::123456789012:role/ingest-tasks"
    dep = deploy(
        "existing-sa",
        existing_secret=docs_secret(hook.url, warehouse=False),
        **{
            "serviceAccount.create": False,
            "serviceAccount.name": "ingest-jobs",
            "serviceAccount.annotations": {"eks.amazonaws.com/role-arn": role},
        },
    )
    assert dep.objects.get("ServiceAccount", "ingest-jobs") is None  # not the chart's
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "ingest-jobs", "namespace": NAMESPACE, "annotations": {}},
    }
    objects = Objects(*dep.objects.items.values(), sa)
    ended, report = run_hook(dep, bins, hostdir, moto_endpoint[0], objects=objects)
    assert ended.exit_code == 2, ended.stdout[-3000:]
    (row,) = rows(report, "service-account")
    assert row["status"] == "fail", row
    assert "annotation eks.amazonaws.com/role-arn is missing" in row["detail"]

    sa["metadata"]["annotations"] = {"eks.amazonaws.com/role-arn": role}
    objects.add(sa)
    ended, report = run_hook(dep, bins, hostdir, moto_endpoint[0], objects=objects)
    assert ended.exit_code == 0, ended.stdout[-3000:]
    (row,) = rows(report, "service-account")
    assert row["status"] == "ok", row

    objects.remove("ServiceAccount", "ingest-jobs")
    ended, report = run_hook(dep, bins, hostdir, moto_endpoint[0], objects=objects)
    assert ended.exit_code == 2
    (row,) = rows(report, "service-account")
    assert "does not exist" in row["detail"], row


# --- a local lake --------------------------------------------------------------------------------


def test_a_local_lake_is_refused_at_parse_and_at_start(
    deploy, airflow_env, bins, hostdir, moto_endpoint, hook, sources
):
    # The chart's schema refuses it...
    error = helm_template(chart_values(sources, "x", lake="/data/lake"), hostdir, refused=True)
    assert "/lake" in error
    # ...set around it (configMap.extraSettings wins over `lake`), the DAGs refuse it...
    dep = deploy(
        "local-lake",
        existing_secret=docs_secret(hook.url, warehouse=False),
        **{"configMap.extraSettings": {"INGEST_LAKE": "/data/lake"}},
    )
    assert dep.settings["INGEST_LAKE"] == "/data/lake"
    bag = airflow_env(dep)
    assert bag.dags == {}
    assert len(bag.import_errors) == len(dag_harness.EXPECTED)
    for error in bag.import_errors.values():
        assert "INGEST_LAKE='/data/lake' is not an s3:// location" in error

    # ...and so does the binary, in a pod (a DAG file from before the check, a run by hand).
    good = deploy("s3-lake", existing_secret=docs_secret(hook.url, warehouse=False))
    bag = airflow_env(good)
    pod, _ = dag_harness.build_pod(bag, "ingest_license_exports", "load")
    _, command, args, env, sandbox = start_pod(
        pod_dict(pod), good.objects, hostdir, lambda sb: cluster_env(moto_endpoint[0], sb), "lake"
    )
    args[args.index("--lake") + 1] = "/data/lake"
    ended = run_container([str(bins["release"] / "license-exports"), *args], env, sandbox)
    assert ended.exit_code == 2, ended.stderr[-2000:]
    assert sandbox.written_outside_volumes() == []
