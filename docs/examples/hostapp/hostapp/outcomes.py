"""Outcomes: how each visitor's last push ended, for the Visitors page.

crm-push's markers say what was pushed (and the CRM record ids); a failure leaves no marker,
so the app keeps the last outcome of each visitor, with its reason, in a table of its own in
the same database.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import sqlalchemy as sa
from crm_push import VisitorResult

_meta = sa.MetaData()
_outcomes = sa.Table(
    "hostapp_push_outcomes",
    _meta,
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("workspace", sa.String(200), primary_key=True),
    sa.Column("visitor_id", sa.String(500), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Outcome:
    status: str  # a VisitorResult status: created, updated, unchanged, failed, deferred
    reason: str | None
    pushed_at: dt.datetime


class Outcomes:
    """The last push outcome of each visitor of one customer (tenant) and workspace."""

    def __init__(self, db_url: str, tenant: str, workspace: str) -> None:
        self.engine = _engine(db_url)
        self.key = {"tenant": tenant, "workspace": workspace}

    def record(self, visitor_id: str, result: VisitorResult) -> None:
        row = {
            **self.key,
            "visitor_id": visitor_id,
            "status": result.status,
            "reason": result.reason,
            "pushed_at": dt.datetime.now(dt.UTC),
        }
        t = _outcomes
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(t).where(
                    t.c.tenant == row["tenant"],
                    t.c.workspace == row["workspace"],
                    t.c.visitor_id == visitor_id,
                )
            )
            conn.execute(sa.insert(t).values(row))

    def all(self) -> dict[str, Outcome]:
        """By visitor id."""
        t = _outcomes
        query = sa.select(t).where(
            t.c.tenant == self.key["tenant"], t.c.workspace == self.key["workspace"]
        )
        with self.engine.connect() as conn:
            return {
                row.visitor_id: Outcome(row.status, row.reason, row.pushed_at)
                for row in conn.execute(query)
            }


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _engine(db_url: str) -> sa.Engine:
    """One engine per database, its table created on first use."""
    with _engines_lock:
        engine = _engines.get(db_url)
        if engine is None:
            engine = _engines[db_url] = sa.create_engine(db_url)
            _meta.create_all(engine)
        return engine
