"""Every task, rendered for a date, builds the pod we mean to submit."""

from __future__ import annotations

import json

import pytest
from dag_harness import DATE, DEPLOY_ENV, EXPECTED, SECRET_SENTINEL, TASKS, TRY_NUMBER, build_pod


def _flags(args: list[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            nxt = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
            values.setdefault(arg, []).append(nxt)
    return values


@pytest.mark.parametrize(("dag_id", "task_id"), TASKS)
def test_pod_for_a_date(dagbag, dag_id, task_id):
    job, table, source_setting = EXPECTED[dag_id][task_id]
    pod, context = build_pod(dagbag, dag_id, task_id)
    assert context["ds"] == DATE
    (container,) = pod.spec.containers

    # Image: repository and tag from deploy-time configuration, never floating.
    registry = DEPLOY_ENV["INGEST_IMAGE_REGISTRY"]
    assert container.image == f"{registry}/{job}:{DEPLOY_ENV['INGEST_IMAGE_TAG']}"
    assert not container.image.endswith(":latest")

    # Arguments: the date and the non-secret options, nothing templated left over.
    args = container.args
    assert all("{{" not in a and "}}" not in a for a in args), args
    flags = _flags(args)
    assert flags["--date"] == [DATE]
    assert flags["--table"] == [table]
    assert flags["--source"] == DEPLOY_ENV[source_setting].split(",")
    assert flags["--lake"] == [DEPLOY_ENV["INGEST_LAKE"]]
    assert int(flags["--threads"][0]) >= 1

    # Env: the Airflow context the binary quotes in its alert, rendered.
    plain = {e.name: e.value for e in container.env if e.value_from is None}
    assert plain["AIRFLOW_CTX_DAG_ID"] == dag_id
    assert plain["AIRFLOW_CTX_TASK_ID"] == task_id
    assert plain["AIRFLOW_CTX_DAG_RUN_ID"] == context["run_id"]
    assert DATE in plain["AIRFLOW_CTX_DAG_RUN_ID"]
    assert plain["AIRFLOW_CTX_TRY_NUMBER"] == str(TRY_NUMBER)
    assert plain["AIRFLOW_TASK_LOG_URL"].startswith(
        f"https://airflow.example.test/dags/{dag_id}/runs/"
    )
    assert plain["INGEST_LOG_FORMAT"] == "json"
    assert plain["MATTERMOST_CHANNEL"] == DEPLOY_ENV["INGEST_ALERT_CHANNEL"]

    # Secrets only by reference, to the configured Secret; no value anywhere in the pod.
    refs = {e.name: e.value_from.secret_key_ref for e in container.env if e.value_from}
    assert refs, "no secretKeyRef at all"
    for name, ref in refs.items():
        assert ref is not None, name
        assert ref.name == DEPLOY_ENV["INGEST_SECRET_NAME"], name
        assert ref.key, name
    assert "MATTERMOST_WEBHOOK_URL" not in plain
    spec = json.dumps(pod.to_dict(), default=str)
    assert SECRET_SENTINEL not in spec
    assert "SENTINEL" not in " ".join(args)

    # Resources, placement, and how the pod ends.
    resources = container.resources
    assert resources.requests["cpu"] and resources.requests["memory"]
    assert resources.limits["memory"] == resources.requests["memory"]
    assert pod.metadata.namespace == DEPLOY_ENV["INGEST_NAMESPACE"]
    assert pod.spec.service_account_name == DEPLOY_ENV["INGEST_SERVICE_ACCOUNT"]
    assert pod.metadata.labels["app.kubernetes.io/name"] == job
    assert pod.metadata.labels["app.kubernetes.io/part-of"] == "ingest-tasks"
    assert pod.spec.restart_policy == "Never"
    assert 0 < pod.spec.active_deadline_seconds <= 6 * 3600
    assert pod.spec.termination_grace_period_seconds >= 30
    assert container.termination_message_policy == "FallbackToLogsOnError"
    assert container.security_context.run_as_non_root is True
    assert container.security_context.allow_privilege_escalation is False
    # Only the /tmp emptyDir is writable.
    assert container.security_context.read_only_root_filesystem is True
    assert [m.mount_path for m in container.volume_mounts] == ["/tmp"]  # noqa: S108
    # What the binary needs to post its alert only when no retry follows, and to stop in time.
    assert plain["INGEST_MAX_TRIES"] == str(dagbag.dags[dag_id].get_task(task_id).retries + 1)
    assert plain["INGEST_DEADLINE_SECONDS"] == str(pod.spec.active_deadline_seconds)

    # The images are FROM scratch: a writable /tmp (TMPDIR) comes from an emptyDir.
    assert plain["TMPDIR"] == "/tmp"
    (mount,) = [m for m in container.volume_mounts if m.mount_path == "/tmp"]
    volume = {v.name: v for v in pod.spec.volumes}[mount.name]
    assert volume.empty_dir is not None and volume.empty_dir.size_limit


def test_push_logs_runs_each_deployment_in_its_own_region(dagbag):
    regions = {}
    for task_id in EXPECTED["ingest_push_logs"]:
        pod, _ = build_pod(dagbag, "ingest_push_logs", task_id)
        env = {e.name: e.value for e in pod.spec.containers[0].env if e.value_from is None}
        regions[task_id] = env.get("AWS_REGION")
    assert regions == {"load_us": "us-east-1", "load_test": "us-east-1", "load_eu": "eu-central-1"}


def test_the_date_follows_the_run(dagbag):
    """Backfills and re-runs load their own date: nothing is pinned at parse time."""
    for date in ("2026-11-05", "2026-12-31"):
        pod, _ = build_pod(dagbag, "ingest_license_exports", "load", date=date)
        args = pod.spec.containers[0].args
        assert args[args.index("--date") + 1] == date


def _secret_refs(pod) -> dict:
    return {
        e.name: e.value_from.secret_key_ref
        for e in pod.spec.containers[0].env
        if e.value_from and e.value_from.secret_key_ref
    }


def test_pods_reference_only_the_secret_keys_the_deployment_uses(deploy_env, monkeypatch):
    """Without a warehouse a pod needs only the webhook key (a Secret made as docs/deploy.md
    says starts it); with one, the Snowflake keys are referenced, optional (one of them is)."""
    from dag_harness import load_dagbag

    monkeypatch.delenv("INGEST_WAREHOUSE", raising=False)
    pod, _ = build_pod(load_dagbag(), "ingest_telemetry", "load")
    refs = _secret_refs(pod)
    assert {n: (r.key, r.optional) for n, r in refs.items()} == {
        "MATTERMOST_WEBHOOK_URL": ("mattermost-webhook-url", None)
    }

    monkeypatch.setenv("INGEST_WAREHOUSE", "snowflake://acct/DB/INGEST?stage=s")
    monkeypatch.setenv("INGEST_WAREHOUSE_USER", "INGEST_LOADER")
    pod, _ = build_pod(load_dagbag(), "ingest_telemetry", "load")
    refs = _secret_refs(pod)
    assert {n: (r.key, r.optional) for n, r in refs.items()} == {
        "MATTERMOST_WEBHOOK_URL": ("mattermost-webhook-url", None),
        "SNOWFLAKE_PRIVATE_KEY": ("snowflake-private-key", True),
        "SNOWFLAKE_PASSWORD": ("snowflake-password", True),
    }
    plain = {e.name: e.value for e in pod.spec.containers[0].env if e.value_from is None}
    assert plain["SNOWFLAKE_USER"] == "INGEST_LOADER"


@pytest.mark.parametrize("lake", ["/data/lake", "lake", "file:///data/lake", "gs://b/lake"])
def test_a_local_lake_is_an_import_error(deploy_env, monkeypatch, lake):
    """A pod's local path is its (read-only, deleted-with-the-pod) container layer."""
    from dag_harness import load_dagbag

    monkeypatch.setenv("INGEST_LAKE", lake)
    bag = load_dagbag()
    assert bag.dags == {}
    for error in bag.import_errors.values():
        assert f"INGEST_LAKE={lake!r} is not an s3:// location" in error


def _plain_env(pod) -> dict:
    return {e.name: e.value for e in pod.spec.containers[0].env if e.value_from is None}


@pytest.mark.parametrize(("dag_id", "task_id"), TASKS)
def test_run_params_default_to_todays_behaviour(dagbag, dag_id, task_id):
    pod, context = build_pod(dagbag, dag_id, task_id)
    env = _plain_env(pod)
    # The binary's own defaults (docs/contract.md): a scheduled run is unchanged.
    assert env["INGEST_MAX_REJECT_RATIO"] == "0.01"
    assert env["INGEST_ALLOW_EMPTY"] == "false"
    assert env["INGEST_DRY_RUN"] == "false"
    job = dagbag.dags[dag_id].params["memory"]
    resources = pod.spec.containers[0].resources
    assert resources.requests["memory"] == resources.limits["memory"] == job
    assert context["params"]["memory"] == job


def test_run_params_from_the_trigger_form_reach_the_pod(dagbag):
    conf = {"max_reject_ratio": 0.25, "allow_empty": True, "dry_run": True, "memory": "2Gi"}
    pod, context = build_pod(dagbag, "ingest_push_logs", "load_eu", conf=conf)
    env = _plain_env(pod)
    assert env["INGEST_MAX_REJECT_RATIO"] == "0.25"
    assert env["INGEST_ALLOW_EMPTY"] == "true"
    assert env["INGEST_DRY_RUN"] == "true"
    resources = pod.spec.containers[0].resources
    assert resources.requests["memory"] == resources.limits["memory"] == "2Gi"
    assert resources.requests["cpu"] == "1"
    # Only this run: the DAG's defaults stay.
    pod, _ = build_pod(dagbag, "ingest_push_logs", "load_eu")
    assert pod.spec.containers[0].resources.limits["memory"] == "512Mi"


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("max_reject_ratio", [0, 0.5, 1], [-0.01, 1.5, "a lot", None]),
        ("allow_empty", [True, False], ["yes", 1, None]),
        ("dry_run", [True, False], ["no", 0, None]),
        (
            "memory",
            ["64Mi", "512Mi", "1536Mi", "31999Mi", "1Gi", "32Gi"],
            ["63Mi", "32000Mi", "33Gi", "512Gi", "2GB", "2G", "0Gi", "lots", "", None],
        ),
    ],
)
def test_run_params_refuse_bad_values(dagbag, name, good, bad):
    """The values the form (and the API's conf) accept; a bad one is refused before any run."""
    from airflow.sdk.exceptions import ParamValidationError

    for dag in dagbag.dags.values():
        param = dag.params.get_param(name)
        for value in good:
            assert param.resolve(value) == value, (dag.dag_id, name, value)
        for value in bad:
            with pytest.raises(ParamValidationError):
                param.resolve(value)


def test_a_bad_run_conf_is_refused_before_the_pod(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="memory"):
        build_pod(dagbag, "ingest_push_logs", "load_us", conf={"memory": "512Gi"})
    with pytest.raises(ParamValidationError, match="max_reject_ratio"):
        build_pod(dagbag, "ingest_push_logs", "load_us", conf={"max_reject_ratio": 2})


def test_a_dry_run_ends_skipped_and_a_load_marks_its_asset_update_with_the_date(dagbag):
    """After the pod succeeded: a dry run wrote nothing, so the task ends skipped (no asset
    update for downstream DAGs); a load adds the date it loaded to its asset event. The pod
    itself is a stand-in here (no Kubernetes API); tests/rehearsal runs the real binary."""
    from unittest import mock

    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk.exceptions import AirflowSkipException
    from dag_harness import task_context, task_copy

    dag = dagbag.dags["ingest_push_logs"]
    with mock.patch.object(KubernetesPodOperator, "execute", return_value=None) as pod_ran:
        task = task_copy(dag, "load_us")
        context = task_context(dag, task)
        task.execute(context)
        (asset,) = task.outlets
        assert context["outlet_events"][asset].extra == {"dt": DATE}

        task = task_copy(dag, "load_us")
        context = task_context(dag, task, conf={"dry_run": True})
        with pytest.raises(AirflowSkipException, match="dry run"):
            task.execute(context)
        assert context["outlet_events"][asset].extra == {}
        assert pod_ran.call_count == 2
