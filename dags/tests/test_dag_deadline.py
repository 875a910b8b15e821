"""Every DAG carries a deadline: a date not loaded by its due time posts one alert, even when
nothing failed.

Real Airflow 3: the DAG as the dag processor serializes it, the deadline read back as the
scheduler reads it, the callback imported from its serialized path and called with the context
the scheduler's `Deadline.handle_miss` builds (`DAGRunResponse` of the run), posting to a real
HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from dag_harness import DATE, EXPECTED, run_for
from test_dag_notifier import Receiver

DUE_AFTER = timedelta(hours=4)  # IngestJob.dag's default


@pytest.fixture()
def receiver(deploy_env, monkeypatch):
    hook = Receiver()
    monkeypatch.setenv("INGEST_ALERT_WEBHOOK_URL", hook.url)
    yield hook
    hook.close()


def serialized_deadline(dag):
    """The DAG's deadline alert as the scheduler sees it: serialized, then read back."""
    from airflow.serialization.decoders import decode_deadline_alert
    from airflow.serialization.serialized_objects import DagSerialization

    encoded = DagSerialization.to_dict(dag)["dag"]["deadline"]
    assert isinstance(encoded, list), f"{dag.dag_id}: no deadline in the serialized DAG"
    assert len(encoded) == 1, f"{dag.dag_id}: expected one deadline, got {encoded!r}"
    return decode_deadline_alert(encoded[0])


def scheduler_context(dag, state: str, deadline_time: datetime) -> dict:
    """The context `Deadline.handle_miss` passes: the run as `DAGRunResponse` JSON, the deadline."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse
    from airflow.models import DagRun
    from airflow.models.dag import DagModel
    from airflow.utils.types import DagRunType

    info = run_for(dag, DATE)
    run = DagRun(
        dag_id=dag.dag_id,
        run_id=f"scheduled__{info.logical_date.isoformat()}",
        logical_date=info.logical_date,
        run_type=DagRunType.SCHEDULED,
        state=state,
        data_interval=(info.data_interval.start, info.data_interval.end),
        run_after=info.run_after,
        triggered_by=None,
    )
    run.dag_model = DagModel(dag_id=dag.dag_id)
    return {
        "dag_run": DAGRunResponse.model_validate(run).model_dump(mode="json"),
        "deadline": {"id": "0195-test", "deadline_time": deadline_time},
    }


def call_callback(deadline, context):
    from airflow.sdk._shared.module_loading import import_string

    callback = import_string(deadline.callback.path)
    return asyncio.run(callback(context=context, **deadline.callback.kwargs))


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_the_deadline_is_the_due_time_after_the_scheduled_start(dagbag, dag_id):
    from airflow.serialization.definitions.deadline import SerializedReferenceModels

    dag = dagbag.dags[dag_id]
    deadline = serialized_deadline(dag)
    assert isinstance(deadline.reference, SerializedReferenceModels.DagRunLogicalDateDeadline)
    assert deadline.callback.path == "ingest.deadline.post_late_alert"
    # The scheduler adds the interval to the run's logical date: that must land `due_after`
    # after the run's scheduled start, for the date's real run.
    info = run_for(dag, DATE)
    assert info.logical_date + deadline.interval == info.run_after + DUE_AFTER
    assert info.logical_date.date().isoformat() == DATE


@pytest.mark.parametrize("state", ["queued", "running", "failed"])
def test_a_late_run_posts_one_alert_naming_dag_date_and_what_to_check(dagbag, receiver, state):
    dag = dagbag.dags["ingest_telemetry"]
    deadline = serialized_deadline(dag)
    info = run_for(dag, DATE)
    due = info.logical_date + deadline.interval
    assert call_callback(deadline, scheduler_context(dag, state, due)) is True

    assert len(receiver.posts) == 1
    post = receiver.posts[0]["json"]
    text = post["text"]
    assert (
        f"`ingest_telemetry` has not loaded {DATE} by {due.strftime('%Y-%m-%d %H:%M')} UTC" in text
    )
    assert f"state **{state}**" in text
    assert "4 h after the scheduled start" in text
    assert post["channel"] == "ingest-alerts"
    assert post["props"]["ingest_alert"] == {
        "source": "airflow-deadline",
        "dag_id": "ingest_telemetry",
        "date": DATE,
        "state": state,
        "deadline": due.strftime("%Y-%m-%d %H:%M UTC"),
    }
    assert receiver.url.split("/", 3)[3] not in text  # the webhook token is never in a post


def test_the_late_alert_cannot_mention_the_channel(dagbag, receiver):
    dag = dagbag.dags["ingest_license_exports"]
    deadline = serialized_deadline(dag)
    context = scheduler_context(dag, "running", datetime(2026, 11, 21, 10, tzinfo=UTC))
    context["dag_run"]["dag_run_id"] = "manual @channel run"
    call_callback(deadline, context)
    text = receiver.posts[0]["json"]["text"]
    assert "@channel" not in text
    assert "@\u200bchannel" in text


def test_without_a_webhook_the_deadline_alert_says_so_and_posts_nothing(
    dagbag, deploy_env, monkeypatch, caplog
):
    monkeypatch.delenv("INGEST_ALERT_WEBHOOK_URL")
    dag = dagbag.dags["ingest_push_logs"]
    deadline = serialized_deadline(dag)
    context = scheduler_context(dag, "queued", datetime(2026, 11, 21, 5, 30, tzinfo=UTC))
    assert call_callback(deadline, context) is False
    assert "No Mattermost webhook for the deadline alert of ingest_push_logs" in caplog.text


def test_a_non_positive_due_time_is_refused_at_import(deploy_env):
    from ingest import IngestJob, config

    job = IngestJob("telemetry")
    with pytest.raises(config.ConfigError, match="due_after must be positive"):
        job.dag(
            doc_md="doc",
            start_date=datetime(2026, 11, 1, tzinfo=UTC),
            due_after=timedelta(0),
        )
