"""The independent `attio` client (PyPI, a Speakeasy SDK generated from Attio's current OpenAPI
document) as the oracle of the local server: every answer must parse with its response and
error models, and every request body the plugin builds must validate with its request models.

The server and crm-push's client were written by the same hands, so a shared misunderstanding
passes both; this client was not. When it fails to parse an answer, the server is wrong.
Each call is one the SDK makes for real (`server_url` points it at the local server); an answer
its models reject raises `attio.errors.ResponseValidationError`, which fails the test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from attio.errors import (
    post_v2_objects_object_recordsop as post_errors,
)
from attio.errors import (
    put_v2_objects_object_records_record_id_attributes_attribute_valuesop as values_errors,
)

from attio import SDK, errors
from crm_push_attio.server import AttioServer

TOKEN = "local-dev-token"


@pytest.fixture
def srv() -> Iterator[AttioServer]:
    with AttioServer(activated_objects=("people", "companies", "deals")) as running:
        yield running
    assert running.count("DELETE") == 0


@pytest.fixture
def sdk(srv: AttioServer) -> Iterator[SDK]:
    with SDK(oauth2=TOKEN, server_url=srv.base_url) as client:
        yield client


def _company(sdk: SDK, domain: str = "acme.com") -> str:
    answer = sdk.records.put_v2_objects_object_records(
        object="companies",
        matching_attribute="domains",
        data={"values": {"domains": [domain], "name": ["Acme"], "categories": ["B2B"]}},
    )
    return answer.data.id.record_id


def test_self_parses_with_token_level_and_a_null_exp(sdk: SDK, srv: AttioServer) -> None:
    me = sdk.meta.get_v2_self()
    assert me.active is True
    assert me.token_level == "workspace"  # type: ignore[union-attr]
    assert me.exp is None  # type: ignore[union-attr]  # Attio's tokens do not expire
    raw = httpx.get(f"{srv.base_url}/v2/self", headers={"Authorization": f"Bearer {TOKEN}"})
    with SDK(oauth2="not-a-token", server_url=srv.base_url) as stranger:
        assert stranger.meta.get_v2_self().active is False  # 200 {"active": false}
    # An absent member is omitted, not sent as null.
    assert None not in [v for k, v in raw.json().items() if k != "exp" and "logo" not in k]


def test_objects_attributes_options_and_statuses_parse(sdk: SDK) -> None:
    slugs = {o.api_slug for o in sdk.objects.get_v2_objects().data}
    assert {"people", "companies", "deals"} <= slugs
    assert sdk.objects.get_v2_objects_object_(object="people").data.api_slug == "people"
    for obj in ("people", "companies", "deals"):
        attrs = sdk.attributes.get_v2_target_identifier_attributes(
            target="objects", identifier=obj
        ).data
        related = [a for a in attrs if a.relationship is not None]
        for attr in related:  # object_slug, title, api_slug, is_multiselect: required
            assert attr.relationship is not None and attr.relationship.api_slug
        one = sdk.attributes.get_v2_target_identifier_attributes_attribute_(
            target="objects", identifier=obj, attribute=attrs[0].api_slug
        )
        assert one.data.api_slug == attrs[0].api_slug
    company = sdk.attributes.get_v2_target_identifier_attributes_attribute_(
        target="objects", identifier="people", attribute="company"
    ).data
    assert company.relationship is not None
    assert (company.relationship.object_slug, company.relationship.api_slug) == (
        "companies",
        "team",
    )
    assert company.relationship.is_multiselect is True
    options = sdk.attributes.get_v2_target_identifier_attributes_attribute_options(
        target="objects", identifier="companies", attribute="categories"
    ).data
    assert options
    statuses = sdk.attributes.get_v2_target_identifier_attributes_attribute_statuses(
        target="objects", identifier="deals", attribute="stage"
    ).data
    assert statuses


def test_records_assert_create_get_patch_query_parse(sdk: SDK) -> None:
    company_id = _company(sdk)
    created = sdk.records.post_v2_objects_object_records(
        object="people",
        data={
            "values": {
                "email_addresses": ["ada@acme.com"],
                "company": [{"target_object": "companies", "target_record_id": company_id}],
            }
        },
    )
    rid = created.data.id.record_id
    got = sdk.records.get_v2_objects_object_records_record_id_(object="people", record_id=rid)
    assert got.data.id.record_id == rid
    patched = sdk.records.patch_v2_objects_object_records_record_id_(
        object="people", record_id=rid, data={"values": {"job_title": ["CTO"]}}
    )
    assert patched.data.id.record_id == rid
    found = sdk.records.post_v2_objects_object_records_query(
        object="people", filter_={"email_addresses": "ada@acme.com"}
    )
    assert [r.id.record_id for r in found.data] == [rid]


def test_notes_create_list_by_parent_and_update_parse(sdk: SDK) -> None:
    company_id = _company(sdk)
    note = sdk.notes.post_v2_notes(
        data={
            "parent_object": "companies",
            "parent_record_id": company_id,
            "title": "Visit",
            "format_": "plaintext",
            "content": "Pages: /pricing",
        }
    )
    assert note.data.meeting_id is None
    listed = sdk.notes.get_v2_notes(parent_object="companies", parent_record_id=company_id)
    assert [n.id.note_id for n in listed.data] == [note.data.id.note_id]
    updated = sdk.notes.patch_v2_notes_note_id_(
        note_id=note.data.id.note_id, data={"title": "Visit (edited)"}
    )
    assert updated.data.title == "Visit (edited)"
    assert updated.data.parent_record_id == company_id  # the parent never changes


def test_400_validation_parses(sdk: SDK) -> None:
    with pytest.raises(errors.PostV2ObjectsObjectRecordsInvalidRequestError) as info:
        sdk.records.post_v2_objects_object_records(
            object="people", data={"values": {"job_title": ["a", "b"]}}
        )
    assert info.value.data.code == "validation_type"


def test_a_unique_clash_is_400_uniqueness_conflict(sdk: SDK, srv: AttioServer) -> None:
    """Attio documents 400 `uniqueness_conflict` on the record-values endpoint; peers see it on
    creates. The SDK's 400 model of POST …/records lacks that code, so the answer is checked
    against the model of the endpoint that documents it."""
    _company(sdk)
    with pytest.raises(errors.SDKError) as info:
        sdk.records.post_v2_objects_object_records(
            object="companies", data={"values": {"domains": ["acme.com"]}}
        )
    assert info.value.status_code == 400
    body = json.loads(info.value.body)
    parsed = values_errors.PutV2ObjectsObjectRecordsRecordIDAttributesAttributeValuesBadRequestInvalidRequestErrorData.model_validate(  # noqa: E501
        body
    )
    assert parsed.code == "uniqueness_conflict"
    assert len(srv.records("companies")) == 1


def test_404_parses(sdk: SDK) -> None:
    with pytest.raises(errors.GetV2ObjectsObjectRecordsRecordIDInvalidRequestError) as info:
        sdk.records.get_v2_objects_object_records_record_id_(
            object="people", record_id="00000000-0000-0000-0000-000000000000"
        )
    assert info.value.data.code == "not_found"


def test_403_missing_scope_and_no_permission_parse(sdk: SDK, srv: AttioServer) -> None:
    srv.set_scopes(TOKEN, ["object_configuration:read"])
    with pytest.raises(post_errors.PostV2ObjectsObjectRecordsUnauthorizedError) as info:
        sdk.records.post_v2_objects_object_records(
            object="people", data={"values": {"job_title": ["a"]}}
        )
    assert (info.value.data.type, info.value.data.code) == ("auth_error", "unauthorized")
    srv.set_scopes(TOKEN, _ALL_SCOPES)
    # A user-level token whose member lacks permission: every scope granted, still 403.
    srv.fail_next(1, status=403, path_prefix="/v2/objects/people/records", method="POST")
    with pytest.raises(post_errors.PostV2ObjectsObjectRecordsUnauthorizedError):
        sdk.records.post_v2_objects_object_records(
            object="people", data={"values": {"job_title": ["a"]}}
        )


_ALL_SCOPES = [
    "record_permission:read-write",
    "object_configuration:read",
    "note:read-write",
    "user_management:read",
]


def test_409_concurrent_write_conflict_parses(sdk: SDK, srv: AttioServer) -> None:
    srv.fail_next(1, status=409, path_prefix="/v2/objects/companies/records", method="PUT")
    with pytest.raises(errors.PutV2ObjectsObjectRecordsConcurrentWriteConflictError) as info:
        _company(sdk)
    assert info.value.data.code == "concurrent_write_conflict"


def test_429_is_attios_rate_limit_answer(sdk: SDK, srv: AttioServer) -> None:
    # The SDK has no 429 model; the body is checked against Attio's documented answer.
    srv.fail_next(1, status=429, path_prefix="/v2/objects")
    with pytest.raises(errors.SDKError) as info:
        sdk.objects.get_v2_objects()
    assert info.value.status_code == 429
    assert "Retry-After" in info.value.headers
    assert json.loads(info.value.body) == {
        "status_code": 429,
        "type": "rate_limit_error",
        "code": "rate_limit_exceeded",
        "message": "Rate limit exceeded, please try again later.",
    }


def test_listing_notes_has_its_own_limit_of_10_per_second(sdk: SDK, srv: AttioServer) -> None:
    window = srv.app.notes_list_limit
    assert window.rate == 10
    now = time.time()
    assert all(window.acquire(now) is None for _ in range(10))  # ten in one second...
    assert window.acquire(now) is not None  # ...not eleven
    # The window is full for this second: GET /v2/notes answers 429, other reads do not.
    listed = httpx.get(f"{srv.base_url}/v2/notes", headers={"Authorization": f"Bearer {TOKEN}"})
    assert listed.status_code == 429 and "Retry-After" in listed.headers
    assert sdk.objects.get_v2_objects().data
