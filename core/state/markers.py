"""Push markers: what was pushed where, so re-runs skip it and resumes never duplicate.

A marker is written only after the CRM confirmed the step. Removing one never touches the CRM:
the next push of that visitor simply asserts the part again. Visitors' markers are kept per
visitor and part; companies with a domain also get a company marker, shared by every visitor
and run, so a known company is not written again for a new visitor.

A write that is not idempotent (a note, a person without email, a company without domain) is
*claimed* first (`MarkerStore.claim`): a pending marker with an owner (one process and run) and
a lease, that only one process can win. The others wait for its outcome or leave the visitor to
a later push; a claim whose owner died (its lease ran out, or its process is gone from this
machine) is taken over, looking in the CRM before writing again.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from crm_push.models.crm import RecordRef
from crm_push.state.database import (
    company_markers_table,
    driver_cursor,
    driver_sql,
    engine_for,
    existing_engine,
    markers_table,
    on_psycopg,
    single_statements,
)
from pydantic import AfterValidator, BaseModel


def _as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


UtcDateTime = Annotated[dt.datetime, AfterValidator(_as_utc)]

logger = logging.getLogger(__name__)

#: How long a claim holds, in seconds, unless renewed: a write in flight longer than this (its
#: owner stuck or on a dead machine) is taken over by the next push. `ClaimLeases` renews the
#: claims a process still holds well before then, so a slow write (a rate-limited CRM) keeps it.
LEASE_SECONDS = 60.0
#: A held claim is renewed once this much of its lease is used.
RENEW_AFTER_SECONDS = LEASE_SECONDS / 3


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
    #: The claim of a pending write: the process and run that holds it, and until when.
    owner: str | None = None
    lease_until: UtcDateTime | None = None

    def ref(self) -> RecordRef | None:
        return _unchanged_ref(self.object, self.record_id)

    def held(self, now: dt.datetime | None = None) -> bool:
        """Whether this is a pending write that a live owner still holds: its lease runs and
        its process is not known to be dead (see `owner_alive`)."""
        if self.state != "pending" or self.owner is None or self.lease_until is None:
            return False
        if self.lease_until <= (now or dt.datetime.now(dt.UTC)):
            return False
        return owner_alive(self.owner)


def _machine() -> str:
    """This machine as owners name it: the host, and on Linux the PID namespace (containers
    sharing a host name do not share PIDs)."""
    host = socket.gethostname()[:64] or "localhost"
    try:
        return f"{host}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return host


_MACHINE = _machine()


def new_owner() -> str:
    """A claim owner: this machine, this process and a random part for this run —
    `host[/pidns]:pid:random`."""
    return f"{_MACHINE}:{os.getpid()}:{secrets.token_hex(6)}"


def owner_alive(owner: str) -> bool:
    """Whether the process behind a claim may still be running. Only a process of this machine
    can be known to be dead (its PID is gone); any other owner is trusted until its lease ends."""
    machine, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if machine != _MACHINE or not pid_text.isdigit() or os.name != "posix":
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # this process: another run of it may hold the claim
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


@dataclass(frozen=True)
class Claim:
    """The outcome of `MarkerStore.claim`.

    - won, `previous` None: a fresh claim; nobody was writing this, write it.
    - won, `previous` set: the pending write of a dead owner (or an expired lease, or this
      run's own failed attempt), taken over: the write may have landed, look before writing.
    - lost: `previous` is the marker as it is: done (someone else wrote it) or held by a live
      owner (wait for it, or leave the visitor to a later push).
    """

    won: bool
    previous: Marker | None = None


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


#: psycopg's MAX_CACHED_STATEMENT_PARAMS: a statement with more is parsed on each execution.
MAX_CACHED_PARAMS = 50


def _array_type(column_type: sa.types.TypeEngine[Any]) -> str:
    if isinstance(column_type, sa.String):
        return "text"
    if isinstance(column_type, sa.DateTime):
        return "timestamptz" if column_type.timezone else "timestamp"
    raise TypeError(f"no array type for {column_type!r}")  # pragma: no cover


def _unnest(table: sa.Table, columns: Iterable[str], prefix: str = "") -> str:
    """`unnest(…)` of one array parameter a column (`%(<prefix><column>)b`), for rows sent as
    arrays. Unbounded array types: a cast to varchar(n)[] would cut a value silently, where
    the column's own length check raises. Binary (%b): psycopg quotes each element of a text
    array with regular expressions, about 2.5 times the CPU."""
    arrays = ", ".join(f"%({prefix}{c})b::{_array_type(table.c[c].type)}[]" for c in columns)
    return f"unnest({arrays})"


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
        self._upserts: dict[tuple[str, int], Any] = {}  # by dialect and rows; races build twice

    def _upsert(self, dialect: str, n: int) -> Any:
        """A single-statement upsert of `n` rows where the database has one (SQLite,
        PostgreSQL): one multi-row VALUES, its parameters named `<column>_<row>` (an
        executemany costs a round trip or a pipeline per row). Written as text with typed
        parameters: SQLAlchemy compiles a multi-row insert construct again on every call."""
        key = (dialect, n)
        if key not in self._upserts:
            if dialect not in ("sqlite", "postgresql"):
                self._upserts[key] = None
                return None
            columns = (*self.pk, *self.values)
            rows = ", ".join("(" + ", ".join(f":{c}_{i}" for c in columns) + ")" for i in range(n))
            sql = (
                f"INSERT INTO {self.table.name} ({', '.join(columns)}) VALUES {rows} "
                f"ON CONFLICT ({', '.join(self.pk)}) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in self.values)
            )
            params = [
                sa.bindparam(f"{c}_{i}", type_=self.table.c[c].type)
                for i in range(n)
                for c in columns
            ]
            self._upserts[key] = sa.text(sql).bindparams(*params)
        return self._upserts[key]

    def driver(self, rows: list[dict[str, Any]], *, besides: int = 0) -> tuple[str, dict[str, Any]]:
        """The upsert of `rows` (distinct keys) for psycopg (see `driver_cursor`): its SQL and
        parameters. psycopg parses a statement of over 50 parameters or 4 KB again on every
        execution (about 0.25 ms of Python), so rows whose parameters (with `besides` more of
        a statement around it) would pass 50 go as one array a column, unnested: a statement
        that does not grow. Fewer go as a VALUES row each, which psycopg dumps faster."""
        assert rows, "an upsert of no rows"
        columns = (*self.pk, *self.values)
        rows = sorted(rows, key=self._key)  # see __call__
        if len(columns) * len(rows) + besides <= MAX_CACHED_PARAMS:
            key = ("psycopg", len(rows))
            if key not in self._upserts:
                self._upserts[key] = driver_sql(self._upsert("postgresql", len(rows)))
            return str(self._upserts[key]), self.params(rows)
        key = ("unnest", 0)
        if key not in self._upserts:
            self._upserts[key] = (
                f"INSERT INTO {self.table.name} ({', '.join(columns)}) "
                f"SELECT * FROM {_unnest(self.table, columns)} "
                f"ON CONFLICT ({', '.join(self.pk)}) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in self.values)
            )
        return str(self._upserts[key]), {c: [row[c] for row in rows] for c in columns}

    def _key(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[c] for c in self.pk)

    @staticmethod
    def params(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {f"{c}_{i}": v for i, row in enumerate(rows) for c, v in row.items()}

    def __call__(self, conn: sa.Connection, rows: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Upsert one row, or several (distinct keys) in one statement, in key order (two
        processes upserting overlapping rows lock them alike)."""
        rows = sorted(rows, key=self._key) if isinstance(rows, list) else [rows]
        upsert = self._upsert(conn.dialect.name, len(rows))
        if upsert is not None:
            conn.execute(upsert, self.params(rows))
            return
        for row in rows:
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
_COLUMNS = tuple(c.name for c in _t.columns)
_WRITE = _Write(
    _t,
    ("destination", "workspace", "visitor_id", "part"),
    ("object", "record_id", "payload_hash", "state", "pushed_at", "owner", "lease_until"),
)
_KEY = ("destination", "workspace", "visitor_id", "part")
# UPDATE statements may not bind a column's own name: their parameters are k_* (the key) and
# v_* (the values set).
_PK = sa.and_(*(_t.c[c] == sa.bindparam(f"k_{c}") for c in _KEY))
_SET = ("object", "record_id", "payload_hash", "pushed_at", "owner", "lease_until")
# A claim taken from the marker exactly as it was read (compare and swap): of two processes
# that read the same marker, one updates it, the other's WHERE no longer holds.
_TAKE = (
    sa.update(_t)
    .where(
        _PK,
        _t.c.state == sa.bindparam("was_state"),
        _t.c.payload_hash == sa.bindparam("was_payload"),
        _t.c.owner.is_not_distinct_from(sa.bindparam("was_owner", type_=sa.String)),
        _t.c.lease_until.is_not_distinct_from(
            sa.bindparam("was_lease", type_=sa.DateTime(timezone=True))
        ),
    )
    .values(state="pending", **{c: sa.bindparam(f"v_{c}") for c in _SET})
)
_UNCLAIM = sa.delete(_t).where(
    _PK,
    _t.c.state == "pending",
    _t.c.owner == sa.bindparam("owner"),
    _t.c.lease_until == sa.bindparam("lease_until", type_=sa.DateTime(timezone=True)),
)
_RENEW = (
    sa.update(_t)
    .where(_PK, _t.c.state == "pending", _t.c.owner == sa.bindparam("k_owner"))
    .values(lease_until=sa.bindparam("v_lease_until"))
)


def _params(row: dict[str, Any], names: Iterable[str], prefix: str) -> dict[str, Any]:
    return {f"{prefix}{c}": row[c] for c in names}


@functools.cache
def _claim_statement(dialect: str) -> Any:
    """The insert-if-absent of a marker where the database has one (SQLite, PostgreSQL; else
    None), RETURNING its part: whether it inserted (psycopg's rowcount here is -1). A dialect's
    module is imported on first use."""
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite as module
    elif dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module  # type: ignore[no-redef]
    else:
        return None
    return module.insert(_t).on_conflict_do_nothing().returning(_t.c.part)


def _insert_if_absent(conn: sa.Connection, row: dict[str, Any]) -> bool:
    """Insert the row unless its key exists (one statement on SQLite and PostgreSQL); whether
    it was inserted."""
    stmt = _claim_statement(conn.dialect.name)
    if stmt is not None:
        return conn.execute(stmt, row).first() is not None
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(_t), row)
    except sa.exc.IntegrityError:
        return False
    return True


_c = company_markers_table
_COMPANY = sa.select(_c).where(
    _c.c.destination == sa.bindparam("destination"),
    _c.c.workspace == sa.bindparam("workspace"),
    _c.c.domain == sa.bindparam("domain"),
)
_COMPANY_COLUMNS = tuple(c.name for c in _c.columns)
_WRITE_COMPANY = _Write(
    _c, ("destination", "workspace", "domain"), ("object", "record_id", "payload_hash", "pushed_at")
)


@functools.cache
def _driver(name: str) -> str:
    """The psycopg SQL (see `driver_cursor`) of the marker read ("visitor"), the company read
    ("company") or the claim ("claim": RETURNING says whether it inserted), compiled on first
    use: a process on SQLite never loads PostgreSQL's dialect."""
    if name == "claim":
        return driver_sql(_claim_statement("postgresql"))
    return driver_sql({"visitor": _FOR_VISITOR, "company": _COMPANY}[name])


def _claim_with(fresh: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The claim that also upserts done markers (other parts or visitors, so no row is touched
    twice), its SQL and parameters: PostgreSQL runs a data-modifying WITH to completion
    whatever the main statement does. The claim's parameters are `claim_<column>`."""
    done, params = _WRITE.driver(rows, besides=len(fresh))
    return _claim_with_sql(done), {**params, **{f"claim_{c}": v for c, v in fresh.items()}}


@functools.cache
def _claim_with_sql(done: str) -> str:
    claim = _driver("claim").replace("%(", "%(claim_")
    return f"WITH done AS ({done}) {claim}"


@functools.cache
def _claim_new_sql() -> str:
    """The insert-if-absent of many pending markers, one array a column (a statement that does
    not grow; see `_Write.driver`), RETURNING the keys it inserted. Parameters `claim_<column>`."""
    return (
        f"INSERT INTO {_t.name} ({', '.join(_COLUMNS)}) "
        f"SELECT * FROM {_unnest(_t, _COLUMNS, 'claim_')} "
        f"ON CONFLICT ({', '.join(_KEY)}) DO NOTHING RETURNING visitor_id, part"
    )


def _claim_new(
    rows: list[dict[str, Any]], done: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """`claim_new`'s SQL and parameters: its rows (distinct keys), and with `done` rows (other
    keys) upserted in a data-modifying WITH, as `_claim_with`."""
    params = {f"claim_{c}": [row[c] for row in rows] for c in _COLUMNS}
    if not done:
        return _claim_new_sql(), params
    upsert, done_params = _WRITE.driver(done, besides=len(params))
    return f"WITH done AS ({upsert}) {_claim_new_sql()}", {**done_params, **params}


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
        #: For the statements of a push, each atomic on its own (see `single_statements`).
        self._single = single_statements(self.engine)
        #: PostgreSQL through psycopg: a visitor's read and marker writes go to the driver.
        self._driver = on_psycopg(self.engine)

    def for_visitor(self, visitor_id: str) -> dict[str, Marker]:
        """All markers of one visitor, by part."""
        params = {
            "destination": self.destination,
            "workspace": self.workspace,
            "visitor_id": visitor_id,
        }
        if self._driver:
            with driver_cursor(self._single) as cursor:
                cursor.execute(_driver("visitor"), params)
                found = [dict(zip(_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
            return {row["part"]: Marker(**row) for row in found}
        with self._single.connect() as conn:
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
        with self._single.connect() as conn:
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
        self.record_parts(visitor_id, {part: (payload, ref)}, record_id=record_id, state=state)

    def record_parts(
        self,
        visitor_id: str,
        parts: dict[str, tuple[str, RecordRef | None]],
        *,
        record_id: str | None = None,
        state: str = "done",
    ) -> None:
        """Insert or replace the markers of several parts of one visitor (part ⇒ payload hash
        and record) in one statement: a visitor's company, person and link, written together."""
        if not parts:
            return
        rows = self._rows(part_writes(visitor_id, parts, record_id), state=state)
        if self._driver:
            with driver_cursor(self._single) as cursor:
                cursor.execute(*_WRITE.driver(rows))
            return
        with self._single.begin() as conn:
            _WRITE(conn, rows)

    def _rows(self, writes: Sequence[MarkerWrite], *, state: str = "done") -> list[dict[str, Any]]:
        """The marker rows of visitors' confirmed writes (not companies')."""
        now = dt.datetime.now(dt.UTC)
        return [
            {
                "destination": self.destination,
                "workspace": self.workspace,
                **_values(w),
                "state": state,
                "pushed_at": now,
                "owner": None,
                "lease_until": None,
            }
            for w in writes
        ]

    # -- claims -------------------------------------------------------------------------------

    def _key(self, visitor_id: str, part: str) -> dict[str, str]:
        return {
            "destination": self.destination,
            "workspace": self.workspace,
            "visitor_id": visitor_id,
            "part": part,
        }

    def _pending(
        self, visitor_id: str, part: str, payload: str, owner: str, now: dt.datetime, lease: float
    ) -> dict[str, Any]:
        """The row of a fresh claim: a pending marker of `owner`'s, its lease `lease` s on."""
        return {
            **self._key(visitor_id, part),
            "object": None,
            "record_id": None,
            "payload_hash": payload,
            "state": "pending",
            "pushed_at": now,
            "owner": owner,
            "lease_until": now + dt.timedelta(seconds=lease),
        }

    def claim(
        self,
        visitor_id: str,
        part: str,
        *,
        payload: str,
        owner: str,
        replace_done: bool = False,
        lease: float = LEASE_SECONDS,
        done: dict[str, tuple[str, RecordRef | None]] | None = None,
        also: Sequence[MarkerWrite] = (),
        in_flight: Callable[[str, str], bool] | None = None,
    ) -> Claim:
        """Claim the write of one part of one visitor, for `owner`; only one process wins.

        `done`: markers of other, confirmed parts of this visitor (as for `record_parts`),
        recorded whatever the claim's outcome — on PostgreSQL in the claim's own statement, one
        round trip instead of two. `also`: done markers of other visitors, recorded the same way.

        With no marker, a pending one is inserted if absent (`INSERT … ON CONFLICT DO
        NOTHING`). A pending marker whose owner is dead (lease over, or its process gone from
        this machine), or this owner's own, is taken over by a conditional UPDATE on the
        marker as read, keeping its `pushed_at` (the write may have landed since then). With
        `replace_done`, a done marker of another payload (the note of an earlier visit) is
        claimed the same way. Any other marker loses: see `Claim`. `in_flight(visitor_id,
        part)`: whether this owner's own claim of it still stands for a write (another run of
        the same pusher, say): then it loses too, as to a live owner.
        """
        key = self._key(visitor_id, part)
        if done and part in done:
            raise ValueError(f"the claimed part {part!r} cannot also be recorded done")
        if any(w.visitor_id == visitor_id for w in also):
            raise ValueError(f"visitor {visitor_id!r}'s own markers go in `done`, not `also`")
        if (done or also) and not self._driver:
            self.record_many([*part_writes(visitor_id, done or {}), *also])
            done, also = None, ()
        for _ in range(10):  # each lost race means the marker changed: look again
            now = dt.datetime.now(dt.UTC)
            fresh = self._pending(visitor_id, part, payload, owner, now, lease)
            # Each statement is atomic on its own: the insert-if-absent, and the take-over is a
            # compare and swap on the marker as read. The insert, which wins almost every claim,
            # goes to the driver on PostgreSQL (see `driver_cursor`).
            if self._driver:
                with driver_cursor(self._single) as cursor:
                    if done or also:
                        rows = self._rows([*part_writes(visitor_id, done or {}), *also])
                        cursor.execute(*_claim_with(fresh, rows))
                        done, also = None, ()
                    else:
                        cursor.execute(_driver("claim"), fresh)
                    if cursor.fetchone() is not None:
                        return Claim(True)
            with self._single.begin() as conn:
                if not self._driver and _insert_if_absent(conn, fresh):
                    return Claim(True)
                row = conn.execute(_ONE, key).mappings().first()
                if row is None:  # removed a moment ago
                    continue
                marker = Marker(**row)
                if marker.state != "pending":
                    if not replace_done or marker.payload_hash == payload:
                        return Claim(False, marker)
                    values, previous = fresh, None
                elif marker.held(now) and (
                    marker.owner != owner or (in_flight is not None and in_flight(visitor_id, part))
                ):
                    return Claim(False, marker)
                else:
                    values = {**fresh, "pushed_at": marker.pushed_at}
                    previous = marker
                params = {
                    **_params(key, _KEY, "k_"),
                    **_params(values, _SET, "v_"),
                    "was_state": marker.state,
                    "was_payload": marker.payload_hash,
                    "was_owner": marker.owner,
                    "was_lease": row["lease_until"],
                }
                if conn.execute(_TAKE, params).rowcount:
                    return Claim(True, previous)
        raise RuntimeError(f"could not claim {part} of visitor {visitor_id!r}: it kept changing")

    def claim_new(
        self,
        wanted: Sequence[tuple[str, str, str]],
        *,
        owner: str,
        lease: float = LEASE_SECONDS,
        also: Sequence[MarkerWrite] = (),
        now: dt.datetime | None = None,
    ) -> set[tuple[str, str]]:
        """Claim, for `owner`, each part that has no marker yet: (visitor id, part, payload)
        each; the (visitor id, part) won. One statement on PostgreSQL through psycopg; elsewhere
        `also` first, then the inserts. A part that has a marker is left as it is: `claim`
        decides it (a dead owner's claim taken over, a done marker replaced). `also`: done
        markers of other parts, recorded the same way (as for `claim`). `now`: the claims'
        time (their lease ends `lease` seconds later), the present when not given."""
        now = now or dt.datetime.now(dt.UTC)
        fresh = {
            (visitor_id, part): self._pending(visitor_id, part, payload, owner, now, lease)
            for visitor_id, part, payload in wanted
        }
        if any((w.visitor_id, w.part) in fresh for w in also):
            raise ValueError("a claimed part cannot also be recorded done")
        if not fresh:
            self.record_many(also)
            return set()
        rows = sorted(fresh.values(), key=_WRITE._key)  # two claimants lock rows alike
        if self._driver:
            done = self._rows(also) if also else []
            with driver_cursor(self._single) as cursor:
                cursor.execute(*_claim_new(rows, done))
                return {(vid, part) for vid, part in cursor.fetchall()}
        self.record_many(also)
        with self._single.begin() as conn:
            return {
                (row["visitor_id"], row["part"]) for row in rows if _insert_if_absent(conn, row)
            }

    def renew(
        self, claims: Iterable[tuple[str, str]], *, owner: str, lease: float = LEASE_SECONDS
    ) -> builtins.list[tuple[str, str]]:
        """Extend the lease of claims `owner` holds, (visitor id, part) each; returns those it
        no longer held (done, or taken over by another process)."""
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lease)
        lost = []
        with self.engine.begin() as conn:
            for visitor_id, part in claims:
                params = {
                    **_params(self._key(visitor_id, part), _KEY, "k_"),
                    "k_owner": owner,
                    "v_lease_until": until,
                }
                if not conn.execute(_RENEW, params).rowcount:
                    lost.append((visitor_id, part))
        return lost

    def release(self, visitor_id: str, part: str, *, owner: str) -> None:
        """End a claim whose write failed or was not made: the marker stays pending (the write
        may have landed) and its lease ends now, so the next push takes it over at once and
        looks before writing."""
        self.renew([(visitor_id, part)], owner=owner, lease=0)

    def unclaim(self, visitor_id: str, part: str, *, owner: str, lease_until: dt.datetime) -> None:
        """Undo a claim nothing was written under (made ahead, never used): its marker goes if
        it is still pending as that claim left it (`owner`'s, with that lease), as if the
        claim had never been made; a released one would make the next push look for a write
        that was never made. A marker claimed again since (another lease) is left alone."""
        with self._single.begin() as conn:
            key = _params(self._key(visitor_id, part), _KEY, "k_")
            conn.execute(_UNCLAIM, {**key, "owner": owner, "lease_until": lease_until})

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
        if self._driver:
            with driver_cursor(self._single) as cursor:
                cursor.execute(_driver("company"), params)
                found = cursor.fetchone()
            if found is None:
                return None
            return CompanyMarker(**dict(zip(_COMPANY_COLUMNS, found, strict=True)))
        with self._single.connect() as conn:
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
        if self._driver:
            with driver_cursor(self._single) as cursor:
                cursor.execute(*_WRITE_COMPANY.driver([row]))
            return
        with self._single.begin() as conn:
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

    # -- many at once (the batch pusher: one query or transaction per batch) -------------------

    def for_visitors(self, visitor_ids: Iterable[str]) -> dict[str, dict[str, Marker]]:
        """All markers of several visitors: visitor id ⇒ part ⇒ marker (every id present)."""
        ids = list(dict.fromkeys(visitor_ids))
        out: dict[str, dict[str, Marker]] = {vid: {} for vid in ids}
        for row in self._rows_in(markers_table, "visitor_id", ids):
            out[row["visitor_id"]][row["part"]] = Marker(**row)
        return out

    def companies_for(self, domains: Iterable[str]) -> dict[str, CompanyMarker]:
        """The company markers of several domains, by domain (absent ones left out)."""
        names = list(dict.fromkeys(domains))
        rows = self._rows_in(company_markers_table, "domain", names)
        return {row["domain"]: CompanyMarker(**row) for row in rows}

    def _rows_in(self, table: sa.Table, column: str, values: builtins.list[str]) -> Iterator[Any]:
        """This store's rows of `table` whose `column` is one of `values`, a query per 500."""
        with self.engine.connect() as conn:
            for start in range(0, len(values), _IN_CHUNK):
                query = sa.select(table).where(
                    table.c.destination == self.destination,
                    table.c.workspace == self.workspace,
                    table.c[column].in_(values[start : start + _IN_CHUNK]),
                )
                yield from conn.execute(query).mappings()

    def record_many(self, writes: Iterable[MarkerWrite]) -> None:
        """`record` and `record_company` for several confirmed writes, in one transaction; the
        visitors' markers in one statement, in key order."""
        writes = list(writes)
        if not writes:
            return
        # One row a key in one upsert: the last write of a part wins, as one by one.
        last = {(w.visitor_id, w.part): w for w in writes if w.domain is None}
        visitors = self._rows(list(last.values()))
        if self._driver and all(w.domain is None for w in writes):
            with driver_cursor(self._single) as cursor:
                cursor.execute(*_WRITE.driver(visitors))
            return
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            if visitors:
                _WRITE(conn, visitors)
            for w in writes:
                ref = w.ref
                if w.domain is not None:
                    assert ref is not None, "a company marker needs the company's record"
                    _WRITE_COMPANY(
                        conn,
                        {
                            "destination": self.destination,
                            "workspace": self.workspace,
                            "domain": w.domain,
                            "object": ref.object,
                            "record_id": ref.record_id,
                            "payload_hash": w.payload,
                            "pushed_at": now,
                        },
                    )


#: How many ids one `IN (…)` query names (well under every database's parameter limit).
_IN_CHUNK = 500


@dataclass(frozen=True)
class MarkerWrite:
    """One confirmed write for `MarkerStore.record_many`: a visitor's part (done), or with
    `domain` set the company marker of that domain."""

    visitor_id: str
    part: str
    payload: str
    ref: RecordRef | None = None
    record_id: str | None = None
    domain: str | None = None


_LENGTHS = {
    c.name: c.type.length
    for c in markers_table.columns
    if isinstance(c.type, sa.String) and c.type.length is not None
}


def _values(write: MarkerWrite) -> dict[str, str | None]:
    """A visitor's confirmed write as the marker columns of its own."""
    ref = write.ref
    return {
        "visitor_id": write.visitor_id,
        "part": write.part,
        "object": ref.object if ref else None,
        "record_id": ref.record_id if ref else write.record_id,
        "payload_hash": write.payload,
    }


def part_writes(
    visitor_id: str, parts: dict[str, tuple[str, RecordRef | None]], record_id: str | None = None
) -> list[MarkerWrite]:
    """One visitor's parts (part ⇒ payload hash and record) as writes."""
    return [MarkerWrite(visitor_id, part, h, ref, record_id) for part, (h, ref) in parts.items()]


def fits(write: MarkerWrite) -> bool:
    """Whether a visitor's marker fits its columns (else its statement fails on PostgreSQL)."""
    return all(v is None or len(v) <= _LENGTHS.get(c, len(v)) for c, v in _values(write).items())


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
        self._driver = False
        if engine is not None:
            self.engine = engine
            self._single = single_statements(engine)

    def for_visitor(self, visitor_id: str) -> dict[str, Marker]:
        return super().for_visitor(visitor_id) if self.stored else {}

    def get(self, visitor_id: str, part: str) -> Marker | None:
        return super().get(visitor_id, part) if self.stored else None

    def list(self, *, limit: int | None = None, visitor_id: str | None = None) -> list[Marker]:
        return super().list(limit=limit, visitor_id=visitor_id) if self.stored else []

    def record(self, visitor_id: str, part: str, **_: Any) -> None:
        """Nothing: a dry run writes no marker."""

    def record_parts(self, visitor_id: str, parts: Any, **_: Any) -> None:
        """Nothing: a dry run writes no marker."""

    def claim(
        self, visitor_id: str, part: str, *, payload: str, replace_done: bool = False, **_: Any
    ) -> Claim:
        """What a real push would find, never waiting and writing nothing: a pending marker is
        taken over (the plan looks before writing), a done one of this payload is lost."""
        marker = self.get(visitor_id, part)
        if marker is None:
            return Claim(True)
        if marker.state == "pending":
            return Claim(True, marker)
        if replace_done and marker.payload_hash != payload:
            return Claim(True)
        return Claim(False, marker)

    def claim_new(self, wanted: Sequence[tuple[str, str, str]], **_: Any) -> set[tuple[str, str]]:
        """What a real push would win by insert, writing nothing: the parts with no marker."""
        return {(vid, part) for vid, part, _payload in wanted if self.get(vid, part) is None}

    def renew(self, claims: Iterable[tuple[str, str]], **_: Any) -> builtins.list[tuple[str, str]]:
        return []

    def release(self, visitor_id: str, part: str, **_: Any) -> None:
        """Nothing: a dry run claims nothing."""

    def unclaim(self, visitor_id: str, part: str, **_: Any) -> None:
        """Nothing: a dry run claims nothing."""

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

    def for_visitors(self, visitor_ids: Iterable[str]) -> dict[str, dict[str, Marker]]:
        if self.stored:
            return super().for_visitors(visitor_ids)
        return {vid: {} for vid in visitor_ids}

    def companies_for(self, domains: Iterable[str]) -> dict[str, CompanyMarker]:
        return super().companies_for(domains) if self.stored_companies else {}

    def record_many(self, writes: Iterable[MarkerWrite]) -> None:
        """Nothing: a dry run writes no marker."""


class ClaimLeases:
    """The claims one owner holds while their writes are in flight, their leases renewed.

    A thread (started with the first claim, gone after a quiet spell) renews every claim held
    for longer than `RENEW_AFTER_SECONDS`, so a write slowed down by the CRM (rate limits,
    retries) keeps its claim; a write that returns within that time costs no renewal at all.
    """

    def __init__(self, markers: MarkerStore, owner: str) -> None:
        self.markers = markers
        self.owner = owner
        self._held: dict[tuple[str, str], float] = {}  # claim ⇒ when its lease was last set
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def hold(self, visitor_id: str, part: str) -> None:
        with self._cond:
            self._held[(visitor_id, part)] = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._renew, name="crm-push-leases", daemon=True
                )
                self._thread.start()

    def drop(self, visitor_id: str, part: str) -> None:
        with self._cond:
            self._held.pop((visitor_id, part), None)

    def holds(self, visitor_id: str, part: str) -> bool:
        """Whether this owner holds that claim for a write in flight (or a done marker not yet
        written)."""
        with self._cond:
            return (visitor_id, part) in self._held

    def _renew(self) -> None:
        idle = 0
        while True:
            with self._cond:
                self._cond.wait(RENEW_AFTER_SECONDS / 4)
                if not self._held:
                    idle += 1
                    if idle > 8:
                        self._thread = None
                        return
                    continue
                idle = 0
                now = time.monotonic()
                due = [k for k, at in self._held.items() if now - at >= RENEW_AFTER_SECONDS]
                for k in due:
                    self._held[k] = now
            if not due:
                continue
            try:
                lost = self.markers.renew(due, owner=self.owner)
            except Exception:  # the database is away: the next tick tries again
                logger.warning("could not renew %d claims", len(due), exc_info=True)
                continue
            for visitor_id, part in lost:
                if (visitor_id, part) in self._held:
                    logger.warning(
                        "the claim on %s of visitor %r ran out while its write was in flight: "
                        "another push may have taken it over",
                        part,
                        visitor_id,
                    )
