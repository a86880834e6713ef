"""Enqueue visitors as push jobs: `crm_push.jobs.enqueue(...)` and `crm-push enqueue`.

Fairness: a job's procrastinate lock is its workspace (`crm_push:<destination>:<workspace>`),
so one workspace runs one job at a time on all workers together (its rate budget is shared
anyway) and its backlog never holds more than one worker slot; and its priority is minus the
number of jobs that workspace already has waiting, so workers take the first waiting job of
every workspace before the second of any: a workspace with a 100,000-visitor backlog and one
with ten are served in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_push.errors import ConfigurationError
from crm_push.inputs.lines import Line
from crm_push.jobs.engine import _first, apply_schema, ensure_schema, need_procrastinate
from crm_push.jobs.tasks import QUEUE, TASK_NAME
from crm_push.jobs.visitors import store as store_visitors
from crm_push.models import Visitor

#: Visitors a job holds unless told otherwise.
BATCH_SIZE = 100


@dataclass
class Enqueued:
    """What `enqueue` did: visitors and jobs, the workspace and the job ids."""

    destination: str
    workspace: str
    visitors: int = 0
    jobs: int = 0
    job_ids: list[int] = field(default_factory=list)


def lock_for(destination: str, workspace: str) -> str:
    """The procrastinate lock of a workspace's jobs: they run one at a time."""
    return f"crm_push:{destination}:{workspace}"


def enqueue(
    destination: str,
    workspace_id: str | None,
    visitors: Iterable[Visitor | Mapping[str, Any] | Line[Visitor]],
    *,
    db_url: str | None = None,
    connection: Any = None,
    batch_size: int = BATCH_SIZE,
) -> Enqueued:
    """Enqueue visitors as jobs of `batch_size` for the stored connection of a workspace.

    :param destination: the destination's entry-point name ("attio").
    :param workspace_id: the workspace whose stored connection the jobs use; None: the
        destination's only stored one (AmbiguousConnection, a ConfigurationError, when several).
    :param visitors: Visitors, their JSON dicts (validated now: InvalidInput for a bad one), or
        input Lines (their line numbers are kept for `crm-push jobs failed`).
    :param db_url: the state database (PostgreSQL); None: `CRM_PUSH_DB`.
    :param connection: the host app's own open connection (psycopg, or a SQLAlchemy
        Connection on psycopg) to enqueue inside its transaction: nothing is committed here,
        the jobs exist once the host commits.
    """
    need_procrastinate()
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if workspace_id is None:
        from crm_push.state.connections import ConnectionStore

        stored = ConnectionStore(db_url).load(destination, None)
        if stored is None:
            raise ConfigurationError(
                f"no stored connection to {destination}",
                next_step=f"connect first: crm-push --dest {destination} connect",
            )
        workspace_id = stored.workspace_id
    entries = list(_entries(visitors))
    result = Enqueued(destination=destination, workspace=workspace_id, visitors=len(entries))
    batches = [entries[i : i + batch_size] for i in range(0, len(entries), batch_size)]
    if not batches:
        return result
    if connection is not None:
        dbapi = _driver_connection(connection)
        apply_schema(dbapi)
        result.job_ids = _defer(dbapi, destination, workspace_id, batches)
    else:
        from crm_push.state.database import engine_for

        ensure_schema(db_url)
        with engine_for(db_url).begin() as conn:
            dbapi = conn.connection.driver_connection
            result.job_ids = _defer(dbapi, destination, workspace_id, batches)
    result.jobs = len(result.job_ids)
    return result


def _entries(
    visitors: Iterable[Visitor | Mapping[str, Any] | Line[Visitor]],
) -> Iterable[dict[str, Any]]:
    from crm_push.inputs.visitors import parse_visitor

    for number, item in enumerate(visitors, 1):
        line = number
        if isinstance(item, Line):
            if item.item is None:
                continue  # a rejected or skipped line: the caller reports it
            line, visitor = item.line, item.item
        elif isinstance(item, Visitor):
            visitor = item
        else:
            visitor = parse_visitor(dict(item), line=number)
        yield {"line": line, "visitor": visitor.model_dump(mode="json", exclude_none=True)}


def _driver_connection(connection: Any) -> Any:
    """The psycopg connection under a SQLAlchemy Connection, or the psycopg one given."""
    inner = getattr(connection, "connection", None)
    driver = getattr(inner, "driver_connection", None)
    return driver if driver is not None else connection


def _defer(
    dbapi: Any, destination: str, workspace: str, batches: list[list[dict[str, Any]]]
) -> list[int]:
    from procrastinate import SyncPsycopgConnector
    from procrastinate import jobs as pjobs
    from procrastinate.manager import JobManager

    lock = lock_for(destination, workspace)
    cursor = dbapi.cursor()
    cursor.execute(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND lock = %s "
        "AND status = 'todo'",
        (TASK_NAME, lock),
    )
    row = cursor.fetchone()
    waiting = int(_first(row))
    todo = [
        pjobs.Job(
            id=None,
            queue=QUEUE,
            lock=lock,
            queueing_lock=None,
            task_name=TASK_NAME,
            priority=-(waiting + i),
            # The visitors go in their own row (crm_push.jobs.visitors), not in the arguments
            # procrastinate logs.
            task_kwargs={"destination": destination, "workspace": workspace, "count": len(batch)},
        )
        for i, batch in enumerate(batches)
    ]
    manager = JobManager(connector=SyncPsycopgConnector())
    # Jobs and their visitors together (a savepoint in the host's transaction, a transaction of
    # its own on a connection in autocommit): a worker never sees a job without its visitors.
    with dbapi.transaction():
        done = manager.batch_defer_jobs(jobs=todo, connection=dbapi)
        ids = [job.id for job in done if job.id is not None]
        if len(ids) != len(batches):  # pragma: no cover - procrastinate returns every job
            raise RuntimeError("procrastinate did not return the ids of the jobs it made")
        store_visitors(cursor, list(zip(ids, batches, strict=True)))
    return ids
