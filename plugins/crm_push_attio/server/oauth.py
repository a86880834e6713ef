"""OAuth 2.0 endpoints (app.attio.com in production): authorize, token, revoke.

Authorization is auto-approved, as if the local workspace admin always clicked "Allow".
Token endpoint errors follow RFC 6749 ({"error": ...}), not Attio's API error shape.

Refresh tokens (`issue_refresh_tokens`, the CLI's `--refresh-tokens`) are a TEST-ONLY
extension: Attio documents no refresh token and no expiring access token. The mode exists so
the client's refresh path can be exercised; a real workspace never takes it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .auth import OAuthError, TokenStore
from .responses import Response, html_page, json_response

_NO_STORE = {"Cache-Control": "no-store"}


def authorize(tokens: TokenStore, query: Mapping[str, str]) -> Response:
    client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
    if not tokens.known_client(client_id):
        return html_page(400, "Authorization error", f"Unknown OAuth client_id {client_id!r}.")
    if query.get("response_type") != "code":
        return html_page(400, "Authorization error", 'response_type must be "code".')
    if not re.match(r"^https?://", redirect_uri):
        return html_page(400, "Authorization error", "redirect_uri must be an http(s) URL.")
    params = {"code": tokens.issue_code(client_id, redirect_uri)}
    if "state" in query:
        params["state"] = query["state"]
    parts = urlsplit(redirect_uri)
    merged = "&".join(p for p in (parts.query, urlencode(params)) if p)
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, merged, parts.fragment))
    return Response(302, b"", {"Location": location, **_NO_STORE})


def token(tokens: TokenStore, body: Any, headers: Mapping[str, str]) -> Response:
    try:
        form = _form(body)
        client_id, secret = _client_credentials(form, headers)
        tokens.check_client(client_id, secret)
        assert client_id is not None
        grant = form.get("grant_type")
        if grant == "authorization_code":
            answer = tokens.exchange_code(client_id, form.get("code", ""), form.get("redirect_uri"))
        elif grant == "refresh_token" and tokens.issue_refresh_tokens:
            answer = tokens.refresh(client_id, form.get("refresh_token", ""))
        else:
            raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant {grant!r}.")
    except OAuthError as err:
        return _error(err)
    return json_response(200, answer, _NO_STORE)


def revoke(tokens: TokenStore, body: Any, headers: Mapping[str, str]) -> Response:
    """Attio documents the token as a Bearer header first, a form field second; 204, no body."""
    try:
        form = _form(body)
        header = (headers.get("Authorization") or "").strip()
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else ""
        client_id, secret = (
            (form.get("client_id"), form.get("client_secret"))
            if bearer
            else _client_credentials(form, headers)
        )
        if client_id is not None:
            tokens.check_client(client_id, secret)
        value = bearer or form.get("token")
        if not value:
            raise OAuthError(
                400,
                "invalid_request",
                'Send the token as "Authorization: Bearer <token>" or the "token" parameter.',
            )
    except OAuthError as err:
        return _error(err)
    tokens.revoke(value)
    return Response(204, b"", dict(_NO_STORE))


def _form(body: Any) -> dict[str, str]:
    if isinstance(body, dict):
        return {str(k): str(v) for k, v in body.items()}
    if body is None:
        return {}
    raise OAuthError(400, "invalid_request", "Send the parameters form-encoded.")


def _client_credentials(
    form: dict[str, str], headers: Mapping[str, str]
) -> tuple[str | None, str | None]:
    # HTTP Basic (RFC 6749 2.3.1) or client_id/client_secret in the form.
    header = headers.get("Authorization")
    if header and header.lower().startswith("basic "):
        try:
            pair = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "Malformed Basic credentials.") from None
        client_id, _, secret = pair.partition(":")
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def _error(err: OAuthError) -> Response:
    return json_response(
        err.status, {"error": err.error, "error_description": err.description}, _NO_STORE
    )
