"""End to end against the local Attio-compatible server: typed values, identify user, group
workspace, with the users/workspaces objects activated and not, and Segment events through the
CLI with a mapping file.

The server validates every body against Attio's OpenAPI schema and enforces Attio's semantics
(unique matching, references that must exist, required values, PATCH appending multiselects).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attio_helpers import FakeSleep, connect_local
from click.testing import CliRunner
from crm_push.cli import cli
from crm_push.destination.facade import Destination
from crm_push.errors import Fatal, InvalidInput
from crm_push.inputs.segment import SegmentMapping, read_segment
from crm_push.models.actions import UserIdentity, WorkspaceGroup
from crm_push.push.runner import ActionRunner

from crm_push_attio import server
from crm_push_attio.plugin import AttioDestination

ALL = ("people", "companies", "users", "workspaces", "deals")


@pytest.fixture
def srv() -> Iterator[Any]:
    with server.AttioServer(activated_objects=ALL) as running:
        running.add_workspace_member("alice@acme.com", "Alice", "Owner")
        running.add_attribute("users", "plan", "select", options=["free", "pro"])
        running.add_attribute("workspaces", "seats", "number")
        yield running
    assert running.count("DELETE") == 0


def plain(record: dict[str, Any], slug: str, key: str = "value") -> list[Any]:
    return [v.get(key) for v in record["values"].get(slug, [])]


def one(srv: Any, object: str, slug: str, value: Any, key: str = "value") -> dict[str, Any]:
    found = [r for r in srv.records(object) if value in plain(r, slug, key)]
    assert len(found) == 1, f"{len(found)} {object} records with {slug} {value!r}"
    return found[0]


def writes(srv: Any) -> int:
    reads = srv.count("POST", "/v2/objects/users/records/query")
    return sum(srv.count(m) for m in ("POST", "PUT", "PATCH")) - reads


# -- typed values ------------------------------------------------------------------------


def test_every_type_is_accepted_by_attio(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    acme = dest.assert_record(
        conn, "companies", "domains", {"domains": "https://www.acme.com", "name": "Acme"}
    )
    ada = dest.assert_record(
        conn,
        "people",
        "email_addresses",
        {
            "email_addresses": "ada@acme.com",
            "name": "Lovelace, Ada",
            "phone_numbers": ["+15558675309", "+44 20 7183 8750"],
            "company": "acme.com",
        },
    )
    deal = dest.assert_record(
        conn,
        "deals",
        "external_id",
        {
            "external_id": "d-1",
            "name": "Acme rockets",
            "stage": "in progress",
            "owner": "alice@acme.com",
            "value": 29.9999,
            "associated_people": ["ada@acme.com"],
            "associated_company": acme.record_id,
            "is_qualified": "true",
            "close_date": "2023-09-28",
            "probability": 42.192,
            "priority": 5,
            "last_contacted_at": "2023-09-28 04:39:17.000",
            "source": "Website",
        },
    )
    assert deal.outcome == "created"
    stored = one(srv, "deals", "external_id", "d-1")
    assert plain(stored, "stage", "status")[0]["title"] == "In Progress"
    assert plain(stored, "value", "currency_value") == [29.9999]
    assert plain(stored, "associated_people", "target_record_id") == [ada.record_id]
    assert plain(stored, "associated_company", "target_record_id") == [acme.record_id]
    assert plain(stored, "is_qualified") == [True]
    assert plain(stored, "close_date") == ["2023-09-28"]
    assert plain(stored, "priority") == [5]
    assert plain(stored, "last_contacted_at") == ["2023-09-28T04:39:17.000000000Z"]
    assert plain(stored, "owner", "referenced_actor_type") == ["workspace-member"]
    person = one(srv, "people", "email_addresses", "ada@acme.com", "email_address")
    assert plain(person, "name", "full_name") == ["Ada Lovelace"]
    assert plain(person, "phone_numbers", "phone_number") == ["+15558675309", "+442071838750"]
    assert plain(person, "company", "target_record_id") == [acme.record_id]

    # A re-assert updates; null unsets.
    again = dest.assert_record(conn, "deals", "external_id", {"external_id": "d-1", "owner": None})
    assert again.record_id == deal.record_id
    assert plain(one(srv, "deals", "external_id", "d-1"), "owner") == []


def test_bad_values_never_reach_the_server(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    before = writes(srv)
    for values, message in [
        ({"priority": 7}, "deals.priority: 7 is not an integer from 0 to 5"),
        ({"stage": "Open"}, 'deals.stage: "Open" is not one of its statuses'),
        ({"owner": "mallory@evil.com"}, "is not the email of a member of this Attio workspace"),
        ({"record_id": "x"}, "deals.record_id: is read-only"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            dest.assert_record(
                conn, "deals", "external_id", {"external_id": "d-2", "name": "x", **values}
            )
        assert message in str(caught.value)
    assert writes(srv) == before == 0
    assert srv.records("deals") == []


# -- identify user and group workspace ---------------------------------------------------


def test_identify_then_group_links_person_user_company_workspace(
    dest: Destination, srv: Any
) -> None:
    conn = connect_local(dest, srv)
    ada = dest.identify_user(
        conn,
        UserIdentity(
            user_id="u_1",
            email="Ada@Acme.com",
            person_values={"name": "Lovelace, Ada"},
            user_values={"plan": "pro"},
        ),
    )
    bob = dest.identify_user(conn, UserIdentity(user_id="u_2", email="bob@acme.com"))
    assert ada.outcome == "created"

    user = one(srv, "users", "user_id", "u_1")
    person = one(srv, "people", "email_addresses", "ada@acme.com", "email_address")
    assert plain(user, "person", "target_record_id") == [person["id"]["record_id"]]
    assert plain(user, "primary_email_address", "email_address") == ["ada@acme.com"]
    assert plain(user, "plan", "option")[0]["title"] == "pro"

    first = dest.group_workspace(
        conn,
        WorkspaceGroup(
            workspace_id="w_1",
            domain="https://www.acme.com/pricing",
            user_id="u_1",
            company_values={"name": "Acme"},
            workspace_values={"name": "Acme HQ", "seats": 12},
        ),
    )
    second = dest.group_workspace(
        conn, WorkspaceGroup(workspace_id="w_1", domain="acme.com", user_id="u_2")
    )
    assert first.outcome == "created" and second.workspace.record_id == first.workspace.record_id

    company = one(srv, "companies", "domains", "acme.com", "domain")
    workspace = one(srv, "workspaces", "workspace_id", "w_1")
    assert plain(workspace, "company", "target_record_id") == [company["id"]["record_id"]]
    # The second group added u_2 and kept u_1.
    assert sorted(plain(workspace, "users", "target_record_id")) == sorted(
        [ada.user.record_id, bob.user.record_id]
    )
    assert plain(workspace, "seats") == [12] and plain(company, "name") == ["Acme"]
    # The inverse side: each user lists the workspace.
    assert plain(one(srv, "users", "user_id", "u_2"), "workspace", "target_record_id") == [
        first.workspace.record_id
    ]
    assert second.workspace.linked == (company["id"]["record_id"], bob.user.record_id)

    # Grouping again with a user already there adds nothing and removes nobody.
    dest.group_workspace(conn, WorkspaceGroup(workspace_id="w_1", domain="acme.com", user_id="u_1"))
    assert len(plain(one(srv, "workspaces", "workspace_id", "w_1"), "users")) == 2


def test_group_with_an_unknown_user_writes_nothing(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    group = WorkspaceGroup(workspace_id="w_1", domain="acme.com", user_id="ghost")
    with pytest.raises(InvalidInput, match="identify the user first"):
        dest.group_workspace(conn, group)
    assert writes(srv) == 0 and srv.records("companies") == []


@pytest.mark.parametrize(
    ("activated", "action", "label"),
    [
        (("people", "companies"), UserIdentity(user_id="u", email="a@b.io"), "Users"),
        (
            ("people", "companies", "users"),
            WorkspaceGroup(workspace_id="w", domain="b.io"),
            "Workspaces",
        ),
        (
            ("people", "companies", "workspaces"),
            WorkspaceGroup(workspace_id="w", domain="b.io", user_id="u"),
            "Users",
        ),
    ],
)
def test_objects_that_are_off_say_how_to_activate_them(
    sleeps: FakeSleep, activated: tuple[str, ...], action: Any, label: str
) -> None:
    with server.AttioServer(activated_objects=activated) as srv:
        plugin = AttioDestination(sleep=sleeps)
        dest = Destination("attio", plugin)
        conn = connect_local(dest, srv)
        call = dest.identify_user if isinstance(action, UserIdentity) else dest.group_workspace
        with pytest.raises(Fatal) as caught:
            call(conn, action)
        plugin.close()
        assert f"the {label} object is not activated" in str(caught.value)
        assert f"Workspace Settings > Objects > {label}" in str(caught.value)
        assert writes(srv) == 0
        # Activated by an admin: the same action now works (after the cached answer expires).
        srv.activate_object("users")
        srv.activate_object("workspaces")
        plugin = AttioDestination(sleep=sleeps)
        dest = Destination("attio", plugin)
        conn = connect_local(dest, srv)
        if isinstance(action, WorkspaceGroup) and action.user_id:
            dest.identify_user(conn, UserIdentity(user_id=action.user_id, email="u@b.io"))
        call = dest.identify_user if isinstance(action, UserIdentity) else dest.group_workspace
        assert call(conn, action).outcome == "created"
        plugin.close()


# -- Segment events through the runner and the CLI ---------------------------------------

EVENTS: list[dict[str, Any]] = [
    {
        "type": "identify",
        "userId": "u_1",
        "traits": {
            "email": "ada@acme.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "title": "CTO",
            "plan": "pro",
        },
    },
    {"type": "track", "userId": "u_1", "event": "Report exported"},
    {
        "type": "group",
        "userId": "u_1",
        "groupId": "w_1",
        "traits": {"website": "https://acme.com", "name": "Acme", "seats": 12},
    },
    {"type": "identify", "userId": "u_2", "traits": {"name": "No Email"}},
    {"type": "identify", "userId": "u_3", "email": "bob@acme.com", "traits": {"plan": "gold"}},
    {"type": "page", "userId": "u_1", "name": "Pricing"},
    {"type": "identify", "userId": "u_4", "email": "cy@acme.com"},
    {"type": "group", "userId": "u_4", "context": {"group_id": "w_1"}, "website": "acme.com"},
]
MAPPING = """\
person:
  name: {first_name: traits.first_name, last_name: traits.last_name}
  job_title: traits.title
user:
  plan: traits.plan
company:
  name: traits.name
workspace:
  name: traits.name
  seats: {path: traits.seats, default: 1}
"""


def test_segment_events_through_the_runner_with_workers(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    mapping = SegmentMapping.from_data({"user": {"plan": "traits.plan"}})
    lines = [json.dumps(e) for e in EVENTS]
    summary = ActionRunner(dest, conn, workers=8).run(read_segment(lines, mapping))
    # u_3's plan "gold" is no option of users.plan: that event fails, naming it.
    assert (summary.total, summary.failed, summary.skipped) == (8, 2, 2)
    assert summary.skipped_types == {"track": 1, "page": 1}
    # The identify of u_4 ran before the group event of u_4, whatever the workers did.
    workspace = one(srv, "workspaces", "workspace_id", "w_1")
    assert len(plain(workspace, "users")) == 2


def test_segment_file_end_to_end_through_the_cli(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url)
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", server.DEFAULT_TOKEN)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    rejects = tmp_path / "rejects.jsonl"
    db = ["--dest", "attio", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
    runner = CliRunner()

    result = runner.invoke(
        cli,
        [
            *db,
            "push",
            "--format",
            "segment",
            "--mapping",
            str(mapping),
            "--rejects",
            str(rejects),
            str(events),
        ],
    )
    assert result.exit_code == 1, result.output  # two events failed
    assert "8 events in" in result.output
    assert "2 failed, 2 skipped (page: 1, track: 1)" in result.output
    assert "line 4: identify event of user 'u_2' has no email" in result.output
    assert 'users.plan: "gold" is not one of its options: "free", "pro"' in result.output

    rejected = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [r["_reject"]["line"] for r in rejected] == [4, 5]
    assert rejected[0]["_reject"]["field"] == "traits.email"
    assert rejected[1]["_reject"]["field"] == "plan" and rejected[1]["userId"] == "u_3"

    person = one(srv, "people", "email_addresses", "ada@acme.com", "email_address")
    assert plain(person, "name", "full_name") == ["Ada Lovelace"]
    assert plain(person, "job_title") == ["CTO"]
    user = one(srv, "users", "user_id", "u_1")
    assert plain(user, "plan", "option")[0]["title"] == "pro"
    assert plain(user, "person", "target_record_id") == [person["id"]["record_id"]]
    company = one(srv, "companies", "domains", "acme.com", "domain")
    assert plain(company, "name") == ["Acme"]
    workspace = one(srv, "workspaces", "workspace_id", "w_1")
    assert plain(workspace, "name") == ["Acme"]
    # The last group event of w_1 has no traits.seats: the mapping's default applies.
    assert plain(workspace, "seats") == [1]
    assert plain(workspace, "company", "target_record_id") == [company["id"]["record_id"]]
    assert len(plain(workspace, "users")) == 2  # u_1 and u_4
    assert srv.records("users") and len(srv.records("users")) == 2

    # The rejects, fixed, pushed again: they pass, and nothing is duplicated.
    fixed = rejects.read_text().replace('"name": "No Email"', '"email": "dee@acme.com"')
    fixed = fixed.replace('"plan": "gold"', '"plan": "pro"')
    rejects.write_text(fixed)
    again = runner.invoke(
        cli, [*db, "push", "--format", "segment", "--json", "--mapping", str(mapping), str(rejects)]
    )
    assert again.exit_code == 0, again.output
    summary = json.loads(again.output[again.output.index("{") :])
    assert (summary["total"], summary["created"], summary["failed"]) == (2, 2, 0)
    assert summary["format"] == "segment"
    assert len(srv.records("users")) == 4 and len(srv.records("workspaces")) == 1


def test_records_file_and_assert_record_through_the_cli(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url)
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", server.DEFAULT_TOKEN)
    db = ["--dest", "attio", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
    runner = CliRunner()

    created = runner.invoke(
        cli,
        [
            *db,
            "assert-record",
            "--object",
            "companies",
            "--match",
            "domains",
            "--set",
            "domains=app.attio.com",
            "--set",
            "twitter=@attio",
            "--set",
            "categories=B2B",
            "--set",
            "categories=SAAS",
        ],
    )
    assert created.exit_code == 0, created.output
    assert created.output.startswith("created companies record ")
    company = one(srv, "companies", "domains", "app.attio.com", "domain")
    assert plain(company, "twitter") == ["@attio"]
    assert [o["title"] for o in plain(company, "categories", "option")] == ["B2B", "SAAS"]

    refused = runner.invoke(
        cli,
        [
            *db,
            "assert-record",
            "--object",
            "deals",
            "--match",
            "external_id",
            "--set",
            "external_id=d-1",
            "--set",
            "name=Rockets",
            "--set",
            "stage=Lead",
            "--set",
            "priority=7",
        ],
    )
    assert refused.exit_code == 1
    assert "deals.priority: 7 is not an integer from 0 to 5" in refused.output
    assert srv.records("deals") == []

    records = tmp_path / "records.jsonl"
    lines = [
        {
            "object": "deals",
            "matching_attribute": "external_id",
            "values": {
                "external_id": "d-1",
                "name": "Rockets",
                "stage": "Lead",
                "value": 5000,
                "associated_company": "app.attio.com",
            },
        },
        {
            "object": "deals",
            "matching_attribute": "external_id",
            "values": {"external_id": "d-2", "name": "Fuel", "stage": "Lead", "priority": 9},
        },
        {"object": "dealz", "matching_attribute": "x", "values": {"x": 1}},
        {"object": "deals", "values": {}},
    ]
    records.write_text("".join(json.dumps(x) + "\n" for x in lines))
    pushed = runner.invoke(cli, [*db, "push", "--format", "records", str(records)])
    assert pushed.exit_code == 1
    assert "4 records in" in pushed.output
    # Only d-1 reached Attio: d-2's priority and the unknown object are refused before writing.
    assert "1 created, 0 updated, 3 failed; 1 action sent." in pushed.output
    assert "deals.priority: 9 is not an integer from 0 to 5" in pushed.output
    assert "no activated object 'dealz'" in pushed.output
    assert "line 4: matching_attribute: Field required" in pushed.output
    deal = one(srv, "deals", "external_id", "d-1")
    assert plain(deal, "associated_company", "target_record_id") == [company["id"]["record_id"]]
