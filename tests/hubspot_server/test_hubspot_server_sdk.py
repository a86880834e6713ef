"""The oracle: HubSpot's own Python client (`hubspot-api-client`, which nobody here wrote)
against the local server, for every endpoint the server has. If the SDK cannot parse an
answer — a missing required field, a bad enum value (client-side validation is on) — the
server is wrong.

The SDK speaks the legacy paths (/crm/v3, /crm/v4, /oauth/v1); the server answers them with
the same handlers as the dated ones. Endpoints the SDK has no method for (account details,
dated OAuth) go through `client.api_request`, and their bodies are parsed with the SDK's
models where it has one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    PublicDefaultAssociationMultiPost,
)
from hubspot.crm.companies import ApiException as CompanyApiException
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.objects.notes import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
)
from hubspot.crm.objects.notes import (
    BatchInputSimplePublicObjectBatchInputForCreate as NoteBatch,
)
from hubspot.crm.objects.notes import (
    SimplePublicObjectBatchInputForCreate as NoteInput,
)
from hubspot.crm.properties import PropertyCreate

import hubspot
from crm_push_hubspot.server import DEFAULT_TOKEN, HubSpotServer


@pytest.fixture
def server() -> Iterator[HubSpotServer]:
    with HubSpotServer(search_lag=0.0, oauth_clients={"app-1": "app-secret"}) as srv:
        yield srv


@pytest.fixture
def sdk(server: HubSpotServer) -> Any:
    # `host` replaces https://api.hubapi.com on every API's Configuration; validation on, so
    # a required field missing from an answer raises instead of deserialising silently.
    # `base_url` is where `api_request` (any path, e.g. the dated ones) sends.
    return hubspot.Client.create(
        access_token=DEFAULT_TOKEN,
        host=server.base_url,
        base_url=server.base_url,
        client_side_validation=True,
    )


def _parse_error(api: Any, exc: ApiException) -> Any:
    """An error body as the SDK's `Error` model (it raises when a required field is missing)."""
    client = api.api_client

    class _Raw:
        data = exc.body

    return client.deserialize(_Raw, "Error")


def test_contacts_batch_upsert_create_then_update(sdk: Any) -> None:
    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id="jane@acme.com", id_property="email", properties={"firstname": "Jane"}
            )
        ]
    )
    first = sdk.crm.contacts.batch_api.upsert(batch)
    assert first.status == "COMPLETE" and first.results[0].new is True
    again = sdk.crm.contacts.batch_api.upsert(batch)
    assert again.results[0].new is False and again.results[0].id == first.results[0].id


def test_contacts_batch_create_207_parses_as_with_errors(sdk: Any) -> None:
    from hubspot.crm.contacts import (
        BatchInputSimplePublicObjectBatchInputForCreate as ContactBatch,
    )
    from hubspot.crm.contacts import (
        SimplePublicObjectBatchInputForCreate as ContactInput,
    )

    batch = ContactBatch(
        inputs=[
            ContactInput(
                properties={"email": "a@x.io"}, associations=[], object_write_trace_id="a"
            ),
            ContactInput(properties={"nope": "1"}, associations=[], object_write_trace_id="b"),
        ]
    )
    answer = sdk.crm.contacts.batch_api.create(batch)
    assert type(answer).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert answer.num_errors == 1 and answer.errors[0].category == "VALIDATION_ERROR"
    assert answer.errors[0].context["objectWriteTraceId"] == ["b"]


def test_batch_error_body_parses_as_error(sdk: Any) -> None:
    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[SimplePublicObjectBatchInputUpsert(id="x", id_property="firstname", properties={})]
    )
    with pytest.raises(ApiException) as caught:
        sdk.crm.contacts.batch_api.upsert(batch)
    assert caught.value.status == 400
    error = _parse_error(sdk.crm.contacts.batch_api, caught.value)
    assert error.category == "VALIDATION_ERROR" and error.correlation_id


def test_contacts_basic_create_get_update_and_conflict(sdk: Any) -> None:
    from hubspot.crm.contacts import SimplePublicObjectInput
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput

    api = sdk.crm.contacts.basic_api
    created = api.create(ContactInput(properties={"email": "a@x.io"}, associations=[]))
    got = api.get_by_id(created.id, properties=["email", "firstname"])
    assert got.properties["email"] == "a@x.io"
    updated = api.update(created.id, SimplePublicObjectInput(properties={"firstname": "A"}))
    assert updated.properties["firstname"] == "A"
    with pytest.raises(ApiException) as caught:
        api.create(ContactInput(properties={"email": "A@x.io"}, associations=[]))
    assert caught.value.status == 409
    error = _parse_error(api, caught.value)
    assert error.category == "CONFLICT" and f"Existing ID: {created.id}" in error.message
    page = api.get_page(limit=10)
    assert [r.id for r in page.results] == [created.id]


def test_companies_search_batch_create_update_upsert(sdk: Any, server: HubSpotServer) -> None:
    created = sdk.crm.companies.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    properties={"domain": "acme.com", "name": "Acme"}, associations=[]
                )
            ]
        )
    )
    assert created.results[0].properties["domain"] == "acme.com"
    found = sdk.crm.companies.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[Filter(property_name="domain", operator="IN", values=["acme.com"])]
                )
            ],
            properties=["domain", "name"],
            limit=100,
            after="0",
            sorts=[],
        )
    )
    assert found.total == 1 and found.results[0].id == created.results[0].id
    updated = sdk.crm.companies.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=found.results[0].id, properties={"name": "A"})]
        )
    )
    assert updated.results[0].properties["name"] == "A"
    prop = sdk.crm.properties.core_api.create(
        "companies",
        PropertyCreate(
            name="crmpush_domain",
            label="crm-push domain",
            type="string",
            field_type="text",
            group_name="companyinformation",
            has_unique_value=True,
        ),
    )
    assert prop.has_unique_value is True
    from hubspot.crm.companies import (
        BatchInputSimplePublicObjectBatchInputUpsert as CompanyUpsertBatch,
    )
    from hubspot.crm.companies import (
        SimplePublicObjectBatchInputUpsert as CompanyUpsert,
    )

    upserted = sdk.crm.companies.batch_api.upsert(
        CompanyUpsertBatch(
            inputs=[CompanyUpsert(id="globex.io", id_property="crmpush_domain", properties={})]
        )
    )
    assert upserted.results[0].new is True


def test_properties_get_all_and_by_name(sdk: Any) -> None:
    props = sdk.crm.properties.core_api.get_all("contacts")
    assert {"email", "firstname", "hs_linkedin_url"} <= {p.name for p in props.results}
    email = sdk.crm.properties.core_api.get_by_name("contacts", "email")
    assert email.has_unique_value is True


def test_notes_batch_create_with_association(sdk: Any, server: HubSpotServer) -> None:
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput

    contact = sdk.crm.contacts.basic_api.create(
        ContactInput(properties={"email": "a@x.io"}, associations=[])
    )
    note = NoteInput(
        properties={"hs_timestamp": "2026-11-26T12:00:00Z", "hs_note_body": "<p>Visited</p>"},
        associations=[
            PublicAssociationsForObject(
                to=PublicObjectId(id=contact.id),
                types=[
                    AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=202)
                ],
            )
        ],
        object_write_trace_id="visit-1",
    )
    answer = sdk.crm.objects.notes.batch_api.create(NoteBatch(inputs=[note]))
    assert answer.results[0].object_write_trace_id == "visit-1"
    assert server.associated("contacts", contact.id, "notes") == [answer.results[0].id]


def test_associations_default_one_batch_and_page(sdk: Any) -> None:
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput

    contact = sdk.crm.contacts.basic_api.create(
        ContactInput(properties={"email": "a@x.io"}, associations=[])
    )
    company = sdk.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"domain": "x.io"}, associations=[])
    )
    v4 = sdk.crm.associations.v4
    one = v4.basic_api.create_default("contact", contact.id, "company", company.id)
    assert one.results[0].association_spec.association_type_id == 279
    batch = v4.batch_api.create_default(
        "contacts",
        "companies",
        BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                PublicDefaultAssociationMultiPost(_from={"id": contact.id}, to={"id": company.id})
            ]
        ),
    )
    assert batch.status == "COMPLETE"
    page = v4.basic_api.get_page("contacts", contact.id, "companies")
    # The SDK types toObjectId as a string; HubSpot's answers (and the server's) carry a
    # number, which the SDK turns into a string.
    assert page.results[0].to_object_id == company.id
    assert page.results[0].association_types[0].type_id == 279


def test_missing_scope_and_bad_token_parse_as_error(server: HubSpotServer) -> None:
    bad = hubspot.Client.create(access_token="nope", host=server.base_url)
    with pytest.raises(ApiException) as caught:
        bad.crm.contacts.basic_api.get_page()
    assert caught.value.status == 401
    error = _parse_error(bad.crm.contacts.basic_api, caught.value)
    assert error.category == "INVALID_AUTHENTICATION"

    from crm_push_hubspot.server import TokenInfo

    server.tokens.tokens["narrow"] = TokenInfo(scopes=("crm.objects.contacts.read",))
    narrow = hubspot.Client.create(access_token="narrow", host=server.base_url)
    with pytest.raises(CompanyApiException) as caught:
        narrow.crm.companies.basic_api.get_page()
    assert caught.value.status == 403
    error = _parse_error(narrow.crm.companies.basic_api, caught.value)
    assert error.category == "MISSING_SCOPES"
    assert error.errors[0].context["requiredScopes"] == ["crm.objects.companies.read"]


def test_batch_read_and_upsert_207(sdk: Any) -> None:
    from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id="a@x.io", id_property="email", properties={}, object_write_trace_id="1"
            ),
            SimplePublicObjectBatchInputUpsert(
                id="b@x.io",
                id_property="email",
                properties={"nope": "x"},
                object_write_trace_id="2",
            ),
        ]
    )
    upserted = sdk.crm.contacts.batch_api.upsert(batch)
    assert type(upserted).__name__ == "BatchResponseSimplePublicUpsertObjectWithErrors"
    assert upserted.num_errors == 1 and upserted.results[0].new is True
    read = sdk.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=upserted.results[0].id)],
            properties=["email"],
            properties_with_history=[],
        )
    )
    assert read.results[0].properties["email"] == "a@x.io"


def test_batch_associate_default_errors_come_in_a_200(sdk: Any) -> None:
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput

    contact = sdk.crm.contacts.basic_api.create(
        ContactInput(properties={"email": "a@x.io"}, associations=[])
    )
    answer = sdk.crm.associations.v4.batch_api.create_default(
        "contacts",
        "companies",
        BatchInputPublicDefaultAssociationMultiPost(
            inputs=[PublicDefaultAssociationMultiPost(_from={"id": contact.id}, to={"id": "999"})]
        ),
    )
    assert answer.num_errors == 1 and answer.errors[0].category == "OBJECT_NOT_FOUND"


def test_search_secondly_429_parses_as_error(sdk: Any) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[], properties=[], limit=10, after="0", sorts=[]
    )
    for _ in range(5):
        sdk.crm.companies.search_api.do_search(request)
    with pytest.raises(CompanyApiException) as caught:
        sdk.crm.companies.search_api.do_search(request)
    assert caught.value.status == 429
    error = _parse_error(sdk.crm.companies.search_api, caught.value)
    assert error.message == "You have reached your secondly limit."


@pytest.mark.sends_delete
def test_archive_is_refused_with_405(sdk: Any, server: HubSpotServer) -> None:
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput

    contact = sdk.crm.contacts.basic_api.create(
        ContactInput(properties={"email": "a@x.io"}, associations=[])
    )
    with pytest.raises(ApiException) as caught:
        sdk.crm.contacts.basic_api.archive(contact.id)
    assert caught.value.status == 405
    _parse_error(sdk.crm.contacts.basic_api, caught.value)
    assert [c["id"] for c in server.objects("contacts")] == [contact.id]


def test_token_info_and_dated_introspection_through_api_request(
    sdk: Any, server: HubSpotServer
) -> None:
    info = sdk.api_request(
        {
            "method": "POST",
            "path": "/oauth/v2/private-apps/get/access-token-info",
            "body": {"tokenKey": DEFAULT_TOKEN},
        }
    )
    assert info.json()["hubId"] == server.portal_id
    from crm_push_hubspot.server.auth import Grant

    access, _ = server.tokens.issue_tokens(Grant("app-1", "http://x", ("oauth",)))
    introspected = sdk.api_request(
        {
            "method": "POST",
            "path": "/oauth/2026-03/token/introspect",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            "body": f"client_id=app-1&client_secret=app-secret&token={access}",
        }
    )
    assert introspected.json()["active"] is True


def test_rate_limit_429_body_parses_as_error() -> None:
    with HubSpotServer(ten_secondly_limit=1) as srv:
        sdk = hubspot.Client.create(access_token=DEFAULT_TOKEN, host=srv.base_url)
        sdk.crm.contacts.basic_api.get_page()
        with pytest.raises(ApiException) as caught:
            sdk.crm.contacts.basic_api.get_page()
        assert caught.value.status == 429
        assert json.loads(caught.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
        _parse_error(sdk.crm.contacts.basic_api, caught.value)


def test_oauth_token_and_access_token_info(sdk: Any, server: HubSpotServer) -> None:
    import httpx

    auth = httpx.get(
        f"{server.base_url}/oauth/authorize",
        params={"client_id": "app-1", "redirect_uri": "http://localhost/cb", "scope": "oauth"},
    )
    code = httpx.URL(auth.headers["Location"]).params["code"]
    tokens = sdk.oauth.tokens_api.create(
        grant_type="authorization_code",
        code=code,
        redirect_uri="http://localhost/cb",
        client_id="app-1",
        client_secret="app-secret",
    )
    assert tokens.expires_in == 1800 and tokens.refresh_token
    refreshed = sdk.oauth.tokens_api.create(
        grant_type="refresh_token",
        refresh_token=tokens.refresh_token,
        client_id="app-1",
        client_secret="app-secret",
    )
    info = sdk.oauth.access_tokens_api.get(refreshed.access_token)
    assert info.hub_id == server.portal_id and info.scopes == ["oauth"]


def test_dated_paths_through_api_request(sdk: Any, server: HubSpotServer) -> None:
    details = sdk.api_request({"method": "GET", "path": "/account-info/2026-03/details"})
    assert details.status_code == 200 and details.json()["portalId"] == server.portal_id
    upsert = sdk.api_request(
        {
            "method": "POST",
            "path": "/crm/objects/2026-03/contacts/batch/upsert",
            "body": {"inputs": [{"idProperty": "email", "id": "z@x.io", "properties": {}}]},
        }
    )
    assert upsert.status_code == 200
    # …and the SDK's model parses the dated path's answer too.
    api_client = sdk.crm.contacts.batch_api.api_client

    class _Raw:
        data = upsert.text

    parsed = api_client.deserialize(_Raw, "BatchResponseSimplePublicUpsertObject")
    assert parsed.results[0].new is True


def test_what_the_batch_hooks_meet_parses(sdk: Any, server: HubSpotServer) -> None:
    """The answers the batch hooks read: a missing property's 404 (connect then makes it), a
    second create's 409, a search in several `IN` groups, paged, and a companies upsert 207."""
    from hubspot.crm.companies import (
        BatchInputSimplePublicObjectBatchInputUpsert as CompanyUpsertBatch,
    )
    from hubspot.crm.companies import SimplePublicObjectBatchInputUpsert as CompanyUpsert
    from hubspot.crm.properties import ApiException as PropertyApiException

    properties = sdk.crm.properties.core_api
    with pytest.raises(PropertyApiException) as missing:
        properties.get_by_name("companies", "crmpush_domain")
    assert missing.value.status == 404
    assert _parse_error(properties, missing.value).category == "OBJECT_NOT_FOUND"
    definition = PropertyCreate(
        name="crmpush_domain",
        label="crm-push domain",
        type="string",
        field_type="text",
        group_name="companyinformation",
        has_unique_value=True,
    )
    properties.create("companies", definition)
    with pytest.raises(PropertyApiException) as twice:
        properties.create("companies", definition)
    assert twice.value.status == 409
    assert _parse_error(properties, twice.value).category == "CONFLICT"

    domains = [f"d{i}.example" for i in range(5)]
    upserted = sdk.crm.companies.batch_api.upsert(
        CompanyUpsertBatch(
            inputs=[
                CompanyUpsert(
                    id=d,
                    id_property="crmpush_domain",
                    object_write_trace_id=d,
                    properties={"domain": d},
                )
                for d in domains
            ]
            + [
                CompanyUpsert(
                    id="bad.example",
                    id_property="crmpush_domain",
                    object_write_trace_id="bad.example",
                    properties={"nope": "1"},
                )
            ]
        )
    )
    assert type(upserted).__name__ == "BatchResponseSimplePublicUpsertObjectWithErrors"
    assert {r.object_write_trace_id for r in upserted.results} == set(domains)
    assert upserted.errors[0].context["objectWriteTraceId"] == ["bad.example"]
    groups = [
        FilterGroup(filters=[Filter(property_name="domain", operator="IN", values=part)])
        for part in (domains[:3], domains[3:])
    ]
    page = sdk.crm.companies.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=groups, properties=["domain"], limit=2, after="0", sorts=[]
        )
    )
    assert page.total == 5 and len(page.results) == 2 and page.paging.next.after
