"""Typed attribute values: every type of the table as the exact request body, and bad values
refused before any write, naming the attribute, the value and the expected format.

Every body is also checked against Attio's OpenAPI schema by the suite's `sent` guard.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import httpx
import pytest
import respx
from attio_helpers import BASE, COMPANY_ID, PERSON_ID, record_response
from attio_schema import MEMBER, Metadata
from crm_push.errors import Fatal, InvalidInput
from crm_push.models.crm import Connection

from crm_push_attio.plugin import AttioDestination

DEAL_ID = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
MATCH = {"external_id": "d-1"}


@pytest.fixture
def connection() -> Connection:
    # These tests read the converted write format in the one assert body, so multiselects
    # are replaced (all in the PUT); appending (a PUT then a PATCH) is tested in
    # test_e2e_multiselect.py.
    from attio_helpers import make_connection

    conn = make_connection()
    return conn.model_copy(update={"capabilities": conn.capabilities | {"multiselect:replace"}})


@pytest.fixture
def meta(api: respx.MockRouter) -> Metadata:
    return Metadata(api)


@pytest.fixture
def deals_put(api: respx.MockRouter) -> respx.Route:
    return api.put("/v2/objects/deals/records").mock(
        return_value=record_response("deals", DEAL_ID, created_at=dt.datetime.now(dt.UTC))
    )


def sent_values(route: respx.Route, index: int = -1) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(route.calls[index].request.content)["data"]["values"]
    return values


def writes(sent: Any) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in sent.requests if r.method != "GET"]


# -- every type of the table -------------------------------------------------------------

TABLE: list[tuple[str, Any, list[Any]]] = [
    ("owner", MEMBER, [{"workspace_member_email_address": MEMBER}]),
    ("is_qualified", True, [{"value": True}]),
    ("value", 29.9999, [{"currency_value": 29.9999}]),
    ("close_date", "2023-09-28", [{"value": "2023-09-28"}]),
    ("website", "app.attio.com", [{"domain": "app.attio.com"}]),
    ("contact_email", "person@example.com", [{"email_address": "person@example.com"}]),
    ("probability", 42.192, [{"value": 42.192}]),
    (
        "contact_name",
        "Bloggs, Joe",
        [{"first_name": "Joe", "last_name": "Bloggs", "full_name": "Joe Bloggs"}],
    ),
    ("phone", "+15558675309", [{"original_phone_number": "+15558675309"}]),
    ("stage", "In Progress", [{"status": "In Progress"}]),
    ("source", "Website", [{"option": "Website"}]),
    ("priority", 5, [{"value": 5}]),
    (
        "associated_company",
        "app.attio.com",
        [{"target_object": "companies", "domains": [{"domain": "app.attio.com"}]}],
    ),
    (
        "associated_people",
        "person@example.com",
        [{"target_object": "people", "email_addresses": [{"email_address": "person@example.com"}]}],
    ),
    (
        "associated_company",
        COMPANY_ID,
        [{"target_object": "companies", "target_record_id": COMPANY_ID}],
    ),
    ("name", "A piece of text", [{"value": "A piece of text"}]),
    ("last_contacted_at", "2023-09-28 04:39:17.000", [{"value": "2023-09-28T04:39:17.000000000Z"}]),
]


@pytest.mark.parametrize(("slug", "simple", "form"), TABLE, ids=[f"{t[0]}" for t in TABLE])
def test_each_type_is_sent_in_its_object_form(
    attio: AttioDestination,
    connection: Connection,
    meta: Metadata,
    deals_put: respx.Route,
    slug: str,
    simple: Any,
    form: list[Any],
) -> None:
    ref = attio.assert_record(connection, "deals", "external_id", {**MATCH, slug: simple})
    assert str(deals_put.calls.last.request.url) == (
        f"{BASE}/v2/objects/deals/records?matching_attribute=external_id"
    )
    assert sent_values(deals_put) == {"external_id": [{"value": "d-1"}], slug: form}
    assert (ref.object, ref.record_id) == ("deals", DEAL_ID)


def test_every_type_in_one_record(
    attio: AttioDestination, connection: Connection, meta: Metadata, deals_put: respx.Route
) -> None:
    values = {
        **MATCH,
        **{slug: simple for slug, simple, _ in TABLE if slug != "associated_company"},
    }
    attio.assert_record(connection, "deals", "external_id", values)
    assert sent_values(deals_put) == {
        "external_id": [{"value": "d-1"}],
        **{slug: form for slug, _, form in TABLE if slug != "associated_company"},
    }


@pytest.mark.parametrize(
    ("slug", "simple", "form"),
    [
        ("is_qualified", "false", [{"value": False}]),
        ("value", "1200.5", [{"currency_value": 1200.5}]),
        ("value", {"currency_value": 99}, [{"currency_value": 99}]),
        ("priority", "3", [{"value": 3}]),
        ("priority", 4.0, [{"value": 4}]),
        ("probability", "0.25", [{"value": 0.25}]),
        ("name", 42, [{"value": "42"}]),
        ("close_date", "2023-01-02T23:00:00-10:00", [{"value": "2023-01-03"}]),
        (
            "last_contacted_at",
            "2023-09-28T06:39:17+02:00",
            [{"value": "2023-09-28T04:39:17.000000000Z"}],
        ),
        ("last_contacted_at", "2023-09-28", [{"value": "2023-09-28T00:00:00.000000000Z"}]),
        ("website", "https://www.Acme.com/pricing?x=1", [{"domain": "acme.com"}]),
        ("contact_email", " Person@Example.COM ", [{"email_address": "person@example.com"}]),
        ("contact_name", "Cher", [{"first_name": "Cher", "last_name": "", "full_name": "Cher"}]),
        (
            "contact_name",
            {"first_name": "Ada", "last_name": "Lovelace"},
            [{"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace"}],
        ),
        ("phone", "+44 20 7183 8750", [{"original_phone_number": "+442071838750"}]),
        (
            "phone",
            {"original_phone_number": "020 7183 8750", "country_code": "gb"},
            [{"original_phone_number": "020 7183 8750", "country_code": "GB"}],
        ),
        ("stage", "in progress", [{"status": "In Progress"}]),
        ("source", {"option": "Referral"}, [{"option": "Referral"}]),
        ("tags", ["Hot", "Partner"], [{"option": "Hot"}, {"option": "Partner"}]),
        ("tags", "Cold", [{"option": "Cold"}]),
        (
            "owner",
            "50cf242c-7fa3-4cad-87d0-75b1af71c57b",
            [
                {
                    "referenced_actor_type": "workspace-member",
                    "referenced_actor_id": "50cf242c-7fa3-4cad-87d0-75b1af71c57b",
                }
            ],
        ),
        (
            "associated_people",
            ["a@example.com", PERSON_ID],
            [
                {
                    "target_object": "people",
                    "email_addresses": [{"email_address": "a@example.com"}],
                },
                {"target_object": "people", "target_record_id": PERSON_ID},
            ],
        ),
    ],
)
def test_other_simple_forms(
    attio: AttioDestination,
    connection: Connection,
    meta: Metadata,
    deals_put: respx.Route,
    slug: str,
    simple: Any,
    form: list[Any],
) -> None:
    attio.assert_record(connection, "deals", "external_id", {**MATCH, slug: simple})
    assert sent_values(deals_put)[slug] == form


def test_option_ids_are_accepted(
    attio: AttioDestination, connection: Connection, meta: Metadata, deals_put: respx.Route
) -> None:
    option = meta.option_id("deals", "source", "Event")
    attio.assert_record(connection, "deals", "external_id", {**MATCH, "source": option})
    assert sent_values(deals_put)["source"] == [{"option": option}]


def test_null_unsets_and_attributes_are_found_by_id(
    attio: AttioDestination, connection: Connection, meta: Metadata, deals_put: respx.Route
) -> None:
    probability_id = meta.attribute("deals", "probability")["id"]["attribute_id"]
    values = {**MATCH, "owner": None, "tags": [], probability_id: 0.5}
    attio.assert_record(connection, "deals", "external_id", values)
    assert sent_values(deals_put) == {
        "external_id": [{"value": "d-1"}],
        "owner": [],
        "tags": [],
        "probability": [{"value": 0.5}],  # the slug, whatever the caller used
    }


def test_the_matching_attribute_may_be_given_by_id(
    attio: AttioDestination, connection: Connection, meta: Metadata, deals_put: respx.Route
) -> None:
    match_id = meta.attribute("deals", "external_id")["id"]["attribute_id"]
    attio.assert_record(connection, "deals", match_id, {match_id: "d-9"})
    url = str(deals_put.calls.last.request.url)
    assert url.endswith("matching_attribute=external_id")
    assert sent_values(deals_put) == {"external_id": [{"value": "d-9"}]}


def test_companies_from_the_issue_example(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, meta: Metadata
) -> None:
    route = api.put("/v2/objects/companies/records").mock(
        return_value=record_response("companies", COMPANY_ID, created_at=dt.datetime.now(dt.UTC))
    )
    values = {"domains": "app.attio.com", "twitter": "@attio", "categories": ["B2B", "SAAS"]}
    ref = attio.assert_record(connection, "companies", "domains", values)
    assert str(route.calls.last.request.url).endswith("?matching_attribute=domains")
    assert sent_values(route) == {
        "domains": [{"domain": "app.attio.com"}],
        "twitter": [{"value": "@attio"}],
        "categories": [{"option": "B2B"}, {"option": "SAAS"}],
    }
    assert ref.record_id == COMPANY_ID


# -- bad values, refused before any write ----------------------------------------------------

BAD: list[tuple[str, Any, str]] = [
    ("priority", 7, "deals.priority: 7 is not an integer from 0 to 5"),
    ("priority", 2.5, "deals.priority: 2.5 is not an integer from 0 to 5"),
    ("priority", True, "deals.priority: true is not an integer from 0 to 5"),
    ("value", 29.99999, "deals.value: 29.99999 is not an amount with at most 4 decimals"),
    ("value", "lots", 'deals.value: "lots" is not an amount with at most 4 decimals'),
    ("close_date", "28/09/2023", 'deals.close_date: "28/09/2023" is not a date YYYY-MM-DD'),
    ("close_date", "2023-02-30", 'deals.close_date: "2023-02-30" is not a date YYYY-MM-DD'),
    ("last_contacted_at", "yesterday", '"yesterday" is not an ISO 8601 timestamp'),
    ("is_qualified", "yes", 'deals.is_qualified: "yes" is not true or false'),
    ("probability", "many", 'deals.probability: "many" is not a number'),
    ("probability", float("nan"), "deals.probability: NaN is not a number"),
    ("name", ["a"] * 2, 'deals.name: takes a single value, got 2: ["a", "a"]'),
    ("name", {"text": "x"}, 'is not an object with the single key "value"'),
    ("website", "not a domain", '"not a domain" is not a domain like "app.attio.com"'),
    ("contact_email", "nobody", 'deals.contact_email: "nobody" is not an email address'),
    ("contact_name", ", ", "is not a name"),
    ("phone", "5558675309", 'deals.phone: "5558675309" is not a phone number in E.164 form'),
    ("phone", "+1555", '"+1555" is not a phone number in E.164 form, like "+15558675309"'),
    ("stage", "Open", 'deals.stage: "Open" is not one of its statuses: "Lead", "In Progress"'),
    ("source", "Ads", 'deals.source: "Ads" is not one of its options: "Website", "Referral"'),
    ("tags", ["Hot", "Warm"], 'deals.tags: "Warm" is not one of its options'),
    ("owner", "bob@example.com", "is not the email of a member of this Attio workspace"),
    ("owner", 12, "12 is not a workspace member's email"),
    ("associated_company", "ada@acme.com", "is not a reference to companies"),
    ("associated_people", "Ada", '"Ada" is not a record id, an email (people) or a domain'),
    ("hq", "1 Infinite Loop, Cupertino", "deals.hq: location values are not supported"),
    ("read_only_score", 3, "deals.read_only_score: is read-only in Attio (is_writable false"),
    ("record_id", "x", "deals.record_id: is read-only in Attio"),
    ("stage", None, "deals.stage: is required and cannot be unset"),
    ("nope", 1, "deals.nope: no such attribute (writable: "),
]


@pytest.mark.parametrize(("slug", "bad", "message"), BAD, ids=[f"{b[0]}-{b[1]!r}" for b in BAD])
def test_bad_values_are_refused_before_any_write(
    attio: AttioDestination,
    connection: Connection,
    meta: Metadata,
    deals_put: respx.Route,
    sent: Any,
    slug: str,
    bad: Any,
    message: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        attio.assert_record(connection, "deals", "external_id", {**MATCH, slug: bad})
    assert message in str(caught.value)
    assert caught.value.field == slug
    assert writes(sent) == [] and deals_put.call_count == 0


def test_with_metadata_cached_a_bad_value_sends_no_request_at_all(
    attio: AttioDestination,
    connection: Connection,
    meta: Metadata,
    deals_put: respx.Route,
    sent: Any,
) -> None:
    attio.assert_record(connection, "deals", "external_id", {**MATCH, "priority": 1})
    before = len(sent.requests)
    with pytest.raises(InvalidInput, match=r"deals\.priority: 7 is not an integer from 0 to 5"):
        attio.assert_record(connection, "deals", "external_id", {**MATCH, "priority": 7})
    assert len(sent.requests) == before


def test_every_problem_is_named_at_once(
    attio: AttioDestination, connection: Connection, meta: Metadata, deals_put: respx.Route
) -> None:
    with pytest.raises(InvalidInput) as caught:
        attio.assert_record(
            connection, "deals", "external_id", {**MATCH, "priority": 9, "source": "Ads"}
        )
    text = str(caught.value)
    assert "deals.priority: 9 is not" in text and 'deals.source: "Ads" is not' in text
    assert caught.value.field == "priority" and deals_put.call_count == 0


@pytest.mark.parametrize(
    ("match", "values", "message"),
    [
        ("name", {"name": "x"}, "deals.name: cannot be matched on: it is not unique"),
        ("external_id", {"name": "x"}, "deals.external_id: is the matching attribute but has no"),
        ("external_id", {"external_id": None}, "is the matching attribute but has no value"),
        ("missing", {"missing": 1}, "deals.missing: no such attribute to match on"),
    ],
)
def test_the_matching_attribute_must_be_unique_and_given(
    attio: AttioDestination,
    connection: Connection,
    meta: Metadata,
    deals_put: respx.Route,
    match: str,
    values: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message.replace(".", r"\.")):
        attio.assert_record(connection, "deals", match, values)
    assert deals_put.call_count == 0


def test_an_unknown_object_names_the_activated_ones(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, meta: Metadata
) -> None:
    from attio_schema import not_found

    api.get("/v2/objects/dealz/attributes").mock(return_value=not_found("dealz"))
    with pytest.raises(InvalidInput) as caught:
        attio.assert_record(connection, "dealz", "x", {"x": 1})
    assert "no activated object 'dealz'" in str(caught.value)
    assert "companies, deals, people, users, workspaces" in str(caught.value)


def test_a_standard_object_that_is_off_says_how_to_activate_it(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, sent: Any
) -> None:
    Metadata(api, activated=("people", "companies"))
    with pytest.raises(Fatal) as caught:
        attio.assert_record(connection, "deals", "external_id", {"external_id": "d-1"})
    assert "Deals object is not activated" in str(caught.value)
    assert "Workspace Settings > Objects > Deals" in str(caught.value)
    assert writes(sent) == []


# -- metadata is read once -------------------------------------------------------------------


def test_metadata_is_fetched_once_per_connection(
    attio: AttioDestination, connection: Connection, meta: Metadata, deals_put: respx.Route
) -> None:
    for n in range(3):
        attio.assert_record(
            connection, "deals", "external_id", {"external_id": f"d-{n}", "source": "Event"}
        )
    assert meta.routes["deals"].call_count == 1
    assert meta.routes["deals.source"].call_count == 1
    assert deals_put.call_count == 3


def test_metadata_is_fetched_once_by_many_threads(
    attio: AttioDestination, connection: Connection, meta: Metadata, deals_put: respx.Route
) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def push(n: int) -> None:
        start.wait()
        try:
            attio.assert_record(
                connection,
                "deals",
                "external_id",
                {"external_id": f"d-{n}", "stage": "Lead", "owner": MEMBER},
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert meta.routes["deals"].call_count == 1
    assert meta.routes["deals.stage"].call_count == 1
    assert meta.routes["members"].call_count == 1
    assert deals_put.call_count == 8


def test_a_failed_metadata_read_is_not_cached(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, deals_put: respx.Route
) -> None:
    meta = Metadata(api)
    refused = {"status_code": 400, "type": "invalid_request_error", "code": "x", "message": "No."}
    meta.routes["deals"].mock(
        side_effect=[
            httpx.Response(400, json=refused),
            httpx.Response(200, json={"data": meta.attributes("deals")}),
        ]
    )
    with pytest.raises(InvalidInput):
        attio.assert_record(connection, "deals", "external_id", MATCH)
    attio.assert_record(connection, "deals", "external_id", MATCH)
    assert meta.routes["deals"].call_count == 2 and deals_put.call_count == 1


def test_members_are_not_checked_without_the_scope(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, deals_put: respx.Route
) -> None:
    meta = Metadata(api)
    meta.routes["members"].respond(
        403, json={"status_code": 403, "type": "auth_error", "code": "forbidden", "message": "No."}
    )
    attio.assert_record(connection, "deals", "external_id", {**MATCH, "owner": "x@example.com"})
    assert sent_values(deals_put)["owner"] == [{"workspace_member_email_address": "x@example.com"}]
