"""Attio's error bodies as crm-push's typed errors, and the messages that say what to do next.

`error_for` turns Attio's error body ``{"status_code", "type", "code", "message"}`` into the
typed crm-push error that says what to do next; `is_retriable` marks Attio's 409
``concurrent_write_conflict`` as safe to retry. Rate limiting, 429 ``Retry-After``, 5xx and
timeouts are the HttpClient's job.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import httpx
from crm_push.errors import (
    ConfigurationError,
    CrmPushError,
    Fatal,
    InvalidInput,
    ReconnectRequired,
    RetryLater,
    ScopeMissing,
)

from .api import SCOPE_NOTES, SCOPE_OBJECTS, SCOPE_RECORDS, NotAttio

RECONNECT = (
    "reconnect Attio: run `crm-push --dest attio connect` with a valid ATTIO_ACCESS_TOKEN "
    "(Workspace settings → Developers → access token), or `crm-push --dest attio connect --oauth`"
)
#: Where an Attio admin turns an object on.
ACTIVATE = "Workspace Settings > Objects"
NO_TOKEN = (
    "no Attio token: create an access token in Attio (Workspace settings → Developers → "
    "access token, with record_permission:read-write, object_configuration:read and "
    "note:read-write) and `export ATTIO_ACCESS_TOKEN=…`, or run "
    "`crm-push --dest attio connect --oauth`"
)
#: Why a note was skipped, and the warning of a connection that will skip them.
NOTES_SKIPPED = "the Attio token lacks the note:read-write scope; grant it and reconnect"
#: Why a note was skipped on a 403 that is not a missing note scope.
NOTES_NO_PERMISSION = (
    "Attio refused the note: no permission (the token has note:read-write, so the member a "
    "user-level token acts for, or the token, lacks access to notes on this record)"
)
#: The warning of a user-level token.
USER_TOKEN_WARNING = (
    "a user-level Attio token: it acts with one member's permissions, so Attio may refuse a "
    "write (403) even with every scope granted"
)
NOTES_WARNING = (
    "notes will be skipped: grant note:read-write to the Attio token or app, then reconnect"
)

_RECORDS_PATH = re.compile(r"^/v2/objects/(?P<object>[^/]+)/records(?:/(?P<record>[^/]+))?")
_OBJECT_PATH = re.compile(r"^/v2/objects/(?P<object>[^/]+)(?:/attributes.*)?$")
_ANY_OBJECT_PATH = re.compile(r"^/v2/objects/(?P<object>[^/]+)")
# Where Attio (or the local server) names the attribute a 400 is about.
_FIELD_PATTERNS = (
    re.compile(r"\$\.data\.values\.([A-Za-z0-9_\-]+)"),
    re.compile(r"\$\.data\.(?!values\b)([A-Za-z0-9_\-]+)"),
    re.compile(r'matching_attribute slug/ID "([^"]+)"', re.IGNORECASE),
    re.compile(r'attribute(?: with)?(?: api)?(?: slug/ID| slug| ID)? "([^"]+)"', re.IGNORECASE),
)


class SettingError(ConfigurationError):
    """A setting is wrong (ATTIO_BASE_URL, ATTIO_*_PER_SECOND, an option of connect): fix it and
    run again; nothing was pushed. The CLI exits 2, as for a usage error."""

    next_step = "fix the setting and run again; nothing was pushed"


class PermissionDenied(Fatal):
    """Attio answered 403 while the token has the scope the call needs: the token (or, for a
    user-level token, its member) has no permission for it in Attio."""

    def __init__(self, message: str, *, scope: str | None, next_step: str | None = None) -> None:
        super().__init__(
            message,
            next_step=next_step
            or "ask an Attio admin for access to this object or record (a user-level token "
            "acts with its member's permissions), or connect with a workspace access token",
        )
        self.scope = scope


class ObjectNotFound(Fatal):
    """Attio answered 404 for an object: it does not exist, or it is not activated."""

    def __init__(self, message: str, *, object: str, next_step: str | None = None) -> None:
        super().__init__(
            message,
            next_step=next_step
            or f"activate the object in Attio ({ACTIVATE}), or check its slug; then push again",
        )
        self.object = object


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def scope_for(method: str, path: str) -> str | None:
    """The scope an endpoint needs, for naming it when Attio answers 403."""
    if path.startswith("/v2/notes"):
        return SCOPE_NOTES
    if _RECORDS_PATH.match(path):
        return SCOPE_RECORDS
    if _OBJECT_PATH.match(path) or path == "/v2/objects" or "/attributes" in path:
        return SCOPE_OBJECTS
    if path.startswith("/v2/workspace_members"):
        return "user_management:read"
    return None


def _what(method: str, path: str) -> str:
    """What a call was, in words: "people record assert", "note create"…"""
    method = method.upper()
    records = _RECORDS_PATH.match(path)
    if records:
        obj = urllib.parse.unquote(records["object"])
        if records["record"]:
            verb = {"GET": "read", "PATCH": "update", "PUT": "update"}.get(method, method)
        else:
            verb = {"PUT": "assert", "POST": "create", "GET": "list"}.get(method, method)
        return f"{obj} record {verb}"
    if path.startswith("/v2/notes"):
        return "note " + ("list" if method == "GET" else "create")
    return f"{method} {path}"


def _verb(what: str) -> str:
    """ "people record assert" -> "assert people records"."""
    *noun, verb = what.split(" ")
    return f"{verb} {' '.join(noun)}s" if noun else what


def field_from(body: dict[str, Any]) -> str | None:
    """The attribute (or field) an Attio 400 names, when it names one."""
    # Attio sometimes adds a list of validation errors with a path (unverified shape).
    for item in body.get("validation_errors") or ():
        path = item.get("path") if isinstance(item, dict) else None
        if isinstance(path, list):
            parts = [str(p) for p in path if p not in ("data", "values") and not isinstance(p, int)]
            if parts:
                return parts[0]
    message = str(body.get("message") or "")
    for pattern in _FIELD_PATTERNS:
        found = pattern.search(message)
        if found:
            return found.group(1)
    return None


def _granted(scopes: tuple[str, ...], needed: str) -> bool:
    # A read-write scope includes the read scope of the same name.
    return needed in scopes or (needed.endswith(":read") and needed + "-write" in scopes)


def error_for(
    response: httpx.Response, scopes: tuple[str, ...] | None = None
) -> CrmPushError | None:
    """Attio's error answer as a typed error; None leaves it to HttpClient (429, 5xx).

    `scopes`: the token's scopes (from /v2/self at connect). A 403 is called a missing scope
    only when they lack the endpoint's scope (or Attio's message names it); otherwise it is
    a `PermissionDenied`, worded by what Attio said. Without `scopes` (unknown), a 403 on an
    endpoint with a known scope is taken as that scope missing."""
    status = response.status_code
    if status == 429 or status >= 500:
        return None
    body = _error_body(response)
    code = str(body.get("code") or "")
    message = str(body.get("message") or response.reason_phrase or "no message").strip()
    method, path = response.request.method, response.request.url.path
    what = _what(method, path)
    if code in ("billing_error", "quota_exceeded"):
        return Fatal(
            f"Attio refused the {what}: {message} ({code})",
            next_step="check the Attio workspace's plan and usage, then push again",
        )
    if status == 401:
        return ReconnectRequired(
            f"Attio refused the token ({code or 'unauthorized'}): it is invalid, expired or "
            "revoked",
            next_step=RECONNECT,
        )
    if status == 403:
        scope = scope_for(method, path)
        if scope is None:
            return Fatal(f"Attio refused the {what}: {message} ({code or 'forbidden'})")
        named = scope in message
        if scopes is None or named or not _granted(scopes, scope):
            return ScopeMissing(
                f"Attio refused the {what}: the token lacks the scope {scope} ({message})",
                scope=scope,
                next_step=f"grant {scope} to the access token or app in Attio, then reconnect "
                "with `crm-push --dest attio connect`",
            )
        return PermissionDenied(
            f"Attio refused the {what}: no permission to {_verb(what)} ({message}); the token "
            f"has the scope {scope}, so the token or its member lacks permission in Attio",
            scope=scope,
        )
    if status == 409 and code == "concurrent_write_conflict":
        return RetryLater(f"Attio: {message} ({code})")
    if status == 404:
        records = _RECORDS_PATH.match(path)
        if records and records["record"] and message.lower().startswith("record"):
            return InvalidInput(
                f"the Attio record {records['record']} no longer exists (deleted or merged in "
                f"Attio): {message}",
                code=code or "not_found",
                next_step="remove this visitor's push markers (`crm-push --dest attio markers "
                "remove VISITOR_ID`) to push it as a new record",
            )
        if message.lower().startswith("object"):
            found = _ANY_OBJECT_PATH.match(path)
            obj = urllib.parse.unquote(found["object"]) if found else path
            return ObjectNotFound(
                f"the Attio object {obj!r} does not exist or is not activated in this "
                f"workspace: {message}",
                object=obj,
            )
    return InvalidInput(
        f"Attio rejected {what}: {message} ({code or status})",
        field=field_from(body),
        code=code or str(status),
    )


def self_error_for(response: httpx.Response) -> CrmPushError | None:
    """GET /v2/self's errors: 400/401 say the token is bad (as `error_for` does); any other
    4xx or a redirect is an answer Attio never gives there, so the base URL is wrong."""
    status = response.status_code
    if status in (400, 401, 403, 429) or status >= 500:
        return error_for(response)
    body = _error_body(response)
    detail = str(body.get("message") or "").strip()
    if detail and body.get("code"):
        detail = f"{body['code']}: {detail}"
    if 300 <= status < 400 and response.headers.get("Location"):
        detail = f"a redirect to {response.headers['Location']}"
    return NotAttio(f"answered {status}" + (f" ({detail})" if detail else ""))


def is_retriable(response: httpx.Response) -> bool | None:
    """A 409 concurrent_write_conflict was not applied and is safe to retry, like a 429."""
    if response.status_code == 409:
        return _error_body(response).get("code") == "concurrent_write_conflict"
    return None
