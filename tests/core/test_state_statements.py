"""The statements a push makes per visitor and per request, on SQLite and on PostgreSQL.

On PostgreSQL a visitor's marker read, its marker writes and the budget's slot go to the driver
directly (see `crm_push.state.database.driver_cursor`); these check that they store and read
what the SQLAlchemy path does, and that a failing statement is reported as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from crm_push import MarkerStore
from crm_push.errors import RetryLater
from crm_push.models.crm import RecordRef
from crm_push.state import database
from crm_push.state.budget import BudgetStore, SharedBudget
from crm_push.state.markers import MarkerWrite

from support.databases import fresh_postgres

SERVER_URL = os.environ.get("CRM_PUSH_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with fresh_postgres("crm_push_stmt") as url:
        yield url


def test_several_parts_in_one_write_read_back_as_written(db_url: str) -> None:
    store = MarkerStore("attio", "ws", db_url)
    company = RecordRef(object="companies", record_id="c1")
    person = RecordRef(object="people", record_id="p1")
    store.record_parts(
        "v1", {"company": ("hc", company), "person": ("hp", person), "link": ("c1", company)}
    )
    store.record("v1", "note", payload="hn", record_id="n1")
    # Written again: the new payloads replace the old ones, the other parts stay.
    store.record_parts("v1", {"person": ("hp2", person), "link": ("c1", company)})

    markers = store.for_visitor("v1")
    assert {part: (m.payload_hash, m.record_id, m.state) for part, m in markers.items()} == {
        "company": ("hc", "c1", "done"),
        "person": ("hp2", "p1", "done"),
        "link": ("c1", "c1", "done"),
        "note": ("hn", "n1", "done"),
    }
    assert all(m.pushed_at.tzinfo is not None for m in markers.values())
    # The listing (SQLAlchemy's path) reads the same rows.
    listed = {m.part: m for m in store.list(visitor_id="v1")}
    assert listed == markers
    assert store.for_visitor("v2") == {}


def test_a_failing_budget_statement_says_retry_later_and_the_next_one_works(db_url: str) -> None:
    budget = SharedBudget("attio", "ws", db_url, writes_per_second=1000.0)
    budget.acquire("write")
    store = BudgetStore(db_url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE rate_budget RENAME TO rate_budget_away"))
    with pytest.raises(RetryLater, match="shared rate budget"):
        budget.acquire("write")
    with store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE rate_budget_away RENAME TO rate_budget"))
    assert budget.acquire("write") >= 0.0


def test_a_claim_records_the_confirmed_parts_given_with_it(db_url: str) -> None:
    store = MarkerStore("attio", "ws", db_url)
    company = RecordRef(object="companies", record_id="c1")
    person = RecordRef(object="people", record_id="p1")
    done = {"company": ("hc", company), "person": ("hp", person)}
    assert store.claim("v1", "note", payload="k", owner="a", done=done).won
    # A lost claim records its confirmed parts too.
    lost = store.claim("v1", "note", payload="k", owner="b", done={"link": ("c1", company)})
    assert not lost.won
    markers = store.for_visitor("v1")
    assert {part: (m.payload_hash, m.record_id, m.state) for part, m in markers.items()} == {
        "company": ("hc", "c1", "done"),
        "person": ("hp", "p1", "done"),
        "link": ("c1", "c1", "done"),
        "note": ("k", None, "pending"),
    }
    with pytest.raises(ValueError, match="cannot also be recorded done"):
        store.claim("v2", "note", payload="k", owner="a", done={"note": ("k", None)})
    assert store.for_visitor("v2") == {}


def test_a_claim_and_a_batch_carry_other_visitors_done_markers(db_url: str) -> None:
    store = MarkerStore("attio", "ws", db_url)
    for vid in ("v1", "v2"):
        assert store.claim(vid, "note", payload=f"k-{vid}", owner="a").won
    notes = [MarkerWrite(vid, "note", f"k-{vid}", record_id=f"n-{vid}") for vid in ("v1", "v2")]
    person = RecordRef(object="people", record_id="p3")
    # The claim of v3's note records v3's person and the notes of v1 and v2 with it.
    assert store.claim(
        "v3", "note", payload="k-v3", owner="a", done={"person": ("h", person)}, also=notes
    ).won
    for vid in ("v1", "v2"):
        marker = store.get(vid, "note")
        assert marker is not None
        assert (marker.state, marker.record_id, marker.owner) == ("done", f"n-{vid}", None)
    assert {p: m.state for p, m in store.for_visitor("v3").items()} == {
        "person": "done",
        "note": "pending",
    }
    # A batch of writes (a run's held markers) goes the same way.
    store.record_many([MarkerWrite("v4", "person", "h", person), MarkerWrite("v3", "note", "k-v3")])
    assert store.get("v3", "note").state == "done"  # type: ignore[union-attr]
    # Past 50 parameters the rows go as arrays (psycopg would parse the statement each time).
    many = [MarkerWrite(f"m{i}", "note", f"k{i}", record_id=f"n{i}") for i in range(5)]
    many.append(MarkerWrite("m9", "person", "hp", person))
    assert store.claim("v6", "note", payload="k6", owner="a", also=many).won
    links = [MarkerWrite(f"w{i}", "link", "c") for i in range(6)]
    store.record_many([MarkerWrite("v7", "person", "h7", person), *links])
    for w in [*many, *links]:
        marker = store.get(w.visitor_id, w.part)
        assert marker is not None and marker.state == "done" and marker.payload_hash == w.payload
        assert marker.record_id == (w.ref.record_id if w.ref else w.record_id)
        assert marker.object == (w.ref.object if w.ref else None)
        assert marker.pushed_at.tzinfo is not None and marker.lease_until is None
    assert store.get("v7", "person").record_id == "p3"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="own markers go in `done`"):
        store.claim("v5", "note", payload="k", owner="a", also=[MarkerWrite("v5", "person", "h")])
    assert store.for_visitor("v5") == {}


def test_record_many_writes_the_last_of_each_part(db_url: str) -> None:
    store = MarkerStore("attio", "ws", db_url)
    store.record_many([])  # nothing to write, no statement
    person = RecordRef(object="people", record_id="p1")
    store.record_many(
        [
            MarkerWrite("v1", "person", "old", person),
            MarkerWrite("v2", "note", "k", record_id="n1"),
            MarkerWrite("v1", "person", "new", person),
        ]
    )
    assert store.get("v1", "person").payload_hash == "new"  # type: ignore[union-attr]
    assert store.get("v2", "note").record_id == "n1"  # type: ignore[union-attr]


def test_a_connection_the_server_dropped_fails_one_statement_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connections")
    store = MarkerStore("attio", "ws", db_url)
    store.record("v1", "person", payload="h", record_id="p1")
    single = database.single_statements(store.engine)
    # Three kept open, as a push's threads leave them.
    with (
        database.driver_cursor(single),
        database.driver_cursor(single),
        database.driver_cursor(single),
    ):
        pass
    admin = sa.create_engine(SERVER_URL or "", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # as a server restart or an idle timeout does
        name = sa.make_url(db_url).database
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    admin.dispose()
    with pytest.raises(sa.exc.DBAPIError):
        store.for_visitor("v1")  # the dropped connection: closed, never handed out again
    # The other kept connections were dropped too: they are closed with it, not tried in turn.
    for _ in range(3):
        assert store.for_visitor("v1")["person"].record_id == "p1"
