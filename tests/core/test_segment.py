"""Segment events as input: Segment's default fields, the mapping file, skipped and bad events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from crm_push.errors import InvalidInput
from crm_push.inputs.segment import SegmentMapping, parse_event, read_segment
from crm_push.models.actions import UserIdentity, WorkspaceGroup

NO_MAPPING = SegmentMapping()


def event(**data: Any) -> dict[str, Any]:
    return data


# -- Segment's defaults --------------------------------------------------------------------


def test_identify_takes_traits_email_and_user_id() -> None:
    action = parse_event(
        event(type="identify", userId="u_1", email="other@x.io", traits={"email": "Ada@Acme.com"}),
        NO_MAPPING,
        line=1,
    )
    assert action == UserIdentity(user_id="u_1", email="ada@acme.com")


def test_identify_falls_back_on_the_top_level_email() -> None:
    action = parse_event(
        event(type="identify", userId=42, email="bob@acme.com", traits={"email": ""}),
        NO_MAPPING,
        line=1,
    )
    assert isinstance(action, UserIdentity)
    assert (action.user_id, action.email) == ("42", "bob@acme.com")


def test_group_takes_website_group_id_and_user_id() -> None:
    action = parse_event(
        event(
            type="group",
            userId="u_1",
            groupId="w_1",
            website="ignored.io",
            context={"group_id": "ignored"},
            traits={"website": "https://www.Acme.com/pricing"},
        ),
        NO_MAPPING,
        line=1,
    )
    assert action == WorkspaceGroup(workspace_id="w_1", domain="acme.com", user_id="u_1")


def test_group_falls_back_on_context_group_id_and_website() -> None:
    action = parse_event(
        event(type="Group", context={"group_id": "w_2"}, website="globex.io"), NO_MAPPING, line=1
    )
    assert action == WorkspaceGroup(workspace_id="w_2", domain="globex.io", user_id=None)


@pytest.mark.parametrize("kind", ["track", "page", "screen", "alias", "something-new"])
def test_other_events_are_their_type(kind: str) -> None:
    assert parse_event(event(type=kind, userId="u"), NO_MAPPING, line=1) == kind


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        (
            {"type": "identify", "traits": {"email": "a@b.io"}},
            "identify event without userId",
            "userId",
        ),
        (
            {"type": "identify", "userId": "u_2"},
            "identify event of user 'u_2' has no email",
            "traits.email",
        ),
        (
            {"type": "identify", "userId": "u", "traits": {"email": "nope"}},
            "identify event: traits.email: 'nope' is not a valid email address",
            "traits.email",
        ),
        ({"type": "group", "website": "a.io"}, "group event without groupId", "groupId"),
        (
            {"type": "group", "groupId": "w"},
            "group event of workspace 'w' has no website",
            "traits.website",
        ),
        (
            {"type": "group", "groupId": "w", "traits": {"website": "localhost"}},
            "group event: traits.website: 'localhost' is not a domain",
            "traits.website",
        ),
        ({"event": "x"}, 'not a Segment event: no "type"', "type"),
    ],
)
def test_bad_events_name_the_line_and_field(data: dict[str, Any], message: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_event(data, NO_MAPPING, line=7)
    assert str(caught.value).startswith("line 7: ")
    assert message in str(caught.value)
    assert caught.value.field == field


def test_a_stream_reports_actions_skips_and_rejects_by_line() -> None:
    lines = [
        json.dumps({"type": "identify", "userId": "u", "traits": {"email": "a@b.io"}}),
        "",
        json.dumps({"type": "track", "event": "Clicked"}),
        "{not json",
        "[1, 2]",
        json.dumps({"type": "group", "groupId": "w", "website": "b.io", "_reject": {"line": 9}}),
    ]
    items = list(read_segment(lines))
    assert [i.line for i in items] == [1, 3, 4, 5, 6]
    assert isinstance(items[0].item, UserIdentity)
    assert items[1].skipped == "track" and items[1].item is None
    assert items[2].error is not None and "line 4: not valid JSON" in str(items[2].error)
    assert items[3].error is not None and "expected a JSON object" in str(items[3].error)
    assert isinstance(items[4].item, WorkspaceGroup)  # a fixed rejects line pushes again


# -- the mapping -----------------------------------------------------------------------------

IDENTIFY = {
    "type": "identify",
    "userId": "u_1",
    "traits": {
        "email": "ada@acme.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "plan": "pro",
        "emails": ["x@y.io", "z@y.io"],
        "empty": None,
    },
    "context": {"ip": "10.0.0.1"},
}


def test_mapping_paths_literals_defaults_and_objects() -> None:
    mapping = SegmentMapping.from_data(
        {
            "person": {
                "name": {"first_name": "traits.first_name", "last_name": "$.traits.last_name"},
                "second_email": "traits.emails.1",
                "missing": "traits.nope",
                "blank": "traits.empty",
            },
            "user": {
                "plan": "traits.plan",
                "tier": {"path": "traits.tier", "default": "free"},
                "source": {"literal": "segment"},
                "seats": 3,
                "tags": ["a", "b"],
                "cleared": {"literal": None},
                "ip": {"@path": "context.ip"},
            },
        }
    )
    action = parse_event(IDENTIFY, mapping, line=1)
    assert isinstance(action, UserIdentity)
    # Missing and null paths set nothing: a mapping never blanks out what the CRM holds.
    assert action.person_values == {
        "name": {"first_name": "Ada", "last_name": "Lovelace"},
        "second_email": "z@y.io",
    }
    assert action.user_values == {
        "plan": "pro",
        "tier": "free",
        "source": "segment",
        "seats": 3,
        "tags": ["a", "b"],
        "cleared": None,
        "ip": "10.0.0.1",
    }


def test_group_mapping_fills_company_and_workspace() -> None:
    mapping = SegmentMapping.from_data(
        {
            "company": {"name": "traits.name"},
            "workspace": {"name": "traits.name", "plan": "traits.plan"},
        }
    )
    action = parse_event(
        {"type": "group", "groupId": "w", "traits": {"website": "a.io", "name": "A", "plan": "x"}},
        mapping,
        line=1,
    )
    assert isinstance(action, WorkspaceGroup)
    assert action.company_values == {"name": "A"}
    assert action.workspace_values == {"name": "A", "plan": "x"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"people": {}}, "unknown key(s) 'people'"),
        ({"user": {"plan": "Pro"}}, "user.plan: 'Pro' is not an event path"),
        ({"user": {"plan": "traits..plan"}}, "is not an event path"),
        ({"user": {"plan": {"path": 3}}}, "user.plan: expected an event path"),
        ({"user": {"plan": {"path": "traits.a", "literal": 1}}}, "user.plan: expected"),
        ({"user": ["plan"]}, "user: expected attribute: source pairs"),
        (["person"], "expected an object with person, user, company, workspace"),
    ],
)
def test_bad_mappings_say_what_and_where(data: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        SegmentMapping.from_data(data)
    assert message in str(caught.value)


def test_mapping_files_in_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "mapping.yaml"
    yaml_file.write_text("user:\n  plan: traits.plan\n  source: {literal: segment}\n")
    json_file = tmp_path / "mapping.json"
    json_file.write_text(
        json.dumps({"user": {"plan": "traits.plan", "source": {"literal": "segment"}}})
    )
    for path in (yaml_file, json_file):
        mapping = SegmentMapping.load(path)
        action = parse_event(IDENTIFY, mapping, line=1)
        assert isinstance(action, UserIdentity)
        assert action.user_values == {"plan": "pro", "source": "segment"}
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert SegmentMapping.load(empty) == SegmentMapping()
    broken = tmp_path / "broken.yaml"
    broken.write_text("user: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        SegmentMapping.load(broken)
