"""What jobs leave behind: the visitors that failed in them, and workspaces stopped for reconnect.

Both tables live in the state database beside procrastinate's. A failed visitor never fails
its job (the job succeeds, the visitor is recorded here with its reason, line and field) so it
is never lost: `crm-push jobs failed` lists them; fix and enqueue them again. Rows are written
per job in one transaction that first removes that job's earlier rows: a job retried after a
crash records each failure once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from crm_push.state.database import engine_for
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

job_failures_table = sa.Table(
    "crm_push_job_failures",
    metadata,
    sa.Column("job_id", sa.BigInteger, primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("destination", sa.String(64), nullable=False),
    sa.Column("workspace", sa.String(128), nullable=False),
    sa.Column("visitor_id", sa.String(256), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("field", sa.String(320), nullable=True),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("crm_push_job_failures_workspace", "destination", "workspace"),
)

# A workspace whose credentials died: its jobs fail fast (their visitors recorded as failures
# with the reason) until the workspace is connected again after `stopped_at`.
job_stops_table = sa.Table(
    "crm_push_job_stops",
    metadata,
    sa.Column("destination", sa.String(64), primary_key=True),
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("job_id", sa.BigInteger, nullable=True),
    sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=False),
)


def create_tables(cursor: Any) -> None:
    """CREATE TABLE/INDEX IF NOT EXISTS on a psycopg cursor (inside the schema lock)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    for table in metadata.sorted_tables:
        cursor.execute(
            str(sa.schema.CreateTable(table, if_not_exists=True).compile(dialect=dialect))
        )
        for index in table.indexes:
            cursor.execute(
                str(sa.schema.CreateIndex(index, if_not_exists=True).compile(dialect=dialect))
            )


@dataclass(frozen=True)
class Failure:
    destination: str
    workspace: str
    job_id: int
    line: int
    visitor_id: str | None
    reason: str
    field: str | None
    failed_at: dt.datetime


@dataclass(frozen=True)
class Stop:
    destination: str
    workspace: str
    reason: str
    job_id: int | None
    stopped_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def record_failures(
    db_url: str | None,
    destination: str,
    workspace: str,
    job_id: int,
    failures: Iterable[tuple[int, str | None, str, str | None]],
) -> int:
    """Replace the failures recorded for a job by these (line, visitor id, reason, field)."""
    t = job_failures_table
    rows = [
        {
            "job_id": job_id,
            "line": line,
            "destination": destination,
            "workspace": workspace,
            "visitor_id": visitor_id,
            "reason": reason,
            "field": field,
            "failed_at": _now(),
        }
        for line, visitor_id, reason, field in failures
    ]
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.delete(t).where(t.c.job_id == job_id))
        if rows:
            conn.execute(sa.insert(t), rows)
    return len(rows)


def list_failures(
    db_url: str | None, destination: str | None = None, workspace: str | None = None
) -> list[Failure]:
    t = job_failures_table
    query = sa.select(t).order_by(t.c.destination, t.c.workspace, t.c.job_id, t.c.line)
    if destination:
        query = query.where(t.c.destination == destination)
    if workspace:
        query = query.where(t.c.workspace == workspace)
    with engine_for(db_url).connect() as conn:
        return [
            Failure(
                destination=r.destination,
                workspace=r.workspace,
                job_id=r.job_id,
                line=r.line,
                visitor_id=r.visitor_id,
                reason=r.reason,
                field=r.field,
                failed_at=r.failed_at,
            )
            for r in conn.execute(query)
        ]


def stop_workspace(
    db_url: str | None, destination: str, workspace: str, reason: str, job_id: int | None
) -> None:
    """Record that a workspace's credentials died (the first reason is kept)."""
    t = job_stops_table
    stmt = postgresql.insert(t).values(
        destination=destination,
        workspace=workspace,
        reason=reason,
        job_id=job_id,
        stopped_at=_now(),
    )
    with engine_for(db_url).begin() as conn:
        conn.execute(stmt.on_conflict_do_nothing())


def stopped(db_url: str | None, destination: str, workspace: str) -> Stop | None:
    """The stop of a workspace, unless it was connected again since (then it is lifted)."""
    from crm_push.state.database import connections_table as c

    t = job_stops_table
    with engine_for(db_url).begin() as conn:
        row = conn.execute(
            sa.select(t).where(t.c.destination == destination, t.c.workspace == workspace)
        ).first()
        if row is None:
            return None
        connected = conn.execute(
            sa.select(c.c.connected_at).where(
                c.c.destination == destination, c.c.workspace_id == workspace
            )
        ).scalar()
        if connected is not None and _aware(connected) > _aware(row.stopped_at):
            conn.execute(
                sa.delete(t).where(t.c.destination == destination, t.c.workspace == workspace)
            )
            return None
    return Stop(row.destination, row.workspace, row.reason, row.job_id, row.stopped_at)


def list_stops(db_url: str | None) -> list[Stop]:
    """The stops still in force: those of workspaces not connected again since. One query,
    writing nothing (a lifted stop's row is removed by the next job of that workspace)."""
    from crm_push.state.database import connections_table as c

    t = job_stops_table
    query = (
        sa.select(t)
        .outerjoin(
            c, sa.and_(c.c.destination == t.c.destination, c.c.workspace_id == t.c.workspace)
        )
        .where(sa.or_(c.c.connected_at.is_(None), c.c.connected_at <= t.c.stopped_at))
        .order_by(t.c.destination, t.c.workspace)
    )
    with engine_for(db_url).connect() as conn:
        rows = conn.execute(query).all()
    return [Stop(r.destination, r.workspace, r.reason, r.job_id, r.stopped_at) for r in rows]


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
