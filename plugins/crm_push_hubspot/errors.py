"""HubSpot's error bodies as crm-push's typed errors, and the messages that say what to do.

HubSpot's `Error`: `{"status": "error", "message", "correlationId", "category",
"subCategory"?, "context"?, "errors": [{"message", "code", "context"}]?}`; every field is read
as optional. Rate limits (429), 5xx and timeouts are the HttpClient's job.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from crm_push.errors import (
    ConfigurationError,
    CrmPushError,
    Fatal,
    InvalidInput,
    ReconnectRequired,
    ScopeMissing,
)

RECONNECT = (
    "reconnect HubSpot: `export HUBSPOT_ACCESS_TOKEN=…` with a valid private-app token or "
    "service key, then run `crm-push --dest hubspot connect`"
)
NO_TOKEN = (
    "no HubSpot token: create a service key (Development › Keys › Service keys) or a private "
    "app with the scopes crm.objects.contacts.read/write and crm.objects.companies.read/write, "
    "then `export HUBSPOT_ACCESS_TOKEN=…` and reconnect"
)
NOTES_SKIPPED = "the HubSpot token may not write notes (crm.objects.contacts.write); grant it"

#: HubSpot property -> the crm-push field it comes from, per object type.
FIELDS = {
    "contacts": {
        "email": "person.email",
        "firstname": "person.first_name",
        "lastname": "person.last_name",
        "jobtitle": "person.job_title",
        "hs_linkedin_url": "person.linkedin_url",
    },
    "companies": {
        "name": "company.name",
        "domain": "company.domain",
        "description": "company.description",
        "linkedin_company_page": "company.linkedin_url",
    },
    "notes": {"hs_note_body": "note.content", "hs_timestamp": "note.created_at"},
}
_OBJECT_IN_PATH = re.compile(r"/crm/objects/[^/]+/(?P<type>contacts|companies|notes)")
_PROPERTY_IN_MESSAGE = (
    re.compile(r'Property "([A-Za-z0-9_]+)"'),
    re.compile(r'"([A-Za-z0-9_]+)" is a read only property'),
    re.compile(r"\b(hs_[a-z0-9_]+|email|firstname|lastname|jobtitle|name|domain)\b"),
)
EXISTING_ID = re.compile(r"Existing ID: (\d+)")


class SettingError(ConfigurationError):
    """A setting is wrong (HUBSPOT_BASE_URL, HUBSPOT_API_VERSION…): fix it and run again."""

    next_step = "fix the setting and run again; nothing was pushed"


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def property_of(error: dict[str, Any]) -> str | None:
    """The HubSpot property an error is about: its context, its details, or its message."""
    contexts = [error.get("context") or {}] + [
        (e or {}).get("context") or {} for e in error.get("errors") or []
    ]
    for context in contexts:
        names = context.get("propertyName") if isinstance(context, dict) else None
        if names:
            return str(names[0])
    texts = [str(error.get("message") or "")] + [
        str((e or {}).get("message") or "") for e in error.get("errors") or []
    ]
    for pattern in _PROPERTY_IN_MESSAGE:
        for text in texts:
            if found := pattern.search(text):
                return found.group(1)
    return None


def field_of(object_type: str | None, prop: str | None) -> str | None:
    """The crm-push field of a HubSpot property (e.g. `person.job_title`), else the property."""
    if prop is None:
        return None
    return FIELDS.get(object_type or "", {}).get(prop, prop)


def typed(error: dict[str, Any], object_type: str | None, status: int) -> CrmPushError:
    """One HubSpot error (a request's body or a batch's `errors[]` entry) as a typed error."""
    category = str(error.get("category") or "")
    message = str(error.get("message") or f"HubSpot answered {status}")
    if status == 401 or category in ("INVALID_AUTHENTICATION", "EXPIRED_AUTHENTICATION"):
        return ReconnectRequired(f"HubSpot refused the token: {message}", next_step=RECONNECT)
    if status == 403 or category == "MISSING_SCOPES":
        scopes: list[str] = []
        for detail in error.get("errors") or []:
            context = (detail or {}).get("context") or {}
            # Newer bodies reportedly say requiredGranularScopes [unverified].
            scopes += list(
                context.get("requiredScopes") or context.get("requiredGranularScopes") or []
            )
        scope = scopes[0] if scopes else "a scope HubSpot did not name"
        return ScopeMissing(f"the HubSpot token lacks {scope}: {message}", scope=scope)
    prop = property_of(error)
    field = field_of(object_type, prop)
    if category == "CONFLICT" or status == 409:
        return InvalidInput(f"HubSpot: {message}", field=field, code="CONFLICT")
    if category == "OBJECT_NOT_FOUND" or status == 404:
        return InvalidInput(f"HubSpot: {message}", field=field, code="OBJECT_NOT_FOUND")
    if category == "VALIDATION_ERROR" or status == 400:
        code = None
        for detail in error.get("errors") or []:
            code = code or (detail or {}).get("code")
        where = f" ({field})" if field else ""
        return InvalidInput(f"HubSpot refused a value{where}: {message}", field=field, code=code)
    return Fatal(f"HubSpot answered {status} {category}: {message}")


def error_for(response: httpx.Response) -> CrmPushError | None:
    """The HttpClient hook: a non-2xx HubSpot answer as a typed error."""
    match = _OBJECT_IN_PATH.search(response.request.url.path)
    return typed(_body(response), match.group("type") if match else None, response.status_code)


def is_retriable(response: httpx.Response) -> bool:
    """423 Locked (retry after ~2 s) and 477 migration in progress are worth retrying."""
    return response.status_code in (423, 477)


def batch_error(data: dict[str, Any], object_type: str) -> CrmPushError | None:
    """The first error of a batch answer (a 207's `errors[]`), typed; None when there is none."""
    errors = data.get("errors") or []
    if not errors:
        return None
    first = errors[0] or {}
    status = first.get("status")
    return typed(first, object_type, 400 if not isinstance(status, int) else status)
