"""Contacts and companies: contacts upserted by email, companies found by domain or created,
keyless records created once and updated through their marker.

Contacts with an email go through `batch/upsert` with `idProperty: email` — race-free, since
email is unique in HubSpot. The upsert key is case-sensitive, so emails are sent lower-cased
(core lower-cases them already; this keeps it true whatever the caller gives).

Companies have no unique key in HubSpot (`domain` is not unique): they are searched by domain,
then updated or created. HubSpot's search lags writes by seconds, so a company created a
moment ago may not be found and would be created twice; this process remembers the companies
it created (per domain, under a lock per domain) to close that gap within one process. The
race-free fix — a unique custom property (`crmpush_domain`) and `batch/upsert` on it — comes
with the batch hooks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm_push.errors import InvalidInput
from crm_push.models import Company, Connection, Pending, Person, RecordRef

from .api import HubSpotClient
from .clients import Clients
from .connect import LINKEDIN
from .errors import batch_error

CONTACTS = "contacts"
COMPANIES = "companies"


def _clean(values: dict[str, Any]) -> dict[str, str]:
    # None is not sent: an absent value never clears what HubSpot has ("" would).
    return {k: str(v) for k, v in values.items() if v is not None}


def contact_properties(clients: Clients, connection: Connection, person: Person) -> dict[str, str]:
    props = {
        "email": person.email.lower() if person.email else None,
        "firstname": person.first_name,
        "lastname": person.last_name,
        "jobtitle": person.job_title,
    }
    # hs_linkedin_url is not in every portal [unverified]: connect checked the property list.
    if person.linkedin_url and clients.has_contact_property(connection, LINKEDIN):
        props[LINKEDIN] = str(person.linkedin_url)
    return _clean(props)


def company_properties(company: Company) -> dict[str, str]:
    return _clean(
        {
            "name": company.name,
            "domain": company.domain,
            "description": company.description,
            "linkedin_company_page": str(company.linkedin_url) if company.linkedin_url else None,
        }
    )


def _only(data: dict[str, Any], object_type: str) -> dict[str, Any]:
    """The single result of a one-input batch, or its error typed."""
    error = batch_error(data, object_type)
    if error is not None:
        raise error
    results = data.get("results") or []
    if not results:
        raise InvalidInput(f"HubSpot returned no {object_type} record", code="EMPTY_RESULT")
    result: dict[str, Any] = results[0]
    return result


def _create(client: HubSpotClient, object_type: str, props: dict[str, str]) -> str:
    return str(_only(client.batch_create(object_type, [{"properties": props}]), object_type)["id"])


def _update(client: HubSpotClient, object_type: str, record_id: str, props: dict[str, str]) -> str:
    data = client.batch_update(object_type, [{"id": record_id, "properties": props}])
    return str(_only(data, object_type)["id"])


def _ms(when: dt.datetime) -> str:
    return str(int(when.timestamp() * 1000))


def _search_since(
    client: HubSpotClient, object_type: str, equal: dict[str, str], since: dt.datetime
) -> str | None:
    """A record with these values created since `since` (may miss very recent ones: lag)."""
    filters: list[dict[str, Any]] = [
        {"propertyName": name, "operator": "EQ", "value": value} for name, value in equal.items()
    ]
    filters.append({"propertyName": "createdate", "operator": "GTE", "value": _ms(since)})
    found = client.search(
        object_type,
        {"filterGroups": [{"filters": filters[:6]}], "properties": list(equal), "limit": 1},
    )
    return str(found[0]["id"]) if found else None


def _keyless(
    clients: Clients,
    connection: Connection,
    object_type: str,
    props: dict[str, str],
    identity: dict[str, str],
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """A record without a natural key: update the marker's, find a pending one, or create."""
    client = clients.client(connection)
    portal = connection.workspace_id
    if existing is not None:
        try:
            record_id = _update(client, object_type, existing.record_id, props)
            return RecordRef(object=object_type, record_id=record_id, outcome="updated")
        except InvalidInput as exc:
            if exc.code != "OBJECT_NOT_FOUND":
                raise
            # Gone from HubSpot (merged or deleted there): create it again.
    key = "|".join(f"{k}={v}" for k, v in sorted(identity.items()))
    if pending is not None:
        found = clients.created(portal, object_type, key) or _search_since(
            client, object_type, identity, pending.since
        )
        if found:
            record_id = _update(client, object_type, found, props)
            return RecordRef(object=object_type, record_id=record_id, outcome="updated")
    record_id = _create(client, object_type, props)
    clients.remember(portal, object_type, key, record_id)
    return RecordRef(object=object_type, record_id=record_id, outcome="created")


def assert_company(
    clients: Clients,
    connection: Connection,
    company: Company,
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """By domain: found (this process's memory, then search) and updated, or created."""
    props = company_properties(company)
    if not company.domain:
        identity = {"name": company.name} if company.name else {}
        return _keyless(clients, connection, COMPANIES, props, identity, existing, pending)
    client = clients.client(connection)
    portal = connection.workspace_id
    domain = company.domain.lower()
    with clients.key_lock(portal, COMPANIES, domain):
        found = clients.created(portal, COMPANIES, domain)
        if found is None:
            # Search lags writes: a company created by another process in the last seconds
            # may be missed here (see the module docstring).
            results = client.search(
                COMPANIES,
                {
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": "domain", "operator": "IN", "values": [domain]}
                            ]
                        }
                    ],
                    "properties": ["domain", "name"],
                    "limit": 10,
                },
            )
            ids = sorted((str(r["id"]) for r in results), key=int)
            found = ids[0] if ids else None  # the oldest when HubSpot already holds several
        if found is not None:
            record_id = _update(client, COMPANIES, found, props)
            clients.remember(portal, COMPANIES, domain, record_id)
            return RecordRef(object=COMPANIES, record_id=record_id, outcome="updated")
        record_id = _create(client, COMPANIES, props)
        clients.remember(portal, COMPANIES, domain, record_id)
        return RecordRef(object=COMPANIES, record_id=record_id, outcome="created")


def assert_person(
    clients: Clients,
    connection: Connection,
    person: Person,
    company: RecordRef | None,
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """By email: batch upsert with idProperty email; without, update the marker's or create.
    The company is linked by `associate` (an upsert input cannot carry associations)."""
    props = contact_properties(clients, connection, person)
    if not person.email:
        identity: dict[str, str] = {k: props[k] for k in ("firstname", "lastname") if k in props}
        return _keyless(clients, connection, CONTACTS, props, identity, existing, pending)
    email = person.email.lower()
    client = clients.client(connection)
    upsert = {"idProperty": "email", "id": email, "properties": props}
    result = _only(client.batch_upsert(CONTACTS, [upsert]), CONTACTS)
    outcome = "created" if result.get("new") else "updated"
    return RecordRef(object=CONTACTS, record_id=str(result["id"]), outcome=outcome)


def associate(
    clients: Clients, connection: Connection, person: RecordRef, company: RecordRef
) -> RecordRef:
    """The default contact→company association (idempotent: PUT)."""
    client = clients.client(connection)
    client.associate_default(CONTACTS, person.record_id, COMPANIES, company.record_id)
    linked = tuple(dict.fromkeys((*person.linked, company.record_id)))
    return person.model_copy(update={"linked": linked})
