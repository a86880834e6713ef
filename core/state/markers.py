"""Push markers: what was pushed where, so re-runs skip it and resumes never duplicate.

A marker is written only after the CRM confirmed the step. Removing one never touches the CRM:
the next push of that visitor simply asserts the part again. Visitors' markers are kept per
visitor and part; companies with a domain also get a company marker, shared by every visitor
and run, so a known company is not written again for a new visitor.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Annotated, Any

import sqlalchemy as sa
from crm_push.models.crm import RecordRef
from crm_push.state.database import (
    company_markers_table,
    engine_for,
    existing_engine,
    markers_table,
)
from pydantic import AfterValidator, BaseModel


def _as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


UtcDateTime = Annotated[dt.datetime, AfterValidator(_as_utc)]


def _unchanged_ref(obj: str | None, record_id: str | None) -> RecordRef | None:
    if not (obj and record_id):
        return None
    return RecordRef(object=obj, record_id=record_id, outcome="unchanged")


class Marker(BaseModel):
    """One part of one visitor, as pushed."""

    destination: str
    workspace: str
    visitor_id: str
    part: str
    object: str | None
    record_id: str | None
    payload_hash: str
    state: str
    pushed_at: UtcDateTime

    def ref(self) -> RecordRef | None:
        return _unchanged_ref(self.object, self.record_id)


class CompanyMarker(BaseModel):
    """A company as pushed for some visitor of some run, by its domain."""

    destination: str
    workspace: str
    domain: str
    object: str | None
    record_id: str | None
    payload_hash: str
    pushed_at: UtcDateTime

    def ref(self) -> RecordRef | None:
        return _unchanged_ref(self.object, self.record_id)


#: The parts of a visitor that get a marker, besides its key contacts' `contact:<email or name>`
#: and `link:contact:<email or name>`.
VISITOR_PARTS = ("company", "person", "link", "note")
CONTACT_PARTS = ("contact:", "link:contact:")
#: The parts as users read them, for help and error messages.
PARTS_HELP = "company, person, link, note, contact:<email or name>, link:contact:<email or name>"


def is_part(part: str) -> bool:
    """Whether `part` names a part of a visitor that a marker can be kept for."""
    if part in VISITOR_PARTS:
        return True
    return any(part.startswith(p) and part[len(p) :].strip() for p in CONTACT_PARTS)


def payload_hash(payload: Any) -> str:
    """A stable hash of what was sent (JSON with sorted keys)."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class _Write:
    """Insert-or-replace of one marker row, its statements built once.

    Building SQLAlchemy expressions per call cost more CPU than the database work itself (about
    0.2 ms a marker), so every statement here is built at import or once per dialect.
    """

    def __init__(self, table: sa.Table, pk: tuple[str, ...], values: tuple[str, ...]) -> None:
        self.table, self.pk, self.values = table, pk, values
        self._update = (
            sa.update(table)
            .where(*(table.c[c] == sa.bindparam(f"k_{c}") for c in pk))
            .values({c: sa.bindparam(f"v_{c}") for c in values})
        )
        self._insert = sa.insert(table)
        self._upserts: dict[str, Any] = {}  # by dialect; racing threads only build one twice

    def _upsert(self, dialect: str) -> Any:
        """A single-statement upsert where the database has one (SQLite, PostgreSQL)."""
        if dialect not in self._upserts:
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            elif dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
            else:
                self._upserts[dialect] = None
                return None
            stmt = insert(self.table)
            self._upserts[dialect] = stmt.on_conflict_do_update(
                index_elements=list(self.pk), set_={c: stmt.excluded[c] for c in self.values}
            )
        return self._upserts[dialect]

    def __call__(self, conn: sa.Connection, row: dict[str, Any]) -> None:
        upsert = self._upsert(conn.dialect.name)
        if upsert is not None:
            conn.execute(upsert, row)
            return
        keys = {f"k_{c}": row[c] for c in self.pk}
        values = {f"v_{c}": row[c] for c in self.values}
        if conn.execute(self._update, {**keys, **values}).rowcount == 0:
            conn.execute(self._insert, row)


_t = markers_table
_FOR_VISITOR = sa.select(_t).where(
    _t.c.destination == sa.bindparam("destination"),
    _t.c.workspace == sa.bindparam("workspace"),
    _t.c.visitor_id == sa.bindparam("visitor_id"),
)
_ONE = _FOR_VISITOR.where(_t.c.part == sa.bindparam("part"))
_WRITE = _Write(
    _t,
    ("destination", "workspace", "visitor_id", "part"),
    ("object", "record_id", "payload_hash", "state", "pushed_at"),
)

_c = company_markers_table
_COMPANY = sa.select(_c).where(
    _c.c.destination == sa.bindparam("destination"),
    _c.c.workspace == sa.bindparam("workspace"),
    _c.c.domain == sa.bindparam("domain"),
)
_WRITE_COMPANY = _Write(
    _c, ("destination", "workspace", "domain"), ("object", "record_id", "payload_hash", "pushed_at")
)


class MarkerStore:
    """Markers of one destination and workspace, in the state database.

    Visitors' markers (`for_visitor`, `get`, `record`, `list`, `remove`) and company markers
    (`company`, `record_company`, `companies`, `remove_companies`) live in separate tables, so
    no visitor id is reserved and neither listing shows the other.
    """

    def __init__(self, destination: str, workspace: str, db_url: str | None = None) -> None:
        self.destination = destination
        self.workspace = workspace
        self.engine = engine_for(db_url)

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
            _WRITE(conn, row)

    def list(self, *, limit: int | None = None, visitor_id: str | None = None) -> list[Marker]:
        """Visitors' markers, newest first (of every workspace when the store's is "")."""
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

    # -- company markers ----------------------------------------------------------------------

    def company(self, domain: str) -> CompanyMarker | None:
        """The company marker of one domain, or None."""
        params = {"destination": self.destination, "workspace": self.workspace, "domain": domain}
        with self.engine.connect() as conn:
            row = conn.execute(_COMPANY, params).mappings().first()
        return CompanyMarker(**row) if row else None

    def record_company(self, domain: str, *, payload: str, ref: RecordRef) -> None:
        """Insert or replace the marker of one company, once the CRM confirmed it."""
        row = {
            "destination": self.destination,
            "workspace": self.workspace,
            "domain": domain,
            "object": ref.object,
            "record_id": ref.record_id,
            "payload_hash": payload,
            "pushed_at": dt.datetime.now(dt.UTC),
        }
        with self.engine.begin() as conn:
            _WRITE_COMPANY(conn, row)

    def companies(self, *, limit: int | None = None) -> builtins.list[CompanyMarker]:
        """Company markers, newest first (of every workspace when the store's is "")."""
        c = company_markers_table
        query = sa.select(c).where(c.c.destination == self.destination)
        if self.workspace:
            query = query.where(c.c.workspace == self.workspace)
        query = query.order_by(c.c.pushed_at.desc(), c.c.domain)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [CompanyMarker(**row) for row in conn.execute(query).mappings()]

    def remove_companies(self, domains: Iterable[str]) -> int:
        """Forget company markers (never touches the CRM). Returns how many were removed.

        The next visitor of such a company asserts it again; it is matched by its domain.
        """
        c = company_markers_table
        removed = 0
        with self.engine.begin() as conn:
            for domain in domains:
                query = sa.delete(c).where(c.c.destination == self.destination)
                query = query.where(c.c.domain == domain)
                if self.workspace:
                    query = query.where(c.c.workspace == self.workspace)
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
        tables = sa.inspect(engine).get_table_names() if engine is not None else []
        self.stored = markers_table.name in tables
        self.stored_companies = company_markers_table.name in tables
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

    def company(self, domain: str) -> CompanyMarker | None:
        return super().company(domain) if self.stored_companies else None

    def companies(self, *, limit: int | None = None) -> builtins.list[CompanyMarker]:
        return super().companies(limit=limit) if self.stored_companies else []

    def record_company(self, domain: str, **_: Any) -> None:
        """Nothing: a dry run writes no marker."""

    def remove_companies(self, domains: Iterable[str]) -> int:
        return 0
