"""Companies, people and links: the exact requests, and what the hooks return."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
import respx
from attio_helpers import (
    BASE,
    COMPANY_ID,
    PERSON_ID,
    TOKEN,
    FakeSleep,
    iso,
    record,
    record_response,
)
from crm_push.errors import RetryLater
from crm_push.models import Company, Person
from crm_push.models.crm import Connection, Pending, RecordRef

from crm_push_attio.api import created_by_this_call
from crm_push_attio.plugin import AttioDestination

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)  # fixed times; fresh ones where it matters
LONG_AGO = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
COMPANY = RecordRef(object="companies", record_id=COMPANY_ID, outcome="created")


def body(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def url(route: respx.Route, index: int = -1) -> str:
    return str(route.calls[index].request.url)


# -- companies ---------------------------------------------------------------------------


def test_company_with_domain_is_asserted_on_domains(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.put("/v2/objects/companies/records").mock(
        return_value=record_response("companies", COMPANY_ID, created_at=dt.datetime.now(dt.UTC))
    )
    company = Company(name="Acme", domain="acme.com", description="Widgets")
    ref = attio.assert_company(connection, company, None, None)
    assert url(route) == f"{BASE}/v2/objects/companies/records?matching_attribute=domains"
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert body(route) == {
        "data": {
            "values": {
                "domains": [{"domain": "acme.com"}],
                "name": [{"value": "Acme"}],
                "description": [{"value": "Widgets"}],
            }
        }
    }
    assert ref == RecordRef(
        object="companies",
        record_id=COMPANY_ID,
        outcome="created",
        web_url=f"https://app.attio.com/acme/companies/{COMPANY_ID}",
    )


def test_company_asserted_onto_an_old_record_is_updated(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    api.put("/v2/objects/companies/records").mock(
        return_value=record_response("companies", COMPANY_ID, created_at=LONG_AGO)
    )
    ref = attio.assert_company(connection, Company(domain="acme.com"), None, None)
    assert ref.outcome == "updated"


def test_company_without_domain_is_created(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.post("/v2/objects/companies/records").mock(
        return_value=record_response("companies", COMPANY_ID, created_at=dt.datetime.now(dt.UTC))
    )
    ref = attio.assert_company(connection, Company(name="Side Project"), None, None)
    assert url(route) == f"{BASE}/v2/objects/companies/records"
    assert body(route) == {"data": {"values": {"name": [{"value": "Side Project"}]}}}
    assert ref.outcome == "created" and ref.record_id == COMPANY_ID


def test_company_without_domain_but_marker_is_patched(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.patch(f"/v2/objects/companies/records/{COMPANY_ID}").mock(
        return_value=record_response("companies", COMPANY_ID, created_at=dt.datetime.now(dt.UTC))
    )
    existing = RecordRef(object="companies", record_id=COMPANY_ID, outcome="unchanged")
    ref = attio.assert_company(connection, Company(name="Side Project"), existing, None)
    assert body(route) == {"data": {"values": {"name": [{"value": "Side Project"}]}}}
    # A PATCH never creates, whatever created_at says.
    assert ref.outcome == "updated"


# -- people ------------------------------------------------------------------------------


def test_person_with_email_is_asserted_and_linked_inline(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.put("/v2/objects/people/records").mock(
        return_value=record_response("people", PERSON_ID, created_at=dt.datetime.now(dt.UTC))
    )
    person = Person(
        email="ada@acme.com",
        name="Ada Lovelace",
        job_title="CTO",
        linkedin_url="https://www.linkedin.com/in/ada",
    )
    ref = attio.assert_person(connection, person, COMPANY, None, None)
    assert url(route) == f"{BASE}/v2/objects/people/records?matching_attribute=email_addresses"
    assert body(route) == {
        "data": {
            "values": {
                "email_addresses": [{"email_address": "ada@acme.com"}],
                "name": [
                    {"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace"}
                ],
                "job_title": [{"value": "CTO"}],
                "linkedin": [{"value": "https://www.linkedin.com/in/ada"}],
                "company": [{"target_object": "companies", "target_record_id": COMPANY_ID}],
            }
        }
    }
    assert ref.object == "people" and ref.record_id == PERSON_ID
    assert ref.linked == (COMPANY_ID,) and ref.outcome == "created"


def test_person_single_token_name_is_the_string_form(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.put("/v2/objects/people/records").mock(
        return_value=record_response("people", PERSON_ID, created_at=LONG_AGO)
    )
    ref = attio.assert_person(connection, Person(email="cher@x.com", name="Cher"), None, None, None)
    assert body(route)["data"]["values"] == {
        "email_addresses": [{"email_address": "cher@x.com"}],
        "name": ["Cher"],
    }
    assert ref.linked == () and ref.outcome == "updated"


def test_person_without_email_is_created(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.post("/v2/objects/people/records").mock(
        return_value=record_response("people", PERSON_ID, created_at=dt.datetime.now(dt.UTC))
    )
    ref = attio.assert_person(connection, Person(name="Grace Hopper"), COMPANY, None, None)
    assert url(route) == f"{BASE}/v2/objects/people/records"
    assert body(route)["data"]["values"] == {
        "name": [{"first_name": "Grace", "last_name": "Hopper", "full_name": "Grace Hopper"}],
        "company": [{"target_object": "companies", "target_record_id": COMPANY_ID}],
    }
    assert ref.outcome == "created" and ref.linked == (COMPANY_ID,)


def test_person_without_email_but_marker_is_patched(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.patch(f"/v2/objects/people/records/{PERSON_ID}").mock(
        return_value=record_response("people", PERSON_ID, created_at=LONG_AGO)
    )
    existing = RecordRef(object="people", record_id=PERSON_ID, outcome="unchanged")
    ref = attio.assert_person(connection, Person(name="Grace Hopper"), None, existing, None)
    assert url(route) == f"{BASE}/v2/objects/people/records/{PERSON_ID}"
    assert body(route)["data"]["values"] == {
        "name": [{"first_name": "Grace", "last_name": "Hopper", "full_name": "Grace Hopper"}]
    }
    assert ref.outcome == "updated"


def test_associate_sets_the_company_reference(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.patch(f"/v2/objects/people/records/{PERSON_ID}").mock(
        return_value=record_response("people", PERSON_ID, created_at=LONG_AGO)
    )
    person = RecordRef(object="people", record_id=PERSON_ID, outcome="created")
    ref = attio.associate(connection, person, COMPANY)
    assert body(route) == {
        "data": {
            "values": {"company": [{"target_object": "companies", "target_record_id": COMPANY_ID}]}
        }
    }
    assert ref.record_id == PERSON_ID and ref.linked == (COMPANY_ID,)
    assert ref.outcome == "updated"


# -- a create that may already have happened -----------------------------------------------


def test_pending_create_finds_the_record_instead_of_creating(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    since = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    stored = record(
        "people",
        PERSON_ID,
        since + dt.timedelta(seconds=1),
        {
            "name": [{"first_name": "Grace", "last_name": "Hopper", "full_name": "Grace Hopper"}],
            "job_title": [{"value": "Admiral"}],
        },
    )
    query = api.post("/v2/objects/people/records/query").respond(json={"data": [stored]})
    create = api.post("/v2/objects/people/records")
    person = Person(name="Grace Hopper", job_title="Admiral")
    ref = attio.assert_person(connection, person, None, None, Pending(since=since))
    assert body(query) == {
        "filter": {
            "$and": [
                {"created_at": {"$gte": "2025-03-01T11:59:00.000000Z"}},
                {"name": {"full_name": {"$eq": "Grace Hopper"}}},
            ]
        },
        "limit": 10,
        "sorts": [{"direction": "asc", "attribute": "created_at"}],
    }
    assert not create.called
    assert ref.record_id == PERSON_ID and ref.outcome == "created"


def test_pending_create_with_a_different_record_creates(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    other = record(
        "companies", "00000000-0000-4000-8000-000000000001", NOW, {"name": [{"value": "Side"}]}
    )
    query = api.post("/v2/objects/companies/records/query").respond(json={"data": [other]})
    create = api.post("/v2/objects/companies/records").mock(
        return_value=record_response("companies", COMPANY_ID, created_at=dt.datetime.now(dt.UTC))
    )
    company = Company(name="Side", description="not the same")
    ref = attio.assert_company(connection, company, None, Pending(since=NOW))
    assert body(query)["filter"]["$and"][1] == {"name": {"$eq": "Side"}}
    assert create.call_count == 1 and ref.record_id == COMPANY_ID


def test_failed_create_is_not_repeated_when_it_was_applied(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, sleeps: FakeSleep
) -> None:
    # The create timed out after Attio stored the person: look, find it, do not create again.
    create = api.post("/v2/objects/people/records").mock(side_effect=httpx.ReadTimeout("slow"))
    found = record("people", PERSON_ID, NOW, {"name": ["Cher"]})
    found["values"]["name"] = [{"first_name": "Cher", "last_name": "", "full_name": "Cher"}]
    query = api.post("/v2/objects/people/records/query").respond(json={"data": [found]})
    ref = attio.assert_person(connection, Person(name="Cher"), None, None, None)
    assert create.call_count == 1 and query.call_count == 1
    assert ref.record_id == PERSON_ID and ref.outcome == "created"
    assert len(sleeps.calls) == 1


def test_failed_create_is_retried_when_nothing_was_made(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    create = api.post("/v2/objects/people/records")
    create.side_effect = [
        httpx.Response(503),
        record_response("people", PERSON_ID, created_at=dt.datetime.now(dt.UTC)),
    ]
    query = api.post("/v2/objects/people/records/query").respond(json={"data": []})
    ref = attio.assert_person(connection, Person(name="Cher"), None, None, None)
    assert create.call_count == 2 and query.call_count == 1
    assert ref.record_id == PERSON_ID


def test_create_gives_up_after_a_few_attempts(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    create = api.post("/v2/objects/people/records").respond(503)
    api.post("/v2/objects/people/records/query").respond(json={"data": []})
    with pytest.raises(RetryLater):
        attio.assert_person(connection, Person(name="Cher"), None, None, None)
    assert create.call_count == 4


# -- created or updated ------------------------------------------------------------------


def _response(date: dt.datetime | None) -> httpx.Response:
    headers = {} if date is None else {"Date": date.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    return httpx.Response(200, headers=headers)


def test_outcome_uses_attios_clock_when_it_has_one() -> None:
    server_now = dt.datetime(2025, 5, 1, 12, 0, 10, tzinfo=dt.UTC)
    # Our clock is an hour behind Attio's: the Date header is what counts.
    local = server_now - dt.timedelta(hours=1)
    created = dt.datetime(2025, 5, 1, 12, 0, 9, 500000, tzinfo=dt.UTC)
    assert created_by_this_call(created, local, 0.4, _response(server_now))
    older = dt.datetime(2025, 5, 1, 11, 0, tzinfo=dt.UTC)
    assert not created_by_this_call(older, local, 0.4, _response(server_now))


def test_each_answer_is_judged_by_its_own_date() -> None:
    created = dt.datetime(2025, 5, 1, 12, 0, 9, 500000, tzinfo=dt.UTC)
    local = created - dt.timedelta(hours=1)
    now = dt.datetime(2025, 5, 1, 12, 0, 10, tzinfo=dt.UTC)
    later = now + dt.timedelta(minutes=10)  # the same record, asserted again much later
    for _ in range(2):  # a Date read before is not taken for a new one, nor a new for an old
        assert created_by_this_call(created, local, 0.4, _response(now))
        assert not created_by_this_call(created, local, 0.4, _response(later))


def test_outcome_falls_back_on_the_local_clock() -> None:
    sent = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)
    assert created_by_this_call(sent + dt.timedelta(seconds=0.2), sent, 0.3, _response(None))
    assert created_by_this_call(sent - dt.timedelta(seconds=1), sent, 0.3, _response(None))
    assert not created_by_this_call(sent - dt.timedelta(minutes=5), sent, 0.3, _response(None))
    assert not created_by_this_call(None, sent, 0.3, _response(None))


def test_timestamps_with_nanoseconds_are_read() -> None:
    from crm_push_attio.api import parse_timestamp

    assert parse_timestamp("2022-11-21T13:22:49.061281000Z") == dt.datetime(
        2022, 11, 21, 13, 22, 49, 61281, tzinfo=dt.UTC
    )
    assert parse_timestamp(iso(LONG_AGO)) == LONG_AGO
    assert parse_timestamp("not a time") is None


def test_a_record_created_moments_ago_by_this_process_is_updated_on_reassert(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    created_at = dt.datetime.now(dt.UTC)
    api.put("/v2/objects/people/records").mock(
        return_value=record_response("people", PERSON_ID, created_at=created_at)
    )
    person = Person(email="ada@acme.com")
    first = attio.assert_person(connection, person, None, None, None)
    again = attio.assert_person(connection, person, None, None, None)
    assert (first.outcome, again.outcome) == ("created", "updated")
