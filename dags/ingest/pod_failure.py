"""What a failed job pod tells Airflow: the binary's run summary, the exit code, the reason.

KubernetesPodOperator fails a task with an exception whose text holds, for a pod that ran, the
container's termination message and (``log_pod_spec_on_failure``, on by default) the final pod
object. The job binary writes its one-line JSON run summary, with ``"alert_sent": true|false``,
to ``/dev/termination-log``; with ``termination_message_policy="FallbackToLogsOnError"`` the
kubelet falls back to the tail of the log (where the same summary is the last stdout line) when
that file is empty. A pod that never started (image pull, missing secret, unschedulable) raises
``PodLaunchFailedException``/``PodLaunchTimeoutException`` instead, and a task that ran past its
``execution_timeout`` raises ``AirflowTaskTimeout``: in neither case is there a summary.

The failure callback and the retry policy both read failures through :func:`describe`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# The binary's own failure exit codes (docs/contract.md): it writes a run summary, and posts its
# alert when no retry follows (deterministic code or last try), unless its webhook post failed
# or no webhook is configured. `alert_sent` / `alert_deferred` in the summary say which.
BINARY_ALERT_EXIT_CODES = frozenset({1, 2, 3, 4, 5, 130})
# Exit codes of failures that a retry cannot fix: a bug, bad configuration, bad data, a date
# that does not fit in the pod's deadline.
DETERMINISTIC_EXIT_CODES = frozenset({1, 2, 3, 5})

# Pod/container reasons worth naming, most specific first.
_REASONS = (
    "OOMKilled",
    "Evicted",
    "DeadlineExceeded",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "ErrImageNeverPull",
    "ImagePullBackOff",
    "ErrImagePull",
    "Unschedulable",
    "ContainerCannotRun",
    "StartError",
    "Preempting",
    "Shutdown",
    "NodeLost",
    "Error",
)
_REASON_RE = re.compile(r"""['"]reason['"]\s*:\s*['"]([A-Za-z]+)['"]""")
_EXIT_RE = re.compile(r"""['"]exit_?[cC]ode['"]\s*:\s*(\d+)""")


@dataclass(frozen=True)
class PodFailure:
    """What could be learned about a failed task."""

    # "job" (binary exited), "killed", "not_started", "timeout", "config" (a deploy-time setting
    # of this task was missing: no pod was started), "other"
    kind: str
    summary: dict | None  # the binary's run summary, when it wrote one
    exit_code: int | None
    reason: str | None  # Kubernetes reason (OOMKilled, Evicted, ImagePullBackOff, ...)
    message: str  # the exception text, for the alert

    @property
    def binary_alerted(self) -> bool:
        """True only when the binary itself says it posted an alert for this failure.

        A summary with ``alert_deferred: true`` (the binary expected a retry) is not an alert:
        when the failure callback runs, no retry follows, so the DAG must post.
        """
        return bool(self.summary and self.summary.get("alert_sent") is True)

    @property
    def out_of_time(self) -> bool:
        """Killed by the pod's activeDeadlineSeconds, or the binary stopped itself for it."""
        return self.reason == "DeadlineExceeded" or (self.kind == "job" and self.exit_code == 5)

    def describe(self) -> str:
        """One line for humans: why the pod failed."""
        parts = []
        if self.reason == "DeadlineExceeded" and self.kind != "job":
            parts.append("the pod ran out of time (activeDeadlineSeconds) and was killed")
        elif self.kind == "not_started":
            parts.append("the pod never started")
        elif self.kind == "timeout":
            parts.append("the task ran past its execution_timeout")
        elif self.kind == "config":
            parts.append("no pod was started: a deploy-time setting of this task is missing")
        elif self.kind == "killed":
            parts.append("the container was killed before the job could report")
        elif self.kind == "job":
            kind = (self.summary or {}).get("error_kind")
            parts.append(f"the job failed ({kind})" if kind else "the job failed")
        else:
            parts.append("the task failed outside the job")
        if self.reason:
            parts.append(f"reason {self.reason}")
        if self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        return ", ".join(parts)


def run_summary(text: str) -> dict | None:
    """The binary's run summary: the last line of `text` that is a JSON run_summary object."""
    found = None
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(value, dict)
            and value.get("event") == "run_summary"
            and isinstance(value.get("alert_sent"), bool)
        ):
            found = value
    return found


def describe(exception: BaseException | str | None) -> PodFailure:
    """Classifies the exception a KubernetesPodOperator task failed with."""
    text = "" if exception is None else str(exception)
    name = "" if exception is None or isinstance(exception, str) else type(exception).__name__
    summary = run_summary(text)
    reasons = set(_REASON_RE.findall(text))
    reason = next((r for r in _REASONS if r in reasons), None)
    if reason is None:
        # Launch failures name the reason in prose ("unable to start: ErrImagePull").
        words = set(re.findall(r"[A-Za-z]+", text))
        reason = next((r for r in _REASONS[:-1] if r in words), reason)
    exit_code: int | None = None
    if summary is not None and isinstance(summary.get("exit_code"), int):
        exit_code = summary["exit_code"]
    else:
        codes = [int(c) for c in _EXIT_RE.findall(text)]
        nonzero = [c for c in codes if c != 0]
        exit_code = nonzero[0] if nonzero else (codes[0] if codes else None)

    if name == "TaskSettingMissing":  # ingest.job: raised before any pod
        kind, reason, exit_code = "config", None, None
    elif name == "AirflowTaskTimeout" or (
        name == "PodLaunchTimeoutException" and "execution_timeout" in text
    ):
        kind = "timeout"
    elif name in ("PodLaunchFailedException", "PodLaunchTimeoutException"):
        kind = "not_started"
    elif summary is not None:
        kind = "job"
    elif reason in ("OOMKilled", "Evicted", "DeadlineExceeded", "Preempting", "Shutdown"):
        kind = "killed"
    elif exit_code is not None and exit_code not in BINARY_ALERT_EXIT_CODES:
        kind = "killed"
    elif exit_code is not None:
        kind = "job"
    else:
        kind = "other"
    return PodFailure(kind=kind, summary=summary, exit_code=exit_code, reason=reason, message=text)
