"""The procrastinate app of crm-push, its connector, and the schema applied on first use.

`crm_push.jobs.app` is a procrastinate `App` on the state database (`CRM_PUSH_DB`, or `--db`
for the CLI): `procrastinate --app=crm_push.jobs.app worker` runs its jobs too. The database
must be PostgreSQL: jobs live in procrastinate's tables beside the markers, so a job's writes
and its markers share one server, and a host app can enqueue inside its own transaction.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from crm_push.errors import ConfigurationError
from crm_push.state.database import DB_ENV, engine_for, resolve_url

try:
    import procrastinate
except ImportError:  # pragma: no cover - the extra is not installed
    procrastinate = None  # type: ignore[assignment]

#: The advisory lock key under which the schemas are created (any process, any machine).
SCHEMA_LOCK = 0x63726D70  # "crmp"
#: What to install when procrastinate is missing.
INSTALL = "install the worker extra: pip install 'crm-push[worker]'"


def need_procrastinate() -> None:
    if procrastinate is None:
        raise ConfigurationError("jobs need procrastinate", next_step=INSTALL)


def conninfo(db_url: str | None = None) -> str:
    """The libpq connection string of a PostgreSQL state database URL (ConfigurationError for
    any other database: jobs need PostgreSQL)."""
    resolved = resolve_url(db_url)
    url = sa.make_url(resolved)
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"jobs need a PostgreSQL state database, not {url.get_backend_name()}",
            next_step=f"set --db or {DB_ENV} to postgresql+psycopg://user@host/db",
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _env_conninfo() -> str:
    """The app's connection at import: CRM_PUSH_DB when it names PostgreSQL, else libpq's own
    defaults (PGHOST…); nothing connects before a worker or an enqueue runs."""
    url = os.environ.get(DB_ENV)
    if url:
        try:
            return conninfo(url)
        except (ConfigurationError, sa.exc.ArgumentError):
            return ""
    return ""


def new_connector(db_url: str | None = None, *, sync: bool = False) -> Any:
    need_procrastinate()
    info = conninfo(db_url) if db_url is not None else _env_conninfo()
    kwargs: dict[str, Any] = {"conninfo": info, "min_size": 1, "max_size": 10}
    if sync:
        return procrastinate.SyncPsycopgConnector(**kwargs)
    return procrastinate.PsycopgConnector(**kwargs)


def _make_app() -> Any:
    if procrastinate is None:
        return None
    return procrastinate.App(connector=new_connector(), import_paths=["crm_push.jobs.tasks"])


#: The procrastinate app: `procrastinate --app=crm_push.jobs.app worker`.
app: Any = _make_app()

_ready: set[str] = set()


def ensure_schema(db_url: str | None = None) -> None:
    """Apply procrastinate's schema and crm-push's job tables once per database, idempotently:
    under a transaction-scoped advisory lock, so processes starting together create them once.
    """
    need_procrastinate()
    resolved = resolve_url(db_url)
    if resolved in _ready:
        return
    conninfo(resolved)  # PostgreSQL, or a ConfigurationError
    engine = engine_for(resolved)
    with engine.begin() as conn:
        apply_schema(conn.connection.driver_connection)
    _ready.add(resolved)


#: The tables whose presence says the schemas were applied.
TABLES = frozenset(
    {"procrastinate_jobs", "crm_push_job_failures", "crm_push_job_stops", "crm_push_job_visitors"}
)


def apply_schema(dbapi: Any) -> None:
    """Create what is missing on a psycopg connection, in its current transaction (a host's
    own connection: the schema commits with its transaction). When everything exists, no
    lock is taken."""
    from crm_push.jobs import visitors
    from crm_push.jobs.failures import create_tables

    cursor = dbapi.cursor()
    if not _missing(cursor):
        return
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
    missing = _missing(cursor)  # again: another process may have created them meanwhile
    if "procrastinate_jobs" in missing:
        cursor.execute(procrastinate.schema.SchemaManager.get_schema())
    if missing - {"procrastinate_jobs"}:
        create_tables(cursor)
        visitors.create_table(cursor)


def _missing(cursor: Any) -> set[str]:
    """Which of TABLES do not exist. Read from pg_class (the statement's snapshot), not with
    to_regclass: its catalog cache keeps a "not found" for the whole transaction, so after
    waiting for the lock it would not see tables another process just committed."""
    cursor.execute(
        "SELECT relname FROM pg_catalog.pg_class WHERE relname = ANY(%s) "
        "AND pg_catalog.pg_table_is_visible(oid)",
        (sorted(TABLES),),
    )
    return set(TABLES) - {_first(row) for row in cursor.fetchall()}


def _first(row: Any) -> Any:
    """The first value of a row, a tuple or a dict (a host's connection may use dict_row)."""
    if isinstance(row, dict):
        return next(iter(row.values()))
    return row[0]
