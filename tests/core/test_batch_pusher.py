"""The batch pusher, against FileCRM with the batch hooks: the guarantees of a push one visitor
at a time (markers, claims, skips, per-visitor outcomes, order), with batch calls."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_push import (
    BatchPusher,
    Connection,
    Credentials,
    Destination,
    Line,
    MarkerStore,
    Pusher,
    RunAborted,
    Session,
    hookimpl,
    parse_visitor,
    pusher_for,
    read_jsonl,
)
from crm_push.push.notes import visit_note
from crm_push.state.markers import new_owner

from support import batch_plugins as batch_distribution
from support.filecrm import (
    BREAKS_BATCH,
    NO_ANSWER,
    THROTTLED,
    THROTTLES_BATCH,
    BatchFileCRM,
    FileCRM,
)

OTHER_MACHINE = "elsewhere:4242:0123456789ab"  # a live owner this machine cannot check
VISIT = {"visited_at": "2026-11-20T10:00:00Z", "pages": ["/pricing"]}


def line(n: int, data: dict[str, Any]) -> Line[Any]:
    return Line(line=n, raw="", item=parse_visitor(data, line=n))


def full(i: int, **over: Any) -> dict[str, Any]:
    """A visitor with everything: company by domain, person by email, a visit, a key contact."""
    return {
        "id": f"v{i}",
        "person": {"email": f"p{i}@c{i % 3}.example", "name": f"Pat {i}"},
        "company": {"name": f"Company {i % 3}", "domain": f"c{i % 3}.example"},
        "visit": VISIT,
        "key_contacts": [{"email": f"boss@c{i % 3}.example", "name": "Boss"}],
        **over,
    }


@pytest.fixture
def batch_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`batchfilecrm` installed, here and for subprocesses."""
    tests_dir = Path(__file__).resolve().parents[1]
    env = batch_distribution.install(tmp_path / "site", tests_dir)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    return env


@pytest.fixture
def crm(tmp_path: Path) -> BatchFileCRM:
    return BatchFileCRM(tmp_path / "crm.json", batch_size=4)


def make(crm: FileCRM, db_url: str, *, workers: int = 1, claim_wait: float = 0.3) -> BatchPusher:
    dest = Destination("filecrm", crm)
    connection = dest.connect(Credentials(access_token="good-token"))
    pusher = pusher_for(dest, connection, MarkerStore("filecrm", "ws1", db_url), workers=workers)
    assert isinstance(pusher, BatchPusher)
    pusher.claim_wait = claim_wait
    return pusher


def run(pusher: Pusher, visitors: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    results: list[Any] = []
    summary = pusher.run(
        [line(n, v) for n, v in enumerate(visitors, 1)], lambda _, r: results.append(r)
    )
    return summary, results


def calls(crm: BatchFileCRM, hook: str) -> list[int]:
    return [n for h, n in crm.batches if h == hook]


# -- the choice -------------------------------------------------------------------------------


def test_the_batch_pusher_is_chosen_only_for_a_destination_with_the_batch_hooks(
    crm: BatchFileCRM, tmp_path: Path, db_url: str
) -> None:
    plain = Destination("filecrm", FileCRM(tmp_path / "plain.json"))
    connection = plain.connect(Credentials(access_token="good-token"))
    chosen = pusher_for(plain, connection, MarkerStore("filecrm", "ws1", db_url))
    assert type(chosen) is Pusher  # Attio's path: one visitor at a time, unchanged
    assert isinstance(make(crm, db_url), BatchPusher)


# -- a push in batches ------------------------------------------------------------------------


def test_visitors_go_in_batches_with_the_results_of_a_push_one_at_a_time(
    crm: BatchFileCRM, tmp_path: Path, db_url: str
) -> None:
    visitors = [full(i) for i in range(10)]
    summary, results = run(make(crm, db_url), visitors)
    assert (summary.total, summary.created, summary.failed) == (10, 10, 0)
    assert summary.notes_created == 10
    assert [r.line for r in results] == list(range(1, 11))  # input order
    # 10 visitors, batches of 4: 3 batches; each company written once for the run.
    assert sum(calls(crm, "assert_companies")) == 3
    assert max(n for _, n in crm.batches) <= 4
    db = crm.snapshot()
    assert len(db["companies"]) == 3 and len(db["notes"]) == 10
    assert len(db["people"]) == 13  # 10 visitors and 3 key contacts, each once
    by_email = {p["email"]: p for p in db["people"].values()}
    companies = {c["domain"]: rid for rid, c in db["companies"].items()}
    assert by_email["p4@c1.example"]["company_id"] == companies["c1.example"]
    assert by_email["boss@c2.example"]["company_id"] == companies["c2.example"]
    # The same file pushed one visitor at a time against the same CRM and markers: no writes.
    plain = FileCRM(crm.path)
    dest = Destination("filecrm", plain)
    again = Pusher(dest, dest.connect(Credentials(access_token="good-token")),
                   MarkerStore("filecrm", "ws1", db_url)).run(
        [line(n, v) for n, v in enumerate(visitors, 1)])  # fmt: skip
    assert (again.unchanged, again.writes) == (10, 0)
    assert plain.calls == ["connect"]


def test_a_rerun_skips_unchanged_visitors_without_a_call(crm: BatchFileCRM, db_url: str) -> None:
    visitors = [full(i) for i in range(6)]
    run(make(crm, db_url), visitors)
    crm.batches.clear()
    summary, results = run(make(crm, db_url), visitors)
    assert (summary.unchanged, summary.writes) == (6, 0)
    assert crm.batches == []
    assert all(r.note == "unchanged" for r in results)
    # One visitor changed: only its person is written again.
    visitors[2] = full(2, person={"email": "p2@c2.example", "name": "Pat Two"})
    summary, results = run(make(crm, db_url), visitors)
    assert (summary.updated, summary.unchanged) == (1, 5)
    assert crm.batches == [("assert_people", 1)]


def test_people_without_email_and_companies_without_domain_are_created_once(
    crm: BatchFileCRM, db_url: str
) -> None:
    visitors = [
        {"id": f"k{i}", "person": {"name": f"Anon {i}"}, "company": {"name": f"Nameless {i}"}}
        for i in range(3)
    ]
    assert run(make(crm, db_url), visitors)[0].created == 3
    visitors[1]["person"]["job_title"] = "CTO"
    visitors[1]["company"]["description"] = "now described"
    summary, _ = run(make(crm, db_url), visitors)
    assert (summary.updated, summary.unchanged) == (1, 2)
    db = crm.snapshot()
    assert len(db["people"]) == 3 and len(db["companies"]) == 3
    anon = next(p for p in db["people"].values() if p["name"] == "Anon 1")
    assert anon["job_title"] == "CTO"


# -- one input refused, one call broken ----------------------------------------------------------


def test_a_refused_input_fails_only_its_visitor_naming_the_field(
    crm: BatchFileCRM, db_url: str
) -> None:
    visitors = [full(i) for i in range(4)]
    visitors[1] = full(1, person={"email": "bad@c1.example", "name": "REJECT ME"})
    visitors[2] = full(2, company={"name": "REJECT ME", "domain": "refused.example"})
    _, results = run(make(crm, db_url), visitors)
    assert [r.status for r in results] == ["created", "failed", "failed", "created"]
    assert (results[1].field, results[2].field) == ("person.name", "company.name")
    assert "refuses this name" in (results[1].reason or "")
    assert results[1].records.get("company")  # its company was written before it failed
    assert "person" not in results[2].records  # no person without its company
    assert len(crm.snapshot()["notes"]) == 2
    # The fixed lines are pushed by a re-run; the others are unchanged.
    visitors[1] = full(1)
    visitors[2] = full(2)
    _, results = run(make(crm, db_url), visitors)
    assert [r.status for r in results] == ["unchanged", "created", "created", "unchanged"]


def test_an_unanswered_input_fails_its_visitor(crm: BatchFileCRM, db_url: str) -> None:
    visitors = [full(0), full(1, person={"email": "quiet@c1.example", "name": NO_ANSWER})]
    _, results = run(make(crm, db_url), visitors)
    assert [r.status for r in results] == ["created", "failed"]
    assert "the destination gave no answer for it" in (results[1].reason or "")


def test_a_plugin_bug_fails_the_visitors_of_its_call_not_the_run(
    crm: BatchFileCRM, db_url: str
) -> None:
    visitors = [full(i) for i in range(8)]  # two batches of 4
    visitors[1] = full(1, person={"email": "x@c1.example", "name": BREAKS_BATCH})
    summary, results = run(make(crm, db_url), visitors)
    # The first batch's people call raised: its 4 visitors fail; the second batch is pushed.
    assert [r.status for r in results] == ["failed"] * 4 + ["created"] * 4
    assert all(r.reason == "RuntimeError: the batch endpoint broke" for r in results[:4])
    assert summary.stopped is None
    visitors[1] = full(1)
    summary, results = run(make(crm, db_url), visitors)
    assert [r.status for r in results] == ["created"] * 4 + ["unchanged"] * 4


def test_a_throttled_input_or_call_fails_its_visitors_saying_when_to_retry(
    crm: BatchFileCRM, db_url: str
) -> None:
    # What a job reschedules on (VisitorResult.retry_after): one input refused for now, then a
    # whole call refused for now; the other visitors are pushed.
    visitors = [full(i) for i in range(8)]  # two batches of 4
    visitors[1] = full(1, person={"email": "t@c1.example", "name": THROTTLED})
    visitors[6] = full(6, person={"email": "u@c0.example", "name": THROTTLES_BATCH})
    _, results = run(make(crm, db_url), visitors)
    assert [r.status for r in results] == ["created", "failed", "created", "created"] + [
        "failed"
    ] * 4
    assert [r.retry_after for r in results if r.status == "failed"] == [7.0] + [9.0] * 4
    assert all("the file CRM is busy" in (r.reason or "") for r in results if r.retry_after)
    # Pushed again once the CRM takes them: those visitors go through, the others unchanged.
    visitors[1], visitors[6] = full(1), full(6)
    _, again = run(make(crm, db_url), visitors)
    assert [r.status for r in again] == ["unchanged", "created", "unchanged", "unchanged"] + [
        "created"
    ] * 4


def test_dead_credentials_stop_the_run(crm: BatchFileCRM, db_url: str) -> None:
    pusher = make(crm, db_url)
    crm.revoked = True  # the CRM no longer knows the token
    summary, results = run(pusher, [full(i) for i in range(8)])
    assert summary.stopped and "does not know this token" in summary.stopped
    assert results == [] and summary.total == 0
    with pytest.raises(RunAborted):
        pusher.push(parse_visitor(full(9)))


# -- order ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 4])
def test_lines_of_one_visitor_keep_their_order(
    crm: BatchFileCRM, db_url: str, workers: int
) -> None:
    visitors = []
    for i in range(12):
        visitors.append(full(i % 3, person={"email": "same@c0.example", "job_title": f"t{i}"}))
    summary, results = run(make(crm, db_url, workers=workers), visitors)
    assert summary.failed == 0
    assert [r.line for r in results] == list(range(1, 13))
    # No batch held two lines of a visitor, so every people call wrote one title at a time,
    # and the last line's title is the one left.
    [person] = [p for p in crm.snapshot()["people"].values() if p["email"] == "same@c0.example"]
    assert person["job_title"] == "t11"


def test_two_inputs_for_one_record_never_share_a_call(crm: BatchFileCRM, db_url: str) -> None:
    # Two visitors, one email, different data: two calls, in input order.
    visitors = [
        {"id": "a", "person": {"email": "dup@x.example", "job_title": "first"}},
        {"id": "b", "person": {"email": "dup@x.example", "job_title": "second"}},
    ]
    summary, _ = run(make(crm, db_url), visitors)
    assert summary.failed == 0
    assert calls(crm, "assert_people") == [1, 1]
    [person] = crm.snapshot()["people"].values()
    assert person["job_title"] == "second"


def test_a_slow_stream_is_sent_before_the_batch_is_full(crm: BatchFileCRM, db_url: str) -> None:
    """The time bound: a stream that stops after one line still has that line pushed (the next
    line only comes once the first one's result is out)."""
    first_done = threading.Event()

    def slow() -> Iterator[Line[Any]]:
        yield line(1, full(1))
        # Without a time bound the batch would wait here for 3 more lines, for ever.
        assert first_done.wait(timeout=60), "the first line was never sent"
        yield line(2, full(2))

    results: list[Any] = []

    def seen(_: Any, result: Any) -> None:
        results.append(result)
        first_done.set()

    pusher = make(crm, db_url)
    pusher.batch_wait = 0.05
    summary = pusher.run(slow(), seen)
    assert summary.created == 2 and [r.line for r in results] == [1, 2]
    assert calls(crm, "assert_people")[0] == 1  # the first line went alone


# -- claims ---------------------------------------------------------------------------------------


def test_a_claim_held_by_another_push_defers_the_visitor(crm: BatchFileCRM, db_url: str) -> None:
    store = MarkerStore("filecrm", "ws1", db_url)
    pusher = make(crm, db_url)
    run(pusher, [{"id": "v1", "person": {"email": "n@x.example"}}])
    # Another live push is writing this visitor's note right now.
    assert store.claim("v1", "note", payload="some-visit", owner=OTHER_MACHINE).won
    visitors = [{"id": "v1", "person": {"email": "n@x.example"}, "visit": VISIT}, full(2)]
    summary, results = run(make(crm, db_url, claim_wait=0.2), visitors)
    assert [r.status for r in results] == ["deferred", "created"]
    assert "another push is writing this visitor's note" in (results[0].reason or "")
    assert summary.deferred == 1 and summary.failed == 0
    v1_person = results[0].records["person"]
    notes = crm.snapshot()["notes"].values()
    assert not [n for n in notes if n["parent"] == v1_person]  # v1's note was left alone


def test_a_dead_pushs_claim_is_taken_over_and_the_destination_looks_first(
    crm: BatchFileCRM, db_url: str
) -> None:
    store = MarkerStore("filecrm", "ws1", db_url)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    dead = new_owner().rsplit(":", 2)[0] + f":{proc.stdout.strip()}:deadbeef0000"
    noted = parse_visitor({"id": "v1", "person": {"email": "n@x.example"}, "visit": VISIT})
    keyless = parse_visitor({"id": "v2", "person": {"name": "Keyless Kim"}})
    note = visit_note(noted)
    # A push claimed both writes, made them in the CRM, and was killed before recording them.
    assert store.claim("v1", "note", payload=note.key, owner=dead).won
    assert store.claim("v2", "person", payload="", owner=dead).won
    dest = Destination("filecrm", crm)
    connection = dest.connect(Credentials(access_token="good-token"))
    assert noted.person and keyless.person
    jane = dest.assert_person(connection, noted.person)
    dest.add_note(connection, jane, note)
    dest.assert_person(connection, keyless.person)
    summary, results = run(make(crm, db_url), [noted.model_dump(), keyless.model_dump()])
    assert summary.failed == 0
    assert results[0].note == "existing"  # found, not written again
    db = crm.snapshot()
    assert len(db["notes"]) == 1
    assert sum(1 for p in db["people"].values() if p["name"] == "Keyless Kim") == 1
    marker = store.get("v2", "person")
    assert marker is not None and marker.state == "done"


def test_the_time_bound_and_workers_leave_every_visitor_written_once(
    crm: BatchFileCRM, db_url: str
) -> None:
    visitors = [full(i) for i in range(40)]
    visitors += [{"id": f"k{i}", "person": {"name": f"Anon {i}"}, "visit": VISIT} for i in range(8)]
    summary, _ = run(make(crm, db_url, workers=4), visitors)
    assert (summary.created, summary.failed) == (48, 0)
    db = crm.snapshot()
    assert len(db["people"]) == 40 + 3 + 8 and len(db["notes"]) == 40
    assert len({c["domain"] for c in db["companies"].values()}) == len(db["companies"]) == 3


# -- callers --------------------------------------------------------------------------------------


def test_session_and_the_cli_push_in_batches(
    tmp_path: Path, crm_file: Path, db_url: str, batch_plugins: dict[str, str]
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    visitors.write_text("".join(json.dumps(full(i)) + "\n" for i in range(5)))
    env = {**batch_plugins, "FILECRM_BATCH": "3"}  # the environment, FILECRM_PATH included
    command = [sys.executable, "-m", "crm_push", "--dest", "batchfilecrm", "--db", db_url]
    subprocess.run([*command, "connect"], env=env, check=True, capture_output=True)
    proc = subprocess.run([*command, "push", str(visitors), "--json"], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["created"] == 5
    assert len(FileCRM(crm_file).snapshot()["notes"]) == 5
    with Session("batchfilecrm", db_url=db_url) as session:
        pusher = session.pusher()
        assert isinstance(pusher, BatchPusher)
        again = pusher.run(read_jsonl(visitors.read_text().splitlines()))
    assert (again.unchanged, again.writes) == (5, 0)


def test_one_push_is_a_batch_of_one(crm: BatchFileCRM, db_url: str) -> None:
    """`push(visitor)` (a host app's web request) goes through the batch hooks too."""
    pusher = make(crm, db_url)
    result = pusher.push(parse_visitor(full(1)))
    assert result.status == "created" and result.note == "created"
    assert crm.batches[0] == ("assert_companies", 1)
    assert isinstance(pusher.connection, Connection)


def test_a_push_job_pushes_in_batches(
    tmp_path: Path, crm_file: Path, db_url: str, batch_plugins: dict[str, str]
) -> None:
    import sqlalchemy as sa
    from crm_push.jobs import failures
    from crm_push.jobs.tasks import run_job

    # The job tables (a worker applies them on PostgreSQL; here, on the SQLite state file).
    failures.metadata.create_all(sa.create_engine(db_url))
    command = [sys.executable, "-m", "crm_push", "--dest", "batchfilecrm", "--db", db_url]
    subprocess.run([*command, "connect"], env=batch_plugins, check=True, capture_output=True)
    with Session("batchfilecrm", db_url=db_url) as session:
        workspace = session.connection.workspace_id
    visitors = [{"line": n, "visitor": full(n)} for n in range(1, 6)]
    visitors[2]["visitor"] = full(3, person={"email": "bad@c0.example", "name": "REJECT ME"})
    done = run_job(db_url, 1, 0, "batchfilecrm", workspace, visitors)
    assert (done["visitors"], done["failed"]) == (5, 1)
    [failure] = failures.list_failures(db_url)
    assert (failure.line, failure.field) == (3, "person.name")
    db = FileCRM(crm_file).snapshot()
    assert len(db["notes"]) == 4 and len(db["companies"]) == 3


def test_notes_and_keyless_records_are_claimed_while_their_call_is_in_flight(
    tmp_path: Path, db_url: str
) -> None:
    store = MarkerStore("filecrm", "ws1", db_url)
    seen: dict[str, Any] = {}

    class Watching(BatchFileCRM):
        def _batch(self, hook: str, inputs: list[Any]) -> None:
            super()._batch(hook, inputs)
            for item in inputs:
                visitor_id, _, part = item.key.partition(":")
                if part in ("note", "person") and (marker := store.get(visitor_id, part)):
                    seen[item.key] = (marker.state, marker.owner)

    crm = Watching(tmp_path / "crm.json", batch_size=4)
    pusher = make(crm, db_url)
    visitors = [
        {"id": "n", "person": {"email": "n@x.example"}, "visit": VISIT},
        {"id": "k", "person": {"name": "Keyless"}},
    ]
    summary, _ = run(pusher, visitors)
    assert summary.created == 2
    # Claimed by this push before the call; done after it.
    assert seen == {"n:note": ("pending", pusher.owner), "k:person": ("pending", pusher.owner)}
    assert {m.part: m.state for m in store.list()} == {"note": "done", "person": "done"}


def test_a_note_refused_for_a_missing_scope_is_skipped_not_failed(
    tmp_path: Path, db_url: str
) -> None:
    from crm_push.errors import ScopeMissing

    class NoScope(BatchFileCRM):
        @hookimpl
        def add_notes(self, connection: Any, notes: list[Any]) -> dict[str, Any]:
            self._batch("add_notes", notes)
            refused = ScopeMissing("the token cannot write notes", scope="notes")
            return {n.key: refused for n in notes}

    crm = NoScope(tmp_path / "crm.json")
    summary, results = run(make(crm, db_url), [full(1), full(2)])
    assert (summary.created, summary.failed, summary.notes_skipped) == (2, 0, 2)
    assert results[0].note == "skipped"
    assert "cannot write notes" in (results[0].note_skipped_reason or "")
    # Not claimed for ever: a later push (with the scope) writes the notes.
    later = BatchFileCRM(crm.path)
    summary, results = run(make(later, db_url), [full(1), full(2)])
    assert summary.notes_created == 2
