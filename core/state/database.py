"""The state database: push markers, company markers and connections, on SQLAlchemy Core.

The default is a SQLite file in the user data dir; `--db URL` or `CRM_PUSH_DB` points elsewhere
(PostgreSQL when several workers share state). A new SQLite file is created 0600 (it holds
tokens); an existing file's mode is never changed, and one that cannot be written (a read-only
directory or mount) is opened read-only, so reading commands still work. A URL that cannot be
used raises ConfigurationError naming the setting and the fix, and creating a new state
database is logged (a warning: a mistyped URL would otherwise silently start from nothing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from crm_push.errors import ConfigurationError

DB_ENV = "CRM_PUSH_DB"

metadata = sa.MetaData()

markers_table = sa.Table(
    "push_markers",
    metadata,
    sa.Column("destination", sa.String(64), primary_key=True),
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("visitor_id", sa.String(256), primary_key=True),
    # "company", "person", "link", "note", "contact:<email or name>", "link:contact:<…>"
    sa.Column("part", sa.String(320), primary_key=True),
    sa.Column("object", sa.String(64), nullable=True),
    sa.Column("record_id", sa.String(128), nullable=True),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    # "done" once the CRM confirmed; "pending" while a claimed write (a note, a keyless create)
    # may be in flight.
    sa.Column("state", sa.String(16), nullable=False, default="done"),
    sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
    # The claim of a pending write: which process and run holds it, and until when. Both NULL
    # once done. See crm_push.state.markers (MarkerStore.claim).
    sa.Column("owner", sa.String(128), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
)
#: Columns added to `push_markers` after its first release of the schema: added to an existing
#: table that lacks them when the database is opened (nullable, so old rows stay valid).
_ADDED_MARKER_COLUMNS = ("owner", "lease_until")

# Companies with a domain, as pushed for any visitor of any run: the next visitor of a known
# company with the same data writes nothing for it. Kept apart from the visitors' markers, so a
# visitor id can be anything and listing visitors lists only visitors. Written only once the CRM
# confirmed the company, so there is no pending state.
company_markers_table = sa.Table(
    "company_markers",
    metadata,
    sa.Column("destination", sa.String(64), primary_key=True),
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("domain", sa.String(320), primary_key=True),  # normalized, as Company.domain
    sa.Column("object", sa.String(64), nullable=True),
    sa.Column("record_id", sa.String(128), nullable=True),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
)

connections_table = sa.Table(
    "connections",
    metadata,
    sa.Column("destination", sa.String(64), primary_key=True),
    sa.Column("workspace_id", sa.String(128), primary_key=True),
    sa.Column("workspace_name", sa.String(256), nullable=True),
    # The host app's own key for the connection ("cust_42"): one per destination.
    sa.Column("tenant", sa.String(128), nullable=True),
    sa.Column("info", sa.JSON, nullable=False),  # the Connection without its credentials
    # The credentials: {"fernet": "…"} when CRM_PUSH_SECRET_KEY is set (state/secrets.py).
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("connections_tenant", "destination", "tenant", unique=True),
)


# One row per (destination, workspace, kind) rate budget, shared by every process and machine
# that pushes to that workspace (see crm_push.state.budget): the GCRA's theoretical arrival time
# of the next request, in seconds since the epoch by the database's own clock.
budget_table = sa.Table(
    "rate_budget",
    metadata,
    sa.Column("destination", sa.String(64), primary_key=True),
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),  # "read", "write", or a declared extra
    sa.Column("tat", sa.Double(), nullable=False),
)


def default_url() -> str:
    path = Path(platformdirs.user_data_dir("crm-push", appauthor=False)) / "crm-push.db"
    return f"sqlite:///{path}"


def resolve_url(url: str | None) -> str:
    return url or os.environ.get(DB_ENV) or default_url()


def exists(url: str | None = None) -> bool:
    """Whether the state database is there already, without creating it: for SQLite, whether
    its file exists (in memory it always does); a database server's is taken to exist."""
    parsed = sa.make_url(resolve_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).exists()


logger = logging.getLogger(__name__)

#: How messages name the setting, for CLI users and library callers alike.
SETTING = f"--db or {DB_ENV}"
_EXAMPLES = "sqlite:///state.db or postgresql+psycopg://user@host/crm_push"
# Credentials in a URL that SQLAlchemy cannot parse (and so cannot hide) are masked by hand.
_USERINFO = re.compile(r"(?<=//)([^/@:]*):[^/@]*@")
# Drivers to suggest when a URL names one that is not installed, by backend.
_DRIVERS = {
    "postgresql": "pip install 'crm-push[postgres]' and use postgresql+psycopg://…",
    "mysql": "pip install pymysql and use mysql+pymysql://…",
}


def _shown(url: str, parsed: sa.URL | None = None) -> str:
    """The URL as messages show it: never with its password."""
    if parsed is not None:
        return parsed.render_as_string(hide_password=True)
    return _USERINFO.sub(r"\1:***@", url)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0].strip() if lines else type(orig).__name__


def is_in_memory(url: str | None = None) -> bool:
    """Whether the state database lives in this process's memory only (`sqlite://`,
    `sqlite:///:memory:`, a `mode=memory` URI): what it holds is gone when the process ends."""
    try:
        parsed = sa.make_url(resolve_url(url))
    except sa.exc.ArgumentError:
        return False
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or parsed.query.get("mode") == "memory"
        or "mode=memory" in database
    )


@dataclass
class _SqliteFile:
    """How a SQLite state database is opened."""

    shown: str  # the path (or URI) as messages name it
    path: bool = True  # False: in memory
    read_only: bool = False
    uri: str | None = None  # a `file:` URI to open instead of the URL's path (read-only)


def _prepare_sqlite_file(url: sa.URL) -> _SqliteFile:
    """Create a new file 0600 before SQLite writes a byte of it; never change an existing one.

    An existing file that this process cannot write (or whose directory it cannot write: the
    journal lives there) is opened read-only. When its write-ahead log is not there (the last
    writer checkpointed it), it is opened `immutable`: SQLite would otherwise need to create the
    log's index beside it, which a read-only directory forbids.
    """
    database = url.database or ""
    if is_in_memory(url.render_as_string(hide_password=False)):
        return _SqliteFile("(in memory)", path=False)
    if database.startswith("file:") or url.query.get("uri") == "true":
        # A URI the user wrote (`sqlite:///file:state.db?mode=ro&uri=true`): taken as given.
        return _SqliteFile(database, read_only=url.query.get("mode") == "ro")
    path = Path(database).absolute()
    if path.is_dir():
        raise ConfigurationError(
            f"the state database {str(path)!r} ({SETTING}) is a directory",
            next_step=f"name a file in it: sqlite:///{path / 'crm-push.db'}",
        )
    if path.exists():
        if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
            return _SqliteFile(str(path))
        wal = path.with_name(path.name + "-wal")
        shm = path.with_name(path.name + "-shm")
        query = "mode=ro" if wal.exists() and shm.exists() else "mode=ro&immutable=1"
        return _SqliteFile(str(path), read_only=True, uri=f"{path.as_uri()}?{query}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Another process may have created it a moment ago: then its mode is its creator's.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the state database {str(path)!r} ({SETTING}): {exc.strerror or exc}",
            next_step=f"point {SETTING} at a file in a writable directory",
        ) from None
    return _SqliteFile(str(path))


_engines: dict[str, sa.Engine] = {}
_read_only: dict[str, str] = {}  # URL ⇒ the database as messages name it
_engines_lock = threading.Lock()


def engine_for(url: str | None = None) -> sa.Engine:
    """One engine per URL per process, with the tables created.

    Raises ConfigurationError (with the fix as its next step) when the URL does not parse,
    names a database type or driver that is not installed, or the database cannot be opened:
    an unreachable server, a file that is not a SQLite database, a read-only database without
    crm-push's tables.
    """
    resolved = resolve_url(url)
    with _engines_lock:
        if resolved in _engines:
            return _engines[resolved]
        engine, read_only = _open(resolved)
        _engines[resolved] = engine
        if read_only is not None:
            _read_only[resolved] = read_only
        return engine


#: Connections kept open for a push's statements on PostgreSQL (as many more may open at once).
SINGLE_POOL_SIZE = 16
_single: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = weakref.WeakKeyDictionary()


def single_statements(engine: sa.Engine) -> sa.Engine:
    """The engine for statements that are atomic on their own (an upsert, an insert-if-absent,
    a compare-and-swap UPDATE, a read): on PostgreSQL an engine in autocommit, with no BEGIN and
    COMMIT around each (two more round trips, and most of a marker write's CPU) and its own
    pool (setting autocommit on every checkout of a shared pool costs as much again);
    elsewhere the engine itself (SQLite's transactions are local and cheap)."""
    if engine.dialect.name != "postgresql":
        return engine
    with _engines_lock:
        single = _single.get(engine)
        if single is None:
            # A push's worker threads each hold a connection for a moment, often all at once:
            # beyond `pool_size` a returned connection is closed, and connecting again (a new
            # PostgreSQL backend each time) cost more than the statements themselves.
            kwargs: dict[str, Any] = {
                "isolation_level": "AUTOCOMMIT",
                "pool_size": SINGLE_POOL_SIZE,
                "max_overflow": SINGLE_POOL_SIZE,
            }
            if _libpq(engine.url) and "connect_timeout" not in engine.url.query:
                kwargs["connect_args"] = {"connect_timeout": 10}
            single = _single[engine] = sa.create_engine(engine.url, **kwargs)
        return single


def driver_sql(statement: Any) -> str:
    """A SQLAlchemy statement as SQL for `driver_cursor` (psycopg's `%(name)s` parameters):
    each statement is written once, in SQLAlchemy, and compiled for the driver once."""
    from sqlalchemy.dialects.postgresql import psycopg

    return str(statement.compile(dialect=psycopg.dialect()))  # type: ignore[no-untyped-call]


def on_psycopg(engine: sa.Engine) -> bool:
    """Whether `driver_cursor` applies: PostgreSQL through psycopg 3 (`%(name)s` parameters)."""
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


class _DriverConnections:
    """Open driver connections of one engine, each with its cursor, handed out last-in first-out.

    SQLAlchemy's pool checkout and return (events, reset-on-return, the fairy) cost more CPU
    than the statement `driver_cursor` runs; a free list costs a lock. At most `keep` stay open;
    one broken by an error is closed, not returned."""

    def __init__(self, engine: sa.Engine, keep: int) -> None:
        self.engine, self.keep = engine, keep
        self._free: list[tuple[Any, Any]] = []
        self._lock = threading.Lock()

    def take(self) -> tuple[Any, Any]:
        with self._lock:
            if self._free:
                return self._free.pop()
        fairy = self.engine.raw_connection()
        fairy.detach()  # ours from now on: SQLAlchemy's pool forgets it
        conn = fairy.dbapi_connection
        assert conn is not None  # a fresh checkout always has one
        return conn, conn.cursor()

    def give_back(self, pair: tuple[Any, Any]) -> None:
        with self._lock:
            if len(self._free) < self.keep:
                self._free.append(pair)
                return
        pair[0].close()

    def close(self) -> None:
        with self._lock:
            free, self._free = self._free, []
        for conn, _ in free:
            with contextlib.suppress(Exception):
                conn.close()


_drivers: weakref.WeakKeyDictionary[sa.Engine, _DriverConnections] = weakref.WeakKeyDictionary()


def _driver_connections(engine: sa.Engine) -> _DriverConnections:
    found = _drivers.get(engine)
    if found is None:
        with _engines_lock:
            found = _drivers.get(engine)
            if found is None:
                found = _drivers[engine] = _DriverConnections(engine, SINGLE_POOL_SIZE)
                sa.event.listen(engine, "engine_disposed", lambda _: found.close())
    return found


@contextlib.contextmanager
def driver_cursor(engine: sa.Engine) -> Iterator[Any]:
    """A cursor on an open connection of `engine` (an autocommit one: see
    `single_statements`), for the few statements a push runs per request or per visitor:
    SQLAlchemy's execution around a statement (connection, context and result objects, events)
    costs several times the statement's own CPU. A driver error closes the connection and is
    raised as SQLAlchemy's DBAPIError, as an execute would.
    """
    connections = _driver_connections(engine)
    pair = connections.take()
    try:
        yield pair[1]
    except engine.dialect.loaded_dbapi.Error as exc:
        with contextlib.suppress(Exception):
            pair[0].close()  # a broken connection must not be handed out again
        if pair[0].broken:  # the server went away (a restart): so did the idle ones
            connections.close()
        raise sa.exc.DBAPIError.instance("", None, exc, Exception) from exc
    except BaseException:
        with contextlib.suppress(Exception):
            pair[0].close()  # interrupted mid-statement: its state is unknown
        raise
    connections.give_back(pair)


def existing_engine(url: str | None = None) -> sa.Engine | None:
    """An engine for reading the state database that creates nothing (no file, no tables), or
    None when there is no database yet."""
    resolved = resolve_url(url)
    if not exists(resolved):
        return None
    with _engines_lock:
        if resolved in _engines:
            return _engines[resolved]
    kwargs: dict[str, object] = {}
    if sa.make_url(resolved).get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    return sa.create_engine(resolved, **kwargs)


def _open(resolved: str) -> tuple[sa.Engine, str | None]:
    """The engine, and when it is read-only how messages name the database."""
    try:
        parsed = sa.make_url(resolved)
    except sa.exc.ArgumentError:
        raise ConfigurationError(
            f"the state database URL {_shown(resolved)!r} ({SETTING}) is not a database URL",
            next_step=f"give a URL such as {_EXAMPLES}",
        ) from None
    shown = _shown(resolved, parsed)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    sqlite_file = None
    if backend == "sqlite":
        sqlite_file = _prepare_sqlite_file(parsed)
        shown = sqlite_file.shown
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": 30}
        kwargs["connect_args"] = connect_args
        if not sqlite_file.path:
            # One database for every thread (SQLAlchemy's default gives each its own, empty).
            kwargs["poolclass"] = sa.pool.StaticPool
        if sqlite_file.uri:
            uri = sqlite_file.uri
            kwargs["creator"] = lambda: sqlite3.connect(uri, uri=True, **connect_args)
    elif backend == "postgresql" and _libpq(parsed) and "connect_timeout" not in parsed.query:
        # An unreachable server fails in seconds, not after the system's TCP timeout.
        kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = sa.create_engine(resolved, **kwargs)
    except sa.exc.NoSuchModuleError:
        raise ConfigurationError(
            f"the state database URL {shown!r} ({SETTING}) names an unknown database type "
            f"{parsed.drivername!r}",
            next_step=f"give a URL such as {_EXAMPLES}",
        ) from None
    except ImportError as exc:
        missing = getattr(exc, "name", None) or _first_line(exc)
        hint = _DRIVERS.get(backend, "install the driver, or name an installed one in the URL")
        raise ConfigurationError(
            f"the driver of the state database URL {shown!r} ({SETTING}) is not installed "
            f"(no module {missing!r})",
            next_step=hint,
        ) from None
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(
            f"the state database URL {shown!r} ({SETTING}) is not usable: {_first_line(exc)}",
            next_step=f"give a URL such as {_EXAMPLES}",
        ) from None
    read_only = bool(sqlite_file and sqlite_file.read_only)
    if backend == "sqlite":
        _sqlite_events(engine, shown, read_only)
    try:
        new = _create_tables(engine, backend, read_only)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise _unusable(exc, shown, backend, read_only) from None
    if new and sqlite_file is not None and not sqlite_file.path:
        logger.warning("the state database is in memory: nothing is kept after this process")
    elif new:
        logger.warning(
            "created a new, empty state database %s; if you meant an existing one, fix %s",
            shown,
            SETTING,
        )
    return engine, shown if read_only else None


#: The PostgreSQL advisory lock (an arbitrary 64-bit key: "crm-push" in ASCII) that processes
#: creating the tables on one database take in turn.
_CREATE_LOCK = 0x63726D2D70757368


def _create_tables(engine: sa.Engine, backend: str, read_only: bool) -> bool:
    """Create the missing tables (and marker columns); whether the markers table was new.

    A read-only database is only checked: its tables must be there, and a `push_markers` made
    before the claim columns existed is read as it is (a push needs it writable anyway).

    Safe when several processes open a new database at once: on PostgreSQL they take an
    advisory lock in turn (two concurrent CREATE TABLEs of one name fail on `pg_type`); on
    SQLite, where DDL is not in a transaction here, a table or column another process created
    a moment ago ("already exists", "duplicate column") is simply checked again.
    """
    if backend == "postgresql":
        with engine.connect() as conn:
            if _complete(conn):  # set up already (nearly every open): no lock, no DDL
                return False
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                if backend == "postgresql":
                    lock = sa.text("SELECT pg_advisory_xact_lock(:key)")
                    conn.execute(lock, {"key": _CREATE_LOCK})
                new = not sa.inspect(conn).has_table(markers_table.name)
                metadata.create_all(conn)  # read-only: fails when a table is missing
                if not new and not read_only:
                    _add_missing_columns(conn)
                return new
        except sa.exc.OperationalError as exc:
            why = str(exc.orig)
            if attempt < 4 and ("already exists" in why or "duplicate column" in why):
                continue
            if attempt < 4 and "database is locked" in why:  # SQLite: another process's DDL
                time.sleep(0.1 * (attempt + 1))
                continue
            raise
    raise AssertionError("unreachable")


_COLUMNS_OF = sa.text(
    "SELECT table_name, column_name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = ANY(:names)"
)
_INDEXES_OF = sa.text(
    "SELECT indexname FROM pg_catalog.pg_indexes WHERE schemaname = current_schema() "
    "AND indexname = ANY(:names)"
)


def _complete(conn: sa.Connection) -> bool:
    """Whether every table exists with every column and index (PostgreSQL): two catalog reads
    instead of the schema lock, the inspector's queries and the DDL checks."""
    have: dict[str, set[str]] = {}
    names = [t.name for t in metadata.sorted_tables]
    for table, column in conn.execute(_COLUMNS_OF, {"names": names}):
        have.setdefault(table, set()).add(column)
    for table in metadata.sorted_tables:
        if not {c.name for c in table.columns} <= have.get(table.name, set()):
            return False
    indexes = {str(i.name) for t in metadata.sorted_tables for i in t.indexes}
    found = {row[0] for row in conn.execute(_INDEXES_OF, {"names": sorted(indexes)})}
    return found == indexes


def _add_missing_columns(conn: sa.Connection) -> None:
    """Add the columns newer versions added (the claim columns of `push_markers`, the tenant of
    `connections`) to tables made before they existed."""
    for table, names in ((markers_table, _ADDED_MARKER_COLUMNS), (connections_table, ("tenant",))):
        have = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
        for name in names:
            if name not in have:
                kind = table.c[name].type.compile(dialect=conn.dialect)
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))
    conn.execute(
        sa.text(
            "CREATE UNIQUE INDEX IF NOT EXISTS connections_tenant "
            f"ON {connections_table.name} (destination, tenant)"
        )
    )


def _libpq(url: sa.URL) -> bool:
    """Whether the URL's PostgreSQL driver is libpq's (psycopg, psycopg2: the default ones)."""
    return url.drivername.partition("+")[2] in ("", "psycopg", "psycopg2")


def _unusable(exc: BaseException, shown: str, backend: str, read_only: bool) -> ConfigurationError:
    if isinstance(exc, ConfigurationError):
        return exc
    why = _first_line(exc)
    if read_only:
        return ConfigurationError(
            f"the state database {shown!r} ({SETTING}) is read-only and has no crm-push "
            f"tables: {why}",
            next_step="open it once where it can be written, or point --db at the right file",
        )
    if backend == "sqlite":
        return ConfigurationError(
            f"the state database {shown!r} ({SETTING}) cannot be opened as SQLite: {why}",
            next_step="point it at crm-push's state database file, or at a new file name",
        )
    return ConfigurationError(
        f"cannot connect to the state database {shown!r} ({SETTING}): {why}",
        next_step="check that the server is running and reachable and that the URL's host, "
        "port, user and database are right",
    )


def _switch_to_wal(cur: Any) -> None:
    """`PRAGMA journal_mode=WAL`, waiting while another process holds the file: switching a new
    database's journal needs it alone, and SQLite answers "database is locked" at once (its busy
    timeout does not cover this), so processes opening one new file together retry briefly."""
    deadline = time.monotonic() + 30
    delay = 0.01
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)


def _sqlite_events(engine: sa.Engine, shown: str, read_only: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets the progress reader and the writer workers overlap; NORMAL sync is durable
        # across a killed process (only an OS crash can lose the last commit). A read-only
        # database keeps its journal mode: changing it is a write.
        cur = dbapi_conn.cursor()
        if not read_only:
            _switch_to_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "handle_error")
    def _read_only_write(context: Any) -> None:
        # A write to a read-only database: one line naming the database, not a traceback.
        orig = context.original_exception
        if getattr(orig, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
            raise ConfigurationError(
                f"the state database {shown!r} ({SETTING}) is read-only: this command writes to it",
                next_step="make the file and its directory writable, or point --db at a "
                "writable copy",
            ) from None


def is_read_only(url: str | None = None) -> bool:
    """Whether the state database was opened read-only (a SQLite file this process cannot
    write, or a `mode=ro` URI): reading works, writing raises ConfigurationError."""
    resolved = resolve_url(url)
    engine_for(resolved)
    return resolved in _read_only


def check_for_push(url: str | None = None) -> None:
    """Raise ConfigurationError unless the state database can keep a push's markers.

    A push writes to the CRM first and its markers after: with markers in memory (gone when
    the process ends) or in a read-only database, the next push would create email-less people
    and notes again. Call it before pushing for real (a dry run writes no marker).
    """
    if is_in_memory(url):
        raise ConfigurationError(
            f"the state database ({SETTING}) is in memory: a push's markers would be lost when "
            "it ends, and the next push would duplicate notes and people without an email",
            next_step=f"point {SETTING} at a file or a server, e.g. {_EXAMPLES}",
        )
    if is_read_only(url):
        shown = _read_only.get(resolve_url(url), "")
        raise ConfigurationError(
            f"the state database {shown!r} ({SETTING}) is read-only: a push "
            "could not keep its markers",
            next_step="make the file and its directory writable, or point --db at a writable copy",
        )
