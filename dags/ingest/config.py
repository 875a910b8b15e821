"""Deploy-time configuration of the ingest DAGs.

Every value comes from an environment variable of the Airflow components that parse and run the
DAGs (dag processor, workers); the Helm chart sets them from its ConfigMap. When a variable is
not set (or empty), the Airflow Variable of the same name is used instead (Variables set by
``AIRFLOW_VAR_<NAME>``, a secrets backend, or the metadata database). Env vars are preferred:
they cost nothing at parse time.

The names are listed in docs/dags.md ("Deploy-time configuration"); keep both in step.
A setting that is required and missing fails the DAG file's import with a message that names the
variable to set, so a misconfigured deployment shows up as an import error in the Airflow UI
instead of as pods running the wrong thing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

DEFAULT_NAMESPACE = "airflow"
DEFAULT_SERVICE_ACCOUNT = "ingest-tasks"
DEFAULT_SECRET_NAME = "ingest-tasks"  # noqa: S105 - a Secret's name, not a value

# Environment variable names (the chart's ConfigMap keys).
IMAGE_REGISTRY = "INGEST_IMAGE_REGISTRY"
IMAGE_TAG = "INGEST_IMAGE_TAG"
IMAGE_PREFIX = "INGEST_IMAGE_"  # + job in upper snake case: INGEST_IMAGE_PUSH_LOGS
SOURCE_PREFIX = "INGEST_SOURCE_"  # + job (+ deployment): INGEST_SOURCE_PUSH_LOGS_US
LAKE = "INGEST_LAKE"
NAMESPACE = "INGEST_NAMESPACE"
SERVICE_ACCOUNT = "INGEST_SERVICE_ACCOUNT"
SECRET_NAME = "INGEST_SECRET_NAME"  # noqa: S105 - a setting's name
ALERT_CHANNEL = "INGEST_ALERT_CHANNEL"
ALERT_USERNAME = "INGEST_ALERT_USERNAME"
ALERT_CONN_ID = "INGEST_ALERT_CONN_ID"
ALERT_WEBHOOK_URL = "INGEST_ALERT_WEBHOOK_URL"
WAREHOUSE = "INGEST_WAREHOUSE"  # optional: snowflake://<account>/<database>/<schema>?...
WAREHOUSE_USER = "INGEST_WAREHOUSE_USER"  # the Snowflake user the pods log in as
DEPLOYMENTS_SUFFIX = "_DEPLOYMENTS"  # INGEST_<JOB>_DEPLOYMENTS: INGEST_PUSH_LOGS_DEPLOYMENTS
_DEPLOYMENT = re.compile(r"^[a-z0-9]+$")


class ConfigError(RuntimeError):
    """A deploy-time setting is missing or invalid; raised while a DAG file is imported."""


def env_key(name: str) -> str:
    """`push-logs` -> `PUSH_LOGS`: the suffix of a job's per-job settings."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()


def _variable(name: str) -> str | None:
    try:
        from airflow.sdk import Variable

        value = Variable.get(name, default=None)
    except Exception:  # noqa: BLE001 - no Variable store reachable: the setting is just unset
        return None
    return None if value is None else str(value)


def setting(name: str, default: str | None = None) -> str | None:
    """The value of a deploy-time setting: env var, else Airflow Variable, else `default`."""
    value = os.environ.get(name, "").strip()
    if not value:
        value = (_variable(name) or "").strip()
    return value or default


def required(name: str, what: str, example: str) -> str:
    value = setting(name)
    if value is None:
        raise ConfigError(
            f"{name} is not set: set the environment variable {name} (or the Airflow Variable "
            f"{name}) to {what}, for example {name}={example}. See docs/dags.md, "
            '"Deploy-time configuration".'
        )
    return value


def namespace() -> str:
    return setting(NAMESPACE, DEFAULT_NAMESPACE)  # type: ignore[return-value]


def service_account() -> str:
    return setting(SERVICE_ACCOUNT, DEFAULT_SERVICE_ACCOUNT)  # type: ignore[return-value]


def secret_name() -> str:
    return setting(SECRET_NAME, DEFAULT_SECRET_NAME)  # type: ignore[return-value]


def lake() -> str:
    """The lake root; must be s3://: a pod's local path is its container layer (read-only in the
    job pods), and whatever a job wrote there would vanish with the pod."""
    value = required(LAKE, "the lake root the jobs write to (--lake)", "s3://acme-lake/ingest")
    if not value.startswith("s3://"):
        raise ConfigError(
            f"{LAKE}={value!r} is not an s3:// location: the job pods cannot keep files they "
            "write to a local path (their root filesystem is read-only and is deleted with the "
            f"pod). Set {LAKE} to the lake bucket, for example {LAKE}=s3://acme-lake/ingest."
        )
    return value


def sources(name: str, count: int | None = None) -> list[str]:
    """A job's `--source` list from setting `name` (comma-separated), checked for shape."""
    raw = required(name, "the job's source prefix(es), comma-separated", "s3://bucket/prefix")
    values = [v.strip() for v in raw.split(",") if v.strip()]
    for value in values:
        if not (value.startswith("s3://") or value.startswith("/")):
            raise ConfigError(
                f"{name}: {value!r} is not a source: expected s3://bucket/prefix "
                "(or an absolute directory path)"
            )
    if count is not None and len(values) != count:
        raise ConfigError(
            f"{name}: expected {count} comma-separated source(s), got {len(values)}: {raw!r}"
        )
    return values


def deployments(job: str, default: Sequence[str]) -> list[str]:
    """A job's deployments (one task each) from `INGEST_<JOB>_DEPLOYMENTS`, comma-separated.

    A deployment is a lower-case name (`us`, `eu2`): it becomes the task id `load_<d>`, the
    table suffix and the source setting `INGEST_SOURCE_<JOB>_<D>`."""
    name = f"INGEST_{env_key(job)}{DEPLOYMENTS_SUFFIX}"
    raw = setting(name)
    if raw is None:
        return list(default)
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if not _DEPLOYMENT.match(v)]
    if bad or not values:
        raise ConfigError(
            f"{name}={raw!r}: expected comma-separated deployment names of lower-case letters "
            f"and digits, for example {name}={','.join(default)}"
        )
    if len(set(values)) != len(values):
        raise ConfigError(f"{name}={raw!r}: a deployment is listed twice")
    # `airflow tasks clear -t load_eu` selects every task id containing "load_eu", load_eu2 too:
    # the re-run command in the alerts must select exactly one task.
    for short in values:
        for longer in values:
            if short != longer and f"load_{short}" in f"load_{longer}":
                raise ConfigError(
                    f"{name}={raw!r}: task load_{short} is part of task load_{longer}, so "
                    f"`airflow tasks clear -t load_{short}` would re-run both; rename one "
                    f"(for example {short}1)"
                )
    return values
