"""Records: assert/create/update/query semantics, references, value formats."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from crm_push_attio.server import AttioServer


def test_assert_by_email_updates_the_same_person(api: Any, srv: AttioServer) -> None:
    first = api.person("ada@example.com", job_title="Engineer")
    again = api.person("ADA@example.com", job_title="CTO")

    assert again == first
    [person] = srv.records("people")
    assert api.field(person, "job_title") == ["CTO"]
    assert api.field(person, "email_addresses", "email_address") == ["ada@example.com"]


def test_assert_with_a_new_email_creates_a_new_person(api: Any, srv: AttioServer) -> None:
    a = api.person("a@example.com")
    b = api.person("b@example.com")

    assert a != b
    assert len(srv.records("people")) == 2


def test_assert_adds_matching_values_and_replaces_other_multiselects(api: Any) -> None:
    rid = api.person("a@example.com", phone_numbers=["+15558675309", "+442079460958"])

    again = api.person("a@example.com", phone_numbers=["+33142685300"])
    assert again == rid
    both = api.ok(
        api.upsert(
            "people", "email_addresses", {"email_addresses": ["a2@example.com", "a@example.com"]}
        )
    )

    assert both["id"]["record_id"] == rid
    emails = api.field(both, "email_addresses", "email_address")
    assert emails == ["a@example.com", "a2@example.com"]  # added, never removed
    assert api.field(both, "phone_numbers", "phone_number") == ["+33142685300"]  # replaced


def test_assert_replaces_company_categories(api: Any) -> None:
    rid = api.company("acme.com", categories=["B2B", "SAAS"])
    api.company("acme.com", categories=["Enterprise"])

    record = api.get("companies", rid)
    assert [v["option"]["title"] for v in record["values"]["categories"]] == ["Enterprise"]


def test_assert_rejects_bad_matching_attributes(api: Any) -> None:
    not_unique = api.upsert("people", "job_title", {"job_title": "CTO"})
    unknown = api.upsert("people", "nope", {"job_title": "CTO"})
    absent = api.upsert("people", "email_addresses", {"job_title": "CTO"})

    assert api.error(not_unique, 400)["code"] == "matching_attribute_definition_not_unique"
    assert api.error(unknown, 400)["code"] == "value_not_found"
    body = api.error(absent, 400)
    assert body["code"] == "missing_value"
    assert "email_addresses" in body["message"]


def test_create_refuses_a_unique_clash(api: Any, srv: AttioServer) -> None:
    api.company("acme.com")

    clash = api.create("companies", {"domains": ["acme.com"], "name": "Other"})

    body = api.error(clash, 400)  # Attio: 400, not 409
    assert body["code"] == "uniqueness_conflict"
    assert len(srv.records("companies")) == 1


def test_person_company_must_reference_an_existing_company(api: Any, srv: AttioServer) -> None:
    by_domain = api.upsert(
        "people", "email_addresses", {"email_addresses": ["a@x.com"], "company": "missing.com"}
    )
    by_id = api.upsert(
        "people",
        "email_addresses",
        {
            "email_addresses": ["a@x.com"],
            "company": [
                {
                    "target_object": "companies",
                    "target_record_id": "0b0d7d4c-0d5c-4c57-9e0f-000000000000",
                }
            ],
        },
    )

    for response in (by_domain, by_id):
        body = api.error(response, 400)
        assert "not found" in body["message"].lower()
        assert "company" in body["message"]
    assert srv.records("people") == []  # nothing half-written


def test_company_team_follows_person_company(api: Any) -> None:
    acme = api.company("acme.com")
    globex = api.company("globex.com")

    ada = api.person(
        "ada@acme.com",
        company=[{"target_object": "companies", "domains": [{"domain": "acme.com"}]}],
    )
    assert api.field(api.get("companies", acme), "team", "target_record_id") == [ada]

    api.person("ada@acme.com", company="globex.com")  # she moves
    assert api.field(api.get("companies", acme), "team", "target_record_id") == []
    assert api.field(api.get("companies", globex), "team", "target_record_id") == [ada]

    # And the other way: emptying a team clears the person's company.
    api.ok(
        api.client.put(
            f"/v2/objects/companies/records/{globex}", json={"data": {"values": {"team": []}}}
        )
    )
    assert api.get("people", ada)["values"]["company"] == []


def test_string_shorthands_are_accepted(api: Any) -> None:
    api.company("https://www.acme.co.uk/about?utm=x", categories=["B2B"])
    record = api.ok(
        api.upsert(
            "people",
            "email_addresses",
            {
                "email_addresses": ["Ada@Example.com"],
                "name": "Lovelace, Ada",
                "phone_numbers": ["+1 (555) 867-5309"],
                "company": "www.acme.co.uk",
                "primary_location": "London, England, GB",
                "job_title": {"value": "CTO"},
            },
        )
    )
    values = record["values"]

    assert values["email_addresses"][0]["email_address"] == "ada@example.com"
    assert values["email_addresses"][0]["email_root_domain"] == "example.com"
    assert values["name"][0]["first_name"] == "Ada"
    assert values["name"][0]["last_name"] == "Lovelace"
    assert values["name"][0]["full_name"] == "Ada Lovelace"
    assert values["phone_numbers"][0]["phone_number"] == "+15558675309"
    assert values["phone_numbers"][0]["country_code"] == "US"
    assert values["primary_location"][0]["country_code"] == "GB"
    assert values["job_title"][0]["value"] == "CTO"
    assert values["company"][0]["target_object"] == "companies"

    no_comma = api.ok(
        api.upsert("people", "email_addresses", {"email_addresses": ["m@x.com"], "name": "Madonna"})
    )
    assert no_comma["values"]["name"][0]["first_name"] == "Madonna"
    assert no_comma["values"]["name"][0]["last_name"] == ""


def test_domains_are_trimmed_to_the_host(api: Any) -> None:
    rid = api.company("https://Acme.com:443/pricing?x=1#top")

    assert api.field(api.get("companies", rid), "domains", "domain") == ["acme.com"]
    assert api.company("acme.com") == rid


def test_every_value_type_on_deals(api: Any) -> None:
    deal = api.ok(
        api.create(
            "deals",
            {
                "name": "Big one",
                "stage": "In Progress",
                "owner": {"workspace_member_email_address": "admin@example.com"},
                "value": "1250.5",
                "is_qualified": "true",
                "close_date": "2025-03-04T23:00:00-10:00",
                "probability": 0.75,
                "priority": 4,
                "last_contacted_at": "2025-01-02T13:00:00+02:00",
                "source": {"option": "Referral"},
            },
        )
    )
    values = deal["values"]

    assert values["stage"][0]["status"]["title"] == "In Progress"
    assert values["owner"][0]["referenced_actor_type"] == "workspace-member"
    assert values["value"][0]["currency_value"] == 1250.5
    assert values["value"][0]["currency_code"] == "USD"
    assert values["is_qualified"][0]["value"] is True
    assert values["close_date"][0]["value"] == "2025-03-05"  # converted to UTC, then trimmed
    assert values["probability"][0]["value"] == 0.75
    assert values["priority"][0]["value"] == 4
    assert values["last_contacted_at"][0]["value"] == "2025-01-02T11:00:00.000000000Z"
    assert values["source"][0]["option"]["title"] == "Referral"


def test_bad_values_are_rejected_naming_the_attribute(api: Any, srv: AttioServer) -> None:
    cases = [
        ({"email_addresses": ["not-an-email"]}, "validation_type", "email_addresses"),
        ({"email_addresses": ["a@x.com"], "categories": ["B2B"]}, "value_not_found", "categories"),
        ({"email_addresses": ["a@x.com"], "shoe_size": "42"}, "value_not_found", "shoe_size"),
        (
            {"email_addresses": ["a@x.com"], "avatar_url": "https://x"},
            "immutable_value",
            "avatar_url",
        ),
        ({"email_addresses": ["a@x.com"], "job_title": ["a", "b"]}, "validation_type", "job_title"),
        ({"email_addresses": ["a@x.com"], "job_title": 42}, "validation_type", "job_title"),
        ({"email_addresses": ["a@x.com"], "job_title": None}, "validation_type", "job_title"),
    ]
    for values, code, slug in cases:
        body = api.error(api.upsert("people", "email_addresses", values), 400)
        assert body["code"] == code, (values, body)
        assert slug in body["message"], (values, body)
    assert srv.records("people") == []


def test_unknown_select_option_and_bad_ratings(api: Any) -> None:
    api.company("acme.com")

    unknown = api.upsert(
        "companies", "domains", {"domains": ["acme.com"], "categories": ["Crypto"]}
    )
    rating = api.create("deals", {"name": "x", "stage": "Lead", "priority": 6})
    decimals = api.create("deals", {"name": "x", "stage": "Lead", "value": 1.23456})
    required = api.create("deals", {"name": "no stage"})

    assert api.error(unknown, 400)["code"] == "value_not_found"
    assert api.error(rating, 400)["code"] == "validation_type"
    assert api.error(decimals, 400)["code"] == "validation_type"
    assert api.error(required, 400)["code"] == "missing_value"


def test_a_bare_value_for_a_multiselect_is_refused(api: Any, srv: AttioServer) -> None:
    # Attio's spec: values are "an array of values (for single or multi-select attributes)";
    # only a single-value attribute takes a bare value.
    for values in (
        {"email_addresses": "a@x.com"},
        {"email_addresses": ["a@x.com"], "phone_numbers": "+15558675309"},
    ):
        body = api.error(api.upsert("people", "email_addresses", values), 400)
        assert body["code"] == "validation_type" and "array" in body["message"]
    assert srv.records("people") == []


def test_patch_appends_put_replaces_and_empty_list_changes_nothing_on_patch(api: Any) -> None:
    rid = api.person("a@x.com", phone_numbers=["+15558675309"])
    url = f"/v2/objects/people/records/{rid}"

    patched = api.ok(
        api.client.patch(url, json={"data": {"values": {"phone_numbers": ["+442079460958"]}}})
    )
    assert api.field(patched, "phone_numbers", "phone_number") == ["+15558675309", "+442079460958"]

    put = api.ok(
        api.client.put(url, json={"data": {"values": {"phone_numbers": ["+33142685300"]}}})
    )
    assert api.field(put, "phone_numbers", "phone_number") == ["+33142685300"]

    # PATCH only adds: [] adds nothing, so it changes nothing.
    kept = api.ok(api.client.patch(url, json={"data": {"values": {"phone_numbers": []}}}))
    assert api.field(kept, "phone_numbers", "phone_number") == ["+33142685300"]
    # PUT replaces: [] clears.
    cleared = api.ok(api.client.put(url, json={"data": {"values": {"phone_numbers": []}}}))
    assert cleared["values"]["phone_numbers"] == []
    assert api.field(cleared, "email_addresses", "email_address") == ["a@x.com"]


def test_get_unknown_record_is_404(api: Any) -> None:
    response = api.client.get("/v2/objects/people/records/0b0d7d4c-0d5c-4c57-9e0f-000000000000")

    assert api.error(response, 404)["code"] == "not_found"


def test_query_filters_and_paginates(api: Any) -> None:
    acme = api.company("acme.com", name="Acme")
    api.company("globex.com", name="Globex")
    for i in range(3):
        api.person(f"p{i}@acme.com", job_title="Engineer" if i else "CTO")

    def query(obj: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = api.ok(
            api.client.post(f"/v2/objects/{obj}/records/query", json=body)
        )
        return data

    assert [
        r["id"]["record_id"] for r in query("companies", {"filter": {"domains": "ACME.com"}})
    ] == [acme]
    assert len(query("companies", {"filter": {"name": {"$eq": "Globex"}}})) == 1
    assert len(query("people", {"filter": {"email_addresses": "p1@acme.com"}})) == 1
    assert len(query("people", {"filter": {"job_title": "Engineer"}})) == 2
    assert len(query("people", {"limit": 2})) == 2
    assert len(query("people", {"limit": 2, "offset": 2})) == 1
    bad = api.client.post("/v2/objects/people/records/query", json={"filter": {"nope": 1}})
    assert api.error(bad, 400)["code"] == "filter_error"


def test_objects_and_attributes_metadata(api: Any, srv: AttioServer) -> None:
    objects = api.ok(api.client.get("/v2/objects"))
    attributes = api.ok(api.client.get("/v2/objects/people/attributes"))
    by_slug = {a["api_slug"]: a for a in attributes}
    options = api.ok(api.client.get("/v2/objects/companies/attributes/categories/options"))
    statuses = api.ok(api.client.get("/v2/objects/deals/attributes/stage/statuses"))

    assert {o["api_slug"] for o in objects} == {"people", "companies", "deals"}
    emails = by_slug["email_addresses"]
    assert (emails["type"], emails["is_unique"], emails["is_multiselect"]) == (
        "email-address",
        True,
        True,
    )
    assert by_slug["name"]["type"] == "personal-name"
    assert by_slug["company"]["relationship"] is not None
    assert by_slug["avatar_url"]["is_writable"] is False
    assert "B2B" in [o["title"] for o in options]
    assert "Won 🎉" in [s["title"] for s in statuses]
    not_select = api.client.get("/v2/objects/people/attributes/job_title/options")
    assert api.error(not_select, 400)["code"] == "validation_type"


def test_tests_can_add_attributes(api: Any, srv: AttioServer) -> None:
    srv.add_attribute("people", "lead_score", "number")
    srv.add_attribute("companies", "tier", "select", options=["Gold", "Silver"])

    person = api.ok(
        api.upsert("people", "email_addresses", {"email_addresses": ["a@x.com"], "lead_score": 7})
    )
    company = api.ok(api.upsert("companies", "domains", {"domains": ["x.com"], "tier": "Gold"}))

    assert api.field(person, "lead_score") == [7]
    assert company["values"]["tier"][0]["option"]["title"] == "Gold"


def test_record_output_shape(api: Any, srv: AttioServer) -> None:
    record = api.ok(api.upsert("people", "email_addresses", {"email_addresses": ["a@x.com"]}))

    assert set(record) == {"id", "created_at", "web_url", "values"}
    assert record["id"]["workspace_id"] == srv.workspace_id
    assert record["web_url"].endswith(f"/person/{record['id']['record_id']}")
    email = record["values"]["email_addresses"][0]
    assert email["attribute_type"] == "email-address"
    assert email["active_until"] is None
    assert email["created_by_actor"]["type"] == "api-token"
    assert record["values"]["job_title"] == []  # every attribute is listed
    assert record["created_at"].endswith("Z")


def test_concurrent_asserts_of_one_email_make_one_person(srv: AttioServer) -> None:
    def push(i: int) -> int:
        response = httpx.put(
            f"{srv.base_url}/v2/objects/people/records",
            params={"matching_attribute": "email_addresses"},
            json={"data": {"values": {"email_addresses": ["same@x.com"], "job_title": f"T{i}"}}},
            headers={"Authorization": "Bearer local-dev-token"},
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(push, range(16)))

    assert codes == [200] * 16
    assert len(srv.records("people")) == 1


def test_creating_a_person_derives_a_company_from_a_corporate_email(
    api: Any, srv: AttioServer
) -> None:
    # Attio: "a related company record will automatically be generated or matched based on
    # the domain of the person's email address". Free mail derives none.
    rid = api.person("ada@initech.io")
    [company] = srv.records("companies")
    assert api.field(company, "domains", "domain") == ["initech.io"]
    person = api.get("people", rid)
    assert api.field(person, "company", "target_record_id") == [company["id"]["record_id"]]
    api.person("bob@initech.io")  # matched, not created again
    api.person("kim@gmail.com")
    assert len(srv.records("companies")) == 1
