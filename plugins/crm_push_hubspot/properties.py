"""The unique company property `crmpush_domain`: the companies' upsert key, where it may exist.

HubSpot's `domain` is not unique and its search lags writes, so "search, then create" can
create a company twice when two processes push a new domain at once. A custom property with
`hasUniqueValue: true` can be an upsert's `idProperty`: HubSpot itself then holds one company
per value, whoever writes. Connect makes it once, where the token may write company schemas
(`crm.schemas.companies.write`); elsewhere companies fall back to search (see records.py).
"""

from __future__ import annotations

from typing import Any

from crm_push.errors import CrmPushError, InvalidInput, ScopeMissing

from .api import SCOPE_COMPANY_SCHEMAS_WRITE, HubSpotClient

DOMAIN_PROPERTY = "crmpush_domain"
#: The connection capability: companies are upserted on DOMAIN_PROPERTY.
UNIQUE_DOMAIN = "unique_domain"
DEFINITION: dict[str, Any] = {
    "name": DOMAIN_PROPERTY,
    "label": "crm-push domain",
    "description": "The company's normalised domain, written by crm-push (its upsert key).",
    "type": "string",
    "fieldType": "text",
    # [unverified] companyinformation as the default company group in every portal.
    "groupName": "companyinformation",
    "hasUniqueValue": True,
}
NO_UNIQUE = (
    f"this token may not create the unique company property {DOMAIN_PROPERTY} "
    f"({SCOPE_COMPANY_SCHEMAS_WRITE}): companies are found by a search on their domain, and two "
    "processes pushing a new domain within HubSpot's search lag could both create it"
)
NOT_UNIQUE = (
    f"the company property {DOMAIN_PROPERTY} exists but is not unique: companies are found by a "
    "search on their domain"
)


def _unique(client: HubSpotClient) -> bool | None:
    """Whether the property exists and is unique; None when it does not exist."""
    try:
        found = client.get_property("companies", DOMAIN_PROPERTY)
    except InvalidInput as exc:
        if exc.code == "OBJECT_NOT_FOUND":
            return None
        raise
    return bool(found.get("hasUniqueValue"))


def domain_property(client: HubSpotClient, scopes: tuple[str, ...] | None) -> str | None:
    """Make sure companies can be upserted on DOMAIN_PROPERTY. None when they can, else a
    warning saying why not (then records.py searches). `scopes` None: HubSpot did not say, so
    the create is tried and a 403 answers it."""
    try:
        unique = _unique(client)
        if unique is None:
            if scopes is not None and SCOPE_COMPANY_SCHEMAS_WRITE not in scopes:
                return NO_UNIQUE
            try:
                client.create_property("companies", DEFINITION)
                return None
            except InvalidInput as exc:
                if exc.code != "CONFLICT":
                    raise
                unique = _unique(client)  # another process made it a moment ago
    except ScopeMissing:
        return NO_UNIQUE
    except CrmPushError as exc:
        return (
            f"the unique company property {DOMAIN_PROPERTY} could not be set up "
            f"({exc.message}): companies are found by a search on their domain"
        )
    return None if unique else NOT_UNIQUE
