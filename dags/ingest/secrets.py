"""Every secret a job pod receives, in one place.

Secrets reach a pod only as ``secretKeyRef`` env vars built here: each maps the environment
variable a binary reads to a key of ONE Kubernetes Secret (default name ``ingest-tasks``, set
``INGEST_SECRET_NAME`` to change it). ``JOB_SECRETS`` says which of them each job may get: the
``secrets`` of its registry entry (its crate's Cargo.toml, [package.metadata.ingest], through
ingest/registry.json). The DAG tests check it against the job binary's ``--print-contract`` (its
``secrets`` list), so a DAG can neither miss a secret its binary reads nor hand one to a binary
that does not.

Which references a pod carries, and which are optional, follows the deployment (the rule
docs/deploy.md's Secret instructions and the preflight check follow too):

- ``MATTERMOST_WEBHOOK_URL`` (key ``mattermost-webhook-url``): always, required. A pod whose
  Secret lacks it does not start (CreateContainerConfigError), and preflight fails on it first.
- ``SNOWFLAKE_PRIVATE_KEY`` / ``SNOWFLAKE_PASSWORD``: only when the warehouse is configured
  (``INGEST_WAREHOUSE``), and ``optional: true``: a deployment uses one of the two, so the other
  key need not exist. Preflight checks that at least one of them is set.

Airflow's ``Secret`` class cannot mark a reference optional, so the ``V1EnvVar`` objects are
built here directly.

To add a secret: add its env var and key to ``SECRET_KEYS``, add it to the registry ``secrets`` of
the jobs whose binaries declare it, decide when pods need it in :func:`env_secrets`, and add the
key to the chart's Secret, docs/deploy.md and preflight's required keys.
"""

from __future__ import annotations

import json

from kubernetes.client import models as k8s

from ingest import config, registry

# Environment variable the binary reads -> key in the Kubernetes Secret.
SECRET_KEYS: dict[str, str] = {
    "MATTERMOST_WEBHOOK_URL": "mattermost-webhook-url",
    # Snowflake load: key-pair (production) or password; only referenced with INGEST_WAREHOUSE.
    "SNOWFLAKE_PRIVATE_KEY": "snowflake-private-key",
    "SNOWFLAKE_PASSWORD": "snowflake-password",
}
# Referenced by every pod, not optional.
ALWAYS = ("MATTERMOST_WEBHOOK_URL",)
# Referenced only when the warehouse is configured, each optional (one of them is used).
WAREHOUSE = ("SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PASSWORD")

# Job (binary name) -> the env vars of SECRET_KEYS its pods may get (its registry `secrets`).
JOB_SECRETS: dict[str, tuple[str, ...]] = {
    job: tuple(entry["secrets"]) for job, entry in registry.jobs().items()
}


def warehouse_on() -> bool:
    return bool(config.setting(config.WAREHOUSE))


def env_secret(env: str, *, optional: bool = False) -> k8s.V1EnvVar:
    """The env var that injects `env` from the jobs' Kubernetes Secret."""
    if env not in SECRET_KEYS:
        raise config.ConfigError(f"secret env {env} is not in ingest.secrets.SECRET_KEYS")
    ref = k8s.V1SecretKeySelector(name=config.secret_name(), key=SECRET_KEYS[env])
    if optional:
        ref.optional = True
    return k8s.V1EnvVar(name=env, value_from=k8s.V1EnvVarSource(secret_key_ref=ref))


def env_secrets(job: str) -> list[k8s.V1EnvVar]:
    """The secret env vars of `job`'s pods in this deployment (see the module docstring)."""
    if job not in JOB_SECRETS:
        raise config.ConfigError(
            f"job {job} has no secrets in the job registry: declare the secrets its binary reads "
            f"(see `{job} --print-contract`) in tasks/{job}/Cargo.toml, "
            "[package.metadata.ingest] secrets, and run scripts/registry.py write"
        )
    wanted = JOB_SECRETS[job]
    out = [env_secret(env) for env in ALWAYS if env in wanted]
    if warehouse_on():
        out += [env_secret(env, optional=True) for env in WAREHOUSE if env in wanted]
    return out


def required_keys(warehouse: bool | None = None) -> list[str]:
    """What the Secret must hold for this deployment, in preflight's INGEST_REQUIRED_SECRET_KEYS
    syntax (`a|b` = one of them non-empty)."""
    keys = [SECRET_KEYS[env] for env in ALWAYS]
    if warehouse_on() if warehouse is None else warehouse:
        keys.append("|".join(SECRET_KEYS[env] for env in WAREHOUSE))
    return keys


def manifest() -> dict[str, object]:
    """Secret name, keys and which job needs which key: for the chart and the preflight check."""
    return {
        "secret": config.secret_name(),
        "keys": {env: SECRET_KEYS[env] for env in SECRET_KEYS},
        "required": required_keys(),
        "jobs": {job: [SECRET_KEYS[env] for env in envs] for job, envs in JOB_SECRETS.items()},
    }


if __name__ == "__main__":
    print(json.dumps(manifest(), indent=2))
