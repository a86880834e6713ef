"""The push job: a batch of visitors for one destination and workspace.

A job connects with the stored connection of its workspace (never an environment token) and
pushes its visitors through the same pusher as `crm-push push` (chosen by `pusher_for`), so
markers make a re-run of a job (a retry, a job taken over from a killed worker) skip what was
already written.

- A visitor that fails is recorded in `crm_push_job_failures`; the job succeeds.
- A transient error (`RetryLater`, after the HTTP client's own retries) reschedules the whole
  job at the Retry-After time (markers skip its visitors already pushed), up to
  `TRANSIENT_ATTEMPTS` runs; the last run records what still fails.
- Dead credentials (`ReconnectRequired`, `RunAborted`) stop the workspace: recorded in
  `crm_push_job_stops`, the job fails, and later jobs of that workspace fail fast (their
  visitors recorded with the reason) until it is connected again. Other workspaces go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from crm_push.destination.discovery import load_destination
from crm_push.destination.facade import Destination
from crm_push.errors import (
    ConfigurationError,
    CrmPushError,
    InvalidInput,
    ReconnectRequired,
    RetryLater,
)
from crm_push.inputs.lines import Line
from crm_push.inputs.visitors import parse_visitor
from crm_push.jobs.engine import app, need_procrastinate
from crm_push.models.visitor import Visitor

logger = logging.getLogger(__name__)

#: The task's name in procrastinate's tables: a contract between enqueuers and workers.
TASK_NAME = "crm_push.push_visitors"
#: The queue of push jobs (a worker runs every queue unless told otherwise).
QUEUE = "crm_push"
#: Runs of a job while its visitors fail transiently; the last one records them as failed.
TRANSIENT_ATTEMPTS = 8
#: Wait before the next run when the CRM gave no Retry-After: doubled each run, capped.
TRANSIENT_WAIT = 15.0
TRANSIENT_WAIT_MAX = 900.0
#: Runs of a job that crashed (a database blip, a bug) before it fails.
CRASH_ATTEMPTS = 3
#: Visitors a job pushes at once (the destination's rate limit still applies).
JOB_WORKERS = 4
RECONNECT = "reconnect"


#: One loaded destination per name for every job of this process, held by the process
#: itself (`Destination.hold`): a job's Session closing leaves the plugin's clients (kept-alive
#: connections, renewed tokens, the client cache) open for the next job.
_kept: dict[str, Destination] = {}
_kept_lock = threading.Lock()


def kept_destination(name: str) -> Destination:
    """The destination `name`, loaded once per process for every job."""
    with _kept_lock:
        kept = _kept.get(name)
        if kept is None:
            kept = _kept[name] = load_destination(name)
            kept.hold()
        return kept


def close_destinations() -> None:
    """Let go of every destination jobs used: their clients close once no job uses them (the
    worker is stopping)."""
    with _kept_lock:
        kept = list(_kept.values())
        _kept.clear()
    for destination in kept:
        destination.release()


class WorkspaceStopped(CrmPushError):
    """The workspace's credentials died: its jobs fail fast until it is connected again."""

    next_step = "reconnect: run `crm-push --dest <name> --workspace <id> connect`, then enqueue "
    "the failed visitors again (`crm-push jobs failed`)"


def transient_wait(exc: RetryLater, attempts: int) -> float:
    if exc.retry_after is not None:
        return max(1.0, exc.retry_after)
    return min(TRANSIENT_WAIT * 2**attempts, TRANSIENT_WAIT_MAX)


def _after(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


if app is not None:
    import procrastinate

    class PushRetry(procrastinate.BaseRetryStrategy):
        """RetryLater: at its Retry-After; a crash: a few times, backing off; else fail."""

        def get_retry_decision(
            self, *, exception: BaseException, job: procrastinate.jobs.Job
        ) -> procrastinate.RetryDecision | None:
            if isinstance(exception, RetryLater):
                wait = transient_wait(exception, job.attempts)
                return procrastinate.RetryDecision(retry_at=_after(wait))
            if isinstance(exception, CrmPushError):
                return None  # stopped workspace, no connection: a retry changes nothing
            if job.attempts + 1 < CRASH_ATTEMPTS:
                return procrastinate.RetryDecision(retry_at=_after(5 * 2**job.attempts))
            return None

    @app.task(name=TASK_NAME, queue=QUEUE, pass_context=True, retry=PushRetry())
    def push_visitors(
        context: procrastinate.JobContext,
        destination: str,
        workspace: str,
        count: int | None = None,
        visitors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """`count`: how many visitors the job holds, stored beside it (`crm_push.jobs.visitors`);
        `visitors`: the visitors themselves, as jobs enqueued before that carry them."""
        db_url = (context.additional_context or {}).get("db_url")
        job = context.job
        assert job.id is not None
        if visitors is None:
            from crm_push.jobs.visitors import load

            visitors = load(db_url, job.id)
        return run_job(db_url, job.id, job.attempts, destination, workspace, visitors)


def run_job(
    db_url: str | None,
    job_id: int,
    attempts: int,
    destination: str,
    workspace: str,
    visitors: list[dict[str, Any]],
) -> dict[str, Any]:
    """One job's work (the task's body, callable without procrastinate in tests)."""
    from crm_push.jobs.failures import record_failures, stopped
    from crm_push.push.batch import pusher_for
    from crm_push.session import Session

    entries = [(int(v["line"]), v["visitor"]) for v in visitors]

    def all_failed(reason: str) -> list[tuple[int, str | None, str, str | None]]:
        return [(line, data.get("id"), reason, None) for line, data in entries]

    stop = stopped(db_url, destination, workspace)
    if stop is not None:
        reason = f"{RECONNECT}: workspace {workspace} stopped: {stop.reason}"
        record_failures(db_url, destination, workspace, job_id, all_failed(reason))
        raise WorkspaceStopped(reason)

    with Session(kept_destination(destination), workspace=workspace, db_url=db_url) as session:
        if session.stored is None:
            reason = f"no stored connection to {destination} workspace {workspace}"
            record_failures(db_url, destination, workspace, job_id, all_failed(reason))
            raise ConfigurationError(reason, next_step="connect it: crm-push connect")
        try:
            connection = session.connect()
        except ReconnectRequired as exc:
            return _stop(db_url, destination, workspace, job_id, str(exc), all_failed)
        pusher = pusher_for(session.destination, connection, session.markers(), workers=JOB_WORKERS)
        lines = [_line(line, data) for line, data in entries]
        results: dict[int, Any] = {}
        summary = pusher.run(lines, on_result=lambda ln, res: results.__setitem__(ln.line, res))

    if summary.stopped:  # credentials died mid-job: what was pushed stays pushed
        done = {line for line, res in results.items() if res.status != "failed"}
        return _stop(
            db_url,
            destination,
            workspace,
            job_id,
            summary.stopped,
            lambda reason: [f for f in all_failed(reason) if f[0] not in done],
        )
    failed = [res for res in results.values() if res.status == "failed"]
    transient = [res for res in failed if res.retry_after is not None]
    if transient and attempts + 1 < TRANSIENT_ATTEMPTS:
        longest = max(transient, key=lambda res: res.retry_after or 0.0)
        logger.info("job %s: %d visitors failed transiently; rescheduled", job_id, len(transient))
        raise RetryLater(
            f"{len(transient)} of {len(entries)} visitors failed transiently: {longest.reason}",
            retry_after=longest.retry_after or None,
        )
    record_failures(
        db_url,
        destination,
        workspace,
        job_id,
        [(r.line, r.visitor_id, r.reason or "failed", r.field) for r in failed],
    )
    return {"visitors": len(entries), "failed": len(failed), "written": summary.writes}


def _line(number: int, data: Any) -> Line[Visitor]:
    """A stored visitor as a line to push; one that no longer validates (stored by another
    version, or written by hand) fails alone, as a bad input line does, and the job goes on."""
    try:
        return Line(line=number, raw="", item=parse_visitor(data, line=number, normalized=True))
    except InvalidInput as exc:
        return Line(line=number, raw="", error=exc)


def _stop(
    db_url: str | None,
    destination: str,
    workspace: str,
    job_id: int,
    why: str,
    failures: Callable[[str], list[tuple[int, str | None, str, str | None]]],
) -> NoReturn:
    from crm_push.jobs.failures import record_failures, stop_workspace

    reason = f"{RECONNECT}: {why}"
    stop_workspace(db_url, destination, workspace, why, job_id)
    record_failures(db_url, destination, workspace, job_id, failures(reason))
    logger.warning("workspace %s of %s stopped: %s", workspace, destination, reason)
    raise WorkspaceStopped(reason)


__all__ = [
    "QUEUE",
    "TASK_NAME",
    "WorkspaceStopped",
    "close_destinations",
    "kept_destination",
    "need_procrastinate",
    "run_job",
]
