"""HTTP routing and handlers: HubSpot's CRM endpoints, account info and OAuth.

`App.handle` turns one request into one `Response`; `httpd.py` does the sockets. Checks per
request, like HubSpot's gateway: route -> token -> scopes -> rate limit -> body -> handler.
Anything refused before the handler changes no state. Paths exist in the dated form
(`/crm/objects/2026-03/…`, version configurable) and in the legacy v3/v4 form HubSpot's SDK
speaks; both reach the same handlers. There is no DELETE: it answers 405.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .auth import Grant, TokenInfo, TokenStore
from .errors import ApiError, not_found, validation
from .ratelimit import RollingWindow
from .store import ALIASES, ASSOCIATION_TYPES, LABELS, TYPES, Obj, Store, now_iso

BATCH_MAX = 100  # [unverified] inputs per object batch
ASSOCIATION_BATCH_MAX = 2000
SEARCH_LIMIT_MAX = 200
SEARCH_BODY_MAX = 3000  # characters
SEARCH_GROUPS_MAX = 5
SEARCH_FILTERS_PER_GROUP = 6
SEARCH_FILTERS_MAX = 18
SEARCH_IN_VALUES_MAX = 100  # [unverified]


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status,
        {"Content-Type": "application/json;charset=utf-8", **(headers or {})},
        json.dumps(data).encode(),
    )


@dataclass(frozen=True)
class RequestLog:
    """One request as the server saw it (tests assert on these)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    raw: bytes
    headers: Mapping[str, str]
    info: TokenInfo | None = None
    token: str | None = None


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: str
    scope: str | None  # "read"/"write" on the path's object type, a scope, or None
    limit: str  # "ten" (ten-secondly window), "search" (secondly), "none"
    auth: bool = True


def _routes(version: str) -> list[Route]:
    v = re.escape(version)
    obj = r"(?P<type>[a-z0-9-]+)"
    table: list[tuple[Any, ...]] = [
        ("GET", r"/account-info/{v}/details", "account_details", None, "ten"),
        (
            "POST",
            r"/oauth/v2/private-apps/get/access-token-info",
            "private_app_info",
            None,
            "none",
            False,
        ),
        ("POST", r"/oauth/{v}/token", "oauth_token", None, "none", False),
        ("POST", r"/oauth/{v}/token/introspect", "oauth_introspect", None, "none", False),
        ("POST", r"/oauth/{v}/token/revoke", "oauth_revoke", None, "none", False),
        (
            "GET",
            r"/oauth/v1/access-tokens/(?P<token>[^/]+)",
            "oauth_access_token_info",
            None,
            "none",
            False,
        ),
        ("GET", r"/oauth/authorize", "oauth_authorize", None, "none", False),
        ("GET", r"/crm/properties/{v}/" + obj, "list_properties", "schema-read", "ten"),
        ("POST", r"/crm/properties/{v}/" + obj, "create_property", "schema-write", "ten"),
        (
            "GET",
            r"/crm/properties/{v}/" + obj + r"/(?P<name>[^/]+)",
            "get_property",
            "schema-read",
            "ten",
        ),
        ("POST", r"/crm/objects/{v}/" + obj + r"/search", "search", "read", "search"),
        ("POST", r"/crm/objects/{v}/" + obj + r"/batch/create", "batch_create", "write", "ten"),
        ("POST", r"/crm/objects/{v}/" + obj + r"/batch/update", "batch_update", "write", "ten"),
        ("POST", r"/crm/objects/{v}/" + obj + r"/batch/upsert", "batch_upsert", "write", "ten"),
        ("POST", r"/crm/objects/{v}/" + obj + r"/batch/read", "batch_read", "read", "ten"),
        ("GET", r"/crm/objects/{v}/" + obj, "list_objects", "read", "ten"),
        ("POST", r"/crm/objects/{v}/" + obj, "create_object", "write", "ten"),
        ("GET", r"/crm/objects/{v}/" + obj + r"/(?P<id>\d+)", "get_object", "read", "ten"),
        ("PATCH", r"/crm/objects/{v}/" + obj + r"/(?P<id>\d+)", "update_object", "write", "ten"),
        (
            "PUT",
            r"/crm/objects/{av}/"
            + obj
            + r"/(?P<id>\d+)/associations/default/(?P<to>[a-z0-9-]+)/(?P<to_id>\d+)",
            "associate_default",
            "write",
            "ten",
        ),
        (
            "GET",
            r"/crm/objects/{av}/" + obj + r"/(?P<id>\d+)/associations/(?P<to>[a-z0-9-]+)",
            "list_associations",
            "read",
            "ten",
        ),
        (
            "POST",
            r"/crm/associations/{av}/" + obj + r"/(?P<to>[a-z0-9-]+)/batch/associate/default",
            "batch_associate_default",
            "write",
            "none",
        ),  # exempt from the ten-secondly window
    ]
    out = []
    for method, path, handler, scope, limit, *auth in table:
        # Dated paths, and the legacy ones of HubSpot's SDK (v3 objects/properties/account,
        # v4 associations, v1 OAuth).
        legacy = "v4" if "{av}" in path else ("v1" if path.startswith("/oauth/{v}") else "v3")
        dated = path.replace("{v}", v).replace("{av}", v)
        crm = re.match(r"/crm/(\w+)/\{a?v\}/(.*)", path)
        old = f"/crm/{legacy}/{crm.group(1)}/{crm.group(2)}" if crm else path.replace("{v}", legacy)
        for pattern in dict.fromkeys([dated, old]):
            if pattern.startswith(("/oauth/v1/token/introspect", "/oauth/v1/token/revoke")):
                # v1 has GET /oauth/v1/access-tokens/{token} and DELETE
                # /oauth/v1/refresh-tokens/{token} instead (not served: nothing is deleted).
                continue
            out.append(
                Route(
                    method,
                    re.compile(pattern + "$"),
                    handler,
                    scope,
                    limit,
                    auth[0] if auth else True,
                )
            )
    return out


def _type(name: str) -> str:
    found = ALIASES.get(name)
    if found is None:
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    return found


class App:
    def __init__(
        self,
        *,
        store: Store,
        tokens: TokenStore,
        portal_id: int,
        api_version: str = "2026-03",
        ten_secondly_limit: int | None = 100,
        search_per_second: int | None = 5,
        daily_limit: int = 250_000,
        log: Callable[[RequestLog], None] = lambda entry: None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.portal_id = portal_id
        self.api_version = api_version
        self.routes = _routes(api_version)
        self.ten = RollingWindow(ten_secondly_limit, 10.0)
        self.secondly = RollingWindow(search_per_second, 1.0)
        self.daily_limit = daily_limit
        self.daily_used = 0
        self.log = log

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Response:
        split = urlsplit(target)
        query: dict[str, str] = {}
        for name, value in parse_qsl(split.query):
            # Repeated parameters (HubSpot's SDK sends properties=a&properties=b) join with
            # commas, the other form HubSpot accepts.
            query[name] = f"{query[name]},{value}" if name in query else value
        body: Any = None
        try:
            response = self._dispatch(method, split.path, query, headers, raw)
        except ApiError as exc:
            response = json_response(exc.status, exc.body())
        except Exception:  # a server bug: HubSpot's 500 shape, the traceback for the developer
            traceback.print_exc()
            response = json_response(500, ApiError(500, "INTERNAL_ERROR", "internal error").body())
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.log(RequestLog(method, split.path, query, body, response.status, dict(headers)))
        return response

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], raw: bytes
    ) -> Response:
        matched = [(r, m) for r in self.routes if (m := r.pattern.match(path))]
        if not matched:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"No route for {path}")
        chosen = next(((r, m) for r, m in matched if r.method == method), None)
        if chosen is None:
            # DELETE among them: crm-push's local HubSpot never deletes anything.
            return json_response(
                405,
                ApiError(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}").body(),
                {"Allow": ", ".join(sorted({r.method for r, _ in matched}))},
            )
        route, match = chosen
        call = Call(match.groupdict(), query, None, raw, headers)
        if route.auth:
            call.token, call.info = self._authenticate(headers)
            self._check_scope(route, call)
        rate_headers = self._take(route, call.info)
        if raw and headers.get("Content-Type", "").startswith("application/json"):
            try:
                call.body = json.loads(raw)
            except ValueError as exc:
                raise ApiError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}") from exc
        elif raw:
            call.body = dict(parse_qsl(raw.decode()))
        response: Response = getattr(self, route.handler)(call)
        return Response(response.status, {**response.headers, **rate_headers}, response.body)

    def _authenticate(self, headers: Mapping[str, str]) -> tuple[str, TokenInfo]:
        value = headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        info = self.tokens.info(token) if scheme.lower() == "bearer" and token else None
        if info is None:
            raise ApiError(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        if info.expires_at is not None and time.monotonic() >= info.expires_at:
            raise ApiError(
                401,
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired.",
                extra={"subCategory": "EXPIRED_AUTHENTICATION"},
            )
        return token, info

    def _check_scope(self, route: Route, call: Call) -> None:
        assert call.info is not None
        if route.scope is None:
            return
        type_ = _type(call.params["type"])
        base = "contacts" if type_ == "notes" else type_
        if route.scope == "schema-read":
            needed = [f"crm.schemas.{base}.read", f"crm.objects.{base}.read"]
        elif route.scope == "schema-write":
            needed = [f"crm.schemas.{base}.write"]
        else:
            needed = [f"crm.objects.{base}.{route.scope}"]
        if not any(s in call.info.scopes for s in needed):
            raise ApiError(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read "
                "more about required scopes here: https://developers.hubspot.com/scopes.",
                errors=[
                    {
                        "message": f"One or more of the following scopes are required: {needed}",
                        "context": {"requiredScopes": needed},
                    }
                ],
            )

    def _take(self, route: Route, info: TokenInfo | None) -> dict[str, str]:
        if route.limit == "search":
            allowed, _ = self.secondly.take()
            if not allowed:
                # [unverified] the search 429's policyName; its message is HubSpot's.
                raise ApiError(
                    429,
                    "RATE_LIMITS",
                    "You have reached your secondly limit.",
                    extra={"errorType": "RATE_LIMIT", "policyName": "SECONDLY"},
                )
            return {}  # search answers carry no rate-limit headers
        if route.limit == "none" or info is None:
            return {}
        allowed, remaining = self.ten.take()
        limit = self.ten.limit
        if not allowed:
            raise ApiError(
                429,
                "RATE_LIMITS",
                "You have reached your ten_secondly_rolling limit.",
                extra={"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
            )
        self.daily_used += 1
        headers: dict[str, str] = {}
        if limit is not None:
            headers = {
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Max": str(limit),
                "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Secondly": str(limit // 10),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, remaining // 10)),
            }
        if info.kind != "oauth":  # no Daily headers on OAuth calls
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                max(0, self.daily_limit - self.daily_used)
            )
        return headers

    # -- account and tokens -----------------------------------------------------------------

    def account_details(self, call: Call) -> Response:
        return json_response(
            200,
            {
                "portalId": self.portal_id,
                "accountType": "STANDARD",
                "timeZone": "Etc/UTC",
                "companyCurrency": "EUR",
                "additionalCurrencies": [],
                "utcOffset": "+00:00",
                "utcOffsetMilliseconds": 0,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "eu1",
            },
        )

    def private_app_info(self, call: Call) -> Response:
        body = self._json(call)
        info = self.tokens.info(str(body.get("tokenKey", "")))
        if info is None or info.kind == "oauth":
            raise ApiError(400, "VALIDATION_ERROR", "Invalid private app token")
        return json_response(
            200,
            {
                "userId": info.user_id,
                "hubId": self.portal_id,
                "appId": 1,
                "scopes": list(info.scopes),
            },
        )

    def oauth_authorize(self, call: Call) -> Response:
        # Auto-approve: the user "installs" the app with the scopes asked for.
        q = call.query
        if q.get("client_id") not in self.tokens.clients or not q.get("redirect_uri"):
            return json_response(400, {"status": "BAD_CLIENT_ID", "message": "unknown client_id"})
        scopes = tuple((q.get("scope", "") + " " + q.get("optional_scope", "")).split())
        if "code_challenge" in q and q.get("code_challenge_method") != "S256":
            return json_response(
                400, {"status": "BAD_REQUEST", "message": "code_challenge_method must be S256"}
            )
        grant = Grant(q["client_id"], q["redirect_uri"], scopes, q.get("code_challenge"))
        code = self.tokens.issue_code(grant)
        params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        location = (
            q["redirect_uri"] + ("&" if "?" in q["redirect_uri"] else "?") + urlencode(params)
        )
        return Response(302, {"Location": location}, b"")

    def _oauth_error(self, status: str, error: str, message: str) -> Response:
        return json_response(
            400,
            {
                "status": status,
                "message": message,
                "error": error,
                "error_description": message,
                "correlationId": ApiError(400, "", "").body()["correlationId"],
            },
        )

    def oauth_token(self, call: Call) -> Response:
        form = call.body if isinstance(call.body, dict) else {}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if self.tokens.clients.get(client_id) != secret or not secret:
            return self._oauth_error(
                "BAD_CLIENT_ID", "invalid_client", "missing or unknown client id"
            )
        grant_type = form.get("grant_type")
        with self.tokens.lock:
            if grant_type == "authorization_code":
                grant = self.tokens.codes.pop(form.get("code", ""), None)
                if grant is None or grant.client_id != client_id:
                    return self._oauth_error(
                        "BAD_AUTH_CODE", "invalid_grant", "auth code not found"
                    )
                if grant.redirect_uri != form.get("redirect_uri"):
                    return self._oauth_error(
                        "BAD_REDIRECT_URI", "invalid_grant", "redirect_uri does not match"
                    )
                if not grant.verifies(form.get("code_verifier")):
                    return self._oauth_error(
                        "BAD_CODE_VERIFIER", "invalid_grant", "code_verifier does not match"
                    )
            elif grant_type == "refresh_token":
                grant = self.tokens.refresh.get(form.get("refresh_token", ""))  # type: ignore[assignment]
                if grant is None or grant.client_id != client_id:
                    return self._oauth_error(
                        "BAD_REFRESH_TOKEN", "invalid_grant", "missing or invalid refresh token"
                    )
            else:
                return self._oauth_error(
                    "BAD_GRANT_TYPE", "unsupported_grant_type", f"grant_type {grant_type!r}"
                )
        access, refresh = self.tokens.issue_tokens(grant)
        if grant_type == "refresh_token":
            # HubSpot keeps the refresh token: answer the one given, drop the new one.
            with self.tokens.lock:
                self.tokens.refresh.pop(refresh, None)
            refresh = form["refresh_token"]
        return json_response(
            200,
            {
                "token_type": "bearer",
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": int(self.tokens.access_seconds),
                "hub_id": self.portal_id,
                "scopes": list(grant.scopes),
                "token_use": "access_token",
            },
        )

    def _token_facts(self, token: str) -> tuple[TokenInfo, int] | None:
        info = self.tokens.info(token)
        if info is None or info.kind != "oauth" or info.expires_at is None:
            return None
        left = int(info.expires_at - time.monotonic())
        return (info, left) if left > 0 else None

    def oauth_introspect(self, call: Call) -> Response:
        form = call.body if isinstance(call.body, dict) else {}
        if self.tokens.clients.get(form.get("client_id", "")) != form.get(
            "client_secret"
        ) or not form.get("client_secret"):
            return self._oauth_error(
                "BAD_CLIENT_ID", "invalid_client", "missing or unknown client id"
            )
        facts = self._token_facts(form.get("token", ""))
        if facts is None:
            return json_response(200, {"active": False})
        info, left = facts
        return json_response(
            200,
            {
                "active": True,
                "hub_id": self.portal_id,
                "scopes": list(info.scopes),
                "expires_in": left,
                "token_use": "access_token",
                "app_id": 1,
                "user_id": info.user_id,
                "client_id": info.client_id,
                "hub_domain": "local.hubspot.test",
            },
        )

    def oauth_revoke(self, call: Call) -> Response:
        """POST /oauth/{v}/token/revoke (the app's id and secret, the refresh token): the
        refresh token stops working; HubSpot answers 200 with no body [doc]."""
        form = call.body if isinstance(call.body, dict) else {}
        client_id = form.get("client_id", "")
        if self.tokens.clients.get(client_id) != form.get("client_secret") or not form.get(
            "client_secret"
        ):
            return self._oauth_error(
                "BAD_CLIENT_ID", "invalid_client", "missing or unknown client id"
            )
        with self.tokens.lock:
            grant = self.tokens.refresh.get(form.get("token", ""))
            if grant is None or grant.client_id != client_id:
                return self._oauth_error(
                    "BAD_REFRESH_TOKEN", "invalid_grant", "missing or invalid refresh token"
                )
            del self.tokens.refresh[form["token"]]
        return Response(200, {}, b"")

    def oauth_access_token_info(self, call: Call) -> Response:
        facts = self._token_facts(call.params["token"])
        if facts is None:
            return json_response(
                404,
                {
                    "status": "error",
                    "message": "Token not found",
                    "category": "OBJECT_NOT_FOUND",
                    "correlationId": "0",
                },
            )
        info, left = facts
        return json_response(
            200,
            {
                "token": call.params["token"],
                "user": "user@local.hubspot.test",
                "hub_domain": "local.hubspot.test",
                "scopes": list(info.scopes),
                "scope_to_scope_group_pks": [],
                "trial_scopes": [],
                "trial_scope_to_scope_group_pks": [],
                "hub_id": self.portal_id,
                "app_id": 1,
                "expires_in": left,
                "user_id": info.user_id,
                "token_type": "access",
            },
        )

    # -- properties -------------------------------------------------------------------------

    def list_properties(self, call: Call) -> Response:
        return json_response(200, {"results": self.store.property_defs(_type(call.params["type"]))})

    def get_property(self, call: Call) -> Response:
        type_ = _type(call.params["type"])
        return json_response(200, self.store.property_def(type_, call.params["name"]))

    def create_property(self, call: Call) -> Response:
        prop = self.store.create_property(_type(call.params["type"]), self._json(call))
        return json_response(201, prop)

    # -- objects ----------------------------------------------------------------------------

    @staticmethod
    def _json(call: Call) -> dict[str, Any]:
        if not isinstance(call.body, dict):
            raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        return call.body

    @staticmethod
    def _wanted(call: Call, body: dict[str, Any] | None = None) -> list[str] | None:
        if body is not None and isinstance(body.get("properties"), list):
            return [str(p) for p in body["properties"]]
        names = call.query.get("properties")
        return names.split(",") if names else None

    def get_object(self, call: Call) -> Response:
        obj = self.store.get(_type(call.params["type"]), call.params["id"])
        return json_response(200, obj.view(self._wanted(call)))

    def list_objects(self, call: Call) -> Response:
        type_ = _type(call.params["type"])
        limit = min(int(call.query.get("limit", 10)), 100)
        after = int(call.query.get("after", 0))
        with self.store.lock:
            objs = sorted(self.store.objects[type_].values(), key=lambda o: int(o.id))
        page = objs[after : after + limit]
        data: dict[str, Any] = {"results": [o.view(self._wanted(call)) for o in page]}
        if after + limit < len(objs):
            data["paging"] = {"next": {"after": str(after + limit), "link": ""}}
        return json_response(200, data)

    def _associations(self, type_: str, value: Any) -> list[tuple[str, str, int]]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise validation("associations must be a list")
        out = []
        for item in value:
            to_id = str(((item or {}).get("to") or {}).get("id", ""))
            types = (item or {}).get("types") or []
            if not to_id or not types:
                raise validation("an association needs to.id and types")
            candidates = [t for (f, t) in ASSOCIATION_TYPES if f == type_]
            for spec in types:
                type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
                to_type = next(
                    (t for t in candidates if type_id in ASSOCIATION_TYPES[(type_, t)][1]), None
                )
                if to_type is None:
                    raise validation(
                        f"association type {type_id} is not valid for {type_}",
                        code="INVALID_ASSOCIATION_TYPE",
                    )
                checked = self.store.check_association(type_, to_type, spec)
                if to_id not in self.store.objects[to_type]:
                    raise ApiError(
                        400,
                        "VALIDATION_ERROR",
                        f"{to_type} {to_id} does not exist: cannot associate",
                        errors=[
                            {
                                "message": f"{to_id} is not a valid object id",
                                "code": "INVALID_OBJECT_ID",
                            }
                        ],
                    )
                out.append((to_type, to_id, checked))
        return out

    def _create(self, type_: str, item: Any) -> Obj:
        if not isinstance(item, dict):
            raise validation("each input must be an object")
        props = self.store.check_properties(type_, item.get("properties", {}), creating=True)
        links = self._associations(type_, item.get("associations"))
        obj = self.store.insert(type_, props)
        for to_type, to_id, type_id in links:
            self.store.link(type_, obj.id, to_type, to_id, type_id)
        return obj

    def create_object(self, call: Call) -> Response:
        type_ = _type(call.params["type"])
        with self.store.lock:
            obj = self._create(type_, self._json(call))
        return json_response(201, obj.view(None) | {"properties": obj.properties})

    def update_object(self, call: Call) -> Response:
        type_ = _type(call.params["type"])
        body = self._json(call)
        with self.store.lock:
            obj = self.store.get(type_, call.params["id"])
            props = self.store.check_properties(
                type_, body.get("properties", {}), creating=False, current=obj
            )
            self.store.update(obj, props)
        return json_response(200, obj.view(None) | {"properties": obj.properties})

    # -- batches ----------------------------------------------------------------------------

    def _inputs(self, call: Call, limit: int = BATCH_MAX) -> list[Any]:
        inputs = self._json(call).get("inputs")
        if not isinstance(inputs, list):
            raise validation("inputs must be a list", code="REQUIRED")
        if len(inputs) > limit:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"Batch input of {len(inputs)} items exceeds the limit of {limit}.",
            )
        return inputs

    def _batch(
        self, call: Call, one: Callable[[str, Any], dict[str, Any]], ok_status: int
    ) -> Response:
        """Apply `one` to each input. With a unique `objectWriteTraceId` on every input a
        failure is reported per input (207); without, the batch is all or nothing."""
        type_ = _type(call.params["type"])
        inputs = self._inputs(call)
        started = now_iso()
        traces = [i.get("objectWriteTraceId") if isinstance(i, dict) else None for i in inputs]
        partial = all(traces) and len(set(traces)) == len(traces)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.store.lock:
            done: list[Callable[[], None]] = []  # the undo steps of the inputs applied
            try:
                for item, trace in zip(inputs, traces, strict=True):
                    self.store.journal = []
                    try:
                        result = one(type_, item)
                    except ApiError as exc:
                        self.store.rollback(self.store.journal)  # this input: nothing
                        if not partial:
                            self.store.rollback(done)  # all or nothing
                            raise
                        error = exc.standard()
                        error["context"] = {**error["context"], "objectWriteTraceId": [str(trace)]}
                        errors.append(error)
                        continue
                    done += self.store.journal
                    if trace:
                        result["objectWriteTraceId"] = trace
                    results.append(result)
            finally:
                self.store.journal = None
        data: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": now_iso(),
        }
        if errors:
            data.update(numErrors=len(errors), errors=errors)
            return json_response(207, data)
        return json_response(ok_status, data)

    def _full(self, obj: Obj) -> dict[str, Any]:
        return obj.view(None) | {"properties": obj.properties}

    def batch_create(self, call: Call) -> Response:
        return self._batch(call, lambda t, item: self._full(self._create(t, item)), 201)

    def _update_one(self, type_: str, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict) or not item.get("id"):
            raise validation("id is required", code="REQUIRED")
        id_prop = item.get("idProperty") or "hs_object_id"
        obj = self.store.find(type_, id_prop, str(item["id"]))
        if obj is None:
            raise not_found(f"Object not found. objectId are usually numeric. {item['id']}")
        props = self.store.check_properties(
            type_, item.get("properties", {}), creating=False, current=obj
        )
        return self._full(self.store.update(obj, props))

    def batch_update(self, call: Call) -> Response:
        return self._batch(call, self._update_one, 200)

    def _upsert_one(self, type_: str, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict) or not item.get("id") or "properties" not in item:
            raise validation("id and properties are required", code="REQUIRED")
        if "associations" in item:
            raise validation('Unrecognized field "associations" on an upsert input')
        id_prop = item.get("idProperty") or "hs_object_id"
        if id_prop != "hs_object_id" and not self.store.unique(type_, id_prop):
            raise validation(
                f"Unable to perform update/upsert by non-unique {TYPES[type_]} property {id_prop}",
                code="INVALID_ID_PROPERTY",
            )
        key = str(item["id"])
        # The upsert key is matched case-sensitively, as HubSpot's is: "Jane@x" does not find
        # "jane@x" (and then conflicts with it on create).
        obj = self.store.find(type_, id_prop, key)
        if obj is not None:
            props = self.store.check_properties(
                type_, item["properties"], creating=False, current=obj
            )
            return self._full(self.store.update(obj, props)) | {"new": False}
        if id_prop == "hs_object_id":
            raise not_found()
        props = self.store.check_properties(
            type_, {**item["properties"], id_prop: key}, creating=True
        )
        return self._full(self.store.insert(type_, props)) | {"new": True}

    def batch_upsert(self, call: Call) -> Response:
        # [unverified] whether upserts answer 207 per input; here like creates (trace ids).
        return self._batch(call, self._upsert_one, 200)

    def batch_read(self, call: Call) -> Response:
        type_ = _type(call.params["type"])
        body = self._json(call)
        inputs = self._inputs(call)
        id_prop = body.get("idProperty") or "hs_object_id"
        found = []
        with self.store.lock:
            for item in inputs:
                obj = self.store.find(type_, id_prop, str((item or {}).get("id", "")))
                if obj is not None:
                    found.append(obj.view(self._wanted(call, body)))
        return json_response(
            200,
            {
                "status": "COMPLETE",
                "results": found,
                "startedAt": now_iso(),
                "completedAt": now_iso(),
            },
        )

    # -- search -----------------------------------------------------------------------------

    def search(self, call: Call) -> Response:
        type_ = _type(call.params["type"])
        if len(call.raw) > SEARCH_BODY_MAX:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"The request body is longer than {SEARCH_BODY_MAX} characters.",
            )
        body = self._json(call)
        groups_in = body.get("filterGroups") or []
        if not isinstance(groups_in, list) or len(groups_in) > SEARCH_GROUPS_MAX:
            raise ApiError(
                400, "VALIDATION_ERROR", f"There can be at most {SEARCH_GROUPS_MAX} filterGroups."
            )
        groups: list[list[dict[str, Any]]] = []
        for group in groups_in:
            filters = (group or {}).get("filters") or []
            if len(filters) > SEARCH_FILTERS_PER_GROUP:
                raise ApiError(
                    400,
                    "VALIDATION_ERROR",
                    f"A filterGroup can have at most {SEARCH_FILTERS_PER_GROUP} filters.",
                )
            for f in filters:
                if not isinstance(f, dict) or "propertyName" not in f or "operator" not in f:
                    raise validation("a filter needs propertyName and operator")
                if f["operator"] in ("IN", "NOT_IN"):
                    values = f.get("values")
                    if not isinstance(values, list) or not values:
                        raise validation(f"{f['operator']} needs a non-empty values list")
                    if len(values) > SEARCH_IN_VALUES_MAX:
                        raise ApiError(
                            400,
                            "VALIDATION_ERROR",
                            f"An IN filter can have at most {SEARCH_IN_VALUES_MAX} values.",
                        )
                elif f["operator"] not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY") and "value" not in f:
                    raise validation(f"{f['operator']} needs a value")
            groups.append(filters)
        if sum(len(g) for g in groups) > SEARCH_FILTERS_MAX:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"A search can have at most {SEARCH_FILTERS_MAX} filters in all.",
            )
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 < limit <= SEARCH_LIMIT_MAX:
            raise ApiError(
                400, "VALIDATION_ERROR", f"limit must be between 1 and {SEARCH_LIMIT_MAX}."
            )
        after = int(body.get("after") or 0)
        with self.store.lock:
            found = self.store.search(type_, groups)
        page = found[after : after + limit]
        data: dict[str, Any] = {
            "total": len(found),
            "results": [o.view(self._wanted(call, body)) for o in page],
        }
        if after + limit < len(found):
            data["paging"] = {"next": {"after": str(after + limit), "link": ""}}
        return json_response(200, data)

    # -- associations -----------------------------------------------------------------------

    def _default_spec(self, from_t: str, to_t: str) -> tuple[int, dict[str, Any]]:
        known = ASSOCIATION_TYPES.get((from_t, to_t))
        if known is None:
            raise validation(f"No default association from {from_t} to {to_t}")
        return known[0], {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": known[0]}

    def associate_default(self, call: Call) -> Response:
        from_t, to_t = _type(call.params["type"]), _type(call.params["to"])
        type_id, spec = self._default_spec(from_t, to_t)
        with self.store.lock:
            self.store.link(from_t, call.params["id"], to_t, call.params["to_id"], type_id)
        result = {
            "from": {"id": call.params["id"]},
            "to": {"id": call.params["to_id"]},
            "associationSpec": spec,
        }
        return json_response(
            200,
            {
                "status": "COMPLETE",
                "results": [result],
                "startedAt": now_iso(),
                "completedAt": now_iso(),
            },
        )

    def batch_associate_default(self, call: Call) -> Response:
        from_t, to_t = _type(call.params["type"]), _type(call.params["to"])
        type_id, spec = self._default_spec(from_t, to_t)
        inputs = self._inputs(call, ASSOCIATION_BATCH_MAX)
        results, errors = [], []
        with self.store.lock:
            for item in inputs:
                from_id = str(((item or {}).get("from") or {}).get("id", ""))
                to_id = str(((item or {}).get("to") or {}).get("id", ""))
                try:
                    self.store.link(from_t, from_id, to_t, to_id, type_id)
                except ApiError as exc:
                    error = exc.standard()
                    error["context"] = {"fromObjectId": [from_id], "toObjectId": [to_id]}
                    errors.append(error)
                    continue
                results.append(
                    {"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec}
                )
        data: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now_iso(),
            "completedAt": now_iso(),
        }
        if errors:
            # 200 even with errors: HubSpot's spec (and SDK) give this endpoint no 207.
            data.update(numErrors=len(errors), errors=errors)
        return json_response(200, data)

    def list_associations(self, call: Call) -> Response:
        from_t, to_t = _type(call.params["type"]), _type(call.params["to"])
        with self.store.lock:
            self.store.get(from_t, call.params["id"])
            linked = self.store.linked(from_t, call.params["id"], to_t)
        return json_response(
            200,
            {
                "results": [
                    {
                        "toObjectId": int(to_id),
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": t, "label": LABELS.get(t)}
                            for t in sorted(ids)
                        ],
                    }
                    for to_id, ids in linked
                ]
            },
        )
