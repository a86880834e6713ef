"""Attio's error bodies as typed errors that say what to do; retries of 409, 429 and 5xx."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import respx
from attio_helpers import (
    COMPANY_ID,
    PERSON_ID,
    FakeSleep,
    error,
    http_date,
    record_response,
)
from crm_push.errors import Fatal, InvalidInput, ReconnectRequired, RetryLater, ScopeMissing
from crm_push.models import Company, Person
from crm_push.models.crm import Connection, RecordRef

from crm_push_attio.errors import (
    PermissionDenied,
    error_for,
    field_from,
    is_retriable,
    scope_for,
)
from crm_push_attio.plugin import AttioDestination


def answer(
    method: str, path: str, status: int, code: str, message: str, type_: str = "x"
) -> httpx.Response:
    response = error(status, code, message, type_)
    response.request = httpx.Request(method, "https://api.attio.com" + path)
    return response


def test_400_names_the_attribute_code_and_message(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    api.put("/v2/objects/people/records").mock(
        return_value=error(
            400,
            "validation_type",
            'An invalid value was passed to attribute with slug "linkedin".',
        )
    )
    with pytest.raises(InvalidInput) as caught:
        attio.assert_person(connection, Person(email="a@b.com"), None, None, None)
    exc = caught.value
    assert (exc.field, exc.code) == ("linkedin", "validation_type")
    assert exc.message == (
        "Attio rejected people record assert: An invalid value was passed to attribute with "
        'slug "linkedin". (validation_type)'
    )


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("Body payload validation error at $.data.values.job_title[0]: bad", "job_title"),
        ("Body payload validation error at $.data.title: expected string", "title"),
        ('No attribute was found for matching_attribute slug/ID "domains".', "domains"),
        ('Attribute with slug/ID "my-attribute" not found.', "my-attribute"),
        ('Cannot find select attribute with select option title "In Progress".', None),
        ("You passed an empty payload.", None),
    ],
)
def test_field_from_message(message: str, field: str | None) -> None:
    assert field_from({"message": message}) == field


def test_field_from_validation_errors_list() -> None:
    body = {"message": "bad", "validation_errors": [{"path": ["data", "values", "phone"]}]}
    assert field_from(body) == "phone"


def test_401_is_reconnect(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    api.put("/v2/objects/companies/records").mock(
        return_value=error(401, "unauthorized", "Invalid token.", "auth_error")
    )
    with pytest.raises(ReconnectRequired) as caught:
        attio.assert_company(connection, Company(domain="acme.com"), None, None)
    assert "reconnect Attio: run `crm-push --dest attio connect`" in str(caught.value)


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("PUT", "/v2/objects/people/records", "record_permission:read-write"),
        ("PATCH", f"/v2/objects/people/records/{PERSON_ID}", "record_permission:read-write"),
        ("POST", "/v2/notes", "note:read-write"),
        ("GET", "/v2/notes", "note:read-write"),
        ("GET", "/v2/objects/people/attributes", "object_configuration:read"),
        ("GET", "/v2/objects", "object_configuration:read"),
    ],
)
def test_403_names_the_scope_of_the_endpoint(method: str, path: str, scope: str) -> None:
    exc = error_for(answer(method, path, 403, "forbidden", "Missing scope.", "auth_error"))
    assert isinstance(exc, ScopeMissing) and exc.scope == scope
    assert scope_for(method, path) == scope
    assert f"grant {scope}" in str(exc)


def test_403_on_an_unknown_endpoint_is_fatal() -> None:
    exc = error_for(answer("GET", "/v2/lists", 403, "forbidden", "No.", "auth_error"))
    assert isinstance(exc, Fatal)


def test_404_on_a_record_says_it_is_gone() -> None:
    path = f"/v2/objects/people/records/{PERSON_ID}"
    exc = error_for(answer("PATCH", path, 404, "not_found", f'Record with ID "{PERSON_ID}" x'))
    assert isinstance(exc, InvalidInput) and exc.code == "not_found"
    assert "no longer exists" in str(exc) and "markers remove" in str(exc)


def test_404_on_an_object_says_it_is_not_activated() -> None:
    path = "/v2/objects/users/records"
    exc = error_for(answer("PUT", path, 404, "not_found", 'Object with slug/ID "users" not found.'))
    assert isinstance(exc, Fatal)
    assert "'users' does not exist or is not activated" in str(exc)


def test_other_codes() -> None:
    conflict = answer("POST", "/v2/objects/people/records", 400, "uniqueness_conflict", "Dup.")
    exc = error_for(conflict)
    assert isinstance(exc, InvalidInput) and exc.code == "uniqueness_conflict"
    assert is_retriable(conflict) is None  # Attio: a unique clash is a 400, never retried
    billing = answer("PUT", "/v2/objects/people/records", 403, "billing_error", "Upgrade.")
    assert isinstance(error_for(billing), Fatal)
    # Left to HttpClient: throttling and server errors.
    assert error_for(answer("GET", "/v2/notes", 429, "rate_limit_exceeded", "Slow down")) is None
    assert error_for(answer("GET", "/v2/notes", 502, "bad_gateway", "Oops")) is None
    assert is_retriable(answer("GET", "/v2/notes", 400, "x", "y")) is None


def test_409_concurrent_write_conflict_is_retried(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, sleeps: FakeSleep
) -> None:
    route = api.put("/v2/objects/companies/records")
    route.side_effect = [
        error(409, "concurrent_write_conflict", "The record was modified by another request."),
        record_response("companies", COMPANY_ID, created_at=dt.datetime.now(dt.UTC)),
    ]
    ref = attio.assert_company(connection, Company(domain="acme.com"), None, None)
    assert route.call_count == 2 and ref.record_id == COMPANY_ID
    assert len(sleeps.calls) == 1


def test_409_that_never_clears_is_retry_later(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    api.put("/v2/objects/companies/records").mock(
        return_value=error(409, "concurrent_write_conflict", "Modified by another request.")
    )
    with pytest.raises(RetryLater):
        attio.assert_company(connection, Company(domain="acme.com"), None, None)


def test_429_waits_until_the_http_date_in_retry_after(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, sleeps: FakeSleep
) -> None:
    server_now = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
    throttled = httpx.Response(
        429,
        json={
            "status_code": 429,
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
            "message": "Rate limit exceeded, please try again later",
        },
        headers={
            "Date": http_date(server_now),
            "Retry-After": http_date(server_now + dt.timedelta(seconds=1)),
        },
    )
    route = api.put("/v2/objects/people/records")
    route.side_effect = [
        throttled,
        record_response("people", PERSON_ID, created_at=dt.datetime.now(dt.UTC)),
    ]
    ref = attio.assert_person(connection, Person(email="a@b.com"), None, None, None)
    assert route.call_count == 2 and ref.record_id == PERSON_ID
    assert sleeps.calls == [1.0]


def test_5xx_is_retried_with_backoff(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, sleeps: FakeSleep
) -> None:
    route = api.patch(f"/v2/objects/people/records/{PERSON_ID}")
    route.side_effect = [
        httpx.Response(502),
        record_response("people", PERSON_ID, created_at=dt.datetime.now(dt.UTC)),
    ]
    person = RecordRef(object="people", record_id=PERSON_ID)
    company = RecordRef(object="companies", record_id=COMPANY_ID)
    attio.associate(connection, person, company)
    assert route.call_count == 2 and len(sleeps.calls) == 1


def test_get_record_and_list_attributes(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    get = api.get(f"/v2/objects/people/records/{PERSON_ID}").respond(
        json={"data": {"id": {"record_id": PERSON_ID}}}
    )
    attrs = api.get("/v2/objects/people/attributes").respond(
        json={"data": [{"api_slug": "name", "type": "personal-name"}]}
    )
    client = attio.client(connection)
    assert client.get_record("people", PERSON_ID)["id"]["record_id"] == PERSON_ID
    assert client.list_attributes("people") == [{"api_slug": "name", "type": "personal-name"}]
    assert get.called and attrs.called


def test_a_body_quoting_the_authorization_header_is_redacted(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    # Attio's own mapping (error_for) quotes the message: the client scrubs it anyway.
    from attio_helpers import TOKEN

    quoted = f'Header "Authorization: Bearer {TOKEN}" is not valid for {TOKEN!r}'
    api.put("/v2/objects/people/records").mock(return_value=error(400, "validation_type", quoted))
    with pytest.raises(InvalidInput) as caught:
        attio.assert_person(connection, Person(email="a@b.com"), None, None, None)
    exc = caught.value
    assert TOKEN not in f"{exc} {exc!r} {exc.args} {exc.field} {exc.code}"
    assert 'Header "Authorization: Bearer ***" is not valid' in exc.message


def test_403_is_a_missing_scope_only_when_the_tokens_scopes_lack_it() -> None:
    path = "/v2/objects/people/records"
    said = answer("PUT", path, 403, "unauthorized", "You do not have permission.", "auth_error")
    granted = ("record_permission:read-write", "object_configuration:read")
    denied = error_for(said, scopes=granted)
    assert isinstance(denied, PermissionDenied) and not isinstance(denied, ScopeMissing)
    assert "no permission to assert people records" in str(denied)
    assert "You do not have permission." in str(denied)
    lacking = error_for(said, scopes=("object_configuration:read",))
    assert isinstance(lacking, ScopeMissing) and lacking.scope == "record_permission:read-write"
    # Attio naming the scope wins over what the token said at connect (revoked since).
    named = answer("PUT", path, 403, "unauthorized", "Lacks record_permission:read-write.")
    assert isinstance(error_for(named, scopes=granted), ScopeMissing)
