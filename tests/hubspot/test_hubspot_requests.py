"""respx pins the exact requests the HubSpot plugin sends: paths with the version, bodies,
headers; how HubSpot's answers become typed errors naming the field; how batch answers are
matched to inputs (by trace id or key, never by position); the search packing; the rate
limits (a 429's body, the window learnt from the headers, the shared budget's kinds)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from crm_push.errors import ConfigurationError, InvalidInput, ReconnectRequired, ScopeMissing
from crm_push.http import budget_for
from crm_push.models import (
    Company,
    CompanyInput,
    Connection,
    ConnectOptions,
    Credentials,
    LinkInput,
    Note,
    NoteInput,
    Person,
    PersonInput,
)
from crm_push.models.crm import Pending, RecordRef
from crm_push.state import budget as shared
from pydantic import SecretStr

from crm_push_hubspot import limits
from crm_push_hubspot.connect import LINKEDIN
from crm_push_hubspot.plugin import HubSpotDestination
from crm_push_hubspot.records import domain_searches

BASE = "https://api.hubapi.com"
TOKEN = "pat-na1-test-token-0123456789"
V = "2026-03"
OBJ = f"{BASE}/crm/objects/{V}"
SCOPES = [
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
]


def body(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def batch(results: list[dict[str, Any]], status: int = 200) -> httpx.Response:
    return httpx.Response(
        status,
        json={"status": "COMPLETE", "results": results, "startedAt": "x", "completedAt": "y"},
    )


def obj(record_id: str, **properties: str) -> dict[str, Any]:
    return {"id": record_id, "properties": properties, "archived": False}


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def hubspot() -> Iterator[HubSpotDestination]:
    dest = HubSpotDestination(sleep=lambda _: None)
    yield dest
    dest.close()


def connect(
    hubspot: HubSpotDestination,
    api: respx.MockRouter,
    scopes: list[str] = SCOPES,
    properties: tuple[str, ...] = ("email", LINKEDIN),
    unique: bool = True,
    **extra: str,
) -> Connection:
    api.get(f"/account-info/{extra.get('api_version', V)}/details").respond(
        json={"portalId": 4242, "uiDomain": "app-eu1.hubspot.com"}
    )
    api.post("/oauth/v2/private-apps/get/access-token-info").respond(
        json={"userId": 1, "hubId": 4242, "appId": 7, "scopes": scopes}
    )
    api.get(f"/crm/properties/{extra.get('api_version', V)}/contacts").respond(
        json={"results": [{"name": n} for n in properties]}
    )
    api.get(f"/crm/properties/{extra.get('api_version', V)}/companies/crmpush_domain").respond(
        json={"name": "crmpush_domain", "hasUniqueValue": unique}
    )
    return hubspot.connect(
        credentials=Credentials(access_token=SecretStr(TOKEN)),
        options=ConnectOptions(interactive=False, extra=extra),
    )


def test_connect_reads_portal_and_scopes(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    assert connection.workspace_id == "4242" and connection.destination == "hubspot"
    assert connection.scopes == tuple(SCOPES) and connection.can("notes")
    details = api.calls[0].request
    assert details.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(api.calls[1].request.content) == {"tokenKey": TOKEN}
    assert TOKEN not in repr(connection)


def test_connect_names_a_missing_scope(hubspot: HubSpotDestination, api: respx.MockRouter) -> None:
    with pytest.raises(ScopeMissing) as info:
        connect(hubspot, api, scopes=SCOPES[:3])
    assert info.value.scope == "crm.objects.companies.write"
    assert "crm.objects.companies.write" in str(info.value)


def test_connect_with_a_wrong_token_says_reconnect(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    api.get(f"/account-info/{V}/details").respond(
        401,
        json={
            "status": "error",
            "message": "Authentication credentials not found.",
            "correlationId": "c",
            "category": "INVALID_AUTHENTICATION",
        },
    )
    with pytest.raises(ReconnectRequired) as info:
        hubspot.connect(
            credentials=Credentials(access_token=SecretStr(TOKEN)),
            options=ConnectOptions(interactive=False),
        )
    assert "reconnect" in str(info.value).lower() and TOKEN not in str(info.value)


def test_connect_to_something_else_names_the_base_url(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    api.get(f"/account-info/{V}/details").respond(404, json={"message": "No route"})
    with pytest.raises(ConfigurationError) as info:
        hubspot.connect(
            credentials=Credentials(access_token=SecretStr(TOKEN)),
            options=ConnectOptions(interactive=False),
        )
    assert BASE in str(info.value) and "HUBSPOT_BASE_URL" in str(info.value)


def test_connect_takes_the_environment_and_the_version_option(
    hubspot: HubSpotDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-from-env")
    connection = connect(hubspot, api, api_version="2026-09")
    assert connection.credentials.access_token is not None
    assert connection.credentials.access_token.get_secret_value() == "pat-from-env"
    route = api.post("/crm/objects/2026-09/contacts/batch/upsert").respond(
        json={"status": "COMPLETE", "results": [obj("1") | {"new": True}]}
    )
    hubspot.assert_person(
        connection=connection,
        person=Person(email="a@x.io"),
        company=None,
        existing=None,
        pending=None,
    )
    assert route.called


def test_person_upserted_by_lowercased_email(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    route = api.post(f"/crm/objects/{V}/contacts/batch/upsert").mock(
        return_value=batch([obj("101", email="jane@acme.com") | {"new": True}])
    )
    person = Person(
        email="Jane@Acme.com",
        name="Jane Doe",
        job_title="CTO",
        linkedin_url="https://www.linkedin.com/in/janedoe",
    )
    ref = hubspot.assert_person(
        connection=connection, person=person, company=None, existing=None, pending=None
    )
    assert (ref.record_id, ref.outcome, ref.object) == ("101", "created", "contacts")
    assert body(route) == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "jane@acme.com",
                "objectWriteTraceId": "jane@acme.com",
                "properties": {
                    "email": "jane@acme.com",
                    "firstname": "Jane",
                    "lastname": "Doe",
                    "jobtitle": "CTO",
                    LINKEDIN: "https://www.linkedin.com/in/janedoe",
                },
            }
        ]
    }
    request = route.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"


def test_linkedin_url_left_out_when_the_portal_lacks_the_property(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api, properties=("email",))
    assert any(LINKEDIN in w for w in connection.warnings)
    route = api.post(f"/crm/objects/{V}/contacts/batch/upsert").mock(
        return_value=batch([obj("101") | {"new": False}])
    )
    person = Person(email="a@x.io", linkedin_url="https://www.linkedin.com/in/a")
    ref = hubspot.assert_person(
        connection=connection, person=person, company=None, existing=None, pending=None
    )
    assert ref.outcome == "updated"
    assert LINKEDIN not in body(route)["inputs"][0]["properties"]


def test_company_searched_by_domain_then_created(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api, unique=False)  # no unique property: search, create
    search = api.post(f"/crm/objects/{V}/companies/search").respond(
        json={"total": 0, "results": []}
    )
    create = api.post(f"/crm/objects/{V}/companies/batch/create").mock(
        return_value=batch([obj("501", domain="acme.com")], 201)
    )
    company = Company(name="Acme", domain="acme.com", description="Rockets")
    ref = hubspot.assert_company(
        connection=connection, company=company, existing=None, pending=None
    )
    assert (ref.record_id, ref.outcome) == ("501", "created")
    assert body(search) == {
        "filterGroups": [
            {"filters": [{"propertyName": "domain", "operator": "IN", "values": ["acme.com"]}]}
        ],
        "properties": ["domain", "name"],
        "limit": 200,
    }
    assert body(create) == {
        "inputs": [
            {
                "objectWriteTraceId": "d:acme.com",
                "properties": {"name": "Acme", "domain": "acme.com", "description": "Rockets"},
            }
        ]
    }
    # The same domain again in this process: no search (it may lag), no write (the same data).
    update = api.post(f"/crm/objects/{V}/companies/batch/update").mock(
        return_value=batch([obj("501")])
    )
    again = hubspot.assert_company(
        connection=connection, company=company, existing=None, pending=None
    )
    assert (again.record_id, again.outcome) == ("501", "unchanged")
    assert (search.call_count, create.call_count, update.call_count) == (1, 1, 0)
    # With new data: an update of 501, still no search.
    changed = hubspot.assert_company(
        connection=connection,
        company=company.model_copy(update={"description": "Anvils"}),
        existing=None,
        pending=None,
    )
    assert (changed.record_id, changed.outcome) == ("501", "updated")
    assert search.call_count == 1
    assert body(update)["inputs"][0]["id"] == "501"


def test_company_found_by_search_is_updated(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    api.post(f"/crm/objects/{V}/companies/search").respond(
        json={"total": 2, "results": [obj("900", domain="acme.com"), obj("77", domain="Acme.com")]}
    )
    update = api.post(f"/crm/objects/{V}/companies/batch/update").mock(
        return_value=batch([obj("77")])
    )
    ref = hubspot.assert_company(
        connection=connection, company=Company(domain="acme.com"), existing=None, pending=None
    )
    assert ref.record_id == "77"  # the oldest of several
    # Adopted: its unique upsert key set, so later writes need no search.
    assert body(update) == {
        "inputs": [{"id": "77", "properties": {"domain": "acme.com", "crmpush_domain": "acme.com"}}]
    }


def test_keyless_contact_created_then_updated_through_its_marker(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    create = api.post(f"/crm/objects/{V}/contacts/batch/create").mock(
        return_value=batch([obj("301")], 201)
    )
    person = Person(name="Ann Lee")
    first = hubspot.assert_person(
        connection=connection, person=person, company=None, existing=None, pending=None
    )
    assert body(create) == {
        "inputs": [
            {"objectWriteTraceId": "one", "properties": {"firstname": "Ann", "lastname": "Lee"}}
        ]
    }
    update = api.post(f"/crm/objects/{V}/contacts/batch/update").mock(
        return_value=batch([obj("301")])
    )
    again = hubspot.assert_person(
        connection=connection, person=person, company=None, existing=first, pending=None
    )
    assert (again.record_id, again.outcome) == ("301", "updated")
    assert body(update)["inputs"][0]["id"] == "301"


def test_two_inputs_updating_one_record_send_both_inputs_properties(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    update = api.post(f"/crm/objects/{V}/contacts/batch/update").mock(
        return_value=batch([obj("301")])
    )
    known = RecordRef(object="contacts", record_id="301")
    answers = hubspot.assert_people(
        connection=connection,
        people=[
            PersonInput(key="a", person=Person(name="Ann Lee"), existing=known),
            PersonInput(key="b", person=Person(name="Ann", job_title="CTO"), existing=known),
        ],
    )
    assert {k: v.record_id for k, v in answers.items()} == {"a": "301", "b": "301"}  # type: ignore[union-attr]
    (sent_input,) = body(update)["inputs"]
    assert sent_input["id"] == "301"
    assert sent_input["properties"]["lastname"] == "Lee"  # a's, kept beside b's
    assert sent_input["properties"]["jobtitle"] == "CTO"


def test_pending_keyless_company_is_searched_since_the_claim(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    search = api.post(f"/crm/objects/{V}/companies/search").respond(
        json={"total": 1, "results": [obj("640")]}
    )
    api.post(f"/crm/objects/{V}/companies/batch/update").mock(return_value=batch([obj("640")]))
    since = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
    ref = hubspot.assert_company(
        connection=connection,
        company=Company(name="Initech"),
        existing=None,
        pending=Pending(since=since),
    )
    assert ref.record_id == "640"
    filters = body(search)["filterGroups"][0]["filters"]
    assert filters == [
        {"propertyName": "name", "operator": "EQ", "value": "Initech"},
        {
            "propertyName": "createdate",
            "operator": "GTE",
            "value": str(int(since.timestamp() * 1000)),
        },
    ]


def test_associate_puts_the_default_association(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    route = api.put(f"/crm/objects/{V}/contacts/101/associations/default/companies/501").respond(
        json={"status": "COMPLETE", "results": []}
    )
    ref = hubspot.associate(
        connection=connection,
        person=RecordRef(object="contacts", record_id="101"),
        company=RecordRef(object="companies", record_id="501"),
    )
    assert ref.linked == ("501",) and route.called
    assert route.calls[0].request.content == b""


def test_note_created_with_timestamp_body_and_association(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    route = api.post(f"/crm/objects/{V}/notes/batch/create").mock(
        return_value=batch([obj("9001")], 201)
    )
    note = Note(
        key="abc123",
        title="Website visit",
        content="Pages: /pricing & /docs\n\ncrm-push visit key: abc123",
        created_at=dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC),
    )
    result = hubspot.add_note(
        connection=connection, parent=RecordRef(object="contacts", record_id="101"), note=note
    )
    assert (result.status, result.note_id) == ("created", "9001")
    assert body(route) == {
        "inputs": [
            {
                "objectWriteTraceId": "abc123",
                "properties": {
                    "hs_timestamp": "2026-11-20T10:00:00.000Z",
                    "hs_note_body": "<p><strong>Website visit</strong></p>"
                    "<p>Pages: /pricing &amp; /docs</p><p>crm-push visit key: abc123</p>",
                },
                "associations": [
                    {
                        "to": {"id": "101"},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}
                        ],
                    }
                ],
            }
        ]
    }


def test_note_that_may_exist_is_found_by_key(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    api.get(f"/crm/objects/{V}/contacts/101/associations/notes").respond(
        json={"results": [{"toObjectId": 9001, "associationTypes": []}]}
    )
    read = api.post(f"/crm/objects/{V}/notes/batch/read").mock(
        return_value=batch([obj("9001", hs_note_body="<p>crm-push visit key: abc123</p>")])
    )
    create = api.post(f"/crm/objects/{V}/notes/batch/create")
    note = Note(key="abc123", title="t", content="c", may_exist=True)
    result = hubspot.add_note(
        connection=connection, parent=RecordRef(object="contacts", record_id="101"), note=note
    )
    assert (result.status, result.note_id) == ("existing", "9001")
    assert body(read) == {"inputs": [{"id": "9001"}], "properties": ["hs_note_body"]}
    assert not create.called


def test_validation_error_names_the_field(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    api.post(f"/crm/objects/{V}/contacts/batch/upsert").respond(
        400,
        json={
            "status": "error",
            "message": "Property values were not valid",
            "correlationId": "c",
            "category": "VALIDATION_ERROR",
            "errors": [
                {
                    "message": "jobtitle is too long",
                    "code": "INVALID_STRING_LENGTH",
                    "context": {"propertyName": ["jobtitle"]},
                }
            ],
        },
    )
    with pytest.raises(InvalidInput) as info:
        hubspot.assert_person(
            connection=connection,
            person=Person(email="a@x.io", job_title="x"),
            company=None,
            existing=None,
            pending=None,
        )
    assert info.value.field == "person.job_title"
    assert info.value.code == "INVALID_STRING_LENGTH"


def test_a_207_error_is_typed(hubspot: HubSpotDestination, api: respx.MockRouter) -> None:
    connection = connect(hubspot, api, unique=False)
    api.post(f"/crm/objects/{V}/companies/search").respond(json={"total": 0, "results": []})
    api.post(f"/crm/objects/{V}/companies/batch/create").respond(
        207,
        json={
            "status": "COMPLETE",
            "results": [],
            "numErrors": 1,
            "errors": [
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": 'Property "name" is invalid',
                    "context": {},
                    "errors": [],
                    "links": {},
                }
            ],
        },
    )
    with pytest.raises(InvalidInput) as info:
        hubspot.assert_company(
            connection=connection,
            company=Company(name="A", domain="a.io"),
            existing=None,
            pending=None,
        )
    assert info.value.field == "company.name"


def test_missing_scope_on_a_call_names_it(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    api.post(f"/crm/objects/{V}/companies/search").respond(
        403,
        json={
            "status": "error",
            "message": "This app hasn't been granted all required scopes to make this call.",
            "correlationId": "c",
            "category": "MISSING_SCOPES",
            "errors": [
                {"message": "…", "context": {"requiredScopes": ["crm.objects.companies.read"]}}
            ],
        },
    )
    with pytest.raises(ScopeMissing) as info:
        hubspot.assert_company(
            connection=connection, company=Company(domain="a.io"), existing=None, pending=None
        )
    assert info.value.scope == "crm.objects.companies.read"


def test_a_create_is_not_retried_blindly(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    create = api.post(f"/crm/objects/{V}/contacts/batch/create").mock(
        side_effect=httpx.ReadTimeout("lost")
    )
    with pytest.raises(Exception):  # noqa: B017 - RetryLater, whatever its wording
        hubspot.assert_person(
            connection=connection,
            person=Person(name="Ann Lee"),
            company=None,
            existing=None,
            pending=None,
        )
    assert create.call_count == 1


def test_no_delete_is_ever_sent(hubspot: HubSpotDestination, api: respx.MockRouter) -> None:
    connection = connect(hubspot, api)
    result = hubspot.disconnect(connection=connection)
    assert result.revoked is False and "Nothing in HubSpot was deleted" in result.message
    assert all(call.request.method != "DELETE" for call in api.calls)


# -- batches ------------------------------------------------------------------------------------

SEARCH = f"{OBJ}/companies/search"


def sent(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def answer(
    results: list[dict[str, Any]], errors: list[dict[str, Any]] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "x",
        "completedAt": "y",
    }
    if errors:
        body.update(numErrors=len(errors), errors=errors)
    return httpx.Response(207 if errors else 200, json=body)


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def sleepy(slept: list[float]) -> Iterator[HubSpotDestination]:
    dest = HubSpotDestination(sleep=slept.append)
    yield dest
    dest.close()


def test_contacts_upsert_body_and_answers_matched_by_trace_id_not_position(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    route = api.post(f"{OBJ}/contacts/batch/upsert").respond(
        json={
            "status": "COMPLETE",
            # Reversed, and the second without its trace id: matched by its email instead.
            "results": [
                {"id": "2", "new": False, "objectWriteTraceId": "bo@globex.io", "properties": {}},
                {"id": "1", "new": True, "properties": {"email": "ann@acme.com"}},
            ],
        }
    )
    answers = hubspot.assert_people(
        connection=connection,
        people=[
            PersonInput(
                key="k1", person=Person(email="Ann@ACME.com", name="Ann Lee", job_title="CFO")
            ),
            PersonInput(key="k2", person=Person(email="bo@globex.io", name="Bo")),
        ],
    )
    assert answers == {
        "k1": RecordRef(object="contacts", record_id="1", outcome="created"),
        "k2": RecordRef(object="contacts", record_id="2", outcome="updated"),
    }
    assert sent(route) == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "ann@acme.com",
                "objectWriteTraceId": "ann@acme.com",
                "properties": {
                    "email": "ann@acme.com",
                    "firstname": "Ann",
                    "lastname": "Lee",
                    "jobtitle": "CFO",
                },
            },
            {
                "idProperty": "email",
                "id": "bo@globex.io",
                "objectWriteTraceId": "bo@globex.io",
                "properties": {"email": "bo@globex.io", "firstname": "Bo"},
            },
        ]
    }


def test_a_207_fails_only_the_inputs_hubspot_refused(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    api.post(f"{OBJ}/contacts/batch/create").mock(
        return_value=answer(
            [{"id": "7", "objectWriteTraceId": "ok", "properties": {}}],
            [
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "jobtitle is too long",
                    "context": {"objectWriteTraceId": ["bad"], "propertyName": ["jobtitle"]},
                }
            ],
        )
    )
    answers = hubspot.assert_people(
        connection=connection,
        people=[
            PersonInput(key="ok", person=Person(name="Ann")),
            PersonInput(key="bad", person=Person(name="Bo", job_title="x")),
        ],
    )
    assert answers["ok"] == RecordRef(object="contacts", record_id="7", outcome="created")
    refused = answers["bad"]
    assert isinstance(refused, InvalidInput) and refused.field == "person.job_title"
    assert "jobtitle is too long" in refused.message


def test_a_batch_refused_whole_is_split_until_the_refused_input_stands_alone(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)

    def upsert(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        if any(i["id"] == "bad@acme.com" for i in inputs):
            # [unverified] in HubSpot: an upsert by email refused whole for one input.
            return httpx.Response(
                400,
                json={
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid",
                    "correlationId": "c",
                    "errors": [
                        {"message": "bad jobtitle", "context": {"propertyName": ["jobtitle"]}}
                    ],
                },
            )
        return answer([{"id": i["id"], "new": True, "objectWriteTraceId": i["id"]} for i in inputs])

    route = api.post(f"{OBJ}/contacts/batch/upsert").mock(side_effect=upsert)
    emails = ["a@acme.com", "b@acme.com", "bad@acme.com", "c@acme.com"]
    answers = hubspot.assert_people(
        connection=connection,
        people=[PersonInput(key=e, person=Person(email=e)) for e in emails],
    )
    refused = answers.pop("bad@acme.com")
    assert isinstance(refused, InvalidInput) and refused.field == "person.job_title"
    assert {k: v.record_id for k, v in answers.items()} == {  # type: ignore[union-attr]
        e: e for e in emails if e != "bad@acme.com"
    }
    assert [len(sent(route, i)["inputs"]) for i in range(route.call_count)] == [4, 2, 2, 1, 1]


def test_two_inputs_refused_with_the_same_words_in_both_halves_leave_the_others_pushed(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    bad = {"b@acme.com", "d@acme.com"}  # one in each half, refused in the same words

    def upsert(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        if any(i["id"] in bad for i in inputs):
            return httpx.Response(
                400,
                json={
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid: jobtitle is too long",
                    "errors": [{"code": "TOO_LONG", "context": {"propertyName": ["jobtitle"]}}],
                },
            )
        return answer([{"id": i["id"], "new": True, "objectWriteTraceId": i["id"]} for i in inputs])

    api.post(f"{OBJ}/contacts/batch/upsert").mock(side_effect=upsert)
    emails = ["a@acme.com", "b@acme.com", "c@acme.com", "d@acme.com"]
    answers = hubspot.assert_people(
        connection=connection,
        people=[PersonInput(key=e, person=Person(email=e)) for e in emails],
    )
    assert {k for k, v in answers.items() if isinstance(v, InvalidInput)} == bad
    assert {k: v.record_id for k, v in answers.items() if k not in bad} == {  # type: ignore[union-attr]
        "a@acme.com": "a@acme.com",
        "c@acme.com": "c@acme.com",
    }


def test_a_batch_every_input_of_which_is_refused_is_not_split_to_the_end(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    route = api.post(f"{OBJ}/contacts/batch/upsert").respond(
        400,
        json={
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": 'Property "x" does not exist',
        },
    )
    people = [PersonInput(key=str(i), person=Person(email=f"p{i}@acme.com")) for i in range(64)]
    answers = hubspot.assert_people(connection=connection, people=people)
    assert all(isinstance(a, InvalidInput) for a in answers.values()) and len(answers) == 64
    assert route.call_count == 3  # the whole, then both halves: every input's problem


def test_domain_searches_fill_hubspots_limits() -> None:
    domains = [f"company-{i:04d}.example" for i in range(300)]
    bodies = domain_searches(domains, ["domain", "name"])
    assert len(bodies) <= 3
    covered = []
    for body in bodies:
        assert len(json.dumps(body)) <= 3000
        assert len(body["filterGroups"]) <= 5
        for group in body["filterGroups"]:
            (only,) = group["filters"]
            assert only["operator"] == "IN" and len(only["values"]) <= 100
            covered += only["values"]
    assert covered == domains


def test_companies_searched_in_one_request_then_created_with_the_unique_property(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    search = api.post(SEARCH).respond(
        json={
            "total": 2,
            "results": [
                {"id": "12", "properties": {"domain": "acme.com"}},
                {"id": "9", "properties": {"domain": "acme.com"}},
            ],
        }
    )
    update = api.post(f"{OBJ}/companies/batch/update").respond(
        json={"status": "COMPLETE", "results": [{"id": "9", "properties": {}}]}
    )
    # globex.io is created; initech.example was made by another process since the search
    # (search lags): its unique value conflicts, and it is upserted instead of doubled.
    create = api.post(f"{OBJ}/companies/batch/create").mock(
        return_value=answer(
            [{"id": "30", "objectWriteTraceId": "d:globex.io", "properties": {}}],
            [
                {
                    "status": "error",
                    "category": "CONFLICT",
                    "message": "Object already exists. Existing ID: 44",
                    "context": {"objectWriteTraceId": ["d:initech.example"]},
                }
            ],
        )
    )
    upsert = api.post(f"{OBJ}/companies/batch/upsert").respond(
        json={
            "status": "COMPLETE",
            "results": [{"id": "44", "new": False, "objectWriteTraceId": "initech.example"}],
        }
    )
    answers = hubspot.assert_companies(
        connection=connection,
        companies=[
            CompanyInput(key="a", company=Company(domain="acme.com", name="Acme")),
            CompanyInput(key="g", company=Company(domain="globex.io")),
            CompanyInput(key="i", company=Company(domain="initech.example")),
        ],
    )
    assert answers == {
        "a": RecordRef(object="companies", record_id="9", outcome="updated"),
        "g": RecordRef(object="companies", record_id="30", outcome="created"),
        "i": RecordRef(object="companies", record_id="44", outcome="updated"),
    }
    (group,) = sent(search)["filterGroups"]
    assert group["filters"][0]["values"] == ["acme.com", "globex.io", "initech.example"]
    # The oldest match is adopted: its unique value set.
    assert sent(update) == {
        "inputs": [
            {
                "id": "9",
                "properties": {"name": "Acme", "domain": "acme.com", "crmpush_domain": "acme.com"},
            }
        ]
    }
    assert [i["objectWriteTraceId"] for i in sent(create)["inputs"]] == [
        "d:globex.io",
        "d:initech.example",
    ]
    assert sent(create)["inputs"][0]["properties"] == {
        "domain": "globex.io",
        "crmpush_domain": "globex.io",
    }
    assert sent(upsert) == {
        "inputs": [
            {
                "idProperty": "crmpush_domain",
                "id": "initech.example",
                "objectWriteTraceId": "initech.example",
                "properties": {"domain": "initech.example", "crmpush_domain": "initech.example"},
            }
        ]
    }


def test_associations_in_one_batch_matched_by_pair(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    route = api.post(f"/crm/associations/{V}/contacts/companies/batch/associate/default").respond(
        json={
            "status": "COMPLETE",
            "results": [{"from": {"id": "2"}, "to": {"id": "20"}, "associationSpec": {}}],
            "numErrors": 1,
            "errors": [
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "no such company",
                    "context": {"fromObjectId": ["1"], "toObjectId": ["10"]},
                }
            ],
        }
    )
    person = [RecordRef(object="contacts", record_id=i) for i in ("1", "2")]
    answers = hubspot.associate_people(
        connection=connection,
        links=[
            LinkInput(
                key="x", person=person[0], company=RecordRef(object="companies", record_id="10")
            ),
            LinkInput(
                key="y", person=person[1], company=RecordRef(object="companies", record_id="20")
            ),
        ],
    )
    assert isinstance(answers["x"], InvalidInput)
    assert answers["y"] == person[1].model_copy(update={"linked": ("20",)})
    assert sent(route) == {
        "inputs": [
            {"from": {"id": "1"}, "to": {"id": "10"}},
            {"from": {"id": "2"}, "to": {"id": "20"}},
        ]
    }


def test_notes_batch_created_with_their_key_as_trace_id(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    route = api.post(f"{OBJ}/notes/batch/create").respond(
        201,
        json={
            "status": "COMPLETE",
            "results": [{"id": "55", "objectWriteTraceId": "n1", "properties": {}}],
        },
    )
    parent = RecordRef(object="contacts", record_id="1")
    answers = hubspot.add_notes(
        connection=connection,
        notes=[
            NoteInput(
                key="n1", parent=parent, note=Note(key="v1", title="Visit", content="/pricing")
            )
        ],
    )
    assert answers["n1"].note_id == "55"  # type: ignore[union-attr]
    (only,) = sent(route)["inputs"]
    assert only["objectWriteTraceId"] == "n1"
    assert only["associations"] == [
        {
            "to": {"id": "1"},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
        }
    ]


def test_a_429_waits_as_its_policy_says(
    sleepy: HubSpotDestination, api: respx.MockRouter, slept: list[float]
) -> None:
    hubspot = sleepy
    connection = connect(hubspot, api)
    window = {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    secondly = {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
    }
    api.post(SEARCH).mock(
        side_effect=[httpx.Response(429, json=secondly), httpx.Response(200, json={"results": []})]
    )
    api.post(f"{OBJ}/companies/batch/create").mock(
        side_effect=[
            httpx.Response(429, json=window),
            httpx.Response(429, json=window, headers={"Retry-After": "3"}),
            answer([{"id": "1", "objectWriteTraceId": "d:acme.com"}]),
        ]
    )
    hubspot.assert_companies(
        connection=connection, companies=[CompanyInput(key="a", company=Company(domain="acme.com"))]
    )
    assert slept == [1.0, 10.0, 3.0]  # the search's second, the window's 10 s, Retry-After


def test_the_window_follows_hubspots_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.WINDOW_ENV)
    connection = Connection(destination="hubspot", workspace_id="777")
    portal = limits.PortalBudget(connection)
    assert portal.per_second == 10.0  # Free/Starter's 100 per 10 s until HubSpot says more
    portal.observe(
        httpx.Response(
            200,
            headers={
                "X-HubSpot-RateLimit-Max": "190",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            },
        )
    )
    assert portal.per_second == 19.0
    assert portal.budget is budget_for(
        connection,
        writes_per_second=None,
        reads_per_second=None,
        extra={limits.TEN_SECONDLY: 19.0, limits.SEARCH: None},
    )
    monkeypatch.setenv(limits.WINDOW_ENV, "50")
    fixed = limits.PortalBudget(Connection(destination="hubspot", workspace_id="778"))
    fixed.observe(
        httpx.Response(
            200,
            headers={
                "X-HubSpot-RateLimit-Max": "190",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            },
        )
    )
    assert fixed.per_second == 5.0  # set by the environment: kept


def test_the_portal_budget_is_core_shared_one_with_hubspots_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(limits.WINDOW_ENV)
    monkeypatch.delenv(limits.SEARCH_ENV)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    shared.register("hubspot", "4242", url)
    try:
        portal = limits.PortalBudget(Connection(destination="hubspot", workspace_id="4242"))
        assert isinstance(portal.budget, shared.SharedBudget)
        assert portal.budget.rates == {
            "write": None,
            "read": None,
            "ten_secondly": 10.0,
            "search": 5.0,
        }
        searches = limits.KindBudget(portal, search=True)
        searches.pause("read", 1.0)  # a search 429: every process's searches wait
        store = portal.budget.store
        send_at, now = store.take("hubspot", "4242", limits.SEARCH, 0.0)
        assert send_at - now > 0.5
        send_at, now = store.take("hubspot", "4242", limits.TEN_SECONDLY, 0.0)
        assert send_at - now <= 0.0  # the window itself is not held by a search's 429
        full = {
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Remaining": "0",
        }
        portal.observe(httpx.Response(200, headers=full))  # the window is full: hold it
        send_at, now = store.take("hubspot", "4242", limits.TEN_SECONDLY, 0.0)
        assert send_at - now > 0.5
    finally:
        shared.unregister("hubspot", "4242")
    # The Session gone, the same portal's budget is this process's again (not a stale row).
    assert not isinstance(portal.budget, shared.SharedBudget)


# -- requests shared by concurrent calls ---------------------------------------------------------


def test_concurrent_calls_to_one_endpoint_share_a_request() -> None:
    from crm_push_hubspot.batches import Together, send

    sent_bodies: list[list[str]] = []
    first_in_flight, release = threading.Event(), threading.Event()

    def call(inputs: list[dict[str, Any]]) -> dict[str, Any]:
        sent_bodies.append([i["id"] for i in inputs])
        if len(sent_bodies) == 1:
            first_in_flight.set()
            release.wait(5)  # the first request in flight: the others queue behind it
        return {"results": [{"id": i["id"], "objectWriteTraceId": i["tag"]} for i in inputs]}

    together = Together(limit=10)
    answers: list[dict[str, Any]] = []

    def caller(name: str, keys: list[str]) -> None:
        chunk = {k: {"id": k, "tag": k} for k in keys}
        answers.append(send(call, chunk, "contacts", together=together))

    threads = []
    for n, keys in enumerate((["a"], ["b", "c"], ["d"], ["c", "e"])):
        threads.append(threading.Thread(target=caller, args=(str(n), keys)))
        threads[-1].start()
        if n == 0:
            first_in_flight.wait(5)
        while len(together._queue) < n:  # each queued in turn
            time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(5)
    # b+c and d share the second request; "c" may not be in one request twice.
    assert sent_bodies == [["a"], ["b", "c", "d"], ["c", "e"]]
    assert sorted(sorted(a) for a in answers) == [["a"], ["b", "c"], ["c", "e"], ["d"]]
    assert all(not isinstance(v, Exception) for a in answers for v in a.values())


def test_a_shared_request_refused_whole_is_sent_again_alone() -> None:
    from crm_push_hubspot.batches import Together, send

    sent_bodies: list[list[str]] = []
    first_in_flight, release = threading.Event(), threading.Event()

    def call(inputs: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [i["id"] for i in inputs]
        sent_bodies.append(ids)
        if len(sent_bodies) == 1:
            first_in_flight.set()
            release.wait(5)
        if "bad" in ids:
            raise InvalidInput("HubSpot refused a value", field="person.job_title")
        return {"results": [{"id": i, "objectWriteTraceId": i} for i in ids]}

    together = Together(limit=10)
    answers: dict[str, Any] = {}

    def caller(keys: list[str]) -> None:
        answers.update(send(call, {k: {"id": k} for k in keys}, "contacts", together=together))

    threads = [threading.Thread(target=caller, args=(["x"],))]
    threads[0].start()
    first_in_flight.wait(5)
    for n, keys in enumerate((["ok"], ["bad"]), start=1):
        threads.append(threading.Thread(target=caller, args=(keys,)))
        threads[-1].start()
        while len(together._queue) < n:
            time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(5)
    assert isinstance(answers.pop("bad"), InvalidInput)
    assert answers == {
        "x": {"id": "x", "objectWriteTraceId": "x"},
        "ok": {"id": "ok", "objectWriteTraceId": "ok"},
    }
    # ok+bad shared a request and were refused; each was then sent alone.
    assert sent_bodies[:2] == [["x"], ["ok", "bad"]]
    assert sorted(map(tuple, sent_bodies[2:])) == [("bad",), ("ok",)]


def test_a_slot_taken_ahead_serves_the_next_request_of_its_thread() -> None:
    portal = limits.PortalBudget(Connection(destination="hubspot", workspace_id="779"))
    budget = limits.KindBudget(portal)
    taken: list[str] = []

    class Spy:
        def acquire(self, kind: str) -> float:
            taken.append(kind)
            return 0.0

        def pause(self, kind: str, seconds: float) -> None: ...

    portal_budget = type(portal).budget
    try:
        type(portal).budget = property(lambda self: Spy())  # type: ignore[method-assign,assignment]
        budget.prepay()
        assert budget.acquire("write") == 0.0  # the prepaid slot: no second one taken
        budget.acquire("write")
    finally:
        type(portal).budget = portal_budget  # type: ignore[method-assign]
        limits.forget_prepaid()
    assert taken == [limits.TEN_SECONDLY, limits.TEN_SECONDLY]
