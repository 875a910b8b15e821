"""Where and when the job pods run: node placement, pod metadata, priority and Airflow pool.

Two deploy-time settings, JSON objects with the same keys (the chart writes both from its
values `podScheduling` and `jobs.<job>.podScheduling`):

- ``INGEST_POD_SCHEDULING``: the defaults of every job's pods;
- ``INGEST_POD_SCHEDULING_<JOB>`` (``INGEST_POD_SCHEDULING_PUSH_LOGS``): one job, over the
  defaults. ``nodeSelector``, ``annotations`` and ``labels`` are merged key by key (the job's
  value wins); the other keys replace the default.

Keys, in Kubernetes' own spelling so values copy from a pod spec: ``nodeSelector``,
``tolerations``, ``affinity``, ``annotations``, ``labels``, ``priorityClassName``, and the
Airflow ``pool`` and ``poolSlots`` of the tasks. A bad value is an import error naming the
setting, like every other deploy-time setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest import config

DEFAULTS = "INGEST_POD_SCHEDULING"
PER_JOB_PREFIX = "INGEST_POD_SCHEDULING_"  # + the job in upper snake case
# The labels the DAGs set themselves: the NetworkPolicy and `kubectl` select the pods by them.
RESERVED_LABELS = (
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/name",
    "app.kubernetes.io/managed-by",
)
_KEYS: dict[str, type] = {
    "nodeSelector": dict,
    "tolerations": list,
    "affinity": dict,
    "annotations": dict,
    "labels": dict,
    "priorityClassName": str,
    "pool": str,
    "poolSlots": int,
}
_MERGED = ("nodeSelector", "annotations", "labels")
_STRING_MAPS = ("nodeSelector", "annotations", "labels")
_POOL = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")


@dataclass(frozen=True)
class PodScheduling:
    """The scheduling of one job's pods (empty: Kubernetes' and Airflow's defaults)."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    affinity: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    priority_class_name: str | None = None
    pool: str | None = None
    pool_slots: int = 1


def _parse(name: str) -> dict[str, Any]:
    raw = config.setting(name)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as err:
        raise config.ConfigError(
            f"{name} is not JSON ({err}); expected an object such as "
            f'{name}={{"nodeSelector": {{"nodegroup": "batch"}}, "pool": "ingest"}}'
        ) from None
    if not isinstance(value, dict):
        raise config.ConfigError(f"{name} must be a JSON object, not {type(value).__name__}")
    unknown = sorted(set(value) - set(_KEYS))
    if unknown:
        raise config.ConfigError(
            f"{name}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(_KEYS)}"
        )
    for key, expected in _KEYS.items():
        if key in value and value[key] is not None:
            item = value[key]
            if not isinstance(item, expected) or isinstance(item, bool):
                raise config.ConfigError(
                    f"{name}: {key} must be a JSON {expected.__name__}, got {json.dumps(item)}"
                )
            if key in _STRING_MAPS and not all(isinstance(v, str) for v in item.values()):
                raise config.ConfigError(
                    f"{name}: every value of {key} must be a string (quote numbers and booleans)"
                )
            if key == "tolerations" and not all(isinstance(t, dict) for t in item):
                raise config.ConfigError(f"{name}: tolerations must be a list of objects")
    return {k: v for k, v in value.items() if v is not None}


def for_job(job: str) -> PodScheduling:
    """The merged scheduling of `job`'s pods, checked; raises ConfigError naming the setting."""
    per_job_name = PER_JOB_PREFIX + config.env_key(job)
    defaults, per_job = _parse(DEFAULTS), _parse(per_job_name)
    merged: dict[str, Any] = dict(defaults)
    for key, value in per_job.items():
        merged[key] = {**defaults.get(key, {}), **value} if key in _MERGED else value
    reserved = sorted(set(merged.get("labels", {})) & set(RESERVED_LABELS))
    if reserved:
        raise config.ConfigError(
            f"{DEFAULTS} / {per_job_name}: labels {', '.join(reserved)} are set by the DAGs "
            "(the NetworkPolicy selects the job pods by them); use other label keys"
        )
    pool = merged.get("pool")
    if pool is not None and not _POOL.match(pool):
        raise config.ConfigError(
            f"{per_job_name if 'pool' in per_job else DEFAULTS}: pool {pool!r} is not an Airflow "
            "pool name (letters, digits, _ . -)"
        )
    slots = merged.get("poolSlots", 1)
    if slots < 1:
        raise config.ConfigError(
            f"{per_job_name if 'poolSlots' in per_job else DEFAULTS}: poolSlots must be >= 1"
        )
    return PodScheduling(
        node_selector=dict(merged.get("nodeSelector", {})),
        tolerations=list(merged.get("tolerations", [])),
        affinity=dict(merged.get("affinity", {})),
        annotations=dict(merged.get("annotations", {})),
        labels=dict(merged.get("labels", {})),
        priority_class_name=merged.get("priorityClassName"),
        pool=pool,
        pool_slots=slots,
    )


def operator_kwargs(scheduling: PodScheduling, labels: Mapping[str, str]) -> dict[str, Any]:
    """KubernetesPodOperator arguments for `scheduling`, with the DAGs' own `labels`."""
    kwargs: dict[str, Any] = {
        "labels": {**scheduling.labels, **labels},
        "annotations": dict(scheduling.annotations),
        "node_selector": dict(scheduling.node_selector),
        # The operator turns Kubernetes-JSON dicts into its client models.
        "tolerations": list(scheduling.tolerations) or None,
        "affinity": dict(scheduling.affinity) or None,
        "priority_class_name": scheduling.priority_class_name,
        "pool_slots": scheduling.pool_slots,
    }
    if scheduling.pool:
        kwargs["pool"] = scheduling.pool
    return kwargs
