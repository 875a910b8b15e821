"""Every secret a job pod receives, in one place.

Secrets reach a pod only as ``Secret("env", ...)`` objects built here: each maps the environment
variable a binary reads to a key of ONE Kubernetes Secret (default name ``ingest-tasks``, set
``INGEST_SECRET_NAME`` to change it). ``JOB_SECRETS`` says which of them each job gets; the DAG
tests check it against the job binary's ``--print-contract`` (its ``secrets`` list), so a DAG can
neither miss a secret its binary reads nor hand one to a binary that does not.

To add a secret: add its env var and key to ``SECRET_KEYS``, add it to the jobs in
``JOB_SECRETS`` whose binaries declare it, and add the key to the chart's Secret.
"""

from __future__ import annotations

import json

from airflow.providers.cncf.kubernetes.secret import Secret

from ingest import config

# Environment variable the binary reads -> key in the Kubernetes Secret.
SECRET_KEYS: dict[str, str] = {
    "MATTERMOST_WEBHOOK_URL": "mattermost-webhook-url",
    # Snowflake load: key-pair (production) or password; a Secret key left empty is unused.
    "SNOWFLAKE_PRIVATE_KEY": "snowflake-private-key",
    "SNOWFLAKE_PASSWORD": "snowflake-password",
}

_EVERY_JOB = ("MATTERMOST_WEBHOOK_URL", "SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PASSWORD")

# Job (binary name) -> the env vars of SECRET_KEYS its pods get.
JOB_SECRETS: dict[str, tuple[str, ...]] = {
    "push-logs": _EVERY_JOB,
    "telemetry": _EVERY_JOB,
    "server-pingbacks": _EVERY_JOB,
    "license-exports": _EVERY_JOB,
}


def env_secret(env: str) -> Secret:
    """The ``Secret("env", ...)`` that injects `env` from the jobs' Kubernetes Secret."""
    if env not in SECRET_KEYS:
        raise config.ConfigError(f"secret env {env} is not in ingest.secrets.SECRET_KEYS")
    return Secret("env", env, config.secret_name(), SECRET_KEYS[env])


def secrets_for(job: str) -> list[Secret]:
    """The Secret objects of `job`'s pods; a job without an entry is an error, not 'no secrets'."""
    if job not in JOB_SECRETS:
        raise config.ConfigError(
            f"job {job} has no entry in ingest.secrets.JOB_SECRETS: declare the secrets its "
            "binary reads (see `<job> --print-contract`), even if none"
        )
    return [env_secret(env) for env in JOB_SECRETS[job]]


def manifest() -> dict[str, object]:
    """Secret name, keys and which job needs which key: for the chart and the preflight check."""
    return {
        "secret": config.secret_name(),
        "keys": {env: SECRET_KEYS[env] for env in SECRET_KEYS},
        "jobs": {job: [SECRET_KEYS[env] for env in envs] for job, envs in JOB_SECRETS.items()},
    }


if __name__ == "__main__":
    print(json.dumps(manifest(), indent=2))
