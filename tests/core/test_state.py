"""The state database: markers and connections; secrets stay secret."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from crm_push import (
    AmbiguousConnection,
    Connection,
    ConnectionStore,
    Credentials,
    MarkerStore,
    ReadOnlyMarkers,
    RecordRef,
)


def test_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.db"
    ConnectionStore(f"sqlite:///{path}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_connection_round_trip_keeps_secret_out_of_repr(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = ConnectionStore(db_url)
    conn = Connection(
        destination="attio",
        workspace_id="ws-1",
        workspace_name="Acme",
        scopes=("a", "b"),
        credentials=Credentials(access_token="sk-very-secret", client_secret="cs-secret"),
    )
    store.save(conn)
    loaded = store.load("attio")
    assert loaded is not None
    assert loaded.credentials.access_token is not None
    assert loaded.credentials.access_token.get_secret_value() == "sk-very-secret"
    for text in (repr(loaded), str(loaded), loaded.model_dump_json(), caplog.text):
        assert "sk-very-secret" not in text and "cs-secret" not in text
    assert loaded.scopes == ("a", "b")
    assert store.forget("attio") == 1
    assert store.load("attio") is None


def test_several_connections_are_never_guessed_between(db_url: str) -> None:
    store = ConnectionStore(db_url)
    store.save(Connection(destination="attio", workspace_id="one", workspace_name="Acme"))
    assert store.load("attio").workspace_id == "one"  # type: ignore[union-attr]  # the only one
    store.save(Connection(destination="attio", workspace_id="two"))
    with pytest.raises(AmbiguousConnection, match=r"one \(Acme\), two") as info:
        store.load("attio")  # never "the most recent": that could be another customer's
    assert info.value.workspaces == ("one", "two") and "--workspace" in str(info.value)
    assert store.load("attio", "one").workspace_id == "one"  # type: ignore[union-attr]
    assert [c.workspace_id for c in store.list("attio")] == ["one", "two"]
    assert store.list("hubspot") == []


def test_markers_are_per_destination_and_workspace(db_url: str) -> None:
    a = MarkerStore("attio", "ws1", db_url)
    b = MarkerStore("attio", "ws2", db_url)
    a.record("v1", "person", payload="h1", ref=RecordRef(object="people", record_id="r1"))
    assert set(a.for_visitor("v1")) == {"person"}
    assert b.for_visitor("v1") == {}
    a.record("v1", "person", payload="h2", ref=RecordRef(object="people", record_id="r1"))
    marker = a.for_visitor("v1")["person"]
    assert (marker.payload_hash, marker.record_id, marker.state) == ("h2", "r1", "done")
    assert a.remove(["v1"]) == 1 and a.for_visitor("v1") == {}


def test_company_markers_are_kept_apart_from_visitors(db_url: str) -> None:
    a = MarkerStore("attio", "ws1", db_url)
    b = MarkerStore("attio", "ws2", db_url)
    ref = RecordRef(object="companies", record_id="c1")
    a.record_company("acme.com", payload="h1", ref=ref)
    a.record_company("acme.com", payload="h2", ref=ref)  # an upsert, not a second row
    marker = a.company("acme.com")
    assert marker is not None and (marker.payload_hash, marker.record_id) == ("h2", "c1")
    assert marker.pushed_at.tzinfo is not None and marker.ref() is not None
    assert b.company("acme.com") is None
    assert [m.domain for m in a.companies()] == ["acme.com"]
    # A visitor may be called anything: company markers are in neither its markers nor the list.
    assert a.for_visitor("@companies") == {} and a.list() == []
    assert MarkerStore("attio", "", db_url).companies()[0].workspace == "ws1"  # every workspace
    assert b.remove_companies(["acme.com"]) == 0
    assert a.remove_companies(["acme.com", "globex.io"]) == 1 and a.company("acme.com") is None


def test_read_only_markers_read_what_is_stored_and_write_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    missing = ReadOnlyMarkers("attio", "ws-1", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.for_visitor("v1") == {} and missing.get("v1", "person") is None
    missing.record("v1", "person", payload="h")
    assert missing.list() == [] and not (tmp_path / "none.db").exists()

    other = tmp_path / "other.db"  # a database without crm-push's tables gets none
    sqlite3.connect(other).close()
    ReadOnlyMarkers("attio", "ws-1", f"sqlite:///{other}").record("v1", "person", payload="h")
    assert sqlite3.connect(other).execute("select name from sqlite_master").fetchall() == []

    MarkerStore("attio", "ws-1", url).record("v1", "person", payload="h", record_id="r1")
    view = ReadOnlyMarkers("attio", "ws-1", url)
    assert view.for_visitor("v1")["person"].record_id == "r1"
    view.record("v1", "note", payload="n", state="pending")
    assert view.remove(["v1"]) == 0
    assert set(MarkerStore("attio", "ws-1", url).for_visitor("v1")) == {"person"}
