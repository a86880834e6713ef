"""Answers conform to the response schemas of Attio's OpenAPI document (the copy shipped
with the server), so code tested here meets the shapes the real API documents."""

from __future__ import annotations

from typing import Any

from crm_push_attio.server import AttioServer

RECORD = "/v2/objects/{object}/records/{record_id}"


def _conforms(srv: AttioServer, method: str, template: str, body: Any) -> None:
    assert srv.spec.response_errors(method, template, body) == []


def test_records_of_every_value_type_match_the_spec(api: Any, srv: AttioServer) -> None:
    company = api.company(
        "acme.com",
        name="Acme",
        categories=["B2B"],
        funding_raised_usd=1000,
        foundation_date="2001-02-03",
        primary_location="Berlin, DE",
    )
    person = api.person(
        "ada@acme.com",
        name="Lovelace, Ada",
        phone_numbers=["+15558675309"],
        company="acme.com",
        job_title="CTO",
    )
    deal = api.ok(
        api.create(
            "deals",
            {
                "name": "Big",
                "stage": "Lead",
                "owner": {"workspace_member_email_address": "admin@example.com"},
                "value": 10,
                "is_qualified": True,
                "probability": 0.5,
                "priority": 3,
                "close_date": "2025-01-01",
                "last_contacted_at": "2025-01-01T10:00:00Z",
                "associated_people": [{"target_object": "people", "target_record_id": person}],
                "associated_company": "acme.com",
            },
        )
    )

    for obj, rid in (
        ("companies", company),
        ("people", person),
        ("deals", deal["id"]["record_id"]),
    ):
        body = api.client.get(f"/v2/objects/{obj}/records/{rid}").json()
        _conforms(srv, "get", RECORD, body)


def test_metadata_notes_and_self_match_the_spec(api: Any, srv: AttioServer) -> None:
    person = api.person("a@x.com")
    note = api.client.post(
        "/v2/notes",
        json={
            "data": {
                "parent_object": "people",
                "parent_record_id": person,
                "title": "t",
                "format": "markdown",
                "content": "**hi**",
            }
        },
    ).json()

    _conforms(srv, "post", "/v2/notes", note)
    _conforms(srv, "get", "/v2/notes", api.client.get("/v2/notes").json())
    _conforms(srv, "get", "/v2/self", api.client.get("/v2/self").json())
    _conforms(srv, "get", "/v2/objects", api.client.get("/v2/objects").json())
    attrs = "/v2/{target}/{identifier}/attributes"
    _conforms(srv, "get", attrs, api.client.get("/v2/objects/deals/attributes").json())
    _conforms(
        srv,
        "get",
        attrs + "/{attribute}/statuses",
        api.client.get("/v2/objects/deals/attributes/stage/statuses").json(),
    )
    _conforms(
        srv,
        "get",
        "/v2/workspace_members",
        api.client.get("/v2/workspace_members").json(),
    )
    missing = api.client.get("/v2/objects/people/records/0b0d7d4c-0d5c-4c57-9e0f-000000000000")
    assert srv.spec.response_errors("get", RECORD, missing.json(), status=404) == []
