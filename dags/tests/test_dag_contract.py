"""DAG and binary cannot drift: each pod injects exactly the secrets its binary's
`--print-contract` declares, passes its required options and only options the binary knows,
and carries the Airflow context env the binary reads. Needs the built binaries
(INGEST_BIN_DIR, default <CARGO_TARGET_DIR>/debug); a missing one fails the test."""

from __future__ import annotations

import os
import subprocess

import pytest
from dag_harness import DATE, EXPECTED, JOBS, TASKS, bin_dir, build_pod, load_dagbag, print_contract

# Plain env a pod may carry besides the binary's options and context env: the AWS default chain.
# Read by the platform rather than declared options: the AWS chain and the temp directory (std).
AWS_CHAIN_ENV = {"AWS_REGION", "TMPDIR"}


def _tasks_of(job: str) -> list[tuple[str, str]]:
    return [
        (dag_id, task_id)
        for dag_id, tasks in EXPECTED.items()
        for task_id, (task_job, _, _) in tasks.items()
        if task_job == job
    ]


def test_every_job_has_a_dag_and_a_secrets_entry(dagbag):
    from ingest.secrets import JOB_SECRETS

    assert sorted(JOB_SECRETS) == JOBS
    labelled = set()
    for dag_id, task_id in [(d, t) for d, ts in EXPECTED.items() for t in ts]:
        pod, _ = build_pod(dagbag, dag_id, task_id)
        labelled.add(pod.metadata.labels["app.kubernetes.io/name"])
    assert sorted(labelled) == JOBS


@pytest.mark.parametrize("job", JOBS)
def test_pods_match_the_binary_contract(dagbag, job):
    from ingest import pod_failure
    from ingest.job import CONTEXT_ENV
    from ingest.secrets import JOB_SECRETS, SECRET_KEYS, WAREHOUSE

    contract = print_contract(job)
    for key in ("job", "secrets", "context_env", "options", "required_options", "exit_codes"):
        assert key in contract, f"{job} --print-contract has no {key!r}"
    assert contract["job"] == job
    declared = {s["env"] for s in contract["secrets"]}
    option_flags = {o["flag"] for o in contract["options"]}
    option_envs = {o["env"] for o in contract["options"] if o.get("env")}

    assert set(JOB_SECRETS[job]) == declared, "registry secrets (JOB_SECRETS) vs the contract"
    # The binary's own default table is one its registry entry declares.
    if contract.get("default_table"):
        from ingest import registry

        registry.check_table(job, contract["default_table"])
    assert declared <= set(SECRET_KEYS)
    assert set(contract["context_env"]) == set(CONTEXT_ENV)
    # The failure callback's dedup assumes exactly these codes are the binary's own failures.
    assert {int(c) for c in contract["exit_codes"] if c != "0"} == set(
        pod_failure.BINARY_ALERT_EXIT_CODES
    )

    for dag_id, task_id in _tasks_of(job):
        pod, _ = build_pod(dagbag, dag_id, task_id)
        (container,) = pod.spec.containers
        injected = {e.name for e in container.env if e.value_from and e.value_from.secret_key_ref}
        # The deploy env has no warehouse: the Snowflake secrets are not referenced then
        # (test_dag_pods checks they are, optional, with one).
        assert injected == declared - set(WAREHOUSE), f"{dag_id}.{task_id}: secretKeyRef env"
        plain = {e.name for e in container.env if e.value_from is None}
        assert not plain & declared, f"{dag_id}.{task_id}: a secret passed as a plain value"
        assert set(contract["context_env"]) <= plain
        unknown = plain - set(contract["context_env"]) - option_envs - AWS_CHAIN_ENV
        assert not unknown, f"{dag_id}.{task_id}: env the binary does not read: {unknown}"
        flags = {a for a in container.args if a.startswith("--")}
        assert set(contract["required_options"]) <= flags, f"{dag_id}.{task_id}"
        assert flags <= option_flags, f"{dag_id}.{task_id}: unknown {flags - option_flags}"


@pytest.mark.parametrize(("dag_id", "task_id"), TASKS)
def test_the_binary_accepts_the_rendered_pod_command(
    deploy_env, monkeypatch, tmp_path, dag_id, task_id
):
    """The pod's exact arguments and env, run by the real binary on local, empty sources: it
    parses them, loads the rendered date, and prints the run summary the failure callback reads
    (FallbackToLogsOnError makes stdout's last line the termination message)."""
    from ingest import pod_failure

    job, table, source_setting = EXPECTED[dag_id][task_id]
    sources = []
    for i, _ in enumerate(deploy_env[source_setting].split(",")):
        source = tmp_path / f"src{i}" / "E1DISTRIBUTION"  # a directory, or a key prefix
        source.mkdir(parents=True)
        sources.append(str(source))
    monkeypatch.setenv(source_setting, ",".join(sources))
    bag = load_dagbag()
    assert bag.import_errors == {}
    pod, _ = build_pod(bag, dag_id, task_id)
    (container,) = pod.spec.containers
    # Outside a pod the lake may be local (the DAGs accept only s3://; the rehearsal suite runs
    # the pods against an s3:// lake).
    args = list(container.args)
    args[args.index("--lake") + 1] = str(tmp_path / "lake")
    binary = bin_dir() / job
    print_contract(job)  # fails clearly when the binary is missing
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    env.update({e.name: e.value for e in container.env if e.value_from is None})

    ok = subprocess.run(
        [str(binary), *args, "--dry-run", "--allow-empty"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    summary = pod_failure.run_summary(ok.stdout)
    assert summary is not None, ok.stdout
    assert (summary["date"], summary["table"], summary["exit_code"]) == (DATE, table, 0)

    # An empty day is a data error (exit 3). No webhook in this pod: the binary did not alert,
    # so the DAG's callback must.
    failed = subprocess.run(
        [str(binary), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 3, failed.stderr[-2000:]
    failure = pod_failure.describe(failed.stdout)
    assert (failure.kind, failure.exit_code, failure.binary_alerted) == ("job", 3, False)


def test_the_binary_obeys_run_params_from_the_trigger_form(deploy_env, monkeypatch, tmp_path):
    """ "Trigger DAG w/ config" with allow_empty and dry_run: the rendered env alone (no extra
    flags) makes the real binary accept an empty day and write nothing; with the defaults the
    same day is a data error (exit 3)."""
    from ingest import pod_failure

    source = tmp_path / "src"
    source.mkdir()
    monkeypatch.setenv("INGEST_SOURCE_PUSH_LOGS_US", str(source))
    bag = load_dagbag()
    lake = tmp_path / "lake"

    def run(conf):
        pod, _ = build_pod(bag, "ingest_push_logs", "load_us", conf=conf)
        (container,) = pod.spec.containers
        args = list(container.args)
        args[args.index("--lake") + 1] = str(lake)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
        env.update({e.name: e.value for e in container.env if e.value_from is None})
        print_contract("push-logs")
        return subprocess.run(
            [str(bin_dir() / "push-logs"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = run({"allow_empty": True, "dry_run": True, "max_reject_ratio": 0.5})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = pod_failure.run_summary(done.stdout)
    assert summary is not None and summary["exit_code"] == 0, done.stdout
    assert not lake.exists() or not any(lake.rglob("*.parquet")), "a dry run wrote files"

    failed = run(None)
    assert failed.returncode == 3, failed.stderr[-2000:]
