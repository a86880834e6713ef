"""The flow of a visitor through a destination, and push markers making re-runs idempotent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from crm_push import (
    Connection,
    Destination,
    MarkerStore,
    Pusher,
    ReconnectRequired,
    hookimpl,
    parse_visitor,
)
from crm_push.inputs.visitors import read_jsonl
from crm_push.models.crm import RecordRef
from crm_push.state.markers import payload_hash

from support.filecrm import FileCRM

ACME = {"name": "Acme", "domain": "acme.com"}


def visitor(vid: str, **blocks: Any):  # type: ignore[no-untyped-def]
    return parse_visitor({"id": vid, **blocks})


@pytest.fixture
def crm(tmp_path: Path) -> FileCRM:
    return FileCRM(tmp_path / "crm.json")


def make_pusher(crm: FileCRM, db_url: str, *, workers: int = 1) -> Pusher:
    dest = Destination("filecrm", crm)
    connection = Connection(
        destination="filecrm",
        workspace_id="ws1",
        capabilities=frozenset({"notes", "inline_link"} if crm.inline_link else {"notes"}),
    )
    return Pusher(dest, connection, MarkerStore("filecrm", "ws1", db_url), workers=workers)


def test_company_then_person_linked_inline_then_note(crm: FileCRM, db_url: str) -> None:
    v = visitor(
        "v1",
        person={"email": "jane@acme.com", "name": "Jane Doe"},
        company=ACME,
        visit={"visited_at": "2026-11-20T10:00:00Z", "visit_count": 3, "pages": ["/pricing"]},
    )
    result = make_pusher(crm, db_url).push(v)
    assert result.status == "created"
    assert crm.calls == ["assert_company", "assert_person", "add_note"]
    db = crm.snapshot()
    (company_id,) = db["companies"]
    (person,) = db["people"].values()
    assert person["company_id"] == company_id
    (note,) = db["notes"].values()
    assert "Visits: 3" in note["content"] and "/pricing" in note["content"]
    assert note["created_at"] == "2026-11-20T10:00:00+00:00"
    assert result.note == "created" and result.writes == 3


def test_associate_is_called_when_the_destination_cannot_link_inline(
    tmp_path: Path, db_url: str
) -> None:
    crm = FileCRM(tmp_path / "crm.json", inline_link=False)
    v = visitor("v1", person={"email": "jane@acme.com"}, company=ACME)
    make_pusher(crm, db_url).push(v)
    assert crm.calls == ["assert_company", "assert_person", "associate"]
    (person,) = crm.snapshot()["people"].values()
    assert person["company_id"] in crm.snapshot()["companies"]


def test_no_note_without_email_or_without_visit(crm: FileCRM, db_url: str) -> None:
    pusher = make_pusher(crm, db_url)
    pusher.push(visitor("a", person={"name": "No Email"}, visit={"visit_count": 1}))
    pusher.push(visitor("b", person={"email": "b@x.io"}))
    assert "add_note" not in crm.calls
    assert crm.snapshot()["notes"] == {}


def test_key_contacts_are_people_linked_to_the_company(crm: FileCRM, db_url: str) -> None:
    v = visitor(
        "v1",
        company=ACME,
        key_contacts=[{"email": "cfo@acme.com", "name": "Sam Roe"}, {"name": "No Mail"}],
    )
    result = make_pusher(crm, db_url).push(v)
    db = crm.snapshot()
    (company_id,) = db["companies"]
    assert {p["email"] for p in db["people"].values()} == {"cfo@acme.com", None}
    assert all(p["company_id"] == company_id for p in db["people"].values())
    assert set(result.records) == {"company", "contact:cfo@acme.com", "contact:No Mail"}


def test_repush_of_an_unchanged_visitor_writes_nothing(crm: FileCRM, db_url: str) -> None:
    v = visitor(
        "v1",
        person={"email": "jane@acme.com"},
        company=ACME,
        visit={"visited_at": "2026-11-20T10:00:00Z"},
    )
    make_pusher(crm, db_url).push(v)
    crm.calls.clear()
    again = make_pusher(crm, db_url).push(v)
    assert again.status == "unchanged" and again.writes == 0
    assert crm.calls == []


def test_a_changed_field_updates_only_that_part(crm: FileCRM, db_url: str) -> None:
    make_pusher(crm, db_url).push(visitor("v1", person={"email": "j@acme.com"}, company=ACME))
    crm.calls.clear()
    changed = visitor("v1", person={"email": "j@acme.com", "job_title": "CEO"}, company=ACME)
    result = make_pusher(crm, db_url).push(changed)
    assert result.status == "updated"
    assert crm.calls == ["assert_person"]
    (person,) = crm.snapshot()["people"].values()
    assert person["job_title"] == "CEO"


def test_emailless_person_and_domainless_company_are_updated_not_duplicated(
    crm: FileCRM, db_url: str
) -> None:
    first = visitor("v1", person={"name": "Ann Lee"}, company={"name": "No Domain Ltd"})
    make_pusher(crm, db_url).push(first)
    second = visitor(
        "v1", person={"name": "Ann Lee", "job_title": "CTO"}, company={"name": "No Domain Ltd."}
    )
    result = make_pusher(crm, db_url).push(second)
    db = crm.snapshot()
    assert len(db["people"]) == 1 and len(db["companies"]) == 1
    assert result.status == "updated"
    assert next(iter(db["people"].values()))["job_title"] == "CTO"


def test_a_new_visit_adds_a_note_and_the_same_visit_never_twice(crm: FileCRM, db_url: str) -> None:
    person = {"email": "jane@acme.com"}
    pusher = make_pusher(crm, db_url)
    pusher.push(visitor("v1", person=person, visit={"visited_at": "2026-11-20T10:00:00Z"}))
    pusher.push(visitor("v1", person=person, visit={"visited_at": "2026-11-20T10:00:00Z"}))
    assert len(crm.snapshot()["notes"]) == 1
    pusher.push(visitor("v1", person=person, visit={"visited_at": "2026-11-25T09:00:00Z"}))
    assert len(crm.snapshot()["notes"]) == 2


def test_a_pending_note_is_looked_for_before_writing_again(crm: FileCRM, db_url: str) -> None:
    v = visitor("v1", person={"email": "j@acme.com"}, visit={"visited_at": "2026-11-20T10:00:00Z"})
    make_pusher(crm, db_url).push(v)
    # Simulate a crash after the CRM stored the note but before the marker said so.
    markers = MarkerStore("filecrm", "ws1", db_url)
    note_marker = markers.for_visitor("v1")["note"]
    markers.record("v1", "note", payload=note_marker.payload_hash, state="pending")
    result = make_pusher(crm, db_url).push(v)
    assert result.note == "existing"
    assert len(crm.snapshot()["notes"]) == 1


def test_skipped_note_does_not_fail_the_visitor_and_is_counted(crm: FileCRM, db_url: str) -> None:
    pusher = make_pusher(crm, db_url)
    pusher.connection = pusher.connection.model_copy(update={"capabilities": frozenset()})
    v = visitor("v1", person={"email": "j@acme.com"}, visit={"visited_at": "2026-11-20T10:00:00Z"})
    summary = pusher.run(read_jsonl([v.model_dump_json()]))
    assert summary.created == 1 and summary.failed == 0
    assert summary.notes_skipped == 1
    assert summary.notes_skipped_reasons == {"notes are switched off for this token": 1}


def test_failed_visitors_never_stop_the_run(crm: FileCRM, db_url: str) -> None:
    lines = [
        '{"id": "ok1", "person": {"email": "a@x.io"}}',
        "{not json",
        '{"id": "bad", "company": {"name": "REJECT ME"}}',
        '{"id": "bad-email", "person": {"email": "nope"}}',
        '{"id": "ok2", "person": {"email": "b@x.io"}}',
    ]
    seen = []
    summary = make_pusher(crm, db_url).run(read_jsonl(lines), on_result=lambda r, v: seen.append(v))
    assert [r.status for r in seen] == ["created", "failed", "failed", "failed", "created"]
    assert seen[1].line == 2 and "not valid JSON" in (seen[1].reason or "")
    assert seen[2].field == "company.name" and "refuses" in (seen[2].reason or "")
    assert seen[3].visitor_id == "bad-email" and seen[3].field == "person.email"
    assert (summary.total, summary.created, summary.failed) == (5, 2, 3)


def test_a_plugin_bug_fails_one_visitor_not_the_run(db_url: str) -> None:
    class Buggy:
        @hookimpl
        def assert_person(self, person):  # type: ignore[no-untyped-def]
            if person.email == "boom@x.io":
                raise KeyError("oops")
            from crm_push import RecordRef

            return RecordRef(object="people", record_id="p1", outcome="created")

    pusher = Pusher(
        Destination("buggy", Buggy()),
        Connection(destination="buggy", workspace_id="w"),
        MarkerStore("buggy", "w", db_url),
    )
    lines = [
        '{"id": "1", "person": {"email": "boom@x.io"}}',
        '{"id": "2", "person": {"email": "ok@x.io"}}',
    ]
    results: list = []
    pusher.run(read_jsonl(lines), on_result=lambda r, v: results.append(v))
    assert [r.status for r in results] == ["failed", "created"]
    assert "KeyError" in (results[0].reason or "")


def test_dead_credentials_stop_the_run_and_say_so(db_url: str) -> None:
    class Expiring:
        @hookimpl
        def assert_person(self, person):  # type: ignore[no-untyped-def]
            raise ReconnectRequired("token expired")

    pusher = Pusher(
        Destination("exp", Expiring()),
        Connection(destination="exp", workspace_id="w"),
        MarkerStore("exp", "w", db_url),
    )
    lines = [f'{{"id": "{i}", "person": {{"email": "p{i}@x.io"}}}}' for i in range(5)]
    summary = pusher.run(read_jsonl(lines))
    assert summary.stopped and "token expired" in summary.stopped
    assert summary.total == 0


def test_a_company_shared_by_many_visitors_is_written_once_per_run(
    crm: FileCRM, db_url: str
) -> None:
    lines = [
        f'{{"id": "v{i}", "person": {{"email": "p{i}@acme.com"}}, '
        '"company": {"name": "Acme", "domain": "acme.com"}}'
        for i in range(12)
    ]
    summary = make_pusher(crm, db_url, workers=4).run(read_jsonl(lines))
    assert summary.created == 12 and summary.failed == 0
    assert crm.calls.count("assert_company") == 1
    db = crm.snapshot()
    assert len(db["companies"]) == 1 and len(db["people"]) == 12


def test_results_keep_input_order_with_workers(crm: FileCRM, db_url: str) -> None:
    lines = [f'{{"id": "v{i}", "person": {{"email": "p{i}@x.io"}}}}' for i in range(30)]
    order: list[str] = []
    make_pusher(crm, db_url, workers=4).run(
        read_jsonl(lines), on_result=lambda r, v: order.append(v.visitor_id)
    )
    assert order == [f"v{i}" for i in range(30)]


def test_a_pending_keyless_create_is_looked_for_not_created_again(
    crm: FileCRM, db_url: str
) -> None:
    v = visitor("v1", person={"name": "Ann Lee"})
    markers = MarkerStore("filecrm", "ws1", db_url)
    markers.record("v1", "person", payload="", state="pending")  # as a killed run leaves it
    # The CRM made the record after the pending marker, then the process died.
    crm.assert_person(
        connection=None,  # type: ignore[arg-type]
        person=v.person,  # type: ignore[arg-type]
        company=None,
        existing=None,
        pending=None,
    )
    result = make_pusher(crm, db_url).push(v)
    assert result.status == "updated"
    assert len(crm.snapshot()["people"]) == 1
    assert markers.for_visitor("v1")["person"].state == "done"


def test_a_company_pushed_for_one_visitor_is_not_rewritten_for_another(
    crm: FileCRM, db_url: str
) -> None:
    make_pusher(crm, db_url).push(visitor("v1", person={"email": "a@acme.com"}, company=ACME))
    crm.calls.clear()
    later = make_pusher(crm, db_url).push(
        visitor("v2", person={"email": "b@acme.com"}, company=ACME)
    )
    assert crm.calls == ["assert_person"]
    assert later.status == "created" and later.records["company"] in crm.snapshot()["companies"]
    renamed = {**ACME, "name": "Acme Inc"}
    make_pusher(crm, db_url).push(visitor("v3", person={"email": "c@acme.com"}, company=renamed))
    assert crm.calls == ["assert_person", "assert_company", "assert_person"]
    # The company marker is its own, not a visitor's; forgetting it makes the next visitor of
    # that company write it again.
    markers = MarkerStore("filecrm", "ws1", db_url)
    assert {m.visitor_id for m in markers.list()} == {"v1", "v2", "v3"}
    assert [m.domain for m in markers.companies()] == ["acme.com"]
    assert markers.remove_companies(["acme.com"]) == 1
    make_pusher(crm, db_url).push(visitor("v4", person={"email": "d@acme.com"}, company=renamed))
    assert crm.calls[-2:] == ["assert_company", "assert_person"]


def test_a_visitor_whose_id_is_at_companies_is_pushed_like_any_other(
    crm: FileCRM, db_url: str
) -> None:
    markers = MarkerStore("filecrm", "ws1", db_url)
    v = visitor(
        "@companies",
        person={"email": "a@acme.com"},
        company=ACME,
        visit={"visited_at": "2026-11-20T10:00:00Z"},
    )
    assert v.company is not None
    # An older state database kept company markers as this visitor's rows: they are only that
    # visitor's rows now, never taken for a company (this one names no record that exists).
    same_data = payload_hash(v.company.model_dump(mode="json"))
    old_ref = RecordRef(object="companies", record_id="no-such-record")
    markers.record("@companies", "acme.com", payload=same_data, ref=old_ref)
    result = make_pusher(crm, db_url).push(v)
    assert result.status == "created"
    assert crm.calls == ["assert_company", "assert_person", "add_note"]
    assert result.records["company"] in crm.snapshot()["companies"]
    parts = set(markers.for_visitor("@companies"))
    assert parts == {"acme.com", "company", "person", "link", "note"}
    company = markers.company("acme.com")
    assert company is not None and company.record_id == result.records["company"]
    # Like any visitor, pushed again unchanged it writes nothing; a new visitor of its company
    # shares the company marker.
    crm.calls.clear()
    assert make_pusher(crm, db_url).push(v).status == "unchanged" and crm.calls == []
    make_pusher(crm, db_url).push(visitor("v2", person={"email": "b@acme.com"}, company=ACME))
    assert crm.calls == ["assert_person"]


def test_lines_of_one_visitor_are_pushed_in_order_even_with_workers(
    crm: FileCRM, db_url: str
) -> None:
    crm.delay = 0.01  # long enough for concurrent lines to race, were they allowed to
    lines = [
        json.dumps({"id": "same", "person": {"name": "Ann Lee", "job_title": f"Title {i}"}})
        for i in range(8)
    ]
    summary = make_pusher(crm, db_url, workers=4).run(read_jsonl(lines))
    assert summary.failed == 0
    (person,) = crm.snapshot()["people"].values()
    assert person["job_title"] == "Title 7"  # the last line wins, as in the file


def test_a_dry_run_is_the_same_flow_through_the_planner_destination(
    crm: FileCRM, db_url: str
) -> None:
    from crm_push import PlannerPlugin, ReadOnlyMarkers, hookspecs

    planner_plugin = PlannerPlugin("filecrm", workspace_id="ws1")
    planner = Destination("filecrm", planner_plugin)
    # A plugin like any other: real hook implementations, every core and Segment hook.
    assert all(planner.implements(h) for h in (*hookspecs.CORE_HOOKS, "assert_record"))
    assert all(planner.implements(h) for h in ("identify_user", "group_workspace"))
    first = visitor("v1", person={"email": "jane@acme.com"}, company=ACME, visit={"visit_count": 1})
    make_pusher(crm, db_url).push(first)
    dry = Pusher(planner, planner.connect(), ReadOnlyMarkers("filecrm", "ws1", db_url))
    assert dry.push(first).status == "unchanged" and planner_plugin.plan == []
    moved = visitor("v1", person={"email": "jane@acme.com", "name": "Jane"}, company=ACME)
    assert dry.push(moved).status == "created"  # the planner's placeholder outcome
    assert [line.split(":")[0] for line in planner_plugin.plan] == [
        "would assert person by email jane@acme.com"
    ]
    stored = MarkerStore("filecrm", "ws1", db_url).for_visitor("v1")
    assert stored["person"].record_id in crm.snapshot()["people"]  # the real one, not rewritten


def test_a_list_of_lines_reads_its_markers_ahead_and_pushes_the_same(
    crm: FileCRM, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def line(vid: str) -> str:
        return json.dumps(
            {
                "id": vid,
                "person": {"email": f"{vid}@acme.com"},
                "company": ACME,
                "visit": {"visited_at": "2026-11-20T10:00:00Z"},
            }
        )

    # A job's visitors come as a list: their markers are read in one query before the pushes;
    # a visitor on two lines reads its own when each line is pushed (the first changes them).
    lines = [line(f"v{i}") for i in range(6)] + [line("dup"), line("dup")]
    reads: list[str] = []
    real = MarkerStore.for_visitor
    monkeypatch.setattr(
        MarkerStore, "for_visitor", lambda self, vid: reads.append(vid) or real(self, vid)
    )
    summary = make_pusher(crm, db_url, workers=4).run(list(read_jsonl(lines)))
    assert (summary.created, summary.unchanged, summary.failed) == (7, 1, 0)
    assert reads == ["dup", "dup"]
    assert crm.calls.count("add_note") == 7 and crm.calls.count("assert_company") == 1
    # Read ahead again on the next run: everything is unchanged, nothing is written.
    crm.calls.clear()
    again = make_pusher(crm, db_url, workers=4).run(list(read_jsonl(lines)))
    assert again.unchanged == 8 and crm.calls == []
