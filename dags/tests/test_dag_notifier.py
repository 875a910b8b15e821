"""The failure callback posts to Mattermost only when the job binary could not, and the retry
policy retries only what a retry can fix.

The failures are the real ones: KubernetesPodOperator's own `cleanup()` builds the exception
from a finished pod (the Kubernetes API is a stand-in that returns that pod), and the posts go
to a real HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from dag_harness import DATE, TRY_NUMBER, run_for, task_context

DAG_ID, TASK_ID = "ingest_push_logs", "load_eu"
TOKEN = "hooks/TOKEN-secret-0c7d1e"  # noqa: S105 - a fake webhook token


class Receiver:
    """A Mattermost incoming-webhook stand-in: records every POST, answers `status`."""

    def __init__(self):
        self.posts: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.posts.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "json": json.loads(body or b"null"),
                    }
                )
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{TOKEN}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver(deploy_env, monkeypatch):
    hook = Receiver()
    monkeypatch.setenv("INGEST_ALERT_WEBHOOK_URL", hook.url)
    yield hook
    hook.close()


def pod_failure_exception(
    task, *, exit_code=None, reason=None, message=None, waiting=None, pod_reason=None
):
    """The exception KubernetesPodOperator raises for a pod that ended like this."""
    from kubernetes.client import models as k8s

    pod = task.build_pod_request_obj(None, dry_run=True)
    remote = copy.deepcopy(pod)
    if waiting:
        state = k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason=waiting))
    else:
        state = k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(
                exit_code=exit_code, reason=reason, message=message
            )
        )
    remote.status = k8s.V1PodStatus(
        phase="Failed",
        reason=pod_reason or ("Evicted" if reason == "Evicted" else None),
        container_statuses=[
            k8s.V1ContainerStatus(
                name="base",
                image=pod.spec.containers[0].image,
                image_id="",
                ready=False,
                restart_count=0,
                state=state,
            )
        ],
    )
    task.pod_manager = mock.MagicMock()  # the Kubernetes API: returns the finished pod
    task.pod_manager.read_pod.return_value = remote
    task.client = mock.MagicMock()
    with pytest.raises(Exception) as caught:  # noqa: B017, PT011 - whatever the operator raises
        task.cleanup(pod, remote, None)
    return caught.value


def summary(exit_code: int, alert_sent: bool, error: str = "reject ratio 0.20 > 0.01") -> str:
    return json.dumps(
        {
            "event": "run_summary",
            "job": "push-logs",
            "date": DATE,
            "status": "failed",
            "exit_code": exit_code,
            "error_kind": "data error",
            "error": error,
            "alert_sent": alert_sent,
        },
        separators=(",", ":"),
    )


def fail_task(dagbag, exception):
    """Runs the task's real on_failure_callback(s) with the context a worker would pass."""
    dag = dagbag.dags[DAG_ID]
    task = copy.deepcopy(dag.get_task(TASK_ID))
    context = task_context(dag, task)
    context["exception"] = exception
    callbacks = task.on_failure_callback
    for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
        callback(context)
    return context


def a_task(dagbag):
    return copy.deepcopy(dagbag.dags[DAG_ID].get_task(TASK_ID))


def test_oom_killed_pod_posts_one_alert(dagbag, receiver):
    exc = pod_failure_exception(a_task(dagbag), exit_code=137, reason="OOMKilled")
    assert "returned a failure" in str(exc)
    context = fail_task(dagbag, exc)

    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["path"] == f"/{TOKEN}"
    assert post["content_type"] == "application/json"
    payload = post["json"]
    text = payload["text"]
    for expected in (
        DAG_ID,
        TASK_ID,
        DATE,
        "killed before the job could report",
        "OOMKilled",
        "exit code 137",
    ):
        assert expected in text, expected
    assert f"| Try | {TRY_NUMBER} |" in text
    assert f"[Task log]({context['ti'].log_url})" in text
    assert context["ti"].log_url.startswith("https://airflow.example.test/dags/ingest_push_logs/")
    assert "remote_pod" not in text  # the pod dump stays in the task log
    assert payload["channel"] == "ingest-alerts"
    assert payload["username"] == "airflow-ingest"
    props = payload["props"]["ingest_alert"]
    assert props == {
        "source": "airflow",
        "dag_id": DAG_ID,
        "task_id": TASK_ID,
        "date": DATE,
        "try_number": TRY_NUMBER,
        "failure": "killed",
        "reason": "OOMKilled",
        "exit_code": 137,
    }


def test_silent_when_the_binary_already_alerted(dagbag, receiver):
    exc = pod_failure_exception(
        a_task(dagbag), exit_code=3, reason="Error", message=summary(3, alert_sent=True)
    )
    fail_task(dagbag, exc)
    assert receiver.posts == []


def test_summary_from_the_log_tail_counts_too(dagbag, receiver):
    """FallbackToLogsOnError: the message is the log tail, the summary its last stdout line."""
    tail = "\n".join(
        [
            '{"level":"ERROR","fields":{"message":"run failed","alert_sent":true}}',
            summary(4, alert_sent=True),
        ]
    )
    exc = pod_failure_exception(a_task(dagbag), exit_code=4, reason="Error", message=tail)
    fail_task(dagbag, exc)
    assert receiver.posts == []


def test_posts_when_the_binary_could_not_alert(dagbag, receiver):
    """No webhook in the pod, or its post failed: the summary says alert_sent false."""
    exc = pod_failure_exception(
        a_task(dagbag), exit_code=3, reason="Error", message=summary(3, alert_sent=False)
    )
    fail_task(dagbag, exc)
    assert len(receiver.posts) == 1
    text = receiver.posts[0]["json"]["text"]
    assert "the job failed (data error)" in text and "exit code 3" in text
    assert "reject ratio 0.20" in text


def test_posts_when_the_pod_never_started(dagbag, receiver):
    from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import (
        PodLaunchFailedException,
    )

    exc = PodLaunchFailedException(
        "Image cannot be pulled, unable to start: ErrImagePull\nmanifest unknown"
    )
    fail_task(dagbag, exc)
    assert len(receiver.posts) == 1
    text = receiver.posts[0]["json"]["text"]
    assert "the pod never started, reason ErrImagePull" in text
    assert receiver.posts[0]["json"]["props"]["ingest_alert"]["failure"] == "not_started"


def test_posts_when_the_task_timed_out(dagbag, receiver):
    from airflow.sdk.exceptions import AirflowTaskTimeout

    fail_task(dagbag, AirflowTaskTimeout("Timeout, PID: 4242"))
    assert len(receiver.posts) == 1
    assert "ran past its execution_timeout" in receiver.posts[0]["json"]["text"]


def test_posts_when_the_pod_was_evicted(dagbag, receiver):
    exc = pod_failure_exception(a_task(dagbag), exit_code=137, reason="Evicted")
    fail_task(dagbag, exc)
    assert len(receiver.posts) == 1
    assert "reason Evicted" in receiver.posts[0]["json"]["text"]


def test_pod_deadline_reported_once(dagbag, receiver):
    """activeDeadlineSeconds: the binary stops itself (exit 5, out of time) and alerts, the DAG
    stays silent; a binary that did not stop in the grace period was killed, and the DAG posts
    that the date ran out of time, the limit, and how to raise it."""
    exc = pod_failure_exception(
        a_task(dagbag),
        exit_code=5,
        reason="Error",
        message=summary(5, True),
        pod_reason="DeadlineExceeded",
    )
    fail_task(dagbag, exc)
    assert receiver.posts == []
    exc = pod_failure_exception(
        a_task(dagbag), exit_code=137, reason="Error", pod_reason="DeadlineExceeded"
    )
    fail_task(dagbag, exc)
    assert len(receiver.posts) == 1
    text = receiver.posts[0]["json"]["text"]
    assert "reason DeadlineExceeded, exit code 137" in text
    assert f"`{DAG_ID}.{TASK_ID}` ran out of time for {DATE}" in text
    limit = a_task(dagbag).active_deadline_seconds
    assert f"within {limit} s (" in text
    assert "IngestJob(..., timeout=timedelta(hours=N))" in text


def test_posts_when_the_binary_deferred_but_no_retry_follows(dagbag, receiver):
    """The binary expected a retry (alert_deferred) but the task failed for good (cleared with
    fewer retries, or a policy decision): the callback is the last chance, so it posts."""
    deferred = json.loads(summary(4, alert_sent=False))
    deferred["alert_deferred"] = True
    exc = pod_failure_exception(
        a_task(dagbag), exit_code=4, reason="Error", message=json.dumps(deferred)
    )
    fail_task(dagbag, exc)
    assert len(receiver.posts) == 1


def test_untrusted_text_cannot_mention_anyone(dagbag, receiver):
    error = "bad line from @channel and @here, cc @all `rm -rf`"
    exc = pod_failure_exception(
        a_task(dagbag), exit_code=3, reason="Error", message=summary(3, False, error=error)
    )
    fail_task(dagbag, exc)
    text = receiver.posts[0]["json"]["text"]
    for mention in ("@channel", "@here", "@all"):
        assert mention not in text
        assert mention.replace("@", "@\u200b") in text


def test_webhook_url_from_an_airflow_connection(dagbag, receiver, monkeypatch):
    monkeypatch.delenv("INGEST_ALERT_WEBHOOK_URL")
    monkeypatch.setenv(
        "AIRFLOW_CONN_MATTERMOST_INGEST",
        json.dumps({"conn_type": "http", "password": receiver.url}),
    )
    from airflow.sdk.exceptions import AirflowTaskTimeout

    fail_task(dagbag, AirflowTaskTimeout("Timeout"))
    assert len(receiver.posts) == 1


def test_webhook_from_a_connection_with_a_bare_token(dagbag, receiver, monkeypatch):
    """The old DAGs' connection: host = the Mattermost base URL, password = the hook token."""
    monkeypatch.delenv("INGEST_ALERT_WEBHOOK_URL")
    base, token = receiver.url.split("/hooks/")
    monkeypatch.setenv(
        "AIRFLOW_CONN_MATTERMOST_INGEST",
        json.dumps({"conn_type": "mattermost", "host": base, "password": token}),
    )
    from airflow.sdk.exceptions import AirflowTaskTimeout

    fail_task(dagbag, AirflowTaskTimeout("Timeout"))
    assert [p["path"] for p in receiver.posts] == [f"/{TOKEN}"]


@pytest.mark.parametrize(
    ("host", "password", "schema", "port", "url"),
    [
        (
            None,
            "https://chat.example.test/hooks/abc",
            None,
            None,
            "https://chat.example.test/hooks/abc",
        ),
        ("https://chat.example.test/", "abc", None, None, "https://chat.example.test/hooks/abc"),
        ("chat.example.test", "abc", None, 8065, "https://chat.example.test:8065/hooks/abc"),
        ("chat.example.test", "abc", "http", None, "http://chat.example.test/hooks/abc"),
        (
            "https://chat.example.test/hooks/abc",
            None,
            None,
            None,
            "https://chat.example.test/hooks/abc",
        ),
        (None, "abc", None, None, None),
        ("chat.example.test", None, None, None, None),
    ],
)
def test_connection_formats(host, password, schema, port, url):
    from ingest.notifier import url_from_connection

    assert url_from_connection(host, password, schema, port) == url


def test_the_webhook_url_is_never_logged(dagbag, receiver, monkeypatch, caplog, capfd):
    from ingest import notifier

    receiver.status = 500
    monkeypatch.setattr(notifier.time, "sleep", lambda _s: None)
    caplog.set_level("DEBUG")
    from airflow.sdk.exceptions import AirflowTaskTimeout

    fail_task(dagbag, AirflowTaskTimeout("Timeout"))
    assert len(receiver.posts) == 3  # retried on 5xx
    assert "HTTP 500" in caplog.text
    out, err = capfd.readouterr()
    for logged in (caplog.text, out, err):
        assert "TOKEN-secret" not in logged


def test_no_webhook_configured_logs_what_to_set(dagbag, deploy_env, monkeypatch, caplog):
    monkeypatch.delenv("INGEST_ALERT_WEBHOOK_URL")
    from airflow.sdk.exceptions import AirflowTaskTimeout

    caplog.set_level("ERROR")
    fail_task(dagbag, AirflowTaskTimeout("Timeout"))
    assert "mattermost_ingest" in caplog.text and "INGEST_ALERT_WEBHOOK_URL" in caplog.text


@pytest.mark.parametrize(
    ("ending", "action"),
    [
        ({"exit_code": 1, "reason": "Error", "message": summary(1, True)}, "fail"),
        ({"exit_code": 2, "reason": "Error", "message": summary(2, True)}, "fail"),
        ({"exit_code": 3, "reason": "Error", "message": summary(3, False)}, "fail"),
        ({"exit_code": 4, "reason": "Error", "message": summary(4, True)}, "default"),
        ({"exit_code": 5, "reason": "Error", "message": summary(5, True)}, "fail"),
        ({"exit_code": 137, "reason": "Error", "pod_reason": "DeadlineExceeded"}, "fail"),
        ({"exit_code": 130, "reason": "Error", "message": summary(130, True)}, "default"),
        ({"exit_code": 137, "reason": "OOMKilled"}, "default"),
        ({"waiting": "CreateContainerConfigError"}, "default"),
    ],
)
def test_retry_policy_retries_only_what_a_retry_can_fix(dagbag, ending, action):
    task = a_task(dagbag)
    exc = pod_failure_exception(task, **ending)
    decision = task.retry_policy.evaluate(exc, try_number=1, max_tries=task.retries)
    assert decision.action.value == action


def test_the_alert_gives_the_airflow_re_run_command(dagbag, receiver):
    """The command in the alert is one the Airflow 3 CLI accepts, for this DAG, task and date
    (checked with the CLI's own parser here; tests/test_runbook.py runs it against a real
    metadata database)."""
    import shlex

    from airflow.cli import cli_parser
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from ingest.notifier import clear_command

    fail_task(dagbag, AirflowTaskTimeout("Timeout"))
    (post,) = receiver.posts
    text = post["json"]["text"]
    assert text.startswith(f"#### :rotating_light: `{DAG_ID}.{TASK_ID}` failed for {DATE}")
    command = clear_command(DAG_ID, TASK_ID, DATE)
    assert command == (
        f"airflow tasks clear {DAG_ID} -t {TASK_ID} -s {DATE} -e {DATE}T23:59:59 -y"
    )
    assert f"`{command}`" in text
    assert text.index("Re-run") < text.index("[Task log]")

    argv = shlex.split(command)
    assert argv[:3] == ["airflow", "tasks", "clear"]
    args = cli_parser.get_parser().parse_args(argv[1:])
    assert args.dag_id == DAG_ID
    assert args.task_regex == TASK_ID
    # The window holds the logical date of this date's run (the cron time on that day), and
    # not the next date's run.
    dag = dagbag.dags[DAG_ID]
    logical = run_for(dag, DATE).logical_date
    following = run_for(dag, "2026-11-21").logical_date
    start, end = (d.replace(tzinfo=d.tzinfo or UTC) for d in (args.start_date, args.end_date))
    assert start <= logical <= end < following, (start, logical, end)
    assert args.yes is True
    assert args.downstream is False and args.upstream is False
    # Airflow 3 selects the task ids containing -t (SerializedDAG.partial_subset): exactly this
    # task of the DAG (not another deployment).
    selected = [t for t in dagbag.dags[DAG_ID].task_ids if args.task_regex in t]
    assert selected == [TASK_ID]


def test_a_rotated_webhook_takes_effect_without_a_restart(dagbag, receiver, monkeypatch):
    """The webhook is read when the alert is posted, not when the DAG file was imported: a new
    value in the worker's env, or in the Airflow Connection, is used by the next alert."""
    from airflow.sdk.exceptions import AirflowTaskTimeout

    rotated = Receiver()
    connection = Receiver()
    try:
        fail_task(dagbag, AirflowTaskTimeout("Timeout"))
        monkeypatch.setenv("INGEST_ALERT_WEBHOOK_URL", rotated.url)
        fail_task(dagbag, AirflowTaskTimeout("Timeout"))
        monkeypatch.setenv(
            "AIRFLOW_CONN_MATTERMOST_INGEST",
            json.dumps({"conn_type": "http", "password": connection.url}),
        )
        fail_task(dagbag, AirflowTaskTimeout("Timeout"))
        assert [len(receiver.posts), len(rotated.posts), len(connection.posts)] == [1, 1, 1]
    finally:
        rotated.close()
        connection.close()


def test_a_missing_deployment_source_is_one_alert_naming_the_setting(deploy_env, receiver):
    """The task of a deployment whose source setting is missing fails at run time; its failure
    callback posts the one alert, which names the setting to set."""
    from airflow.sdk.exceptions import AirflowFailException
    from dag_harness import load_dagbag

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("INGEST_SOURCE_PUSH_LOGS_EU")
        bag = load_dagbag()
    assert bag.import_errors == {}
    dag = bag.dags[DAG_ID]
    task = dag.get_task(TASK_ID)
    context = task_context(dag, task)
    # AirflowFailException: failed at once, no retry (a retry cannot create the setting).
    with pytest.raises(AirflowFailException) as failed:
        task.execute(context)
    context["exception"] = failed.value
    callbacks = task.on_failure_callback
    for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
        callback(context)
    (post,) = receiver.posts
    text = post["json"]["text"]
    assert "INGEST_SOURCE_PUSH_LOGS_EU is not set" in text
    assert f"`{DAG_ID}.{TASK_ID}` failed for {DATE}" in text
    assert "| Pod | no pod was started: a deploy-time setting of this task is missing |" in text
    props = post["json"]["props"]["ingest_alert"]
    assert (props["failure"], props["exit_code"]) == ("config", None)
