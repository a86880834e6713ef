"""respx pins the exact requests the HubSpot plugin sends: paths with the version, bodies,
headers; and how HubSpot's answers become typed errors naming the field."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from crm_push.errors import ConfigurationError, InvalidInput, ReconnectRequired, ScopeMissing
from crm_push.models import Company, Connection, ConnectOptions, Credentials, Note, Person
from crm_push.models.crm import Pending, RecordRef
from pydantic import SecretStr

from crm_push_hubspot.connect import LINKEDIN
from crm_push_hubspot.plugin import HubSpotDestination

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
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
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
    connection = connect(hubspot, api)
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
        "limit": 10,
    }
    assert body(create) == {
        "inputs": [{"properties": {"name": "Acme", "domain": "acme.com", "description": "Rockets"}}]
    }
    # The same domain again in this process: no search (it may lag), an update of 501.
    update = api.post(f"/crm/objects/{V}/companies/batch/update").mock(
        return_value=batch([obj("501")])
    )
    again = hubspot.assert_company(
        connection=connection, company=company, existing=None, pending=None
    )
    assert (again.record_id, again.outcome) == ("501", "updated")
    assert search.call_count == 1
    assert body(update)["inputs"][0]["id"] == "501"


def test_company_found_by_search_is_updated(
    hubspot: HubSpotDestination, api: respx.MockRouter
) -> None:
    connection = connect(hubspot, api)
    api.post(f"/crm/objects/{V}/companies/search").respond(
        json={"total": 2, "results": [obj("900"), obj("77")]}
    )
    update = api.post(f"/crm/objects/{V}/companies/batch/update").mock(
        return_value=batch([obj("77")])
    )
    ref = hubspot.assert_company(
        connection=connection, company=Company(domain="acme.com"), existing=None, pending=None
    )
    assert ref.record_id == "77"  # the oldest of several
    assert body(update) == {"inputs": [{"id": "77", "properties": {"domain": "acme.com"}}]}


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
    assert body(create) == {"inputs": [{"properties": {"firstname": "Ann", "lastname": "Lee"}}]}
    update = api.post(f"/crm/objects/{V}/contacts/batch/update").mock(
        return_value=batch([obj("301")])
    )
    again = hubspot.assert_person(
        connection=connection, person=person, company=None, existing=first, pending=None
    )
    assert (again.record_id, again.outcome) == ("301", "updated")
    assert body(update)["inputs"][0]["id"] == "301"


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
    connection = connect(hubspot, api)
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
