"""The DAGs' failure alert: a Mattermost post, only when the job binary could not post its own.

The job binary posts the rich alert itself (error chain, counts, sample rejects, re-run command)
for exit codes 1, 2, 3, 4 and 130, and records ``"alert_sent": true`` in the run summary it
writes to the pod's termination message. :class:`MattermostNotifier`, the tasks'
``on_failure_callback``, reads that summary from the failure (see ``ingest.pod_failure``) and
stays silent when it says ``alert_sent: true``. In every other case it posts: the pod never
started (image pull, missing secret, unschedulable), was OOM-killed or evicted, the task timed
out, the binary had no webhook or its post failed (``alert_sent: false``), or Airflow failed
before or around the pod.

The webhook URL (never logged, and masked in task logs) comes from, in order:

1. the Airflow Connection ``mattermost_ingest`` (``INGEST_ALERT_CONN_ID`` renames it): its
   password holds the full incoming-webhook URL, e.g.
   ``AIRFLOW_CONN_MATTERMOST_INGEST='{"conn_type": "http", "password": "https://..."}'``; or, in
   the old DAGs' format, host = the Mattermost base URL and password = the bare hook token, from
   which the URL ``<host>/hooks/<token>`` is built;
2. the environment variable ``INGEST_ALERT_WEBHOOK_URL`` of the workers.

Alert rule (docs/contract.md, "Alerts"): one failed date is one post, whatever the retries. The
binary posts only when no retry follows; this callback runs only when the task has failed for
good, and posts unless the binary's summary says ``alert_sent: true``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseNotifier

from ingest import config, pod_failure

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "mattermost_ingest"
DEFAULT_USERNAME = "airflow-ingest"
MAX_ERROR_CHARS = 2000
MAX_TEXT_CHARS = 12000  # Mattermost's post limit is 16383 characters
ZERO_WIDTH_SPACE = "\u200b"


def neutralize(text: object) -> str:
    """Untrusted text cannot mention anyone: `@channel` -> `@\u200bchannel` (also @here, @all)."""
    return str(text).replace("@", "@" + ZERO_WIDTH_SPACE)


def _code(text: str) -> str:
    return neutralize(text).replace("`", "'")


def webhook_url(conn_id: str | None = None) -> str | None:
    """The incoming-webhook URL from the Airflow Connection, else from the worker's env."""
    conn_id = conn_id or config.setting(config.ALERT_CONN_ID, DEFAULT_CONN_ID)
    url = None
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        url = url_from_connection(
            conn.host, conn.password, getattr(conn, "schema", None), getattr(conn, "port", None)
        )
    except Exception:  # noqa: BLE001 - connection not defined: fall back to the env var
        url = None
    url = url or os.environ.get(config.ALERT_WEBHOOK_URL, "").strip() or None
    if url:
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(url)
        except Exception:  # noqa: BLE001 - masking is best effort outside a task
            log.debug("could not register the webhook URL with the secrets masker")
    return url


def url_from_connection(
    host: str | None,
    password: str | None,
    schema: str | None = None,
    port: int | None = None,
) -> str | None:
    """The webhook URL a connection holds: a full URL in the password (or the host), or the old
    DAGs' format, a bare hook token in the password and the Mattermost base URL in the host."""
    password = (password or "").strip()
    host = (host or "").strip()
    if password.startswith(("http://", "https://")):
        return password
    if password:
        if not host:
            return None
        if "://" not in host:
            # Airflow splits `https://chat.example.com` into schema `https` and host.
            host = f"{schema or 'https'}://{host}" + (f":{port}" if port else "")
        return f"{host.rstrip('/')}/hooks/{password.strip('/')}"
    return host if host.startswith(("http://", "https://")) else None


def clear_command(dag_id: str, task_id: str, date: str) -> str:
    """The Airflow CLI command that re-runs one task for one date (`airflow tasks clear`: the
    scheduler runs the cleared task again; the job replaces the date's partition whole).

    `-s`/`-e` select runs by logical date, which is the cron time on that day (01:30 for
    `30 1 * * *`), so the window is the whole day. `-t` takes the bare task id: Airflow 3
    selects the task ids that *contain* it (a substring, not a regex: `'^load_eu$'` selects
    nothing and the command clears nothing), and ingest.config refuses task ids that contain
    one another, so it selects exactly this task."""
    return f"airflow tasks clear {dag_id} -t {task_id} -s {date} -e {date}T23:59:59 -y"


def _ti_attr(ti: Any, name: str) -> Any:
    try:
        return getattr(ti, name)
    except Exception:  # noqa: BLE001 - a property that needs the API server
        return None


def build_payload(context: Mapping[str, Any], failure: pod_failure.PodFailure) -> dict[str, Any]:
    """The Mattermost incoming-webhook JSON for a failure the binary did not report."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or _ti_attr(ti, "dag_id") or "?"
    task_id = _ti_attr(ti, "task_id") or getattr(context.get("task"), "task_id", None) or "?"
    date = context.get("ds") or "?"
    try_number = _ti_attr(ti, "try_number")
    log_url = _ti_attr(ti, "log_url")
    run_id = context.get("run_id") or _ti_attr(ti, "run_id") or "?"
    # The operator appends the whole pod object ("remote_pod: ..."): that stays in the task log.
    error = failure.message.split("\nremote_pod:", 1)[0].strip() or "(no exception recorded)"
    if len(error) > MAX_ERROR_CHARS:
        more = len(error) - MAX_ERROR_CHARS
        error = f"{error[:MAX_ERROR_CHARS]}\n... ({more} more characters in the task log)"
    headline = "failed"
    extra: list[tuple[str, str]] = []
    if failure.out_of_time:
        headline = "ran out of time"
        limit = _deadline_seconds(context, failure.message)
        limit_text = f"{limit} s ({_duration(limit)})" if limit else "the pod's limit"
        extra = [
            (
                "Out of time",
                f"the date did not finish within {limit_text} (activeDeadlineSeconds); it was "
                "not retried, a retry would hit the same limit",
            ),
            (
                "To fix",
                "raise the limit in the DAG file, `IngestJob(..., timeout=timedelta(hours=N))` "
                "(dags/<job>.py), deploy, then clear the task for this date; or give the pod "
                "more CPU (`IngestJob(cpu=...)` also sets --threads)",
            ),
        ]
    rows = [
        ("DAG", f"`{_code(dag_id)}`"),
        ("Task", f"`{_code(task_id)}`"),
        ("Date", _code(date)),
        ("Run", f"`{_code(run_id)}`"),
        ("Try", _code(try_number if try_number is not None else "?")),
        ("Pod", neutralize(failure.describe())),
        *extra,
        (
            "Re-run",
            f"clear the task in the Airflow UI, or `{_code(clear_command(dag_id, task_id, date))}`",
        ),
        ("Why this alert", "the job binary could not post its own alert for this failure"),
    ]
    lines = [
        f"#### :rotating_light: `{_code(dag_id)}.{_code(task_id)}` {headline} for {_code(date)}",
        "",
        "| | |",
        "|:--|:--|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
        "```",
        _code(error),
        "```",
    ]
    if log_url:
        lines.append(f"[Task log]({neutralize(log_url)})")
    text = "\n".join(lines)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + "\n```\n(truncated)"
    payload: dict[str, Any] = {
        "text": text,
        "username": config.setting(config.ALERT_USERNAME, DEFAULT_USERNAME),
        "props": {
            "ingest_alert": {
                "source": "airflow",
                "dag_id": str(dag_id),
                "task_id": str(task_id),
                "date": str(date),
                "try_number": try_number,
                "failure": failure.kind,
                "reason": failure.reason,
                "exit_code": failure.exit_code,
            }
        },
    }
    channel = config.setting(config.ALERT_CHANNEL)
    if channel:
        payload["channel"] = channel
    return payload


_DEADLINE_RE = re.compile(r"""['"]active_deadline_seconds['"]\s*:\s*(\d+)""")


def _deadline_seconds(context: Mapping[str, Any], message: str) -> int | None:
    """The pod's activeDeadlineSeconds: the task's setting, else the pod spec in the error."""
    value = getattr(context.get("task"), "active_deadline_seconds", None)
    if isinstance(value, int) and value > 0:
        return value
    found = _DEADLINE_RE.search(message)
    return int(found.group(1)) if found else None


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs or not (hours or minutes) else "")
    return " ".join(p for p in parts if p)


def post(url: str, payload: Mapping[str, Any], *, attempts: int = 3, timeout: float = 10.0) -> bool:
    """POSTs `payload`; retries connection errors and 5xx. Never logs the URL."""
    body = json.dumps(payload).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(  # noqa: S310 - the URL is the configured https webhook
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
            return True
        except urllib.error.HTTPError as err:
            log.error("Mattermost webhook answered HTTP %s (attempt %d)", err.code, attempt)
            if err.code < 500 and err.code != 429:
                return False
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            log.error(
                "Mattermost webhook unreachable: %s (attempt %d)", type(reason).__name__, attempt
            )
        if attempt < attempts:
            time.sleep(min(2**attempt, 10) * 0.5)
    return False


class MattermostNotifier(BaseNotifier):
    """Task failure callback: posts to Mattermost unless the job binary already alerted."""

    template_fields = ()

    def __init__(self, *, conn_id: str | None = None, webhook_url: str | None = None):
        super().__init__()
        self.conn_id = conn_id
        self._webhook_url = webhook_url

    def notify(self, context: Mapping[str, Any]) -> None:
        failure = pod_failure.describe(context.get("exception"))
        if failure.binary_alerted:
            log.info(
                "The job binary already posted its alert (alert_sent: true, exit code %s): "
                "not posting again",
                failure.exit_code,
            )
            return
        url = self._webhook_url or webhook_url(self.conn_id)
        if not url:
            log.error(
                "No Mattermost webhook for the failure alert: define the Airflow Connection %s "
                "(password = webhook URL) or set %s on the workers",
                self.conn_id or config.setting(config.ALERT_CONN_ID, DEFAULT_CONN_ID),
                config.ALERT_WEBHOOK_URL,
            )
            return
        if post(url, build_payload(context, failure)):
            log.info("Posted the failure alert to Mattermost (%s)", failure.describe())
