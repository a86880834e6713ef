"""The local HubSpot server keeps HubSpot's semantics (checked here with plain httpx; the SDK
oracle is test_hubspot_server_sdk.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from crm_push_hubspot.server import HubSpotServer, TokenInfo

V = "2026-03"
OBJ = f"/crm/objects/{V}"


def upsert(http: httpx.Client, emails: list[str], trace: bool = False) -> httpx.Response:
    inputs = [
        {"idProperty": "email", "id": e, "properties": {"firstname": "X"}}
        | ({"objectWriteTraceId": f"t{i}"} if trace else {})
        for i, e in enumerate(emails)
    ]
    return http.post(f"{OBJ}/contacts/batch/upsert", json={"inputs": inputs})


def test_upsert_by_email_creates_then_updates(http: httpx.Client) -> None:
    first = upsert(http, ["jane@acme.com"])
    assert first.status_code == 200, first.text
    result = first.json()["results"][0]
    assert result["new"] is True and result["properties"]["email"] == "jane@acme.com"
    again = upsert(http, ["jane@acme.com"]).json()["results"][0]
    assert again["new"] is False and again["id"] == result["id"]


def test_upsert_key_is_case_sensitive(http: httpx.Client, server: HubSpotServer) -> None:
    upsert(http, ["jane@acme.com"])
    answer = upsert(http, ["Jane@acme.com"])
    assert answer.status_code == 409 and answer.json()["category"] == "CONFLICT"
    assert len(server.objects("contacts")) == 1


def test_batch_with_trace_ids_answers_207(http: httpx.Client, server: HubSpotServer) -> None:
    inputs = [
        {"objectWriteTraceId": "a", "properties": {"email": "a@x.io"}},
        {"objectWriteTraceId": "b", "properties": {"nope": "1"}},
    ]
    answer = http.post(f"{OBJ}/contacts/batch/create", json={"inputs": inputs})
    assert answer.status_code == 207, answer.text
    body = answer.json()
    assert body["numErrors"] == 1 and len(body["results"]) == 1
    error = body["errors"][0]
    assert error["category"] == "VALIDATION_ERROR" and "nope" in error["message"]
    assert error["context"]["objectWriteTraceId"] == ["b"]


def test_batch_without_trace_ids_is_all_or_nothing(
    http: httpx.Client, server: HubSpotServer
) -> None:
    inputs = [{"properties": {"email": "a@x.io"}}, {"properties": {"nope": "1"}}]
    answer = http.post(f"{OBJ}/contacts/batch/create", json={"inputs": inputs})
    assert answer.status_code == 400
    body = answer.json()
    assert {"status", "message", "correlationId", "category"} <= set(body)
    assert server.objects("contacts") == []


def test_batch_over_100_inputs_is_refused(http: httpx.Client) -> None:
    inputs = [{"properties": {"name": f"c{i}"}} for i in range(101)]
    assert http.post(f"{OBJ}/companies/batch/create", json={"inputs": inputs}).status_code == 400


def test_single_create_with_existing_email_is_409_with_existing_id(http: httpx.Client) -> None:
    first = http.post(f"{OBJ}/contacts", json={"properties": {"email": "a@x.io"}}).json()
    dup = http.post(f"{OBJ}/contacts", json={"properties": {"email": "A@x.io"}})
    assert dup.status_code == 409
    assert f"Existing ID: {first['id']}" in dup.json()["message"]


def test_search_lags_writes() -> None:
    with HubSpotServer(search_lag=0.4) as srv:
        http = httpx.Client(
            base_url=srv.base_url, headers={"Authorization": "Bearer pat-local-dev-token"}
        )
        http.post(f"{OBJ}/companies", json={"properties": {"domain": "acme.com", "name": "A"}})
        search = {
            "filterGroups": [
                {"filters": [{"propertyName": "domain", "operator": "IN", "values": ["acme.com"]}]}
            ]
        }
        assert http.post(f"{OBJ}/companies/search", json=search).json()["total"] == 0
        time.sleep(0.5)
        found = http.post(f"{OBJ}/companies/search", json=search).json()
        assert found["total"] == 1 and found["results"][0]["properties"]["domain"] == "acme.com"


def test_search_limits(http: httpx.Client, server: HubSpotServer) -> None:
    server.app.secondly.limit = None  # this test searches more than 5 times a second

    def search(body: dict[str, object]) -> int:
        return http.post(f"{OBJ}/companies/search", json=body).status_code

    f = {"propertyName": "domain", "operator": "EQ", "value": "a"}
    assert search({"filterGroups": [{"filters": [f]}] * 6}) == 400
    assert search({"filterGroups": [{"filters": [f] * 7}]}) == 400
    assert search({"filterGroups": [{"filters": [f] * 6}] * 4}) == 400  # 24 > 18
    assert (
        search(
            {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "domain",
                                "operator": "IN",
                                "values": [f"d{i}" for i in range(101)],
                            }
                        ]
                    }
                ]
            }
        )
        == 400
    )
    assert search({"limit": 201}) == 400
    assert search({"filterGroups": [{"filters": [f]}], "query": "x" * 3001}) == 400
    assert search({"filterGroups": [{"filters": [f]}]}) == 200


def test_search_secondly_limit(server: HubSpotServer, http: httpx.Client) -> None:
    codes = [http.post(f"{OBJ}/companies/search", json={}).status_code for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    answer = http.post(f"{OBJ}/companies/search", json={})
    assert answer.json()["message"] == "You have reached your secondly limit."
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in answer.headers)


def test_ten_secondly_limit_and_headers() -> None:
    with HubSpotServer(ten_secondly_limit=3) as srv:
        http = httpx.Client(
            base_url=srv.base_url, headers={"Authorization": "Bearer pat-local-dev-token"}
        )
        answers = [http.get(f"{OBJ}/contacts") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
        assert answers[0].headers["X-HubSpot-RateLimit-Remaining"] == "2"
        assert answers[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert "X-HubSpot-RateLimit-Daily-Remaining" in answers[0].headers
        body = answers[3].json()
        assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"


def test_auth_and_scopes() -> None:
    tokens = {"good": TokenInfo(), "narrow": TokenInfo(scopes=("crm.objects.contacts.read",))}
    with HubSpotServer(tokens=tokens) as srv:
        bad = httpx.get(f"{srv.base_url}{OBJ}/contacts", headers={"Authorization": "Bearer x"})
        assert bad.status_code == 401 and bad.json()["category"] == "INVALID_AUTHENTICATION"
        narrow = httpx.post(
            f"{srv.base_url}{OBJ}/companies",
            json={"properties": {}},
            headers={"Authorization": "Bearer narrow"},
        )
        assert narrow.status_code == 403 and narrow.json()["category"] == "MISSING_SCOPES"
        context = narrow.json()["errors"][0]["context"]
        assert context["requiredScopes"] == ["crm.objects.companies.write"]
        details = httpx.get(
            f"{srv.base_url}/account-info/{V}/details", headers={"Authorization": "Bearer good"}
        ).json()
        assert details["portalId"] == srv.portal_id


def test_private_app_token_info(server: HubSpotServer) -> None:
    answer = httpx.post(
        f"{server.base_url}/oauth/v2/private-apps/get/access-token-info",
        json={"tokenKey": "pat-local-dev-token"},
    )
    assert answer.json()["hubId"] == server.portal_id
    assert "crm.objects.contacts.write" in answer.json()["scopes"]


def test_associations_default_and_listing(http: httpx.Client) -> None:
    contact = http.post(f"{OBJ}/contacts", json={"properties": {"email": "a@x.io"}}).json()["id"]
    company = http.post(f"{OBJ}/companies", json={"properties": {"domain": "x.io"}}).json()["id"]
    put = http.put(f"{OBJ}/contacts/{contact}/associations/default/companies/{company}")
    assert put.status_code == 200, put.text
    spec = put.json()["results"][0]["associationSpec"]
    assert spec == {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
    listed = http.get(f"{OBJ}/companies/{company}/associations/contacts").json()["results"]
    assert listed[0]["toObjectId"] == int(contact)
    missing = http.put(f"{OBJ}/contacts/{contact}/associations/default/companies/999999")
    assert missing.status_code == 404
    batch = http.post(
        f"/crm/associations/{V}/contacts/companies/batch/associate/default",
        json={
            "inputs": [
                {"from": {"id": contact}, "to": {"id": company}},
                {"from": {"id": contact}, "to": {"id": "424242"}},
            ]
        },
    )
    # 200 with the errors in the body: this endpoint has no 207 in HubSpot's spec.
    assert batch.status_code == 200 and batch.json()["numErrors"] == 1


def test_note_needs_timestamp_and_an_existing_contact(http: httpx.Client) -> None:
    contact = http.post(f"{OBJ}/contacts", json={"properties": {"email": "a@x.io"}}).json()["id"]
    assoc = [
        {
            "to": {"id": contact},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
        }
    ]
    no_time = http.post(f"{OBJ}/notes", json={"properties": {"hs_note_body": "x"}})
    assert no_time.status_code == 400 and "hs_timestamp" in no_time.text
    bad_link = http.post(
        f"{OBJ}/notes",
        json={
            "properties": {"hs_timestamp": "2026-11-26T12:00:00Z"},
            "associations": [{"to": {"id": "999"}, "types": assoc[0]["types"]}],
        },
    )
    assert bad_link.status_code == 400
    note = http.post(
        f"{OBJ}/notes",
        json={
            "properties": {"hs_timestamp": "2026-11-26T12:00:00Z", "hs_note_body": "<p>hi</p>"},
            "associations": assoc,
        },
    )
    assert note.status_code == 201, note.text
    linked = http.get(f"{OBJ}/contacts/{contact}/associations/notes").json()["results"]
    assert linked[0]["toObjectId"] == int(note.json()["id"])


def test_unique_custom_property_enables_upsert(http: httpx.Client) -> None:
    def up() -> httpx.Response:
        return http.post(
            f"{OBJ}/companies/batch/upsert",
            json={
                "inputs": [
                    {
                        "idProperty": "crmpush_domain",
                        "id": "acme.com",
                        "properties": {"name": "Acme"},
                    }
                ]
            },
        )

    assert up().status_code == 400  # not a property yet
    created = http.post(
        f"/crm/properties/{V}/companies",
        json={
            "name": "crmpush_domain",
            "label": "crm-push domain",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
            "hasUniqueValue": True,
        },
    )
    assert created.status_code == 201 and created.json()["hasUniqueValue"] is True
    assert up().json()["results"][0]["new"] is True
    assert up().json()["results"][0]["new"] is False
    assert http.get(f"/crm/properties/{V}/companies/crmpush_domain").status_code == 200
    assert http.get(f"/crm/properties/{V}/companies/nope").status_code == 404


def test_read_only_and_unknown_properties_are_refused(http: httpx.Client) -> None:
    answer = http.post(f"{OBJ}/contacts", json={"properties": {"hs_object_id": "1"}})
    assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.sends_delete
def test_delete_is_405_everywhere(http: httpx.Client) -> None:
    contact = http.post(f"{OBJ}/contacts", json={"properties": {"email": "a@x.io"}}).json()["id"]
    for path in (f"{OBJ}/contacts/{contact}", f"/crm/v3/objects/contacts/{contact}"):
        assert http.delete(path).status_code == 405
    assert http.get(f"{OBJ}/contacts/{contact}").status_code == 200


def test_legacy_paths_reach_the_same_handlers(http: httpx.Client) -> None:
    contact = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@x.io"}})
    assert http.get(f"{OBJ}/contacts/{contact.json()['id']}").status_code == 200


def test_other_versions_are_served_when_configured() -> None:
    with HubSpotServer(api_version="2026-09") as srv:
        h = {"Authorization": "Bearer pat-local-dev-token"}
        assert (
            httpx.get(f"{srv.base_url}/crm/objects/2026-09/contacts", headers=h).status_code == 200
        )
        assert httpx.get(f"{srv.base_url}{OBJ}/contacts", headers=h).status_code == 404


def test_oauth_authorize_token_refresh_introspect(server: HubSpotServer) -> None:
    base = server.base_url
    auth = httpx.get(
        f"{base}/oauth/authorize",
        params={
            "client_id": "app-1",
            "redirect_uri": "http://localhost/cb",
            "state": "s1",
            "scope": "crm.objects.contacts.read crm.objects.contacts.write",
        },
    )
    assert auth.status_code == 302
    location = httpx.URL(auth.headers["Location"])
    assert location.params["state"] == "s1"
    token = httpx.post(
        f"{base}/oauth/{V}/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "app-1",
            "client_secret": "app-secret",
            "redirect_uri": "http://localhost/cb",
            "code": location.params["code"],
        },
    ).json()
    assert token["expires_in"] == 1800 and token["token_type"] == "bearer"
    again = httpx.post(
        f"{base}/oauth/{V}/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "app-1",
            "client_secret": "app-secret",
            "refresh_token": token["refresh_token"],
        },
    ).json()
    assert again["access_token"] != token["access_token"]
    info = httpx.post(
        f"{base}/oauth/{V}/token/introspect",
        data={"client_id": "app-1", "client_secret": "app-secret", "token": again["access_token"]},
    ).json()
    assert info["active"] is True and info["hub_id"] == server.portal_id
    bad = httpx.post(
        f"{base}/oauth/{V}/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "app-1",
            "client_secret": "app-secret",
            "refresh_token": "nope",
        },
    )
    assert bad.status_code == 400 and bad.json()["status"] == "BAD_REFRESH_TOKEN"


def test_expired_oauth_token_is_401() -> None:
    with HubSpotServer(oauth_clients={"c": "s"}, access_token_seconds=0.2) as srv:
        from crm_push_hubspot.server.auth import Grant

        access, _ = srv.tokens.issue_tokens(Grant("c", "http://x", ("crm.objects.contacts.read",)))
        time.sleep(0.3)
        answer = httpx.get(
            f"{srv.base_url}{OBJ}/contacts", headers={"Authorization": f"Bearer {access}"}
        )
        assert answer.status_code == 401 and answer.json()["category"] == "EXPIRED_AUTHENTICATION"


def test_help_shows_defaults() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "crm_push_hubspot.server", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out = " ".join(out.split())
    assert "python -m crm_push_hubspot.server" in out
    assert "(default: 2026-03)" in out and "(default: 1.0)" in out


def test_server_imports_nothing_from_crm_push() -> None:
    code = (
        "import sys, crm_push_hubspot.server; "
        "print([m for m in sys.modules if m.split('.')[0] == 'crm_push'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_refused_batch_leaves_no_trace(http: httpx.Client, server: HubSpotServer) -> None:
    company = http.post(f"{OBJ}/companies", json={"properties": {"name": "Old"}}).json()["id"]
    inputs = [
        {"id": company, "properties": {"name": "New"}},
        {"id": "999999", "properties": {"name": "Nobody"}},
    ]
    assert http.post(f"{OBJ}/companies/batch/update", json={"inputs": inputs}).status_code == 404
    assert server.objects("companies")[0]["name"] == "Old"
    contact = http.post(f"{OBJ}/contacts", json={"properties": {"email": "a@x.io"}}).json()["id"]
    notes = [
        {
            "properties": {"hs_timestamp": "2026-01-01T00:00:00Z"},
            "associations": [
                {
                    "to": {"id": contact},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
                }
            ],
        },
        {"properties": {}},  # no hs_timestamp
    ]
    assert http.post(f"{OBJ}/notes/batch/create", json={"inputs": notes}).status_code == 400
    assert server.objects("notes") == [] and server.associated("contacts", contact, "notes") == []
