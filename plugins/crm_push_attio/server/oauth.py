"""OAuth 2.0 endpoints (app.attio.com in production): authorize, token, revoke.

GET /authorize shows a consent page: the workspaces of the server to choose from, Approve and
Deny (POST /authorize, with a one-time ticket from the page). Deny sends the user back with
`error=access_denied`; Approve with a code for the chosen workspace. `auto_approve` (the
CLI's `--auto-approve`) skips the page for scripts and tests that have no browser.
Token endpoint errors follow RFC 6749 ({"error": ...}), not Attio's API error shape.

Refresh tokens (`issue_refresh_tokens`, the CLI's `--refresh-tokens`) are a TEST-ONLY
extension: Attio documents no refresh token and no expiring access token. The mode exists so
the client's refresh path can be exercised; a real workspace never takes it.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .auth import OAuthError, TokenStore
from .responses import Response, html_page, json_response

_NO_STORE = {"Cache-Control": "no-store"}


def authorize(
    tokens: TokenStore,
    query: Mapping[str, str],
    workspaces: Sequence[tuple[str, str]],
    auto_approve: bool = False,
) -> Response:
    """GET /authorize: the consent page (or, with `auto_approve`, straight back with a code for
    the first workspace, as if its admin always clicked "Approve")."""
    client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
    refused = _refused(tokens, client_id, redirect_uri, query.get("response_type"))
    if refused is not None:
        return refused
    state = query.get("state")
    if auto_approve:
        return _back(redirect_uri, {"code": tokens.issue_code(client_id, redirect_uri)}, state)
    ticket = tokens.issue_ticket(client_id, redirect_uri, state)
    return consent_page(client_id, workspaces, ticket)


def decide(tokens: TokenStore, body: Any, workspaces: Sequence[tuple[str, str]]) -> Response:
    """POST /authorize: the consent form's answer. Approve: back with a code for the chosen
    workspace; Deny: back with error=access_denied. Only from a page shown, once."""
    form = body if isinstance(body, dict) else {}
    ticket = tokens.take_ticket(str(form.get("ticket", "")))
    if ticket is None:
        return html_page(
            400,
            "Authorization error",
            "This consent page was already answered or has expired; start connecting again.",
        )
    decision = form.get("decision")
    if decision == "deny":
        params = {"error": "access_denied", "error_description": "The user denied access."}
        return _back(ticket.redirect_uri, params, ticket.state)
    if decision != "approve":
        return html_page(400, "Authorization error", 'decision must be "approve" or "deny".')
    chosen = str(form.get("workspace", ""))
    if chosen not in {workspace_id for workspace_id, _ in workspaces}:
        return html_page(400, "Authorization error", "Choose one of the workspaces listed.")
    code = tokens.issue_code(ticket.client_id, ticket.redirect_uri, chosen)
    return _back(ticket.redirect_uri, {"code": code}, ticket.state)


def consent_page(client_id: str, workspaces: Sequence[tuple[str, str]], ticket: str) -> Response:
    """The HTML form: which workspace to grant, Approve or Deny."""
    e = html.escape
    choices = "".join(
        f'<label><input type="radio" name="workspace" value="{e(wid)}"'
        f"{' checked' if i == 0 else ''} required> {e(name)}</label><br>"
        for i, (wid, name) in enumerate(workspaces)
    )
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<title>Authorize access to Attio</title>"
        "<h1>Authorize access to Attio</h1>"
        f"<p>The app <strong>{e(client_id)}</strong> asks to read and write records and notes "
        "in a workspace.</p>"
        '<form method="post" action="/authorize">'
        f'<input type="hidden" name="ticket" value="{e(ticket)}">'
        f"<fieldset><legend>Workspace</legend>{choices}</fieldset>"
        '<button type="submit" name="decision" value="approve">Approve</button> '
        '<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>'
        "</form></html>"
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        # Not framable, no scripts: a consent page that another page could click on is no
        # consent at all.
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        **_NO_STORE,
    }
    return Response(200, page.encode("utf-8"), headers)


def _refused(
    tokens: TokenStore, client_id: str, redirect_uri: str, response_type: str | None
) -> Response | None:
    if not tokens.known_client(client_id):
        return html_page(400, "Authorization error", f"Unknown OAuth client_id {client_id!r}.")
    if response_type != "code":
        return html_page(400, "Authorization error", 'response_type must be "code".')
    if not re.match(r"^https?://", redirect_uri):
        return html_page(400, "Authorization error", "redirect_uri must be an http(s) URL.")
    return None


def _back(redirect_uri: str, params: dict[str, str], state: str | None) -> Response:
    """The redirect to the app, with the answer and the state it sent."""
    if state is not None:
        params = {**params, "state": state}
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
