"""Fresh PostgreSQL databases for tests, on the server of CRM_PUSH_TEST_PG_URL (`.ci/run`
starts one): made empty, dropped afterwards with what this process kept for them."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("CRM_PUSH_TEST_PG_URL")
NO_PG = "set CRM_PUSH_TEST_PG_URL to a PostgreSQL server (.ci/run starts one)"


@contextlib.contextmanager
def fresh_postgres(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database named `prefix_<random>`; skips the test without a
    server. Afterwards the process's engines, budget store and schema check of that URL are
    forgotten and the database is dropped, whoever is still connected."""
    if not PG_URL:
        pytest.skip(NO_PG)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        _forget(url)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _forget(url: str) -> None:
    from crm_push.state import budget, database

    budget._stores.pop(url, None)
    jobs = sys.modules.get("crm_push.jobs.engine")
    if jobs is not None:
        jobs._ready.discard(url)  # type: ignore[attr-defined]
    engine = database._engines.pop(url, None)
    if engine is not None:
        single = database._single.pop(engine, None)
        if single is not None:
            single.dispose()
        engine.dispose()
