"""Visitor people and companies as Attio record ``values``.

Every value is sent as an array of the object forms listed in the OpenAPI ``input-value`` schema
(``{"value": …}``, ``{"domain": …}``, ``{"email_address": …}``…), the one exception being the
documented string form of a single-token personal name. Only fields that are present are sent:
a missing field must never blank out what the CRM already holds.
"""

from __future__ import annotations

from typing import Any

from crm_push.models import Company, Person

Values = dict[str, list[Any]]

COMPANIES = "companies"
PEOPLE = "people"
#: The unique attributes records are asserted on.
COMPANY_MATCH = "domains"
PERSON_MATCH = "email_addresses"


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
