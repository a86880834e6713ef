"""`crm-push worker`: a procrastinate worker for push jobs, with stalled-job retry and burst.

Stalled jobs: every worker sends a heartbeat every `stall_seconds / 6` and, every
`stall_seconds / 3`, retries the jobs whose worker sent none for `stall_seconds` (a worker
killed with kill -9, a machine gone): so such a job runs again elsewhere within about
`1.33 × stall_seconds` (40 s by default). Markers make the re-run write nothing twice.

Burst (`--burst`): the worker stops once no job is waiting, running (on any worker) or
scheduled for a retry. SIGTERM or SIGINT: the jobs being run finish, nothing new starts; a
second signal stops at once (the jobs it cut short are retried as stalled ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from crm_push.jobs.engine import app, ensure_schema, new_connector

logger = logging.getLogger(__name__)

#: Seconds without a heartbeat after which a worker's running jobs are retried elsewhere.
STALL_SECONDS = 30.0
#: How often a burst worker looks whether any job is left.
BURST_CHECK_SECONDS = 1.0
#: Jobs left: waiting (now or scheduled for a retry) or running on any worker.
LEFT = "SELECT count(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"


def run_worker(
    db_url: str | None = None,
    *,
    concurrency: int = 1,
    burst: bool = False,
    stall_seconds: float = STALL_SECONDS,
    install_signal_handlers: bool = True,
) -> None:
    """Run push jobs of every destination and workspace until stopped (or, with burst, until
    none is left)."""
    ensure_schema(db_url)
    asyncio.run(
        _run(
            db_url,
            concurrency=concurrency,
            burst=burst,
            stall_seconds=stall_seconds,
            install_signal_handlers=install_signal_handlers,
        )
    )


async def _run(
    db_url: str | None,
    *,
    concurrency: int,
    burst: bool,
    stall_seconds: float,
    install_signal_handlers: bool,
) -> None:
    import crm_push.jobs.tasks
    from procrastinate import worker as pworker

    with app.replace_connector(new_connector(db_url)):
        async with app.open_async():
            worker = pworker.Worker(
                app,
                name="crm-push",
                concurrency=concurrency,
                wait=True,
                fetch_job_polling_interval=1.0 if burst else 5.0,
                # A burst drains what is there, polling each second: no LISTEN connection,
                # whose wait wakes the process ten times a second (psycopg's async wait).
                listen_notify=not burst,
                additional_context={"db_url": db_url},
                install_signal_handlers=install_signal_handlers,
                update_heartbeat_interval=max(0.5, stall_seconds / 6),
                stalled_worker_timeout=stall_seconds,
            )
            side = [asyncio.create_task(_retry_stalled(stall_seconds))]
            if burst:
                side.append(asyncio.create_task(_stop_when_done(worker)))
            try:
                await worker.run()
            finally:
                crm_push.jobs.tasks.close_destinations()
                for task in side:
                    task.cancel()
                for task in side:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def _retry_stalled(stall_seconds: float) -> None:
    """Retry, now, the jobs of workers that stopped sending heartbeats."""
    while True:
        try:
            for job in await app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=stall_seconds
            ):
                logger.warning("job %s: its worker stalled; retrying it", job.id)
                await app.job_manager.retry_job(job)
        except Exception:  # the database away for a moment: check again later
            logger.exception("stalled-job check failed")
        await asyncio.sleep(max(0.5, stall_seconds / 3))


async def _stop_when_done(worker: Any) -> None:
    while True:
        await asyncio.sleep(BURST_CHECK_SECONDS)
        try:
            row = await app.connector.execute_query_one_async(query=LEFT)
        except Exception:
            logger.exception("burst check failed")
            continue
        if row["n"] == 0:
            worker.stop()
            return
