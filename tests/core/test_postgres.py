"""The state database on PostgreSQL: the same markers and connections, a URL away.

Runs when CRM_PUSH_TEST_PG_URL names a server (CI starts one); each run gets its own database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from crm_push import Connection, ConnectionStore, Credentials, Destination, MarkerStore, Pusher
from crm_push.cli import cli
from crm_push.inputs.visitors import read_jsonl
from crm_push.models.crm import RecordRef

from support.databases import fresh_postgres
from support.filecrm import FileCRM

SERVER_URL = os.environ.get("CRM_PUSH_TEST_PG_URL")
pytestmark = pytest.mark.skipif(
    not SERVER_URL, reason="set CRM_PUSH_TEST_PG_URL to a PostgreSQL server (.ci/run starts one)"
)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with fresh_postgres("crm_push_test") as url:
        yield url


def test_markers_upsert_and_remove(pg_url: str) -> None:
    store = MarkerStore("attio", "ws", pg_url)
    store.record("v1", "person", payload="h1", ref=RecordRef(object="people", record_id="r1"))
    store.record("v1", "person", payload="h2", ref=RecordRef(object="people", record_id="r1"))
    marker = store.for_visitor("v1")["person"]
    assert (marker.payload_hash, marker.record_id, marker.state) == ("h2", "r1", "done")
    assert marker.pushed_at.tzinfo is not None
    assert [m.part for m in store.list(visitor_id="v1")] == ["person"]
    assert store.remove(["v1"]) == 1 and store.for_visitor("v1") == {}


def test_company_markers_upsert_and_remove(pg_url: str) -> None:
    store = MarkerStore("attio", "ws", pg_url)
    ref = RecordRef(object="companies", record_id="c1")
    store.record_company("acme.com", payload="h1", ref=ref)
    store.record_company("acme.com", payload="h2", ref=ref)
    marker = store.company("acme.com")
    assert marker is not None and (marker.payload_hash, marker.record_id) == ("h2", "c1")
    assert marker.pushed_at.tzinfo is not None
    assert [m.domain for m in store.companies()] == ["acme.com"] and store.list() == []
    assert store.remove_companies(["acme.com"]) == 1 and store.company("acme.com") is None


def test_connections_keep_their_secret(pg_url: str) -> None:
    store = ConnectionStore(pg_url)
    store.save(
        Connection(
            destination="attio",
            workspace_id="w1",
            credentials=Credentials(access_token="pg-secret-token"),
        )
    )
    loaded = store.load("attio")
    assert loaded is not None and loaded.credentials.access_token is not None
    assert loaded.credentials.access_token.get_secret_value() == "pg-secret-token"
    assert "pg-secret-token" not in repr(loaded)
    assert store.forget("attio") == 1


def test_concurrent_push_then_rerun_is_unchanged(pg_url: str, tmp_path: Path) -> None:
    crm = FileCRM(tmp_path / "crm.json")
    dest = Destination("filecrm", crm)
    conn = Connection(
        destination="filecrm", workspace_id="pg", capabilities=frozenset({"notes", "inline_link"})
    )
    visit = {"visited_at": "2026-11-20T10:00:00Z"}
    lines = [
        json.dumps(
            {
                "id": f"v{i}",
                "person": {"email": f"p{i}@c{i % 3}.io"},
                "company": {"domain": f"c{i % 3}.io"},
                "visit": visit,
            }
        )
        for i in range(20)
    ]
    first = Pusher(dest, conn, MarkerStore("filecrm", "pg", pg_url), workers=4)
    summary = first.run(read_jsonl(lines))
    assert (summary.created, summary.failed) == (20, 0)
    markers = MarkerStore("filecrm", "pg", pg_url)
    assert sorted(m.domain for m in markers.companies()) == ["c0.io", "c1.io", "c2.io"]
    again = Pusher(dest, conn, markers, workers=4)
    assert again.run(read_jsonl(lines)).unchanged == 20
    assert len(crm.snapshot()["notes"]) == 20


@pytest.mark.usefixtures("with_test_plugins")
def test_cli_push_with_a_postgresql_url(pg_url: str, crm_file: Path) -> None:
    line = '{"id": "cli1", "person": {"email": "cli@x.io"}}\n'
    result = CliRunner().invoke(cli, ["--dest", "filecrm", "--db", pg_url, "push", "-"], input=line)
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(cli, ["--dest", "filecrm", "--db", pg_url, "push", "-"], input=line)
    assert "1 unchanged" in again.output


def test_opening_a_set_up_database_takes_no_schema_lock(pg_url: str) -> None:
    import threading

    from crm_push.state import database as db

    db.engine_for(pg_url)  # sets it up
    db._engines.pop(pg_url).dispose()
    # Another process holds the lock under which tables are created (it is creating them on
    # some database, or hangs there): a process opening this set-up database does not wait.
    holder = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with holder.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": db._CREATE_LOCK})
        opened = threading.Event()

        def open_it() -> None:
            db.engine_for(pg_url)
            opened.set()

        threading.Thread(target=open_it, daemon=True).start()
        try:
            assert opened.wait(20), "opening the database waited for the schema lock"
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": db._CREATE_LOCK})
    holder.dispose()
    MarkerStore("filecrm", "ws_lock", pg_url).record("v1", "person", payload="h", record_id="p1")
    assert MarkerStore("filecrm", "ws_lock", pg_url).for_visitor("v1")["person"].record_id == "p1"
