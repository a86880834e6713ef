"""People and companies: visitors as Attio record ``values``, asserted or created once.

Every value is sent as an array of the object forms listed in the OpenAPI ``input-value`` schema
(``{"value": …}``, ``{"domain": …}``, ``{"email_address": …}``…), the one exception being the
documented string form of a single-token personal name. Only fields that are present are sent:
a missing field must never blank out what the CRM already holds.

People are asserted by email and companies by domain (created when there is none). Without
that key, the push marker's record is updated, or a record is created — never blindly twice:
a create that may have been applied is looked for before it is tried again.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from crm_push.errors import InvalidInput, RetryLater
from crm_push.models import Company, Connection, Pending, Person, RecordRef

from .api import AttioClient, Written, format_timestamp, written_from

if TYPE_CHECKING:
    from .clients import Clients

Values = dict[str, list[Any]]

COMPANIES = "companies"
PEOPLE = "people"
#: The unique attributes records are asserted on.
COMPANY_MATCH = "domains"
PERSON_MATCH = "email_addresses"

# A create that may have been applied is tried at most this many times, each time after
# looking for its result; a server asking to wait longer than this (s) is not waited for.
_CREATE_ATTEMPTS = 4
_MAX_CREATE_WAIT = 60.0
# How far before a pending create's start to look for the record it made (clock skew).
_PENDING_SLACK = dt.timedelta(seconds=60)

_T = TypeVar("_T")

#: Email domains Attio derives no company from (consumer mail; Attio publishes no list).
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "hotmail.com", "outlook.com",
        "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "protonmail.com",
        "proton.me", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "yandex.com",
        "yandex.ru", "zoho.com", "hey.com", "fastmail.com", "qq.com", "163.com",
    }
)  # fmt: skip

# Domain-less companies this process asserted, (workspace id, record id), most recent last:
# the person asserted next gives them the email's domain (see `adopt_email_domain`).
_DOMAINLESS: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
_DOMAINLESS_MAX = 10_000
_DOMAINLESS_LOCK = threading.Lock()
# Domain-less companies this process saw get their domain (or found with one, or saw another
# company hold it): settled, not read again.
_WITH_DOMAIN: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()


def corporate_domain(email: str | None) -> str | None:
    """The domain of an email Attio would derive a company from: None for free mail."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower()
    labels = domain.split(".")
    if domain in FREE_MAIL_DOMAINS or ".".join(labels[-2:]) in FREE_MAIL_DOMAINS:
        return None
    return domain or None


def _remember(
    seen: collections.OrderedDict[tuple[str, str], None], workspace_id: str, record_id: str
) -> None:
    """Add a company to one of the two bounded memories below (the oldest go first)."""
    with _DOMAINLESS_LOCK:
        seen[(workspace_id, record_id)] = None
        seen.move_to_end((workspace_id, record_id))
        while len(seen) > _DOMAINLESS_MAX:
            seen.popitem(last=False)


def _take_domainless(workspace_id: str, record_id: str) -> bool:
    with _DOMAINLESS_LOCK:
        return _DOMAINLESS.pop((workspace_id, record_id), False) is None


def _with_domain(workspace_id: str, record_id: str) -> bool:
    """Whether this process saw that domain-less company get a domain (or already have one)."""
    with _DOMAINLESS_LOCK:
        return (workspace_id, record_id) in _WITH_DOMAIN


def reset_domainless() -> None:
    """Forget the domain-less companies seen (tests)."""
    with _DOMAINLESS_LOCK:
        _DOMAINLESS.clear()
        _WITH_DOMAIN.clear()


def adopt_email_domain(
    client: AttioClient, workspace_id: str, person: Person, company: RecordRef | None
) -> bool:
    """Give a domain-less company the person's corporate email domain, before the person
    is written. Attio derives (or matches) a company from the domain of a new person's
    email; without this, a visitor with an email and a domain-less company would leave two
    companies: the one crm-push created and the one Attio derived. With the domain on
    crm-push's company, Attio's derivation matches it. Free-mail domains are left alone, and
    so is a domain another company already holds (Attio answers uniqueness_conflict: that
    company is the one Attio matches). True when the domain was added.

    A company this process did not create (`company.keyless`: the visitor's company has no
    domain; created by another process, or by one that died before this step) is read
    first, once per process: a PATCH appends domains, so one that has a domain gets none."""
    domain = corporate_domain(person.email)
    if domain is None or company is None:
        return False
    company_id = company.record_id
    if not _take_domainless(workspace_id, company_id):
        if not company.keyless or _with_domain(workspace_id, company_id):
            return False
        held = client.get_record(COMPANIES, company_id).get("values", {}).get("domains")
        if held:
            _remember(_WITH_DOMAIN, workspace_id, company_id)
            return False
    try:
        client.update_record(COMPANIES, company_id, {"domains": [{"domain": domain}]})
    except InvalidInput as exc:
        if exc.code != "uniqueness_conflict":
            raise
        added = False
    else:
        added = True
    _remember(_WITH_DOMAIN, workspace_id, company_id)  # settled either way: not asked again
    return added


def _text(value: str) -> list[dict[str, str]]:
    return [{"value": value}]


def company_values(company: Company) -> Values:
    """``companies`` values: domain, name (a text attribute there), description, LinkedIn."""
    values: Values = {}
    if company.domain:
        values["domains"] = [{"domain": company.domain}]
    if company.name:
        values["name"] = _text(company.name)
    if company.description:
        values["description"] = _text(company.description)
    if company.linkedin_url:
        values["linkedin"] = _text(company.linkedin_url)
    return values


def person_name(person: Person) -> list[Any] | None:
    """A personal-name value, or None when the person has no name.

    First and last ⇒ the object form with all three keys (Attio's docs ask for all three).
    A single token ⇒ the plain string: Attio reads a string as "Last, First", and without a comma
    the whole string becomes the first name, which is right for "Cher". A lone last name takes the
    object form, since the string form would make it a first name.
    """
    first, last, full = person.first_name, person.last_name, person.name
    if first and last:
        return [{"first_name": first, "last_name": last, "full_name": full or f"{first} {last}"}]
    if last:
        return [{"first_name": "", "last_name": last, "full_name": full or last}]
    name = first or full
    if not name:
        return None
    # A comma would be read as "Last, First"; a single token never has one, but be safe.
    if "," in name:
        return [{"first_name": name, "last_name": "", "full_name": name}]
    return [name]


def company_reference(record_id: str) -> list[dict[str, str]]:
    """A record-reference value pointing at a company, by its record id."""
    return [{"target_object": COMPANIES, "target_record_id": record_id}]


def person_values(person: Person, company_id: str | None = None) -> Values:
    """``people`` values: email, name, job title, LinkedIn and (optionally) the company link."""
    values: Values = {}
    if person.email:
        values["email_addresses"] = [{"email_address": person.email}]
    name = person_name(person)
    if name is not None:
        values["name"] = name
    if person.job_title:
        values["job_title"] = _text(person.job_title)
    if person.linkedin_url:
        values["linkedin"] = _text(person.linkedin_url)
    if company_id:
        values["company"] = company_reference(company_id)
    return values


# Where each kind of value keeps what identifies it, in Attio's output and input forms.
_PRIMARY_KEYS = ("value", "domain", "email_address", "full_name", "target_record_id")


def _primary(item: Any) -> str | None:
    if isinstance(item, str):
        return item.strip().lower()
    if isinstance(item, dict):
        for key in _PRIMARY_KEYS:
            if isinstance(item.get(key), str):
                return str(item[key]).strip().lower()
    return None


def same_values(sent: Values, stored: dict[str, Any]) -> bool:
    """Whether a stored record holds every value we sent (compared by each value's primary
    part, ignoring case): how a record this push may have created is recognised."""
    for slug, items in sent.items():
        have = {_primary(v) for v in stored.get(slug) or () if isinstance(stored.get(slug), list)}
        for item in items:
            if _primary(item) not in have:
                return False
    return True


# -- writes ------------------------------------------------------------------------------------


def ref(object: str, written: Written, linked: tuple[str, ...] = ()) -> RecordRef:
    """A write's answer as crm-push's RecordRef."""
    return RecordRef(
        object=object,
        record_id=written.record_id,
        outcome="created" if written.created else "updated",
        linked=linked,
        web_url=written.web_url,
    )


def create_once(
    create: Callable[[], _T], find: Callable[[], _T | None], sleep: Callable[[float], None]
) -> _T:
    """Run a create that must not happen twice: after a failed attempt (which may have been
    applied), wait as asked, look for its result with `find`, and only then try again."""
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            return create()
        except RetryLater as exc:
            wait = 1.0 if exc.retry_after is None else exc.retry_after
            if attempt == _CREATE_ATTEMPTS or wait > _MAX_CREATE_WAIT:
                raise
            sleep(wait)
            found = find()
            if found is not None:
                return found
    raise AssertionError("unreachable")  # the loop returns or raises


def find_created(
    client: AttioClient, object: str, values: Values, since: dt.datetime
) -> Written | None:
    """A record created since `since` that holds every value sent: the one an earlier
    attempt (a crashed push, or a create whose answer was lost) made."""
    name = values.get("name")
    if not name:
        return None
    item = name[0]
    name_filter: dict[str, Any]
    if object == PEOPLE:
        full = item if isinstance(item, str) else item.get("full_name")
        name_filter = {"name": {"full_name": {"$eq": full}}}
    else:
        name_filter = {"name": {"$eq": item.get("value")}}
    start = format_timestamp(since - _PENDING_SLACK)
    found = client.query_records(
        object,
        {"$and": [{"created_at": {"$gte": start}}, name_filter]},
        sorts=[{"direction": "asc", "attribute": "created_at"}],
    )
    for record in found:
        if same_values(values, record.get("values") or {}):
            return written_from(record, created=True)
    return None


def _create(
    client: AttioClient, object: str, values: Values, sleep: Callable[[float], None]
) -> Written:
    since = dt.datetime.now(dt.UTC)
    return create_once(
        lambda: client.create_record(object, values),
        lambda: find_created(client, object, values, since),
        sleep,
    )


def _keyless(
    client: AttioClient,
    object: str,
    values: Values,
    existing: RecordRef | None,
    pending: Pending | None,
    sleep: Callable[[float], None],
) -> Written:
    """A record without a matching key: update the marker's record, or create one — after
    looking for the one a crashed push may have created."""
    if existing is not None:
        return client.update_record(object, existing.record_id, values)
    if pending is not None:
        found = find_created(client, object, values, pending.since)
        if found is not None:
            return found
    return _create(client, object, values, sleep)


def assert_company(
    clients: Clients,
    connection: Connection,
    company: Company,
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """Assert by domain; without one, update the marker's record or create a new one."""
    client = clients.client(connection)
    values = company_values(company)
    if company.domain:
        written = client.assert_record(COMPANIES, COMPANY_MATCH, values)
    else:
        written = _keyless(client, COMPANIES, values, existing, pending, clients.sleep)
        _remember(_DOMAINLESS, connection.workspace_id, written.record_id)
    return ref(COMPANIES, written)


def assert_person(
    clients: Clients,
    connection: Connection,
    person: Person,
    company: RecordRef | None,
    existing: RecordRef | None,
    pending: Pending | None,
) -> RecordRef:
    """Assert by email, linking the company inline; without email, update or create."""
    client = clients.client(connection)
    company_id = company.record_id if company is not None else None
    values = person_values(person, company_id)
    if person.email:
        adopt_email_domain(client, connection.workspace_id, person, company)
        written = client.assert_record(PEOPLE, PERSON_MATCH, values)
    else:
        written = _keyless(client, PEOPLE, values, existing, pending, clients.sleep)
    return ref(PEOPLE, written, (company_id,) if company_id else ())


def associate(
    clients: Clients, connection: Connection, person: RecordRef, company: RecordRef
) -> RecordRef:
    """Set the person's standard `company` reference (Attio updates the company's team)."""
    values = {"company": company_reference(company.record_id)}
    written = clients.client(connection).update_record(person.object, person.record_id, values)
    return RecordRef(
        object=person.object,
        record_id=written.record_id,
        outcome="updated",
        linked=(company.record_id,),
        web_url=written.web_url or person.web_url,
    )
