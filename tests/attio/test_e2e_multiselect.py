"""Multiselects are appended, not wiped: an identify or group event that maps a multiselect
keeps the record's existing values (as Segment's own Attio destination does); `replace` keeps
Attio's assert semantics for those who want them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from attio_helpers import connect_local
from click.testing import CliRunner
from crm_push.cli import cli
from crm_push.destination.facade import Destination
from crm_push.models.actions import UserIdentity, WorkspaceGroup

from crm_push_attio import server


@pytest.fixture
def srv() -> Iterator[Any]:
    with server.AttioServer(activated_objects=("people", "companies", "users", "workspaces")) as s:
        yield s
    assert s.count("DELETE") == 0


def titles(srv: Any, object: str, slug: str, key: str) -> list[Any]:
    [record] = srv.records(object)
    return [v[key]["title"] if key == "option" else v[key] for v in record["values"][slug]]


def test_group_keeps_the_companys_other_categories(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    dest.assert_record(conn, "companies", "domains", {"domains": "acme.com", "categories": ["B2B"]})
    dest.group_workspace(
        conn,
        WorkspaceGroup(
            workspace_id="w_1", domain="acme.com", company_values={"categories": ["SAAS"]}
        ),
    )
    assert titles(srv, "companies", "categories", "option") == ["B2B", "SAAS"]


def test_identify_keeps_the_persons_other_phone_numbers(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    first = {"phone_numbers": ["+15558675309"]}
    dest.identify_user(conn, UserIdentity(user_id="u_1", email="ada@acme.com", person_values=first))
    second = {"phone_numbers": ["+442079460958"]}
    dest.identify_user(
        conn, UserIdentity(user_id="u_1", email="ada@acme.com", person_values=second)
    )
    assert titles(srv, "people", "phone_numbers", "phone_number") == [
        "+15558675309",
        "+442079460958",
    ]


def test_replace_makes_them_exactly_those_sent(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    dest.assert_record(conn, "companies", "domains", {"domains": "acme.com", "categories": ["B2B"]})
    group = WorkspaceGroup(
        workspace_id="w_1",
        domain="acme.com",
        company_values={"categories": ["SAAS"]},
        multiselect="replace",
    )
    dest.group_workspace(conn, group)
    assert titles(srv, "companies", "categories", "option") == ["SAAS"]


def test_null_still_unsets_in_append_mode(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    dest.assert_record(conn, "companies", "domains", {"domains": "acme.com", "categories": ["B2B"]})
    dest.assert_record(conn, "companies", "domains", {"domains": "acme.com", "categories": None})
    [record] = srv.records("companies")
    assert record["values"]["categories"] == []


@pytest.mark.parametrize(("mode", "expected"), [("append", ["B2B", "SAAS"]), ("replace", ["SAAS"])])
def test_assert_record_cli_multiselect_option(
    srv: Any, mode: str, expected: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url)
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", server.DEFAULT_TOKEN)
    monkeypatch.setenv("ATTIO_WRITES_PER_SECOND", "0")
    db = ["--db", f"sqlite:///{tmp_path / 'state.db'}"]
    base = [*db, "--dest", "attio", "assert-record", "--object", "companies", "--match", "domains"]
    runner = CliRunner()
    first = runner.invoke(
        cli, [*base, "--set", "domains=acme.com", "--set-json", 'categories=["B2B"]']
    )
    assert first.exit_code == 0, first.output
    args = [*base, "--set", "domains=acme.com", "--set-json", 'categories=["SAAS"]']
    second = runner.invoke(cli, [*args, "--multiselect", mode])
    assert second.exit_code == 0, second.output
    assert titles(srv, "companies", "categories", "option") == expected


def test_the_mapping_file_may_ask_for_replace(dest: Destination, srv: Any) -> None:
    from crm_push.inputs.segment import SegmentMapping, parse_event

    mapping = SegmentMapping.from_data(
        {"multiselect": "replace", "company": {"categories": {"literal": ["SAAS"]}}}
    )
    event = {"type": "group", "groupId": "w_1", "traits": {"website": "acme.com"}}
    group = parse_event(event, mapping, line=1)
    assert isinstance(group, WorkspaceGroup) and group.multiselect == "replace"
    conn = connect_local(dest, srv)
    dest.assert_record(conn, "companies", "domains", {"domains": "acme.com", "categories": ["B2B"]})
    dest.group_workspace(conn, group)
    assert titles(srv, "companies", "categories", "option") == ["SAAS"]
    with pytest.raises(ValueError, match="append or replace"):
        SegmentMapping.from_data({"multiselect": "wipe"})
    assert SegmentMapping.from_data({}).multiselect == "append"
