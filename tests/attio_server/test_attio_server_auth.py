"""Tokens, scopes, /v2/self, activatable objects and the OAuth authorization-code flow."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from crm_push_attio.server import AttioServer, TokenInfo

NO_NOTES = ("record_permission:read-write", "object_configuration:read")


def _self(srv: AttioServer, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{srv.base_url}/v2/self", headers=headers)


def test_self_describes_an_active_token(srv: AttioServer) -> None:
    response = _self(srv, "local-dev-token")
    body = response.json()

    assert response.status_code == 200
    assert "data" not in body  # /v2/self is not wrapped
    assert body["active"] is True
    assert "note:read-write" in body["scope"].split(" ")
    assert body["workspace_id"] == srv.workspace_id
    assert body["workspace_name"] == "Local workspace"
    assert body["token_type"] == "Bearer"
    assert body["exp"] is None


def test_self_for_unknown_expired_or_missing_tokens(srv: AttioServer, api: Any) -> None:
    unknown = _self(srv, "who-knows")
    srv.add_token("short-lived")
    srv.expire_token("short-lived")
    expired = _self(srv, "short-lived")
    missing = _self(srv, None)

    assert (unknown.status_code, unknown.json()) == (200, {"active": False})
    assert (expired.status_code, expired.json()) == (200, {"active": False})
    assert api.error(missing, 400)["code"] == "missing_value"


def test_bad_token_is_401_elsewhere(srv: AttioServer, api: Any) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}):
        response = httpx.get(f"{srv.base_url}/v2/objects", headers=headers)
        body = api.error(response, 401)
        assert (body["type"], body["code"]) == ("auth_error", "unauthorized")


def test_missing_scope_is_403_naming_the_scope(api: Any, srv: AttioServer) -> None:
    person = api.person("a@x.com")
    srv.set_scopes("local-dev-token", NO_NOTES)
    note = {
        "parent_object": "people",
        "parent_record_id": person,
        "title": "Visit",
        "format": "plaintext",
        "content": "Visited /pricing",
    }

    denied = api.client.post("/v2/notes", json={"data": note})
    body = api.error(denied, 403)
    assert body["type"] == "auth_error"
    assert "note:read-write" in body["message"]
    assert srv.notes() == []
    assert "note:read-write" not in _self(srv, "local-dev-token").json()["scope"]
    assert api.client.get("/v2/objects/people/attributes").status_code == 200


def test_read_only_token_cannot_write_records() -> None:
    tokens = {"ro": TokenInfo(scopes=("record_permission:read", "object_configuration:read"))}
    with AttioServer(tokens=tokens) as srv:
        headers = {"Authorization": "Bearer ro"}
        write = httpx.put(
            f"{srv.base_url}/v2/objects/people/records",
            params={"matching_attribute": "email_addresses"},
            json={"data": {"values": {"email_addresses": ["a@x.com"]}}},
            headers=headers,
        )
        read = httpx.post(
            f"{srv.base_url}/v2/objects/people/records/query", json={}, headers=headers
        )

    assert write.status_code == 403
    assert "record_permission:read-write" in write.json()["message"]
    assert read.status_code == 200


def test_users_object_is_404_until_activated(api: Any, srv: AttioServer) -> None:
    values = {"user_id": "u-1", "primary_email_address": "a@x.com"}

    before = api.upsert("users", "user_id", values)
    body = api.error(before, 404)
    assert body["code"] == "not_found"
    assert "users" in body["message"]
    assert "users" not in {o["api_slug"] for o in api.ok(api.client.get("/v2/objects"))}

    srv.activate_object("users")
    srv.activate_object("workspaces")
    person = api.person("a@x.com")
    user = api.ok(api.upsert("users", "user_id", {**values, "person": "a@x.com"}))
    workspace = api.ok(
        api.upsert(
            "workspaces",
            "workspace_id",
            {"workspace_id": "w-1", "name": "Team", "users": ["u-1"]},
        )
    )

    assert api.field(user, "person", "target_record_id") == [person]
    user_again = api.get("users", user["id"]["record_id"])
    assert api.field(user_again, "workspace", "target_record_id") == [workspace["id"]["record_id"]]


def test_oauth_authorization_code_flow_and_revoke() -> None:
    # The consent page skipped (its tests are in test_attio_server_consent.py).
    with AttioServer(oauth_clients={"app": "s3cret"}, auto_approve=True) as srv:
        base = srv.base_url
        redirect = "http://127.0.0.1:9/callback"
        auth = httpx.get(
            f"{base}/authorize",
            params={
                "client_id": "app",
                "response_type": "code",
                "redirect_uri": redirect,
                "state": "xyz",
            },
        )
        assert auth.status_code == 302
        location = urlsplit(auth.headers["Location"])
        query = parse_qs(location.query)
        assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
        assert query["state"] == ["xyz"]
        form = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "client_id": "app",
            "client_secret": "s3cret",
            "redirect_uri": redirect,
        }

        wrong_secret = httpx.post(f"{base}/oauth/token", data={**form, "client_secret": "x"})
        token = httpx.post(f"{base}/oauth/token", data=form)
        reused = httpx.post(f"{base}/oauth/token", data=form)

        assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
        assert token.status_code == 200
        assert token.json()["token_type"] == "Bearer"
        access = token.json()["access_token"]
        assert "refresh_token" not in token.json()
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
        me = _self(srv, access).json()
        assert me["active"] is True
        assert me["client_id"] == "app"

        revoked = httpx.post(f"{base}/oauth/revoke", data={"token": access})
        assert (revoked.status_code, revoked.content) == (204, b"")
        assert _self(srv, access).json() == {"active": False}
        after = httpx.get(f"{base}/v2/objects", headers={"Authorization": f"Bearer {access}"})
        assert after.status_code == 401

        unknown = httpx.get(
            f"{base}/authorize",
            params={"client_id": "nope", "response_type": "code", "redirect_uri": redirect},
        )
        assert unknown.status_code == 400


def test_oauth_refresh_tokens_when_enabled() -> None:
    with AttioServer(
        oauth_clients={"app": "s3cret"}, issue_refresh_tokens=True, auto_approve=True
    ) as srv:
        base = srv.base_url
        redirect = "http://127.0.0.1:9/cb"
        auth = httpx.get(
            f"{base}/authorize",
            params={"client_id": "app", "response_type": "code", "redirect_uri": redirect},
        )
        code = parse_qs(urlsplit(auth.headers["Location"]).query)["code"][0]
        creds = {"client_id": "app", "client_secret": "s3cret"}
        first = httpx.post(
            f"{base}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                **creds,
            },
        ).json()
        assert first["expires_in"] > 0
        assert _self(srv, first["access_token"]).json()["exp"] is not None

        srv.expire_token(first["access_token"])
        assert _self(srv, first["access_token"]).json() == {"active": False}
        second = httpx.post(
            f"{base}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], **creds},
        )

        assert second.status_code == 200
        assert _self(srv, second.json()["access_token"]).json()["active"] is True
        replay = httpx.post(
            f"{base}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], **creds},
        )
        assert replay.status_code == 400


def test_revoke_takes_the_token_as_a_bearer_header_and_answers_204() -> None:
    # Attio documents the Bearer header first, the form field second.
    with AttioServer() as srv:
        srv.add_token("t-1")
        revoked = httpx.post(
            f"{srv.base_url}/oauth/revoke", headers={"Authorization": "Bearer t-1"}
        )
        assert (revoked.status_code, revoked.content) == (204, b"")
        assert _self(srv, "t-1").json() == {"active": False}
        missing = httpx.post(f"{srv.base_url}/oauth/revoke")
        assert missing.status_code == 400


def test_self_says_token_level_and_a_null_exp() -> None:
    with AttioServer() as srv:
        srv.tokens.set("member", TokenInfo(token_level="user"))
        assert _self(srv, "member").json()["token_level"] == "user"
        assert _self(srv, "local-dev-token").json()["exp"] is None
