"""The state database: push markers, company markers and connections, on SQLAlchemy Core.

The default is a SQLite file in the user data dir; `--db URL` or `CRM_PUSH_DB` points elsewhere
(PostgreSQL when several workers share state). The SQLite file is created 0600: it holds tokens.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa

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
    # "done" once the CRM confirmed; "pending" while a note may be in flight.
    sa.Column("state", sa.String(16), nullable=False, default="done"),
    sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
)

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
    sa.Column("info", sa.JSON, nullable=False),  # the Connection without its credentials
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
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


def _prepare_sqlite_file(url: sa.URL) -> None:
    if not url.database or url.database == ":memory:":
        return
    path = Path(url.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Create it private before SQLite writes a byte of it.
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str | None = None) -> sa.Engine:
    """One engine per URL per process, with the tables created."""
    resolved = resolve_url(url)
    with _engines_lock:
        if resolved in _engines:
            return _engines[resolved]
        parsed = sa.make_url(resolved)
        kwargs: dict[str, object] = {}
        if parsed.get_backend_name() == "sqlite":
            _prepare_sqlite_file(parsed)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = sa.create_engine(resolved, **kwargs)
        if parsed.get_backend_name() == "sqlite":

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                # WAL lets the progress reader and the writer workers overlap; NORMAL sync is
                # durable across a killed process (only an OS crash can lose the last commit).
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

        metadata.create_all(engine)
        _engines[resolved] = engine
        return engine


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
