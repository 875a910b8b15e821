"""The shared helper: one `IngestJob` builds a job's DAG and its KubernetesPodOperator tasks.

A DAG file describes only what is particular to its job (schedule, tags, and any override);
its table, source setting, default resources and secrets come from the job registry (the job
crate's Cargo.toml, through ingest/registry.json); the image, arguments, Airflow context env, pod
settings, retries and the failure alert are the same for every job and live here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import (
    DAG,
    Asset,
    CronDataIntervalTimetable,
    Param,
    RetryDecision,
    RetryPolicy,
)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from kubernetes.client import models as k8s

from ingest import config, images, pod_failure, registry, scheduling, secrets
from ingest.deadline import deadline_alert
from ingest.notifier import MattermostNotifier

OWNER = "data-platform"
TMP_SIZE_LIMIT = "2Gi"  # telemetry spills ~110 bytes per ping while sorting server_daily
STARTUP_TIMEOUT_S = 600  # image pull + scheduling before the pod counts as "never started"
# The Airflow context the binary quotes in its alert (docs/contract.md, "Environment only").
CONTEXT_ENV: dict[str, str] = {
    "AIRFLOW_CTX_DAG_ID": "{{ dag.dag_id }}",
    "AIRFLOW_CTX_TASK_ID": "{{ task.task_id }}",
    "AIRFLOW_CTX_DAG_RUN_ID": "{{ run_id }}",
    "AIRFLOW_CTX_TRY_NUMBER": "{{ ti.try_number }}",
    "AIRFLOW_TASK_LOG_URL": "{{ ti.log_url }}",
}
# The date a run loads. Each binary maps it to its files (its `date_semantics`).
DATE_TEMPLATE = "{{ ds }}"
# Total tries of the task (Airflow's `retries` counts the tries after the first).
MAX_TRIES_TEMPLATE = "{{ task.retries + 1 }}"
# Per-run overrides ("Trigger DAG w/ config"), validated by Airflow before the run is created.
# The defaults are the binary's own (docs/contract.md), so a scheduled run is unchanged.
DEFAULT_MAX_REJECT_RATIO = 0.01
# A Kubernetes quantity from 64Mi to 31999Mi, or 1Gi to 32Gi: a typo cannot ask for 512Gi.
MEMORY_PATTERN = (
    r"^((6[4-9]|[7-9][0-9]|[1-9][0-9]{2,3}|[12][0-9]{4}|3[01][0-9]{3})Mi"
    r"|([1-9]|[12][0-9]|3[0-2])Gi)$"
)
_ALB_REGION = re.compile(r"/elasticloadbalancing/([a-z]{2}(?:-[a-z]+)+-\d+)/?$")


class ExitCodeRetryPolicy(RetryPolicy):
    """Retries what a retry can fix; fails at once on the binary's deterministic exit codes.

    Exit 1 (bug), 2 (configuration), 3 (data) and 5 (out of time) fail for good: the next try
    would read the same files with the same code and the same deadline; so does a pod killed by
    its activeDeadlineSeconds (reason DeadlineExceeded). Exit 4 (transient), 130 (interrupted),
    any other killed container, a pod that did not start and a timeout take the normal retries.
    """

    def evaluate(self, exception, try_number, max_tries, context=None) -> RetryDecision:
        failure = pod_failure.describe(exception)
        if failure.kind == "job" and failure.exit_code in pod_failure.DETERMINISTIC_EXIT_CODES:
            return RetryDecision.fail(
                reason=f"job exit code {failure.exit_code}: a retry would fail the same way"
            )
        if failure.reason == "DeadlineExceeded":
            # The next try gets the same activeDeadlineSeconds for the same date.
            return RetryDecision.fail(
                reason="the pod reached its activeDeadlineSeconds: a retry would run out of time "
                "the same way"
            )
        return RetryDecision.default()

    def serialize(self) -> dict:
        # Airflow stores only "has a retry policy"; the worker evaluates the DAG file's object.
        return {"no_retry_exit_codes": sorted(pod_failure.DETERMINISTIC_EXIT_CODES)}


def run_params(memory: str) -> dict[str, Param]:
    """The DAG's Params: what "Trigger DAG w/ config" may change for one run."""
    return {
        "max_reject_ratio": Param(
            DEFAULT_MAX_REJECT_RATIO,
            type="number",
            minimum=0,
            maximum=1,
            title="Max reject ratio",
            description="fail (exit 3) when rejected / (loaded + rejected) exceeds this "
            "(--max-reject-ratio)",
        ),
        "allow_empty": Param(
            False,
            type="boolean",
            title="Allow empty",
            description="a date with no input files succeeds with an empty partition "
            "(--allow-empty)",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="parse and count everything, write nothing (--dry-run); the task ends "
            "skipped, so no asset update is emitted",
        ),
        "memory": Param(
            memory,
            type="string",
            pattern=MEMORY_PATTERN,
            title="Pod memory",
            description="the pod's memory request and limit, 64Mi to 32Gi (e.g. 2Gi after an "
            "OOM kill)",
        ),
    }


# The Params as the binary's env (docs/contract.md): strings the binary's parsers accept.
PARAM_ENV: dict[str, str] = {
    "INGEST_MAX_REJECT_RATIO": "{{ params.max_reject_ratio }}",
    "INGEST_ALLOW_EMPTY": "{{ 'true' if params.allow_empty else 'false' }}",
    "INGEST_DRY_RUN": "{{ 'true' if params.dry_run else 'false' }}",
}
MEMORY_TEMPLATE = "{{ params.memory }}"


def lake_asset(lake: str, table: str) -> Asset:
    """The asset a task updates: the table's location in the lake, `<lake>/<schema>/<table>`
    (its partitions are `dt=<date>/` below it, see the runtime's lake layout)."""
    schema, name = table.split(".", 1)
    return Asset(uri=f"{lake.rstrip('/')}/{schema}/{name}")


class TaskSettingMissing(AirflowFailException):
    """A deploy-time setting this task needs was missing when its DAG was parsed. Failed at
    once (a retry cannot create it); the failure callback posts the one alert."""


class IngestPodOperator(KubernetesPodOperator):
    """KubernetesPodOperator with what the ingest tasks need around the pod.

    - A task whose deploy-time setting was missing when the DAG was parsed (`config_error`)
      fails at once when it runs, with that message, and is not retried: the DAG and its other
      tasks still import and run, and the failure callback posts the one alert.
    - A dry run (`params.dry_run`) ends skipped: it wrote nothing, so no asset update follows.
    - The asset update carries the date it loaded (`extra.dt`), for downstream DAGs.
    """

    def __init__(self, *, config_error: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.config_error = config_error

    def execute(self, context):
        if self.config_error:
            raise TaskSettingMissing(self.config_error)
        result = super().execute(context)
        params = context.get("params") or {}
        if params.get("dry_run"):
            raise AirflowSkipException("dry run: nothing was written, no asset update")
        annotate_outlets(self.outlets, context)
        return result


def annotate_outlets(outlets, context) -> None:
    """Marks each asset update with the date it loaded."""
    events = context.get("outlet_events")
    if events is None:
        return
    for asset in outlets or ():
        if isinstance(asset, Asset):
            events[asset].extra.update({"dt": context.get("ds")})


class IngestJob:
    """A job binary (its image) and the pods that run it.

    :param name: the binary and image name, e.g. ``push-logs``: a job of the registry.
    :param cpu: CPU request; also ``--threads``. No CPU limit (no throttling). Default: the
        registry's ``resources.cpu``.
    :param memory: memory request and limit (guaranteed: not evicted first under pressure).
        Default: the registry's ``resources.memory``.
    :param timeout: the pod's ``activeDeadlineSeconds``, also given to the binary as
        ``INGEST_DEADLINE_SECONDS``: it stops itself before the deadline (exit 5, "out of time",
        not retried) and posts one alert naming the limit and how to raise it (this parameter).
        If Kubernetes kills it first (reason DeadlineExceeded), the DAG's notifier says the same.
        Airflow's ``execution_timeout`` is a backstop above it (plus the pod's startup time).
    """

    def __init__(
        self,
        name: str,
        *,
        cpu: str | None = None,
        memory: str | None = None,
        timeout: timedelta = timedelta(hours=2),
    ):
        defaults = registry.entry(name)["resources"]
        self.name = name
        self.key = config.env_key(name)
        self.cpu = cpu or defaults["cpu"]
        self.memory = memory or defaults["memory"]
        self.timeout = timeout
        self.execution_timeout = (
            timeout + timedelta(seconds=STARTUP_TIMEOUT_S) + timedelta(minutes=5)
        )

    @property
    def deadline_seconds(self) -> int:
        return int(self.timeout.total_seconds())

    @property
    def dag_id(self) -> str:
        return f"ingest_{self.key.lower()}"

    def dag(
        self,
        *,
        doc_md: str | None,
        start_date: datetime,
        schedule: str = "30 1 * * *",
        tags: Iterable[str] = (),
        max_active_runs: int = 3,
        retries: int = 2,
        retry_delay: timedelta = timedelta(minutes=10),
        due_after: timedelta = timedelta(hours=4),
    ) -> DAG:
        """The job's DAG: daily, catchup on, one run per date `ds` (loaded after the day ends).

        `schedule` is a cron expression in UTC for a data interval: the run for date D starts at
        that time on D+1 and `{{ ds }}` is D. A run not finished successfully `due_after` its
        start posts one "not loaded on time" alert (ingest.deadline).
        """
        if not doc_md or not doc_md.strip():
            raise config.ConfigError(
                f"{self.dag_id}: doc_md (the DAG file's docstring) is required"
            )
        return DAG(
            dag_id=self.dag_id,
            description=f"Loads one day of {self.name} into the lake ({{{{ ds }}}} = that day).",
            doc_md=doc_md,
            schedule=CronDataIntervalTimetable(schedule, timezone="UTC"),
            start_date=start_date,
            catchup=True,
            max_active_runs=max_active_runs,
            tags=sorted({"ingest", self.name, *tags}),
            params=run_params(self.memory),
            deadline=deadline_alert(self.dag_id, due_after),
            default_args={
                "owner": OWNER,
                "retries": retries,
                "retry_delay": retry_delay,
                "execution_timeout": self.execution_timeout,
                "on_failure_callback": MattermostNotifier(),
            },
        )

    def task(
        self,
        task_id: str,
        *,
        deployment: str | None = None,
        table: str | None = None,
        source_setting: str | None = None,
        source_count: int | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        missing_source_fails_task: bool = False,
    ) -> KubernetesPodOperator:
        """A pod running the job for `{{ ds }}` into `table`, reading the sources configured in
        the deploy-time setting `source_setting` (comma-separated).

        By default both come from the job's registry entry: its first table and
        `INGEST_SOURCE_<JOB>` with the registry's source count, or, for `deployment`, that
        deployment's table and `INGEST_SOURCE_<JOB>_<DEPLOYMENT>`. `table` must be one the
        registry declares.

        A missing or invalid source setting is an import error of the DAG file, unless
        `missing_source_fails_task`: then only this task fails, when it runs, with the same
        message (a DAG with one task per deployment keeps its other deployments running).
        """
        table = table or registry.table_for(self.name, deployment)
        registry.check_table(self.name, table)
        source_setting = source_setting or registry.source_setting_for(self.name, deployment)
        if source_count is None:
            source_count = registry.entry(self.name)["source"].get("count", 1)
        config_error = None
        try:
            sources = config.sources(source_setting, source_count)
        except config.ConfigError as err:
            if not missing_source_fails_task:
                raise
            config_error = f"{self.dag_id}.{task_id}: {err}"
            sources = []
        arguments = ["--date", DATE_TEMPLATE]
        for source in sources:
            arguments += ["--source", source]
        arguments += ["--table", table, "--lake", config.lake(), "--threads", _threads(self.cpu)]
        arguments += list(extra_args)
        pod_env = dict(CONTEXT_ENV)
        # The binary posts its alert only when no retry follows (docs/contract.md, "Alerts"):
        # it needs the task's total tries, and the deadline to stop itself before it.
        pod_env["INGEST_MAX_TRIES"] = MAX_TRIES_TEMPLATE
        pod_env["INGEST_DEADLINE_SECONDS"] = str(self.deadline_seconds)
        pod_env["INGEST_LOG_FORMAT"] = "json"
        pod_env.update(PARAM_ENV)
        # The images are FROM scratch (no /tmp); jobs that spill (telemetry's server_daily) use
        # TMPDIR, an emptyDir mounted below.
        pod_env["TMPDIR"] = "/tmp"  # noqa: S108 - the pod's own emptyDir
        for name, setting in (
            ("MATTERMOST_CHANNEL", config.ALERT_CHANNEL),
            ("MATTERMOST_USERNAME", config.ALERT_USERNAME),
            # Production load: the lake must then be s3:// (see README, "Loading into Snowflake").
            ("INGEST_WAREHOUSE", config.WAREHOUSE),
            ("SNOWFLAKE_USER", config.WAREHOUSE_USER),
        ):
            value = config.setting(setting)
            if value:
                pod_env[name] = value
        pod_scheduling = scheduling.for_job(self.name)
        region = _alb_region(sources)
        if region:
            pod_env["AWS_REGION"] = region
        pod_env.update(env or {})
        return IngestPodOperator(
            config_error=config_error,
            outlets=[lake_asset(config.lake(), table)],
            task_id=task_id,
            name=f"{self.name}-{task_id}".replace("_", "-"),
            namespace=config.namespace(),
            service_account_name=config.service_account(),
            image=images.image_for(self.name),
            image_pull_policy="IfNotPresent",
            arguments=arguments,
            # Plain values, then the secretKeyRefs (built in ingest.secrets: some are optional,
            # which Airflow's Secret class cannot express).
            env_vars=[k8s.V1EnvVar(name=k, value=v) for k, v in pod_env.items()]
            + secrets.env_secrets(self.name),
            container_resources=k8s.V1ResourceRequirements(
                # Params.memory, default `memory`: rendered per run.
                requests={"cpu": self.cpu, "memory": MEMORY_TEMPLATE},
                limits={"memory": MEMORY_TEMPLATE},
            ),
            volumes=[
                k8s.V1Volume(
                    name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit=TMP_SIZE_LIMIT)
                )
            ],
            volume_mounts=[k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],  # noqa: S108
            container_security_context=k8s.V1SecurityContext(
                run_as_non_root=True,
                # Only the /tmp emptyDir is writable: nothing can land in the container layer.
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                capabilities=k8s.V1Capabilities(drop=["ALL"]),
                seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
            ),
            # Placement, pod metadata, priority and pool from the deploy-time settings
            # (ingest.scheduling); the selector labels are the DAGs' own.
            **scheduling.operator_kwargs(
                pod_scheduling,
                {
                    "app.kubernetes.io/part-of": "ingest-tasks",
                    "app.kubernetes.io/name": self.name,
                    "app.kubernetes.io/managed-by": "airflow",
                },
            ),
            on_finish_action="delete_pod",
            termination_message_policy="FallbackToLogsOnError",
            log_pod_spec_on_failure=True,
            log_events_on_failure=True,
            get_logs=True,
            do_xcom_push=False,
            startup_timeout_seconds=STARTUP_TIMEOUT_S,
            active_deadline_seconds=self.deadline_seconds,
            termination_grace_period=60,
            retry_policy=ExitCodeRetryPolicy(),
        )


def _threads(cpu: str) -> str:
    """`--threads` for a CPU request: "2" -> 2, "500m" -> 1."""
    if cpu.endswith("m"):
        return str(max(1, int(cpu[:-1]) // 1000))
    return str(max(1, int(float(cpu))))


def _alb_region(sources: Sequence[str]) -> str | None:
    """ALB log buckets live in the load balancer's region, which the prefix names."""
    regions = {m.group(1) for s in sources if (m := _ALB_REGION.search(s))}
    return regions.pop() if len(regions) == 1 else None
