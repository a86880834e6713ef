"""Identify user and group workspace: the exact requests, in order, and what they return."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
import respx
from attio_helpers import COMPANY_ID, PERSON_ID, record, record_response
from attio_schema import Metadata
from crm_push.destination.facade import Destination
from crm_push.errors import Fatal, InvalidInput
from crm_push.models.actions import GroupResult, IdentifyResult, UserIdentity, WorkspaceGroup
from crm_push.models.crm import Connection

from crm_push_attio.plugin import AttioDestination

USER_ID = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
WORKSPACE_ID = "0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d"
OTHER_USER_ID = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"


def writes(sent: Any) -> list[tuple[str, str, str]]:
    """(method, path, query) of every request but the metadata reads."""
    return [
        (r.method, r.url.path, r.url.query.decode()) for r in sent.requests if r.method != "GET"
    ]


def values(request: httpx.Request) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(request.content)["data"]["values"]
    return out


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def meta(api: respx.MockRouter) -> Metadata:
    return Metadata(api)


# -- identify user ---------------------------------------------------------------------------


def test_identify_asserts_the_person_then_the_user_linked_to_it(
    attio: AttioDestination,
    api: respx.MockRouter,
    connection: Connection,
    meta: Metadata,
    sent: Any,
) -> None:
    people = api.put("/v2/objects/people/records").mock(
        return_value=record_response("people", PERSON_ID, created_at=now())
    )
    users = api.put("/v2/objects/users/records").mock(
        return_value=record_response("users", USER_ID, created_at=now())
    )
    identity = UserIdentity(
        user_id="u_1",
        email="Ada@Acme.com",
        person_values={"name": "Lovelace, Ada", "job_title": "CTO"},
        user_values={},
    )
    result = Destination("attio", attio).identify_user(connection, identity)

    assert writes(sent) == [
        ("PUT", "/v2/objects/people/records", "matching_attribute=email_addresses"),
        ("PUT", "/v2/objects/users/records", "matching_attribute=user_id"),
    ]
    assert values(people.calls.last.request) == {
        "name": [{"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace"}],
        "job_title": [{"value": "CTO"}],
        "email_addresses": [{"email_address": "ada@acme.com"}],
    }
    assert values(users.calls.last.request) == {
        "user_id": [{"value": "u_1"}],
        "primary_email_address": [{"email_address": "ada@acme.com"}],
        "person": [{"target_object": "people", "target_record_id": PERSON_ID}],
    }
    assert isinstance(result, IdentifyResult)
    assert (result.person.record_id, result.user.record_id) == (PERSON_ID, USER_ID)
    assert result.user.linked == (PERSON_ID,)
    assert result.outcome == "created"


def test_identify_checks_both_records_values_before_writing(
    attio: AttioDestination, connection: Connection, meta: Metadata, sent: Any
) -> None:
    identity = UserIdentity(
        user_id="u_1", email="ada@acme.com", user_values={"workspace": "ada@acme.com"}
    )
    with pytest.raises(InvalidInput, match=r"users\.workspace: ") as caught:
        attio.identify_user(connection, identity)
    assert caught.value.field == "workspace"
    assert writes(sent) == []


def test_identify_says_how_to_activate_users(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, sent: Any
) -> None:
    Metadata(api, activated=("people", "companies"))
    with pytest.raises(Fatal) as caught:
        attio.identify_user(connection, UserIdentity(user_id="u_1", email="ada@acme.com"))
    message = str(caught.value)
    assert "the Users object is not activated in this Attio workspace" in message
    assert "Workspace Settings > Objects > Users" in message
    assert "404" not in message and writes(sent) == []


# -- group workspace -------------------------------------------------------------------------


@pytest.fixture
def group_routes(api: respx.MockRouter) -> dict[str, respx.Route]:
    users_after = [
        {"target_object": "users", "target_record_id": OTHER_USER_ID},
        {"target_object": "users", "target_record_id": USER_ID},
    ]
    return {
        "query": api.post("/v2/objects/users/records/query").respond(
            json={"data": [record("users", USER_ID, now(), {})]}
        ),
        "company": api.put("/v2/objects/companies/records").mock(
            return_value=record_response("companies", COMPANY_ID, created_at=now())
        ),
        "workspace": api.put("/v2/objects/workspaces/records").mock(
            return_value=record_response("workspaces", WORKSPACE_ID, created_at=now())
        ),
        "add_user": api.patch(f"/v2/objects/workspaces/records/{WORKSPACE_ID}").mock(
            return_value=record_response(
                "workspaces", WORKSPACE_ID, created_at=now(), values={"users": users_after}
            )
        ),
    }


def test_group_asserts_the_company_then_the_workspace_and_adds_the_user_with_patch(
    attio: AttioDestination,
    connection: Connection,
    meta: Metadata,
    group_routes: dict[str, respx.Route],
    sent: Any,
) -> None:
    group = WorkspaceGroup(
        workspace_id="w_1",
        domain="https://www.acme.com/",
        user_id="u_1",
        company_values={"name": "Acme"},
        workspace_values={"name": "Acme HQ"},
    )
    result = Destination("attio", attio).group_workspace(connection, group)

    # The user is looked up (a read) before the first write; then company, workspace, and the
    # user added with PATCH, which appends to the workspace's users: an assert (PUT) would
    # replace every other user of the workspace.
    assert writes(sent) == [
        ("POST", "/v2/objects/users/records/query", ""),
        ("PUT", "/v2/objects/companies/records", "matching_attribute=domains"),
        ("PUT", "/v2/objects/workspaces/records", "matching_attribute=workspace_id"),
        ("PATCH", f"/v2/objects/workspaces/records/{WORKSPACE_ID}", ""),
    ]
    query = json.loads(group_routes["query"].calls.last.request.content)
    assert query == {"filter": {"user_id": {"$eq": "u_1"}}, "limit": 1}
    assert values(group_routes["company"].calls.last.request) == {
        "name": [{"value": "Acme"}],
        "domains": [{"domain": "acme.com"}],
    }
    workspace = values(group_routes["workspace"].calls.last.request)
    assert workspace == {
        "name": [{"value": "Acme HQ"}],
        "workspace_id": [{"value": "w_1"}],
        "company": [{"target_object": "companies", "target_record_id": COMPANY_ID}],
    }
    assert "users" not in workspace  # never through the assert
    assert values(group_routes["add_user"].calls.last.request) == {
        "users": [{"target_object": "users", "target_record_id": USER_ID}]
    }
    assert isinstance(result, GroupResult)
    assert result.company.record_id == COMPANY_ID
    assert result.workspace.record_id == WORKSPACE_ID
    assert result.workspace.linked == (COMPANY_ID, USER_ID)


def test_group_without_a_user_writes_no_users(
    attio: AttioDestination,
    connection: Connection,
    meta: Metadata,
    group_routes: dict[str, respx.Route],
    sent: Any,
) -> None:
    result = attio.group_workspace(
        connection, WorkspaceGroup(workspace_id="w_1", domain="acme.com")
    )
    assert [w[0] for w in writes(sent)] == ["PUT", "PUT"]
    assert group_routes["add_user"].call_count == 0 and group_routes["query"].call_count == 0
    assert result.workspace.linked == (COMPANY_ID,)


def test_group_with_an_unknown_user_writes_nothing(
    attio: AttioDestination,
    api: respx.MockRouter,
    connection: Connection,
    meta: Metadata,
    group_routes: dict[str, respx.Route],
    sent: Any,
) -> None:
    group_routes["query"].respond(json={"data": []})
    group = WorkspaceGroup(workspace_id="w_1", domain="acme.com", user_id="ghost")
    with pytest.raises(InvalidInput) as caught:
        attio.group_workspace(connection, group)
    assert "no Attio user has user_id 'ghost'" in str(caught.value)
    assert "identify the user first" in str(caught.value)
    assert caught.value.field == "user_id"
    assert [w[0] for w in writes(sent)] == ["POST"]  # the lookup only


def test_group_says_how_to_activate_workspaces(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, sent: Any
) -> None:
    Metadata(api, activated=("people", "companies", "users"))
    with pytest.raises(Fatal) as caught:
        attio.group_workspace(connection, WorkspaceGroup(workspace_id="w_1", domain="acme.com"))
    assert "the Workspaces object is not activated" in str(caught.value)
    assert "Workspace Settings > Objects > Workspaces" in str(caught.value)
    assert writes(sent) == []


def test_group_with_a_user_needs_users_activated(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, sent: Any
) -> None:
    Metadata(api, activated=("people", "companies", "workspaces"))
    group = WorkspaceGroup(workspace_id="w_1", domain="acme.com", user_id="u_1")
    with pytest.raises(Fatal, match="Users object is not activated"):
        attio.group_workspace(connection, group)
    assert writes(sent) == []


def test_the_object_not_activated_answer_is_cached(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    meta = Metadata(api, activated=("people", "companies"))
    for _ in range(3):
        with pytest.raises(Fatal):
            attio.identify_user(connection, UserIdentity(user_id="u_1", email="ada@acme.com"))
    assert meta.routes["users"].call_count == 1


def test_the_actions_are_a_library_api_too(
    attio: AttioDestination,
    api: respx.MockRouter,
    connection: Connection,
    meta: Metadata,
) -> None:
    actions = attio.actions(connection)
    assert actions is attio.actions(connection)  # one cache per connection
    body = actions.values("deals", {"priority": "4", "close_date": "2024-01-31"})
    assert body == {"priority": [{"value": 4}], "close_date": [{"value": "2024-01-31"}]}
    with pytest.raises(InvalidInput, match=r"deals\.priority: 6 is not an integer from 0 to 5"):
        actions.values("deals", {"priority": 6})
