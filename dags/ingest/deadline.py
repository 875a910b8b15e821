"""The "date not loaded on time" alert: one Airflow deadline per DAG run.

Each ingest DAG carries a ``DeadlineAlert``: when a run has not finished successfully by
its due time (the run's scheduled start, ``run_after``, plus the job's ``due_after``),
Airflow's scheduler calls :func:`post_late_alert` once for that run, in the triggerer. It
posts to the same Mattermost channel as the failure alerts, saying which DAG and date are late,
since when, what state the run is in and what to check.

This fires when nothing failed: a run stuck in the queue (pool or executor full), a pod that
never got scheduled, a run still running long after its usual time, a run failed or cleared
and left so. It cannot fire for a run that was never created: a paused DAG, a DAG that no
longer imports, or a scheduler that is down (the scheduler evaluates deadlines). docs/dags.md,
"On-call runbook", says how on-call covers those.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from ingest import config
from ingest.notifier import DEFAULT_USERNAME, _code, _duration, neutralize, post, webhook_url

log = logging.getLogger(__name__)

# The interval from the logical date to the run's scheduled start: the DAGs are daily, with a
# data interval of one day, so a run for date D starts one day after its logical date.
DATA_INTERVAL = timedelta(days=1)
CALLBACK_PATH = "ingest.deadline.post_late_alert"


def deadline_alert(dag_id: str, due_after: timedelta) -> DeadlineAlert:
    """The DAG's deadline: the run for date D is late ``due_after`` after its scheduled start.

    Airflow measures from the logical date (the data interval's start), so the interval is one
    data interval plus ``due_after``."""
    if due_after <= timedelta(0):
        raise config.ConfigError(f"{dag_id}: due_after must be positive, not {due_after}")
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=DATA_INTERVAL + due_after,
        callback=AsyncCallback(
            CALLBACK_PATH,
            kwargs={"dag_id": dag_id, "due_after_minutes": int(due_after.total_seconds() // 60)},
        ),
        name=f"{dag_id} loaded on time",
    )


def _when(value: Any) -> str:
    """A scheduler timestamp (a datetime or ISO text) as `YYYY-MM-DD HH:MM UTC`."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "?"


# What the run's state says, and what on-call does about it.
NEXT_STEP = {
    "queued": "the run has not started: check the scheduler and executor, and the pool's free "
    "slots (a backfill may hold them)",
    "running": "the run is still going: open the Grid; a task waiting for a pod is usually "
    "capacity (Unschedulable) or an image pull; a long-running task can be left to finish",
    "failed": "the run failed and no retry is left: the failure alert says why; fix it, then "
    "clear the failed task",
}


def build_payload(
    context: Mapping[str, Any], dag_id: str, due_after_minutes: int
) -> dict[str, Any]:
    """The Mattermost incoming-webhook JSON for a run past its deadline."""
    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    dag_id = run.get("dag_id") or dag_id
    logical = run.get("data_interval_start") or run.get("logical_date")
    date = _when(logical)[:10] if logical else "?"
    state = str(run.get("state") or "?")
    due = _when(deadline.get("deadline_time"))
    rows = [
        ("DAG", f"`{_code(dag_id)}`"),
        ("Date", _code(date)),
        (
            "Due",
            f"{_code(due)} ({_duration(due_after_minutes * 60)} after the scheduled start, "
            f"{_code(_when(run.get('run_after')))})",
        ),
        ("Run", f"`{_code(run.get('dag_run_id') or '?')}`, state **{_code(state)}**"),
        ("Next step", neutralize(NEXT_STEP.get(state, "open the DAG's Grid view for this date"))),
        (
            "Re-run",
            "nothing to re-run while the run is queued or running; a failed task: clear it "
            f"(`airflow tasks clear {_code(dag_id)} -s {_code(date)} "
            f"-e {_code(date)}T23:59:59 -f -y`)",
        ),
    ]
    lines = [
        f"#### :hourglass: `{_code(dag_id)}` has not loaded {_code(date)} by {_code(due)}",
        "",
        "| | |",
        "|:--|:--|",
        *(f"| {k} | {v} |" for k, v in rows),
    ]
    payload: dict[str, Any] = {
        "text": "\n".join(lines),
        "username": config.setting(config.ALERT_USERNAME, DEFAULT_USERNAME),
        "props": {
            "ingest_alert": {
                "source": "airflow-deadline",
                "dag_id": str(dag_id),
                "date": date,
                "state": state,
                "deadline": due,
            }
        },
    }
    channel = config.setting(config.ALERT_CHANNEL)
    if channel:
        payload["channel"] = channel
    return payload


async def post_late_alert(context: Mapping[str, Any], dag_id: str, due_after_minutes: int) -> bool:
    """The deadline callback (runs in the triggerer): posts one "not loaded on time" alert.

    Returns whether the post went out. The webhook is read now, like the failure alert's."""
    url = webhook_url()
    if not url:
        log.error(
            "No Mattermost webhook for the deadline alert of %s: define the Airflow Connection "
            "or set %s on the triggerer",
            dag_id,
            config.ALERT_WEBHOOK_URL,
        )
        return False
    payload = build_payload(context, dag_id, due_after_minutes)
    # urllib blocks: keep the triggerer's event loop free.
    sent = await asyncio.to_thread(post, url, payload)
    if sent:
        log.info("Posted the deadline alert of %s", dag_id)
    return sent
