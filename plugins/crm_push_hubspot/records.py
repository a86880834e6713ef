"""Contacts and companies: contacts upserted by email, companies by domain, keyless records
created once and updated through their marker; one visitor at a time (the core hooks) or 100
records a request (the batch hooks, below).

Contacts with an email go through `batch/upsert` with `idProperty: email` — race-free, since
email is unique in HubSpot. The upsert key is case-sensitive, so emails are sent lower-cased
(core lower-cases them already; this keeps it true whatever the caller gives).

Companies have no unique key in HubSpot (`domain` is not unique): they are searched by domain,
then updated or created. HubSpot's search lags writes by seconds, so a company created a
moment ago may not be found and would be created twice; this process remembers the companies
it created (per domain, under a lock per domain) to close that gap within one process.

The batch hooks write each domain once in a process (under its lock, whichever worker's batch
holds it) and, where connect could make the unique custom property `crmpush_domain`
(properties.py), create through `batch/upsert` on it: race-free across processes, since
HubSpot itself then holds one company per value. Companies that existed before (made in
HubSpot, without the value) are found first by a search on `domain` (`IN`, as many domains a
request as fit) and adopted. Without the property: search, then `batch/create`.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import partial
from typing import Any, Literal

from crm_push.errors import CrmPushError, InvalidInput
from crm_push.models import (
    Company,
    CompanyInput,
    Connection,
    LinkInput,
    Pending,
    Person,
    PersonInput,
    RecordRef,
)

from .api import ASSOCIATION_BATCH_MAX, CONTACT_TO_COMPANY, HubSpotClient
from .batches import Answer, send, traced, traces_of
from .clients import Clients
from .connect import LINKEDIN
from .properties import DOMAIN_PROPERTY, UNIQUE_DOMAIN

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


# -- batches ------------------------------------------------------------------------------------

#: HubSpot's search: a body of at most 3,000 characters (a margin kept for `after`), at most 5
#: filter groups (ORed), an `IN` of at most 100 values ([unverified]), 200 results a page.
SEARCH_BODY_MAX = 2_900
SEARCH_GROUPS_MAX = 5
IN_VALUES_MAX = 100
SEARCH_PAGE = 200
#: Most domains concurrent callers look up in one shared search (about as many as one body
#: holds; more make a second body).
SEARCH_SHARED = 150


def _search_body(groups: list[list[str]], properties: list[str]) -> dict[str, Any]:
    return {
        "filterGroups": [
            {"filters": [{"propertyName": "domain", "operator": "IN", "values": values}]}
            for values in groups
        ],
        "properties": properties,
        "limit": SEARCH_PAGE,
    }


def domain_searches(domains: list[str], properties: list[str]) -> list[dict[str, Any]]:
    """Search bodies finding companies by domain, as many domains a body as fit HubSpot's
    limits: `IN` filters of ≤ 100 values in ≤ 5 groups, the body ≤ SEARCH_BODY_MAX."""
    bodies: list[dict[str, Any]] = []
    groups: list[list[str]] = [[]]
    for domain in domains:
        trial = [*groups[:-1], [*groups[-1], domain]]
        if len(groups[-1]) >= IN_VALUES_MAX:
            trial = [*groups, [domain]]
        fits = len(trial) <= SEARCH_GROUPS_MAX
        if fits and len(json.dumps(_search_body(trial, properties))) <= SEARCH_BODY_MAX:
            groups = trial
            continue
        if groups[-1]:
            bodies.append(_search_body(groups, properties))
        groups = [[domain]]
    if groups[-1]:
        bodies.append(_search_body(groups, properties))
    return bodies


def find_by_domain(client: HubSpotClient, domains: list[str], unique: bool) -> dict[str, str]:
    """domain -> the oldest company HubSpot holds with it (a search: it lags writes, so a
    company created in the last seconds may be missed; the callers know). Concurrent callers
    share searches (up to SEARCH_SHARED domains)."""

    def call(bodies: list[dict[str, Any]]) -> dict[str, Any]:
        found = _search_domains(client, [str(b["domain"]) for b in bodies], unique)
        return {"results": [{"id": i, "domain": d} for d, i in found.items()]}

    answers = send(
        call,
        {d: {"domain": d} for d in dict.fromkeys(domains)},
        COMPANIES,
        key_of=lambda result: str(result["domain"]),
        size=SEARCH_SHARED,
        together=client.together(f"{COMPANIES}/search", SEARCH_SHARED, search=True),
    )
    for answer in answers.values():
        if isinstance(answer, CrmPushError):
            raise answer  # a search refused: the call's problem, not one company's
    return {d: str(a["id"]) for d, a in answers.items() if isinstance(a, dict)}


def _search_domains(client: HubSpotClient, domains: list[str], unique: bool) -> dict[str, str]:
    properties = ["domain", "name"] + ([DOMAIN_PROPERTY] if unique else [])
    found: dict[str, list[int]] = {}
    wanted = set(domains)
    for body in domain_searches(domains, properties):
        page: dict[str, Any] = body
        while True:
            data = client.search_page(COMPANIES, page)
            for result in data.get("results") or []:
                domain = str((result.get("properties") or {}).get("domain") or "").lower()
                if domain in wanted:
                    found.setdefault(domain, []).append(int(result["id"]))
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
            page = {**body, "after": str(after)}
    return {domain: str(min(ids)) for domain, ids in found.items()}


Outcome = Literal["created", "updated", "unchanged"]


def _ref(object_type: str, answer: Answer, outcome: Outcome) -> RecordRef | CrmPushError:
    """A batch answer as the hook's: the record written, or its error."""
    if isinstance(answer, CrmPushError):
        return answer
    return RecordRef(object=object_type, record_id=str(answer["id"]), outcome=outcome)


def _gone(answer: Answer) -> bool:
    """An update of a record HubSpot no longer holds (merged or deleted there)."""
    return isinstance(answer, InvalidInput) and answer.code == "OBJECT_NOT_FOUND"


def _merged(companies: list[Company]) -> dict[str, str]:
    """One write for inputs sharing a domain: later values win, absent ones are not sent."""
    props: dict[str, str] = {}
    for company in companies:
        props.update(company_properties(company))
    return props


def _by_id(result: dict[str, Any]) -> str | None:
    return None if result.get("id") is None else str(result["id"])


def _ids_of(error: dict[str, Any]) -> list[str]:
    """The record ids a batch update's error names ([unverified] where HubSpot puts them:
    `context.ids`, `context.id`, or a StandardError's `id`)."""
    context = error.get("context") or {}
    names = list(traces_of(error))
    if isinstance(context, dict):
        for field in ("ids", "id", "objectId"):
            value = context.get(field)
            names += [str(v) for v in value] if isinstance(value, list) else []
    if error.get("id") is not None:
        names.append(str(error["id"]))
    return names


def _update_by_id(
    client: HubSpotClient, object_type: str, updates: dict[str, tuple[str, dict[str, str]]]
) -> dict[str, Answer]:
    """key -> (record id, properties), updated by id; answers keyed like `updates`. Inputs
    are keyed by record id on the wire (two keys on one id are written once)."""
    by_id: dict[str, dict[str, Any]] = {}
    keys_of: dict[str, list[str]] = {}
    for key, (record_id, props) in updates.items():
        # Two keys on one record: one input carrying both keys' properties.
        entry = by_id.setdefault(record_id, {"id": record_id, "properties": {}})
        entry["properties"].update(props)
        keys_of.setdefault(record_id, []).append(key)
    answers = send(
        partial(client.batch_update, object_type),
        by_id,
        object_type,
        key_of=_by_id,
        error_keys=_ids_of,
        together=client.together(f"{object_type}/update"),
    )
    return {key: answer for record_id, answer in answers.items() for key in keys_of[record_id]}


#: (core's key, properties, identity for a search after a crash, marker, claim).
Keyless = tuple[str, dict[str, str], dict[str, str], RecordRef | None, Pending | None]


def assert_companies(
    clients: Clients, connection: Connection, inputs: list[CompanyInput]
) -> dict[str, RecordRef | CrmPushError]:
    """Companies by domain (one write per domain in this process, under its lock); domain-less
    ones created once and updated through their marker. At most one search, one update and
    one create a call (more only when a create conflicts or a marker's record is gone)."""
    by_domain: dict[str, list[CompanyInput]] = {}
    keyless: list[Keyless] = []
    for item in inputs:
        if item.company.domain:
            by_domain.setdefault(item.company.domain.lower(), []).append(item)
        else:
            identity = {"name": item.company.name} if item.company.name else {}
            props = company_properties(item.company)
            keyless.append((item.key, props, identity, item.existing, item.pending))
    with clients.key_locks(connection.workspace_id, COMPANIES, by_domain):
        written, keyless_written = _companies(clients, connection, by_domain, keyless)
    answers: dict[str, RecordRef | CrmPushError] = dict(keyless_written)
    for domain, items in by_domain.items():
        for item in items:
            answers[item.key] = written.get(domain) or InvalidInput(
                f"HubSpot gave no answer for the company {domain}",
                field="company.domain",
                record=domain,
            )
    return answers


def _companies(
    clients: Clients,
    connection: Connection,
    by_domain: dict[str, list[CompanyInput]],
    keyless: list[Keyless],
) -> tuple[dict[str, RecordRef | CrmPushError], dict[str, RecordRef | CrmPushError]]:
    """(domain -> its company or error, key -> a keyless company or error). Known ids (this
    process's writes, the markers) and the companies a search finds are updated; the rest are
    created — with the unique property where it exists, so that a company another process
    made a moment ago conflicts instead of doubling, and is then upserted."""
    client = clients.client(connection)
    portal = connection.workspace_id
    unique = connection.can(UNIQUE_DOMAIN)
    props: dict[str, dict[str, str]] = {}
    out: dict[str, RecordRef | CrmPushError] = {}
    updates: dict[str, tuple[str, dict[str, str]]] = {}  # "d:domain" / "k:key" -> id, values
    for domain, items in by_domain.items():
        props[domain] = _merged([item.company for item in items])
        if unique:
            props[domain][DOMAIN_PROPERTY] = domain
        last = clients.last_write(portal, COMPANIES, domain)
        if last is not None and props[domain].items() <= last[1].items():
            # Nothing HubSpot was not sent already by this process: no write.
            out[domain] = RecordRef(object=COMPANIES, record_id=last[0], outcome="unchanged")
            continue
        markers = [i.existing.record_id for i in items if i.existing is not None]
        record_id = last[0] if last is not None else next(iter(markers), None)
        if record_id is not None:
            updates[f"d:{domain}"] = (record_id, props[domain])
    keyless_out, keyless_creates = _keyless_plan(clients, connection, COMPANIES, keyless)
    for key, (record_id, values) in keyless_creates.pop("updates", {}).items():
        updates[f"k:{key}"] = (record_id, values)
    searched = [d for d in by_domain if d not in out and f"d:{d}" not in updates]
    for domain, record_id in (find_by_domain(client, searched, unique) if searched else {}).items():
        updates[f"d:{domain}"] = (record_id, props[domain])
    creates: dict[str, dict[str, Any]] = {}
    gone: list[str] = []
    for key, answer in _update_by_id(client, COMPANIES, updates).items():
        kind, name = key.split(":", 1)
        if kind == "k":
            if _gone(answer):
                creates[key] = _create_input(key, keyless_creates["bodies"][name])  # again
            else:
                keyless_out[name] = _ref(COMPANIES, answer, "updated")
        elif _gone(answer) and name not in searched:
            gone.append(name)  # the marker's record is gone from HubSpot: look again
        elif unique and isinstance(answer, InvalidInput) and answer.code == "CONFLICT":
            creates[key] = {}  # another company holds the unique value: upserted below
        elif not _gone(answer):
            out[name] = _ref(COMPANIES, answer, "updated")
    for domain, record_id in (find_by_domain(client, gone, unique) if gone else {}).items():
        adopted = _update_by_id(client, COMPANIES, {domain: (record_id, props[domain])})
        out[domain] = _ref(COMPANIES, adopted[domain], "updated")
    for domain in by_domain:
        if domain not in out and f"d:{domain}" not in creates:
            creates[f"d:{domain}"] = _create_input(f"d:{domain}", props[domain])
    for key, body in keyless_creates["bodies"].items():
        if key not in keyless_out and f"k:{key}" not in creates:
            creates[f"k:{key}"] = _create_input(f"k:{key}", body)
    conflicts = [k.split(":", 1)[1] for k, body in creates.items() if not body]
    # Trace ids "d:domain" / "k:key": one create call for both kinds, never confused.
    created = send(
        partial(client.batch_create, COMPANIES),
        {key: body for key, body in creates.items() if body},
        COMPANIES,
        together=client.together(f"{COMPANIES}/create"),
    )
    for key, answer in created.items():
        kind, name = key.split(":", 1)
        if kind == "k":
            keyless_out[name] = _ref(COMPANIES, answer, "created")
        elif unique and isinstance(answer, InvalidInput) and answer.code == "CONFLICT":
            conflicts.append(name)  # made by another process since the search: upserted
        else:
            out[name] = _ref(COMPANIES, answer, "created")
    if conflicts:
        out.update(_upsert_companies(client, {d: props[d] for d in conflicts}))
    for domain, answer in out.items():
        if isinstance(answer, RecordRef) and answer.outcome != "unchanged":
            clients.wrote(portal, COMPANIES, domain, answer.record_id, props[domain])
    _remember_keyless(clients, portal, COMPANIES, keyless, keyless_out)
    return out, keyless_out


def _create_input(trace: str, props: dict[str, str]) -> dict[str, Any]:
    return {"objectWriteTraceId": trace, "properties": props}


def _upsert_companies(
    client: HubSpotClient, missing: dict[str, dict[str, str]]
) -> dict[str, RecordRef | CrmPushError]:
    """Upserts on the unique domain property: race-free whoever else writes the domain."""
    inputs = {
        domain: {
            "idProperty": DOMAIN_PROPERTY,
            "id": domain,
            "objectWriteTraceId": domain,
            "properties": props,
        }
        for domain, props in missing.items()
    }

    def key_of(result: dict[str, Any]) -> str | None:
        return traced(result) or (result.get("properties") or {}).get(DOMAIN_PROPERTY)

    answers = send(partial(client.batch_upsert, COMPANIES), inputs, COMPANIES, key_of=key_of)
    return {domain: _upserted(COMPANIES, answer) for domain, answer in answers.items()}


def _upserted(object_type: str, answer: Answer) -> RecordRef | CrmPushError:
    """An upsert's answer: `new` says whether it created the record."""
    new = isinstance(answer, dict) and bool(answer.get("new"))
    return _ref(object_type, answer, "created" if new else "updated")


def _keyless_plan(
    clients: Clients, connection: Connection, object_type: str, items: list[Keyless]
) -> tuple[dict[str, RecordRef | CrmPushError], dict[str, Any]]:
    """What records without a natural key need: (the answers known already, {"updates": key
    -> (marker's id, values), "bodies": key -> values to create unless an update says the
    record is gone}). A claim's record (after a crash) is looked for first, one by one: rare."""
    client = clients.client(connection)
    portal = connection.workspace_id
    answers: dict[str, RecordRef | CrmPushError] = {}
    updates: dict[str, tuple[str, dict[str, str]]] = {}
    bodies: dict[str, dict[str, str]] = {}
    for key, props, identity, existing, pending in items:
        bodies[key] = props
        if existing is not None:
            updates[key] = (existing.record_id, props)
        elif pending is not None and identity:  # nothing to match a nameless record on
            found = clients.created(
                portal, object_type, _identity(identity), pending.since
            ) or _search_since(client, object_type, identity, pending.since)
            if found:
                updates[key] = (found, props)
    return answers, {"updates": updates, "bodies": bodies}


def _remember_keyless(
    clients: Clients,
    portal: str,
    object_type: str,
    items: list[Keyless],
    answers: dict[str, RecordRef | CrmPushError],
) -> None:
    """The keyless records this process created, by their data (a claim's lookup finds them
    here: search lags)."""
    for key, _props, identity, _, _ in items:
        answer = answers.get(key)
        if isinstance(answer, RecordRef) and answer.outcome == "created":
            clients.remember(portal, object_type, _identity(identity), answer.record_id)


def keyless_batch(
    clients: Clients,
    connection: Connection,
    object_type: str,
    items: list[Keyless],
    associations: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, RecordRef | CrmPushError]:
    """Records without a natural key: the marker's updated by id (gone: created again); a
    claim's looked for; the rest created, each once (trace id = its key). `associations`: key
    -> inline associations of its create."""
    client = clients.client(connection)
    answers, plan = _keyless_plan(clients, connection, object_type, items)
    creates: dict[str, dict[str, Any]] = {}
    for key, answer in _update_by_id(client, object_type, plan["updates"]).items():
        if not _gone(answer):  # gone: created again below
            answers[key] = _ref(object_type, answer, "updated")
    for key, props in plan["bodies"].items():
        if key in answers:
            continue
        creates[key] = _create_input(key, props)
        if associations and associations.get(key):
            creates[key]["associations"] = associations[key]
    for key, answer in send(
        partial(client.batch_create, object_type),
        creates,
        object_type,
        together=client.together(f"{object_type}/create"),
    ).items():
        answers[key] = _ref(object_type, answer, "created")
    _remember_keyless(clients, connection.workspace_id, object_type, items, answers)
    return answers


def _identity(identity: dict[str, str]) -> str:
    return "|".join(f"{k}={v}" for k, v in sorted(identity.items()))


def assert_people(
    clients: Clients, connection: Connection, inputs: list[PersonInput]
) -> dict[str, RecordRef | CrmPushError]:
    """Contacts with an email upserted on it (lower-cased: the key is case-sensitive), one
    input per email; without one, created once (linked to the company inline) and updated
    through the marker."""
    client = clients.client(connection)
    answers: dict[str, RecordRef | CrmPushError] = {}
    by_email: dict[str, list[PersonInput]] = {}
    keyless: list[PersonInput] = []
    for item in inputs:
        if item.person.email:
            by_email.setdefault(item.person.email.strip().lower(), []).append(item)
        else:
            keyless.append(item)
    upserts: dict[str, dict[str, Any]] = {}
    for email, items in by_email.items():
        props: dict[str, str] = {}
        for item in items:
            props.update(contact_properties(clients, connection, item.person))
        props["email"] = email
        upserts[email] = {
            "idProperty": "email",
            "id": email,
            "objectWriteTraceId": email,
            "properties": props,
        }

    def key_of(result: dict[str, Any]) -> str | None:
        email = (result.get("properties") or {}).get("email")
        return traced(result) or (str(email).lower() if email else None)

    upserted = (
        send(
            partial(client.batch_upsert, CONTACTS),
            upserts,
            CONTACTS,
            key_of=key_of,
            together=client.together(f"{CONTACTS}/upsert"),
        )
        if upserts
        else {}
    )
    for email, items in by_email.items():
        answer = upserted.get(email)
        for item in items:
            if answer is not None:
                answers[item.key] = _upserted(CONTACTS, answer)
    if keyless:
        links = {
            item.key: [_company_link(item.company.record_id)]
            for item in keyless
            if item.company is not None
        }
        written = keyless_batch(
            clients,
            connection,
            CONTACTS,
            [
                (
                    item.key,
                    contact_properties(clients, connection, item.person),
                    {k: v for k, v in _names(item.person).items() if v},
                    item.existing,
                    item.pending,
                )
                for item in keyless
            ],
            associations=links,
        )
        for item in keyless:
            answer = written.get(item.key)
            if answer is None:
                continue
            if isinstance(answer, RecordRef) and answer.outcome == "created" and item.company:
                answer = answer.model_copy(update={"linked": (item.company.record_id,)})
            answers[item.key] = answer
    return answers


def _names(person: Person) -> dict[str, str | None]:
    return {"firstname": person.first_name, "lastname": person.last_name}


def _company_link(company_id: str) -> dict[str, Any]:
    return {
        "to": {"id": company_id},
        "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CONTACT_TO_COMPANY}
        ],
    }


def _pair(result: dict[str, Any]) -> str | None:
    source, target = (result.get("from") or {}).get("id"), (result.get("to") or {}).get("id")
    return None if source is None or target is None else f"{source}>{target}"


def _pairs_of(error: dict[str, Any]) -> list[str]:
    """The links an associate error names ([unverified]: `context.fromObjectId` /
    `toObjectId` as the local server gives them)."""
    context = error.get("context") or {}
    if not isinstance(context, dict):
        return []
    sources, targets = context.get("fromObjectId") or [], context.get("toObjectId") or []
    return [f"{s}>{t}" for s, t in zip(sources, targets, strict=False)]


def associate_people(
    clients: Clients, connection: Connection, links: list[LinkInput]
) -> dict[str, RecordRef | CrmPushError]:
    """Default contact→company associations in batches (idempotent); each link matched by its
    (contact, company) pair."""
    client = clients.client(connection)
    inputs: dict[str, dict[str, Any]] = {}
    for link in links:
        pair = f"{link.person.record_id}>{link.company.record_id}"
        inputs[pair] = {"from": {"id": link.person.record_id}, "to": {"id": link.company.record_id}}

    def call(chunk: list[dict[str, Any]]) -> dict[str, Any]:
        return client.batch_associate_default(
            CONTACTS, COMPANIES, [(i["from"]["id"], i["to"]["id"]) for i in chunk]
        )

    answers = send(
        call,
        inputs,
        CONTACTS,
        key_of=_pair,
        error_keys=_pairs_of,
        size=ASSOCIATION_BATCH_MAX,
        together=client.together("contacts/companies/associate", ASSOCIATION_BATCH_MAX),
    )
    out: dict[str, RecordRef | CrmPushError] = {}
    for link in links:
        answer = answers.get(f"{link.person.record_id}>{link.company.record_id}")
        if isinstance(answer, CrmPushError):
            out[link.key] = answer
        elif answer is not None:
            linked = tuple(dict.fromkeys((*link.person.linked, link.company.record_id)))
            out[link.key] = link.person.model_copy(update={"linked": linked})
    return out


# -- one visitor at a time (the core hooks): a batch of one ------------------------------------

ONE = "one"


def _one(answers: dict[str, RecordRef | CrmPushError]) -> RecordRef:
    answer = answers.get(ONE)
    if answer is None:
        raise InvalidInput("HubSpot gave no answer for the record", code="EMPTY_RESULT")
    if isinstance(answer, CrmPushError):
        raise answer
    return answer


def assert_company(
    clients: Clients,
    connection: Connection,
    company: Company,
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """As `assert_companies` does for one: by domain (upserted on the unique property where
    it exists, else searched, then updated or created); without one, update or create."""
    item = CompanyInput(key=ONE, company=company, existing=existing, pending=pending)
    return _one(assert_companies(clients, connection, [item]))


def assert_person(
    clients: Clients,
    connection: Connection,
    person: Person,
    company: RecordRef | None,
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """As `assert_people` does for one: upserted by email; without one, the marker's contact
    updated or one created (linked to the company inline)."""
    item = PersonInput(key=ONE, person=person, company=company, existing=existing, pending=pending)
    return _one(assert_people(clients, connection, [item]))


def associate(
    clients: Clients, connection: Connection, person: RecordRef, company: RecordRef
) -> RecordRef:
    """The default contact→company association (idempotent: PUT)."""
    client = clients.client(connection)
    client.associate_default(CONTACTS, person.record_id, COMPANIES, company.record_id)
    linked = tuple(dict.fromkeys((*person.linked, company.record_id)))
    return person.model_copy(update={"linked": linked})
