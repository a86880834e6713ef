"""Claims: a write that is not idempotent is claimed before it is made, and only one process
wins; the others wait for its outcome or defer the visitor, and a dead owner's claim is taken
over with "look before writing"."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from crm_push import Connection, Destination, MarkerStore, Pusher, parse_visitor
from crm_push.cli import cli
from crm_push.state import markers as markers_module
from crm_push.state.markers import ClaimLeases, new_owner, owner_alive

from support.filecrm import FileCRM

OTHER_MACHINE = "elsewhere:4242:0123456789ab"  # a live owner this machine cannot check


def visitor(vid: str, **blocks: Any):  # type: ignore[no-untyped-def]
    return parse_visitor({"id": vid, **blocks})


NOTED = {
    "person": {"email": "jane@acme.com"},
    "visit": {"visited_at": "2026-11-20T10:00:00Z"},
}


def make_pusher(crm: FileCRM, db_url: str, *, claim_wait: float = 0.3) -> Pusher:
    dest = Destination("filecrm", crm)
    connection = Connection(
        destination="filecrm", workspace_id="ws1", capabilities=frozenset({"notes", "inline_link"})
    )
    pusher = Pusher(dest, connection, MarkerStore("filecrm", "ws1", db_url))
    pusher.claim_wait = claim_wait
    return pusher


@pytest.fixture
def crm(tmp_path: Path) -> FileCRM:
    return FileCRM(tmp_path / "crm.json")


@pytest.fixture
def store(db_url: str) -> MarkerStore:
    return MarkerStore("filecrm", "ws1", db_url)


# -- the protocol -------------------------------------------------------------------------------


def test_only_one_owner_wins_a_claim(store: MarkerStore) -> None:
    a, b = new_owner(), new_owner()
    assert a != b
    assert store.claim("v1", "note", payload="k", owner=a).won
    lost = store.claim("v1", "note", payload="k", owner=b)
    assert not lost.won and lost.previous is not None and lost.previous.owner == a
    marker = store.get("v1", "note")
    assert marker is not None and marker.state == "pending" and marker.held()
    assert marker.lease_until is not None
    lease = (marker.lease_until - marker.pushed_at).total_seconds()
    assert lease == pytest.approx(markers_module.LEASE_SECONDS, abs=1)


def test_threads_racing_for_one_claim_have_one_winner(store: MarkerStore) -> None:
    owners = [new_owner() for _ in range(8)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(owners))

    def race(owner: str) -> None:
        barrier.wait()
        wins.append(store.claim("v1", "person", payload="", owner=owner).won)

    threads = [threading.Thread(target=race, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_an_expired_lease_is_taken_over_keeping_when_the_write_began(store: MarkerStore) -> None:
    a, b = OTHER_MACHINE, new_owner()
    assert store.claim("v1", "note", payload="k", owner=a, lease=0.05).won
    first = store.get("v1", "note")
    assert not store.claim("v1", "note", payload="k", owner=b).won  # still held
    time.sleep(0.1)
    taken = store.claim("v1", "note", payload="k", owner=b)
    assert taken.won and taken.previous is not None and taken.previous.owner == a
    now = store.get("v1", "note")
    assert first is not None and now is not None
    assert now.owner == b and now.pushed_at == first.pushed_at  # "since" stays the first try


def test_a_dead_process_of_this_machine_loses_its_claim_at_once(store: MarkerStore) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    dead = new_owner().rsplit(":", 2)[0] + f":{proc.stdout.strip()}:deadbeef0000"
    assert not owner_alive(dead)
    assert owner_alive(new_owner()) and owner_alive(OTHER_MACHINE)
    assert store.claim("v1", "note", payload="k", owner=dead).won
    taken = store.claim("v1", "note", payload="k", owner=new_owner())
    assert taken.won and taken.previous is not None and taken.previous.owner == dead


def test_a_done_marker_is_lost_unless_it_is_another_payload_and_may_be_replaced(
    store: MarkerStore,
) -> None:
    store.record("v1", "note", payload="k1")
    owner = new_owner()
    assert not store.claim("v1", "note", payload="k1", owner=owner, replace_done=True).won
    assert not store.claim("v1", "note", payload="k2", owner=owner).won
    fresh = store.claim("v1", "note", payload="k2", owner=owner, replace_done=True)
    assert fresh.won and fresh.previous is None  # a new visit: nothing to look for


def test_release_ends_the_lease_and_renew_extends_only_ones_own(store: MarkerStore) -> None:
    a, b = OTHER_MACHINE, new_owner()
    store.claim("v1", "note", payload="k", owner=a)
    before = store.get("v1", "note")
    assert store.renew([("v1", "note")], owner=b) == [("v1", "note")]  # not b's
    assert store.renew([("v1", "note")], owner=a) == []
    after = store.get("v1", "note")
    assert before and after and before.lease_until and after.lease_until
    assert after.lease_until > before.lease_until
    store.release("v1", "note", owner=a)
    taken = store.claim("v1", "note", payload="k", owner=b)
    assert taken.won and taken.previous is not None  # still pending: look before writing


def test_a_done_marker_clears_the_claim(store: MarkerStore) -> None:
    store.claim("v1", "note", payload="k", owner=new_owner())
    store.record("v1", "note", payload="k", record_id="n1")
    marker = store.get("v1", "note")
    assert marker is not None and (marker.state, marker.owner, marker.lease_until) == (
        "done",
        None,
        None,
    )


def test_leases_of_a_slow_write_are_renewed(
    store: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(markers_module, "RENEW_AFTER_SECONDS", 0.2)
    owner = new_owner()
    store.claim("v1", "note", payload="k", owner=owner, lease=0.5)
    leases = ClaimLeases(store, owner)
    leases.hold("v1", "note")
    time.sleep(0.8)  # longer than the lease: renewed meanwhile, so still held
    marker = store.get("v1", "note")
    assert marker is not None and marker.held()
    leases.drop("v1", "note")


# -- the pusher ---------------------------------------------------------------------------------


def test_a_note_claimed_by_a_live_push_elsewhere_defers_the_visitor(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    from crm_push.push.notes import visit_note

    pusher = make_pusher(crm, db_url)
    key = visit_note(visitor("v1", **NOTED)).key
    store.claim("v1", "note", payload=key, owner=OTHER_MACHINE)
    started = time.monotonic()
    result = pusher.push(visitor("v1", **NOTED))
    assert time.monotonic() - started < 2
    assert result.status == "deferred"
    assert result.reason and "another push is writing this visitor's note" in result.reason
    assert "add_note" not in crm.calls and crm.snapshot()["notes"] == {}
    summary = pusher.summary_type()
    summary.add(result)
    assert (summary.deferred, summary.failed) == (1, 0)


def test_a_loser_waits_for_the_winners_note_and_writes_nothing(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    from crm_push.push.notes import visit_note

    key = visit_note(visitor("v1", **NOTED)).key
    store.claim("v1", "note", payload=key, owner=OTHER_MACHINE)
    timer = threading.Timer(0.3, lambda: store.record("v1", "note", payload=key, record_id="n9"))
    timer.start()
    result = make_pusher(crm, db_url, claim_wait=5).push(visitor("v1", **NOTED))
    timer.join()
    assert result.status == "created"  # its person; the note was the other push's
    assert result.note == "unchanged" and "add_note" not in crm.calls


def test_a_keyless_person_claimed_elsewhere_is_waited_for_then_reused(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    v = visitor("v1", person={"name": "No Mail"})
    first = make_pusher(crm, db_url).push(v)
    assert first.status == "created"
    rid = first.records["person"]
    marker = store.get("v1", "person")
    assert marker is not None
    # Another push claims the same person anew (its markers were read before ours landed).
    store.remove(["v1"], part="person")
    store.claim("v1", "person", payload="", owner=OTHER_MACHINE)
    done = lambda: store.record("v1", "person", payload=marker.payload_hash, ref=marker.ref())  # noqa: E731
    threading.Timer(0.2, done).start()
    crm.calls.clear()
    again = make_pusher(crm, db_url, claim_wait=5).push(v)
    assert again.status == "unchanged" and again.records["person"] == rid
    assert crm.calls == [] and len(crm.snapshot()["people"]) == 1


def test_a_claim_left_by_a_crash_is_taken_over_looking_first(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    from crm_push.push.notes import visit_note

    pusher = make_pusher(crm, db_url)
    v = visitor("v1", **NOTED)
    assert pusher.push(v).note == "created"
    store.remove(["v1"], part="note")  # as if it died after the CRM stored the note
    key = visit_note(v).key
    store.claim("v1", "note", payload=key, owner=OTHER_MACHINE, lease=0)  # expired at once
    again = make_pusher(crm, db_url).push(v)
    assert again.note == "existing" and len(crm.snapshot()["notes"]) == 1


def test_a_failed_write_releases_its_claim(crm: FileCRM, db_url: str, store: MarkerStore) -> None:
    v = visitor("v1", person={"name": "REJECT ME"})
    assert make_pusher(crm, db_url).push(v).status == "failed"
    marker = store.get("v1", "person")
    assert marker is not None and marker.state == "pending" and not marker.held()
    assert marker.lease_until is not None
    assert marker.lease_until <= dt.datetime.now(dt.UTC)


def test_the_cli_counts_deferred_visitors_and_exits_75(
    crm_file: Path,
    tmp_path: Path,
    db_url: str,
    with_test_plugins: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crm_push.push.notes import visit_note

    visitors = tmp_path / "v.jsonl"
    lines = [{"id": "v1", **NOTED}, {"id": "v2", **NOTED, "person": {"email": "b@acme.com"}}]
    visitors.write_text("".join(json.dumps(v) + "\n" for v in lines))
    key = visit_note(visitor("v1", **NOTED)).key
    workspace = f"file:{crm_file.name}"
    MarkerStore("filecrm", workspace, db_url).claim("v1", "note", payload=key, owner=OTHER_MACHINE)
    monkeypatch.setattr(Pusher, "claim_wait", 0.2)
    base = ["--dest", "filecrm", "--db", db_url, "push", str(visitors)]
    text = CliRunner().invoke(cli, base)
    out = CliRunner().invoke(cli, [*base, "--json"])  # v2 is now unchanged, v1 still deferred
    assert text.exit_code == 75, text.output
    assert "0 failed, 1 deferred (another push was writing them)" in text.stdout
    assert out.exit_code == 75
    summary = json.loads(out.stdout)
    assert (summary["deferred"], summary["failed"], summary["unchanged"]) == (1, 0, 1)


# -- a run's notes: their done markers go with the next statement ------------------------------


def _lines(visitors: list[Any]) -> list[Any]:
    from crm_push.inputs.lines import Line

    return [Line(line=i, raw="", item=v) for i, v in enumerate(visitors, 1)]


def _noted(i: int) -> Any:
    return visitor(
        f"v{i}",
        person={"email": f"p{i}@acme.com"},
        visit={"visited_at": "2026-11-20T10:00:00Z"},
    )


class CountingMarkers(MarkerStore):
    """A MarkerStore counting the calls that write (a claim with what goes with it is one: one
    statement on PostgreSQL)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.statements = 0
        self._in_claim = False

    def _one(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """A claim and the markers it carries: one statement."""
        self.statements += 1
        self._in_claim = True
        try:
            return call(*args, **kwargs)
        finally:
            self._in_claim = False

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        return self._one(super().claim, *args, **kwargs)

    def claim_new(self, *args: Any, **kwargs: Any) -> Any:
        return self._one(super().claim_new, *args, **kwargs)

    def record_parts(self, *args: Any, **kwargs: Any) -> None:
        self.statements += not self._in_claim
        super().record_parts(*args, **kwargs)

    def record_many(self, *args: Any, **kwargs: Any) -> None:
        self.statements += not self._in_claim
        super().record_many(*args, **kwargs)


def test_a_runs_notes_are_done_when_it_ends_with_a_statement_for_many_visitors(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    pusher = make_pusher(crm, db_url)
    pusher.markers = counting = CountingMarkers("filecrm", "ws1", db_url)
    summary = pusher.run(_lines([_noted(i) for i in range(12)]))
    assert (summary.created, summary.failed) == (12, 0)
    # The first visitor's claim claims the other 11 notes too; the people's and the notes' done
    # markers wait for the run's end: two statements for the run.
    assert counting.statements == 2
    for i in range(12):
        marker = store.get(f"v{i}", "note")
        assert marker is not None and marker.state == "done" and marker.owner is None
    assert len(crm.snapshot()["notes"]) == 12


def test_a_visitor_twice_in_a_stream_sees_its_first_note_done(crm: FileCRM, db_url: str) -> None:
    v = visitor("v1", **NOTED)
    again = visitor("v1", **{**NOTED, "person": {"email": "jane@acme.com", "name": "Jane"}})
    # A stream (not a list): markers are read per line, after the first line's note.
    results = []
    pusher = make_pusher(crm, db_url)
    pusher.run(iter(_lines([v, again])), on_result=lambda _, r: results.append(r))
    assert [r.note for r in results] == ["created", "unchanged"]
    assert crm.calls.count("add_note") == 1


def test_notes_done_that_could_not_be_recorded_are_looked_for_next_time(
    crm: FileCRM, db_url: str, store: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pusher = make_pusher(crm, db_url)
    real = pusher.markers.record_many

    def away(writes: Any) -> None:
        # The database goes away once the note is written: for the held notes' markers.
        if all(w.part == "note" for w in writes):
            raise RuntimeError("the state database went away")
        real(writes)

    monkeypatch.setattr(pusher.markers, "record_many", away)
    summary = pusher.run(_lines([_noted(1)]))  # the run still ends, and says so in the log
    assert summary.created == 1
    marker = store.get("v1", "note")
    assert marker is not None and marker.state == "pending"  # the claim, not a done marker
    # When its lease is over (here: made so), the next push looks before writing.
    store.release("v1", "note", owner=pusher.owner)
    again = make_pusher(crm, db_url).push(_noted(1))
    assert again.note == "existing" and len(crm.snapshot()["notes"]) == 1


def test_a_single_push_records_its_note_at_once(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    make_pusher(crm, db_url).push(visitor("v1", **NOTED))  # a host app's call, not a run
    marker = store.get("v1", "note")
    assert marker is not None and marker.state == "done"


def test_a_runs_confirmed_markers_wait_for_its_next_statement(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    from crm_push.push.pusher import HELD_DONE

    pusher = make_pusher(crm, db_url)
    pusher.markers = counting = CountingMarkers("filecrm", "ws1", db_url)
    people = [visitor(f"v{i}", person={"email": f"p{i}@acme.com"}) for i in range(20)]
    assert pusher.run(_lines(people)).created == 20
    # No claim among them: their person markers go HELD_DONE at a time, the rest at the end.
    assert counting.statements == 20 // HELD_DONE + 1
    for i in range(20):
        marker = store.get(f"v{i}", "person")
        assert marker is not None and marker.state == "done"


def test_a_marker_too_long_for_its_column_fails_its_visitor_alone(crm: FileCRM) -> None:
    from support.databases import fresh_postgres

    with fresh_postgres("crm_push_held") as pg:
        pusher = make_pusher(crm, pg)
        long_id = "x" * 300  # over the 256 of push_markers.visitor_id
        people = [visitor(long_id, person={"email": "long@acme.com"})]
        people += [_noted(i) for i in range(6)]
        results: dict[str, Any] = {}
        pusher.run(_lines(people), on_result=lambda _, r: results.__setitem__(r.visitor_id, r))
        store = MarkerStore("filecrm", "ws1", pg)
        # Its marker was not held for the next visitor's claim: that visitor would have failed
        # on it, and so on down the run.
        assert results[long_id].status == "failed"
        for i in range(6):
            assert results[f"v{i}"].status == "created" and results[f"v{i}"].note == "created"
            marker = store.get(f"v{i}", "note")
            assert marker is not None and marker.state == "done"
        assert len(crm.snapshot()["notes"]) == 6


def test_a_held_notes_claim_keeps_its_lease_renewed_until_written(
    crm: FileCRM, db_url: str
) -> None:
    pusher = make_pusher(crm, db_url)
    seen: list[bool] = []
    real = pusher._take_held

    def take(visitor_id: str | None) -> Any:
        # When v1's note marker leaves the hold, its claim is still among the renewed ones.
        if any(vid == "v0" for vid, _ in pusher._held):
            seen.append(("v0", "note") in pusher._leases._held)
        return real(visitor_id)

    pusher._take_held = take  # type: ignore[method-assign]
    pusher.run(_lines([_noted(0), _noted(1)]))
    assert seen and all(seen)
    assert not pusher._leases._held  # and dropped once written


def test_a_held_write_that_fails_fails_no_visitor(
    crm: FileCRM, db_url: str, store: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_push.push import pusher as pusher_module

    monkeypatch.setattr(pusher_module, "HELD_DONE", 1)  # each held marker is written at once
    pusher = make_pusher(crm, db_url)
    real = pusher.markers.record_many
    failures = [RuntimeError("the state database is away for a moment")]

    def flaky(writes: Any) -> None:
        if failures and all(w.part == "note" for w in writes):  # the held notes' own write
            raise failures.pop()
        real(writes)

    monkeypatch.setattr(pusher.markers, "record_many", flaky)
    results: list[Any] = []
    pusher.run(_lines([_noted(0), _noted(1)]), on_result=lambda _, r: results.append(r))
    # The first write of what v0 confirmed failed; its note was written, so v0 is not failed,
    # and the marker went with a later statement.
    assert [(r.status, r.note) for r in results] == [("created", "created")] * 2
    for i in range(2):
        marker = store.get(f"v{i}", "note")
        assert marker is not None and marker.state == "done"
    assert not pusher._leases._held


# -- claims made ahead, in a run over a list ----------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, db_url: str) -> Iterator[str]:
    if request.param == "sqlite":
        yield db_url
        return
    from support.databases import fresh_postgres

    with fresh_postgres("crm_push_ahead") as pg:
        yield pg


def test_claim_new_wins_only_parts_without_a_marker(any_url: str) -> None:
    from crm_push.state.markers import MarkerWrite

    store = MarkerStore("filecrm", "ws1", any_url)
    owner = new_owner()
    store.record("v1", "note", payload="an earlier visit", record_id="n1")
    store.claim("v2", "note", payload="k2", owner=OTHER_MACHINE)
    wanted = [
        ("v3", "note", "k3"),
        ("v1", "note", "k1"),
        ("v3", "person", ""),
        ("v2", "note", "k2"),
    ]
    also = [MarkerWrite("v9", "person", "h9")]
    assert store.claim_new(wanted, owner=owner, also=also) == {("v3", "note"), ("v3", "person")}
    # Parts with a marker are left as they were, for `claim` to decide.
    v1 = store.get("v1", "note")
    assert v1 is not None and (v1.state, v1.payload_hash) == ("done", "an earlier visit")
    v2 = store.get("v2", "note")
    assert v2 is not None and v2.owner == OTHER_MACHINE
    v3 = store.get("v3", "note")
    assert v3 is not None and v3.state == "pending" and v3.owner == owner and v3.held()
    assert v3.payload_hash == "k3"
    v9 = store.get("v9", "person")
    assert v9 is not None and v9.state == "done"
    # A second claimant wins none of them.
    assert store.claim_new(wanted, owner=new_owner()) == set()
    with pytest.raises(ValueError, match="cannot also be recorded done"):
        store.claim_new([("v4", "note", "k")], owner=owner, also=[MarkerWrite("v4", "note", "k")])


def test_a_run_claims_the_next_visitors_notes_with_its_first_claim(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    from crm_push.push import pusher as pusher_module

    pusher = make_pusher(crm, db_url)
    pusher.markers = counting = CountingMarkers("filecrm", "ws1", db_url)
    n = 2 * pusher_module.AHEAD_CLAIMS + 5
    summary = pusher.run(_lines([_noted(i) for i in range(n)]))
    assert (summary.created, summary.failed) == (n, 0)
    assert len(crm.snapshot()["notes"]) == n
    # A claim statement for each visitor and the 16 after it; done markers at the run's end.
    assert counting.statements <= -(-n // (pusher_module.AHEAD_CLAIMS + 1)) + 1
    for i in range(n):
        marker = store.get(f"v{i}", "note")
        assert marker is not None and marker.state == "done" and marker.owner is None
    assert not pusher._leases._held and not pusher._ahead_claims


def test_claims_made_ahead_for_a_visitor_that_fails_first_are_undone(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    # v1's company fails (FileCRM rejects it), so its note, claimed ahead, is never written.
    people = [
        _noted(0),
        visitor("v1", company={"name": "REJECT ME"}, **NOTED),
        _noted(2),
    ]
    results: dict[str, Any] = {}
    pusher = make_pusher(crm, db_url)
    pusher.run(_lines(people), on_result=lambda _, r: results.__setitem__(r.visitor_id, r))
    assert results["v1"].status == "failed"
    assert results["v0"].note == results["v2"].note == "created"
    # Undone: nothing was written under it, so the next push has no write to look for.
    assert store.get("v1", "note") is None
    assert not pusher._leases._held and not pusher._ahead_claims
    crm.calls.clear()
    again = make_pusher(crm, db_url).push(visitor("v1", **NOTED))
    assert again.note == "created" and len(crm.snapshot()["notes"]) == 3


def test_a_later_visitors_note_held_elsewhere_is_not_claimed_ahead_and_defers_alone(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    from crm_push.push.notes import visit_note

    store.claim("v3", "note", payload=visit_note(_noted(3)).key, owner=OTHER_MACHINE)
    results: dict[str, Any] = {}
    pusher = make_pusher(crm, db_url)
    pusher.run(
        _lines([_noted(i) for i in range(6)]),
        on_result=lambda _, r: results.__setitem__(r.visitor_id, r),
    )
    assert results["v3"].status == "deferred"
    assert [results[f"v{i}"].note for i in (0, 1, 2, 4, 5)] == ["created"] * 5
    marker = store.get("v3", "note")
    assert marker is not None and marker.owner == OTHER_MACHINE


def test_a_run_stopped_early_releases_the_claims_made_for_lines_never_started(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    from crm_push.errors import ReconnectRequired

    pusher = make_pusher(crm, db_url)
    real = pusher.destination.add_note
    calls = []

    def dies(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 2:
            raise ReconnectRequired("the token was revoked")
        return real(*args, **kwargs)

    pusher.destination.add_note = dies  # type: ignore[method-assign]
    summary = pusher.run(_lines([_noted(i) for i in range(10)]))
    assert summary.stopped and "revoked" in summary.stopped
    assert not pusher._leases._held and not pusher._ahead_claims
    for i in range(10):
        marker = store.get(f"v{i}", "note")
        assert marker is None or marker.state == "done" or not marker.held(), i


def test_an_interrupted_claim_made_ahead_leaves_the_pusher_whole(
    crm: FileCRM, db_url: str, store: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pusher = make_pusher(crm, db_url)
    real = pusher.markers.claim_new
    interrupts = [KeyboardInterrupt()]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        if interrupts:
            raise interrupts.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(pusher.markers, "claim_new", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pusher.run(_lines([_noted(i) for i in range(5)]))
    assert not pusher._ahead_claims and not pusher._listed and not pusher._held
    # The same pusher runs again (a host app's), and each note is written once.
    summary = pusher.run(_lines([_noted(i) for i in range(5)]))
    assert summary.failed == 0 and len(crm.snapshot()["notes"]) == 5
    for i in range(5):
        marker = store.get(f"v{i}", "note")
        assert marker is not None and marker.state == "done"


def test_a_claim_made_ahead_that_outlived_its_renewal_is_checked_before_the_write(
    crm: FileCRM, db_url: str, store: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_push.push import pusher as pusher_module
    from crm_push.push.notes import visit_note

    # As if each claim made ahead had waited past a renewal that failed (the database away)
    # while another push took v1's over and wrote its note.
    monkeypatch.setattr(pusher_module, "RENEW_AFTER_SECONDS", 0.0)
    pusher = make_pusher(crm, db_url)
    real = pusher.destination.add_note

    def add_note(connection: Any, person: Any, note: Any) -> Any:
        if note.key == visit_note(_noted(0)).key:
            store.record("v1", "note", payload=visit_note(_noted(1)).key, record_id="theirs")
        return real(connection, person, note)

    monkeypatch.setattr(pusher.destination, "add_note", add_note)
    results: dict[str, Any] = {}
    keep = lambda _, r: results.__setitem__(r.visitor_id, r)  # noqa: E731
    pusher.run(_lines([_noted(0), _noted(1)]), on_result=keep)
    assert results["v0"].note == "created"
    assert results["v1"].note == "unchanged"  # the other push's note: not written again
    assert len(crm.snapshot()["notes"]) == 1


def test_claims_are_made_ahead_within_a_bounded_number_of_lines(crm: FileCRM, db_url: str) -> None:
    from crm_push.push import pusher as pusher_module

    far = pusher_module.AHEAD_LINES + 5
    people = [_noted(0), _noted(2)]
    people += [visitor(f"q{i}", person={"email": f"q{i}@acme.com"}) for i in range(far)]
    people.append(_noted(1))
    pusher = make_pusher(crm, db_url)
    asked: list[set[str]] = []
    real = pusher.markers.claim_new

    def spy(wanted: Any, **kwargs: Any) -> Any:
        asked.append({vid for vid, _part, _payload in wanted})
        return real(wanted, **kwargs)

    pusher.markers.claim_new = spy  # type: ignore[method-assign]
    summary = pusher.run(_lines(people))
    assert summary.failed == 0 and len(crm.snapshot()["notes"]) == 3
    # v2, the next line, was claimed with v0; v1, further than AHEAD_LINES lines on, was not
    # (it would have been held all that while).
    assert asked == [{"v0", "v2"}]


def test_the_look_ahead_stays_near_the_visitor_that_claims(
    crm: FileCRM, db_url: str, store: MarkerStore
) -> None:
    from crm_push.push import pusher as pusher_module

    # Every other visitor has an earlier visit's note: its claim (replacing it) is made at its
    # turn, and each such claim looks ahead again.
    n = 6 * pusher_module.AHEAD_LINES
    for i in range(0, n, 2):
        store.record(f"v{i}", "note", payload="an earlier visit", record_id=f"old{i}")
    pusher = make_pusher(crm, db_url)
    pusher.workers = 4
    real = pusher.markers.claim_new
    reach: list[int] = []
    waiting: list[int] = []

    def spy(wanted: Any, **kwargs: Any) -> Any:
        first = int(wanted[0][0][1:])
        reach.append(max(int(vid[1:]) for vid, _part, _payload in wanted) - first)
        waiting.append(len(pusher._ahead_claims))
        return real(wanted, **kwargs)

    pusher.markers.claim_new = spy  # type: ignore[method-assign]
    summary = pusher.run(_lines([_noted(i) for i in range(n)]))
    assert summary.failed == summary.deferred == 0
    assert len(crm.snapshot()["notes"]) == n
    assert reach and max(reach) <= pusher_module.AHEAD_LINES
    # The claims made ahead and not yet used stay few (one batch's worth at most).
    assert max(waiting) <= 2 * pusher_module.AHEAD_CLAIMS


def test_unclaim_undoes_only_the_claim_exactly_as_it_was_made(any_url: str) -> None:
    store = MarkerStore("filecrm", "ws1", any_url)
    owner = new_owner()
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(seconds=markers_module.LEASE_SECONDS)
    wanted = [("v1", "note", "k1"), ("v2", "note", "k2")]
    assert store.claim_new(wanted, owner=owner, now=now) == {("v1", "note"), ("v2", "note")}
    # v2's own push took its claim back meanwhile (a new lease): its write may be in flight.
    taken = store.claim("v2", "note", payload="k2", owner=owner)
    assert taken.won
    for vid in ("v1", "v2"):
        store.unclaim(vid, "note", owner=owner, lease_until=until)
    assert store.get("v1", "note") is None
    v2 = store.get("v2", "note")
    assert v2 is not None and v2.state == "pending" and v2.owner == owner
    # Nor another owner's.
    store.claim_new([("v3", "note", "k3")], owner=OTHER_MACHINE, now=now)
    store.unclaim("v3", "note", owner=owner, lease_until=until)
    assert store.get("v3", "note") is not None


@pytest.mark.parametrize("listed", [True, False])
def test_two_runs_of_one_pusher_at_once_write_each_note_once(
    crm: FileCRM, db_url: str, listed: bool
) -> None:
    # A host app sharing one Pusher between two requests pushing the same visitors: both runs
    # are this pusher's (one owner), so a claim one has in flight must stop the other.
    pusher = make_pusher(crm, db_url, claim_wait=5)
    real = pusher.destination.add_note

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.15)  # both runs reach the same notes while one is writing
        return real(*args, **kwargs)

    pusher.destination.add_note = slow  # type: ignore[method-assign]
    visitors = [_noted(i) for i in range(4)]
    results: list[Any] = []

    def run() -> None:
        lines = _lines(visitors)
        results.append(pusher.run(lines if listed else iter(lines)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s.failed for s in results] == [0, 0]
    assert len(crm.snapshot()["notes"]) == 4
    assert sum(s.notes_created for s in results) == 4


def test_two_threads_pushing_one_visitor_through_one_pusher_write_its_note_once(
    crm: FileCRM, db_url: str
) -> None:
    pusher = make_pusher(crm, db_url, claim_wait=5)
    real = pusher.destination.add_note

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return real(*args, **kwargs)

    pusher.destination.add_note = slow  # type: ignore[method-assign]
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(pusher.push(_noted(0)))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The second found the first's claim in flight (its own owner's): it waited, not wrote.
    assert sorted(r.note for r in results) == ["created", "unchanged"]
    assert len(crm.snapshot()["notes"]) == 1


def test_a_run_whose_on_result_raised_leaves_the_pusher_free(crm: FileCRM, db_url: str) -> None:
    pusher = make_pusher(crm, db_url)

    def boom(*_: Any) -> None:
        raise ValueError("the caller's own bug")

    with pytest.raises(ValueError) as caught:
        pusher.run(_lines([_noted(0), _noted(1)]), on_result=boom)
    done: list[Any] = []
    again = threading.Thread(target=lambda: done.append(pusher.run(_lines([_noted(1)]))))
    again.start()
    again.join(timeout=20)  # the traceback is still alive here (`caught`)
    assert done and done[0].failed == 0, "the next run waited for the one that raised"
    assert caught.value is not None


def test_a_run_started_from_within_a_run_of_the_same_pusher_is_an_error(
    crm: FileCRM, db_url: str
) -> None:
    pusher = make_pusher(crm, db_url)

    def nested(*_: Any) -> None:
        pusher.run(_lines([_noted(5)]))

    with pytest.raises(RuntimeError, match="running in this thread already"):
        pusher.run(_lines([_noted(0)]), on_result=nested)


def test_claims_made_ahead_whose_answer_was_lost_are_undone_and_pushed_once(
    crm: FileCRM, db_url: str, store: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pusher = make_pusher(crm, db_url)
    real = pusher.markers.claim_new
    lost = [ConnectionError("the answer was lost after the commit")]

    def committed_then_lost(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # the claims are in the database...
        if lost:
            raise lost.pop()  # ...but nobody heard so
        return real(*args, **kwargs)

    monkeypatch.setattr(pusher.markers, "claim_new", committed_then_lost)
    looked: list[bool] = []
    add_note = pusher.destination.add_note

    def spy(connection: Any, person: Any, note: Any) -> Any:
        looked.append(note.may_exist)
        return add_note(connection, person, note)

    monkeypatch.setattr(pusher.destination, "add_note", spy)
    results: dict[str, Any] = {}
    keep = lambda _, r: results.__setitem__(r.visitor_id, r)  # noqa: E731
    pusher.run(_lines([_noted(i) for i in range(4)]), on_result=keep)
    # v0's own claim failed with the statement; v1..v3, claimed unknowingly, were undone and
    # claimed again at their turn, not deferred nor looked for.
    assert results["v0"].status == "failed"
    assert [results[f"v{i}"].note for i in (1, 2, 3)] == ["created"] * 3
    assert len(crm.snapshot()["notes"]) == 3 and looked == [False] * 3
    assert not pusher._leases._held and not pusher._ahead_claims
