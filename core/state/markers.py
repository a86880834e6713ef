"""Push markers: what was pushed where, so re-runs skip it and resumes never duplicate.

A marker is written only after the CRM confirmed the step. Removing one never touches the CRM:
the next push of that visitor simply asserts the part again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from crm_push.models.crm import RecordRef
from crm_push.state.database import engine_for, existing_engine, markers_table
from pydantic import BaseModel, field_validator


class Marker(BaseModel):
    destination: str
    workspace: str
    visitor_id: str
    part: str
    object: str | None
    record_id: str | None
    payload_hash: str
    state: str
    pushed_at: dt.datetime

    @field_validator("pushed_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        # SQLite hands back naive datetimes; they were written in UTC.
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    def ref(self) -> RecordRef | None:
        if not (self.object and self.record_id):
            return None
        return RecordRef(object=self.object, record_id=self.record_id, outcome="unchanged")


def payload_hash(payload: Any) -> str:
    """A stable hash of what was sent (JSON with sorted keys)."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_t = markers_table
_PK = ("destination", "workspace", "visitor_id", "part")
_VALUE_COLUMNS = ("object", "record_id", "payload_hash", "state", "pushed_at")
# Statements are built once: building SQLAlchemy expressions per call cost more CPU than the
# database work itself (about 0.2 ms a marker).
_FOR_VISITOR = sa.select(_t).where(
    _t.c.destination == sa.bindparam("destination"),
    _t.c.workspace == sa.bindparam("workspace"),
    _t.c.visitor_id == sa.bindparam("visitor_id"),
)
_ONE = _FOR_VISITOR.where(_t.c.part == sa.bindparam("part"))
_UPDATE = (
    sa.update(_t)
    .where(*(_t.c[c] == sa.bindparam(f"k_{c}") for c in _PK))
    .values({c: sa.bindparam(f"v_{c}") for c in _VALUE_COLUMNS})
)
_INSERT = sa.insert(_t)


def _upsert_statement(dialect: str) -> Any:
    """A single-statement upsert where the database has one (SQLite, PostgreSQL)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:
        return None
    stmt = insert(_t)
    return stmt.on_conflict_do_update(
        index_elements=list(_PK), set_={c: stmt.excluded[c] for c in _VALUE_COLUMNS}
    )


class MarkerStore:
    """Markers of one destination and workspace, in the state database."""

    def __init__(self, destination: str, workspace: str, db_url: str | None = None) -> None:
        self.destination = destination
        self.workspace = workspace
        self.engine = engine_for(db_url)
        self._upsert = _upsert_statement(self.engine.dialect.name)

    def for_visitor(self, visitor_id: str) -> dict[str, Marker]:
        """All markers of one visitor, by part."""
        params = {
            "destination": self.destination,
            "workspace": self.workspace,
            "visitor_id": visitor_id,
        }
        with self.engine.connect() as conn:
            rows = conn.execute(_FOR_VISITOR, params).mappings()
            return {row["part"]: Marker(**row) for row in rows}

    def get(self, visitor_id: str, part: str) -> Marker | None:
        """One marker, or None."""
        params = {
            "destination": self.destination,
            "workspace": self.workspace,
            "visitor_id": visitor_id,
            "part": part,
        }
        with self.engine.connect() as conn:
            row = conn.execute(_ONE, params).mappings().first()
        return Marker(**row) if row else None

    def record(
        self,
        visitor_id: str,
        part: str,
        *,
        payload: str,
        ref: RecordRef | None = None,
        record_id: str | None = None,
        state: str = "done",
    ) -> None:
        """Insert or replace the marker of one part of one visitor."""
        row = {
            "destination": self.destination,
            "workspace": self.workspace,
            "visitor_id": visitor_id,
            "part": part,
            "object": ref.object if ref else None,
            "record_id": ref.record_id if ref else record_id,
            "payload_hash": payload,
            "state": state,
            "pushed_at": dt.datetime.now(dt.UTC),
        }
        with self.engine.begin() as conn:
            if self._upsert is not None:
                conn.execute(self._upsert, row)
                return
            keys = {f"k_{c}": row[c] for c in _PK}
            values = {f"v_{c}": row[c] for c in _VALUE_COLUMNS}
            if conn.execute(_UPDATE, {**keys, **values}).rowcount == 0:
                conn.execute(_INSERT, row)

    def list(self, *, limit: int | None = None, visitor_id: str | None = None) -> list[Marker]:
        t = markers_table
        query = sa.select(t).where(t.c.destination == self.destination)
        if self.workspace:
            query = query.where(t.c.workspace == self.workspace)
        if visitor_id:
            query = query.where(t.c.visitor_id == visitor_id)
        query = query.order_by(t.c.pushed_at.desc(), t.c.visitor_id, t.c.part)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [Marker(**row) for row in conn.execute(query).mappings()]

    def remove(self, visitor_ids: Iterable[str], part: str | None = None) -> int:
        """Forget markers (never touches the CRM). Returns how many were removed."""
        t = markers_table
        removed = 0
        with self.engine.begin() as conn:
            for vid in visitor_ids:
                query = sa.delete(t).where(t.c.destination == self.destination)
                query = query.where(t.c.visitor_id == vid)
                if self.workspace:
                    query = query.where(t.c.workspace == self.workspace)
                if part:
                    query = query.where(t.c.part == part)
                removed += conn.execute(query).rowcount
        return removed


class ReadOnlyMarkers(MarkerStore):
    """The markers as a dry run sees them: it reads what a real push would skip and writes no
    marker. It creates nothing: with no state database (or no markers in it) the view is empty."""

    def __init__(self, destination: str, workspace: str, db_url: str | None = None) -> None:
        self.destination = destination
        self.workspace = workspace
        self._upsert = None
        engine = existing_engine(db_url)
        self.stored = engine is not None and sa.inspect(engine).has_table(markers_table.name)
        if engine is not None:
            self.engine = engine

    def for_visitor(self, visitor_id: str) -> dict[str, Marker]:
        return super().for_visitor(visitor_id) if self.stored else {}

    def get(self, visitor_id: str, part: str) -> Marker | None:
        return super().get(visitor_id, part) if self.stored else None

    def list(self, *, limit: int | None = None, visitor_id: str | None = None) -> list[Marker]:
        return super().list(limit=limit, visitor_id=visitor_id) if self.stored else []

    def record(self, visitor_id: str, part: str, **_: Any) -> None:
        """Nothing: a dry run writes no marker."""

    def remove(self, visitor_ids: Iterable[str], part: str | None = None) -> int:
        return 0
