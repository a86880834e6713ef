"""Creating the state tables is safe when several processes open a new database at once, and an
older `push_markers` gets the claim columns it lacks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from crm_push.state import database

from support.databases import fresh_postgres

PG_URL = os.environ.get("CRM_PUSH_TEST_PG_URL")
PROCESSES = 4

# Each process waits for the same moment, then opens the database (creating its tables).
OPEN = """
import sys, time
from crm_push.state.database import engine_for
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
engine_for(sys.argv[1])
"""


def open_at_once(url: str) -> list[subprocess.CompletedProcess[str]]:
    start = time.time() + 1.0  # after every interpreter has started and imported
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.skipif(not PG_URL, reason="set CRM_PUSH_TEST_PG_URL to a PostgreSQL server")
def test_four_processes_creating_the_tables_on_an_empty_postgresql_never_fail() -> None:
    for _ in range(3):  # a fresh, empty database each trial
        with fresh_postgres("crm_push_create") as url:
            for proc in open_at_once(url):
                assert proc.returncode == 0, proc.stderr
            engine = sa.create_engine(url)
            tables = set(sa.inspect(engine).get_table_names())
            engine.dispose()
            assert {"push_markers", "company_markers", "connections"} <= tables


def test_four_processes_creating_the_tables_of_a_new_sqlite_file_never_fail(
    tmp_path: Path,
) -> None:
    for trial in range(2):
        url = f"sqlite:///{tmp_path / f'state-{trial}.db'}"
        for proc in open_at_once(url):
            assert proc.returncode == 0, proc.stderr


def test_an_older_markers_table_gets_the_claim_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sa.create_engine(f"sqlite:///{path}")
    with old.begin() as conn:  # push_markers as it was before claims
        conn.exec_driver_sql(
            "CREATE TABLE push_markers (destination VARCHAR(64), workspace VARCHAR(128), "
            "visitor_id VARCHAR(256), part VARCHAR(320), object VARCHAR(64), "
            "record_id VARCHAR(128), payload_hash VARCHAR(64) NOT NULL, "
            "state VARCHAR(16) NOT NULL, pushed_at DATETIME NOT NULL, "
            "PRIMARY KEY (destination, workspace, visitor_id, part))"
        )
        conn.exec_driver_sql(
            "INSERT INTO push_markers VALUES ('d', 'w', 'v1', 'note', NULL, NULL, 'k', "
            "'pending', '2026-11-20 10:00:00.000000')"
        )
    old.dispose()
    from crm_push.state.markers import MarkerStore, new_owner

    store = MarkerStore("d", "w", f"sqlite:///{path}")
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("push_markers")}
    assert {"owner", "lease_until"} <= columns
    # The old pending marker (no owner, no lease: a push that died) is taken over.
    claim = store.claim("v1", "note", payload="k", owner=new_owner())
    assert claim.won and claim.previous is not None and claim.previous.owner is None
    database._engines.pop(f"sqlite:///{path}").dispose()
