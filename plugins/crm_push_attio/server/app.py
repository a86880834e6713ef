"""HTTP routing and handlers: Attio's REST endpoints plus the OAuth endpoints.

`App.handle` turns one request into one `Response`; `httpd.py` does the sockets. Order of
checks per request, like a real API gateway: route -> latency -> injected failure -> token ->
scopes -> rate limit -> body validation -> handler. Anything refused before the handler
changes no state.
"""

from __future__ import annotations

import json
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import oauth
from .auth import TokenInfo, TokenStore, missing_scopes
from .errors import ApiError, forbidden, invalid, not_found, validation
from .model import ObjectDef
from .ratelimit import FailureInjector, SlidingWindow, rate_limited
from .responses import Response, error_response, json_response
from .validation import Spec
from .workspace import Workspace

_NOTES_MAX_LIMIT = 50
#: Attio's own limit of GET /v2/notes, requests per second (beside the 100 reads/s).
NOTES_LIST_RATE = 10.0
_QUERY_DEFAULT_LIMIT = 500


@dataclass(frozen=True)
class RequestLog:
    """One request as the server saw it (tests assert on these)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int


@dataclass
class Call:
    """What a handler gets: path parameters, query, parsed body, the caller's token."""

    params: tuple[str, ...]
    query: dict[str, str]
    body: Any
    headers: Mapping[str, str]
    token: str | None = None
    info: TokenInfo | None = None

    @property
    def actor(self) -> dict[str, Any]:
        # Attio records API writes as the token's actor; the id is derived, not the token.
        token_id = uuid.uuid5(uuid.NAMESPACE_URL, f"crm-push-local-token:{self.token}")
        return {"type": "api-token", "id": str(token_id)}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: str
    template: str | None  # the spec's path, for scopes and body validation
    kind: str | None  # "read" / "write" for rate limits; None = not limited
    auth: str = "bearer"  # "bearer", "self" (never 401) or "none"


def _route(
    method: str,
    path: str,
    handler: str,
    template: str | None,
    kind: str | None,
    auth: str = "bearer",
) -> Route:
    regex = "^" + re.sub(r"\{[a-z_]+\}", "([^/]+)", path) + "$"
    return Route(method, re.compile(regex), handler, template, kind, auth)


_OBJ = "/v2/objects/{object}"
_ATTR = "/v2/{target}/{identifier}/attributes"
ROUTES: tuple[Route, ...] = (
    _route("GET", "/v2/self", "self_", "/v2/self", "read", auth="self"),
    _route("GET", "/v2/objects", "list_objects", "/v2/objects", "read"),
    _route("GET", _OBJ, "get_object", _OBJ, "read"),
    _route("GET", "/v2/{target}/{identifier}/attributes", "list_attributes", _ATTR, "read"),
    _route("GET", _ATTR + "/{attribute}", "get_attribute", _ATTR + "/{attribute}", "read"),
    _route("GET", _ATTR + "/{a}/options", "options", _ATTR + "/{attribute}/options", "read"),
    _route("GET", _ATTR + "/{a}/statuses", "statuses", _ATTR + "/{attribute}/statuses", "read"),
    _route("POST", _OBJ + "/records/query", "query", _OBJ + "/records/query", "read"),
    _route("POST", _OBJ + "/records", "create", _OBJ + "/records", "write"),
    _route("PUT", _OBJ + "/records", "assert_", _OBJ + "/records", "write"),
    _route("GET", _OBJ + "/records/{id}", "get_record", _OBJ + "/records/{record_id}", "read"),
    _route("PATCH", _OBJ + "/records/{id}", "patch", _OBJ + "/records/{record_id}", "write"),
    _route("PUT", _OBJ + "/records/{id}", "put", _OBJ + "/records/{record_id}", "write"),
    _route(
        "GET",
        _OBJ + "/records/{id}/attributes/{a}/values",
        "values",
        _OBJ + "/records/{record_id}/attributes/{attribute}/values",
        "read",
    ),
    _route("GET", "/v2/notes", "list_notes", "/v2/notes", "read"),
    _route("POST", "/v2/notes", "create_note", "/v2/notes", "write"),
    _route("GET", "/v2/notes/{id}", "get_note", "/v2/notes/{note_id}", "read"),
    _route("PATCH", "/v2/notes/{id}", "patch_note", "/v2/notes/{note_id}", "write"),
    _route("GET", "/v2/workspace_members", "members", "/v2/workspace_members", "read"),
    _route("GET", "/authorize", "authorize", None, None, auth="none"),
    _route("POST", "/authorize", "consent", None, None, auth="none"),
    _route("POST", "/oauth/token", "oauth_token", None, None, auth="none"),
    _route("POST", "/oauth/revoke", "oauth_revoke", None, None, auth="none"),
)


def _ok(data: Any) -> Response:
    """Every Attio success body is wrapped: {"data": ...}."""
    return json_response(200, {"data": data})


def _int_param(
    query: Mapping[str, str], name: str, default: int, maximum: int | None = None
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation(f'Query parameter "{name}" must be an integer, got "{raw}".') from None
    if value < 0 or (maximum is not None and value > maximum):
        bound = f"between 0 and {maximum}" if maximum is not None else "0 or more"
        raise validation(f'Query parameter "{name}" must be {bound}, got {value}.')
    return value


class App:
    """The Attio-compatible API over one workspace."""

    def __init__(
        self,
        workspace: Workspace,
        tokens: TokenStore,
        spec: Spec,
        write_limit: SlidingWindow,
        read_limit: SlidingWindow,
        faults: FailureInjector,
        latency: float,
        workspace_name: str,
        on_request: Callable[[RequestLog], None],
        notes_list_limit: SlidingWindow | None = None,
    ) -> None:
        self.workspace = workspace
        self.tokens = tokens
        self.spec = spec
        self.write_limit = write_limit
        self.read_limit = read_limit
        self.faults = faults
        self.latency = latency
        self.workspace_name = workspace_name
        self.on_request = on_request
        # Attio: GET /v2/notes "is temporarily rate limited to 10 requests per second".
        self.notes_list_limit = notes_list_limit or SlidingWindow(NOTES_LIST_RATE)
        # What /v2/self reports as client_id for workspace API keys (no OAuth app).
        self.api_key_client_id = workspace.stable_id("api-key-client")
        #: The server's workspaces, (id, name), that the consent page offers; set by the
        #: server once it has built them all.
        self.directory: list[tuple[str, str]] = [(workspace.workspace_id, workspace_name)]
        #: Skip the consent page (scripts and tests without a browser).
        self.auto_approve = False

    # -- entry point ----------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes
    ) -> Response:
        parts = urlsplit(target)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        content_type = headers.get("Content-Type") or ""
        body = _decode_body(raw_body, content_type)
        try:
            response = self._dispatch(method, path, query, headers, body, raw_body)
        except ApiError as err:
            response = error_response(err)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = error_response(
                ApiError(500, "internal_server_error", "internal_server_error", "Server bug.")
            )
        logged = raw_body.decode("utf-8", errors="replace") if body is _INVALID else body
        self.on_request(RequestLog(method, path, query, logged, response.status))
        return response

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: Any,
        raw_body: bytes,
    ) -> Response:
        route, params = self._match(method, path)
        if self.latency > 0:
            time.sleep(self.latency)
        failure = self.faults.take(method, path)
        if failure is not None:
            return error_response(failure)
        call = Call(params, query, None if body is _INVALID else body, headers)
        if route.auth == "self":
            return self.self_(call, headers.get("Authorization"))
        if route.auth == "bearer":
            call.token, call.info = self._authenticate(headers.get("Authorization"))
            assert route.template is not None
            needed = self.spec.required_scopes(method, route.template)
            lacking = missing_scopes(call.info.scopes, needed)
            if lacking:
                raise forbidden(
                    f"The access token lacks the required scope(s): {', '.join(lacking)}. "
                    "Grant them to the token/app and reconnect."
                )
        if route.kind is not None:
            self._rate_limit(route.kind)
        if route.handler == "list_notes":
            frees_at = self.notes_list_limit.acquire()
            if frees_at is not None:
                raise rate_limited(frees_at)
        if route.template is not None and method in ("POST", "PUT", "PATCH"):
            if raw_body and body is _INVALID:
                raise validation("Body payload validation error: the body is not valid JSON.")
            self.spec.validate_body(method, route.template, call.body)
        handler: Callable[[Call], Response] = getattr(self, route.handler)
        return handler(call)

    def _match(self, method: str, path: str) -> tuple[Route, tuple[str, ...]]:
        path_known = False
        for route in ROUTES:
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == method:
                return route, m.groups()
            path_known = True
        if method == "DELETE" or path_known:
            # crm-push never deletes CRM data; this server refuses so tests can prove it.
            raise ApiError(
                405,
                "invalid_request_error",
                "method_not_allowed",
                f"{method} {path} is not served by this local Attio server.",
            )
        raise not_found(f"No route for {method} {path}.")

    def _authenticate(self, header: str | None) -> tuple[str, TokenInfo]:
        token = _bearer(header)
        info = self.tokens.get(token) if token else None
        if token is None or info is None or not info.is_live():
            raise ApiError(
                401,
                "auth_error",
                "unauthorized",
                "The access token is missing, invalid, expired or revoked; reconnect to get a "
                "new one.",
            )
        return token, info

    def _rate_limit(self, kind: str) -> None:
        limiter = self.read_limit if kind == "read" else self.write_limit
        frees_at = limiter.acquire()
        if frees_at is not None:
            raise rate_limited(frees_at)

    # -- meta -----------------------------------------------------------------------------

    def self_(self, call: Call, header: str | None) -> Response:
        token = _bearer(header)
        if token is None:
            raise invalid("missing_value", 'Expected an "Authorization: Bearer <token>" header.')
        info = self.tokens.get(token)
        if info is None or not info.is_live():
            return json_response(200, {"active": False})
        self._rate_limit("read")
        ws = self.workspace
        client_id = info.client_id or self.api_key_client_id
        admin = ws.members[0]["id"]["workspace_member_id"] if ws.members else None
        answer: dict[str, Any] = {
            "active": True,
            "scope": " ".join(info.scopes),
            "client_id": client_id,
            "token_type": "Bearer",
            "exp": int(info.expires_at) if info.expires_at is not None else None,
            "iat": int(info.issued_at),
            "sub": ws.workspace_id,
            "aud": client_id,
            "iss": "attio.com",
            # Attio: "workspace" (a workspace access token or an app's token) or "user"
            # (acts as one member, whose permissions bound what it may do).
            "token_level": info.token_level,
            "workspace_id": ws.workspace_id,
            "workspace_name": self.workspace_name,
            "workspace_slug": ws.workspace_slug,
            "workspace_logo_url": None,
        }
        if admin is not None:
            # Attio omits an absent member rather than sending null.
            answer["authorized_by_workspace_member_id"] = admin
        return json_response(200, answer)

    def list_objects(self, call: Call) -> Response:
        return _ok(self.workspace.list_objects())

    def get_object(self, call: Call) -> Response:
        ws = self.workspace
        with ws.lock:
            return _ok(ws.object_output(ws.get_object(call.params[0])))

    def _target_object(self, call: Call) -> ObjectDef:
        target, ident = call.params[0], call.params[1]
        if target != "objects":
            raise not_found(f'List with slug/ID "{ident}" not found.')
        return self.workspace.get_object(ident)

    def list_attributes(self, call: Call) -> Response:
        ws = self.workspace
        limit = _int_param(call.query, "limit", 10_000)
        offset = _int_param(call.query, "offset", 0)
        with ws.lock:
            obj = self._target_object(call)
            attrs = list(obj.attributes.values())[offset : offset + limit]
            return _ok([ws.attribute_output(a) for a in attrs])

    def get_attribute(self, call: Call) -> Response:
        ws = self.workspace
        with ws.lock:
            attr = ws.get_attribute(self._target_object(call), call.params[2])
            return _ok(ws.attribute_output(attr))

    def options(self, call: Call) -> Response:
        return self._choices(call, "select")

    def statuses(self, call: Call) -> Response:
        return self._choices(call, "status")

    def _choices(self, call: Call, kind: str) -> Response:
        ws = self.workspace
        show_archived = call.query.get("show_archived", "false").lower() == "true"
        with ws.lock:
            attr = ws.get_attribute(self._target_object(call), call.params[2])
            if attr.type != kind:
                raise validation(f'This attribute is not a {kind} attribute: "{attr.slug}".')
            choices = attr.options if kind == "select" else attr.statuses
            data = [dict(c) for c in choices if show_archived or not c["is_archived"]]
            return _ok(data)

    def members(self, call: Call) -> Response:
        ws = self.workspace
        with ws.lock:
            return _ok([dict(m) for m in ws.members])

    # -- records --------------------------------------------------------------------------

    def assert_(self, call: Call) -> Response:
        record = self.workspace.assert_record(
            call.params[0], call.query.get("matching_attribute"), _values(call), call.actor
        )
        return _ok(record)

    def create(self, call: Call) -> Response:
        record = self.workspace.create_record(call.params[0], _values(call), call.actor)
        return _ok(record)

    def patch(self, call: Call) -> Response:
        return self._update(call, append=True)

    def put(self, call: Call) -> Response:
        return self._update(call, append=False)

    def _update(self, call: Call, append: bool) -> Response:
        record = self.workspace.update_record(
            call.params[0], call.params[1], _values(call), call.actor, append_multiselect=append
        )
        return _ok(record)

    def get_record(self, call: Call) -> Response:
        return _ok(self.workspace.get_record(call.params[0], call.params[1]))

    def values(self, call: Call) -> Response:
        data = self.workspace.get_values(call.params[0], call.params[1], call.params[2])
        return _ok(data)

    def query(self, call: Call) -> Response:
        body = call.body or {}
        limit, offset = body.get("limit", _QUERY_DEFAULT_LIMIT), body.get("offset", 0)
        for name, number in (("limit", limit), ("offset", offset)):
            if number != int(number) or number < 0:
                raise validation(f'"{name}" must be a non-negative integer, got {number}.')
        filter_ = body.get("filter")
        data = self.workspace.query_records(
            call.params[0], filter_, body.get("sorts"), int(limit), int(offset)
        )
        return _ok(data)

    # -- notes ----------------------------------------------------------------------------

    def create_note(self, call: Call) -> Response:
        return _ok(self.workspace.create_note(call.body["data"], call.actor))

    def list_notes(self, call: Call) -> Response:
        limit = _int_param(call.query, "limit", 10, maximum=_NOTES_MAX_LIMIT)
        offset = _int_param(call.query, "offset", 0)
        parent_object = call.query.get("parent_object") or None
        parent_record_id = call.query.get("parent_record_id") or None
        if parent_record_id and not parent_object:
            raise validation('"parent_record_id" needs "parent_object" as well.')
        notes = self.workspace.list_notes(parent_object, parent_record_id, limit, offset)
        return _ok(notes)

    def get_note(self, call: Call) -> Response:
        return _ok(self.workspace.get_note(call.params[0]))

    def patch_note(self, call: Call) -> Response:
        return _ok(self.workspace.update_note(call.params[0], call.body["data"]))

    # -- OAuth (app.attio.com in production) ------------------------------------------------

    def authorize(self, call: Call) -> Response:
        return oauth.authorize(self.tokens, call.query, self.directory, self.auto_approve)

    def consent(self, call: Call) -> Response:
        return oauth.decide(self.tokens, call.body, self.directory)

    def oauth_token(self, call: Call) -> Response:
        return oauth.token(self.tokens, call.body, call.headers)

    def oauth_revoke(self, call: Call) -> Response:
        return oauth.revoke(self.tokens, call.body, call.headers)


_INVALID = object()


def _decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(text)
    except ValueError:
        return _INVALID


def _values(call: Call) -> dict[str, Any]:
    values: dict[str, Any] = call.body["data"]["values"]
    return values


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token
