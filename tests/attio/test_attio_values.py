"""Visitor people and companies as Attio values: object forms, only what is present."""

from __future__ import annotations

from attio_helpers import COMPANY_ID
from attio_openapi import check_body
from crm_push.models import Company, Person

from crm_push_attio.records import company_values, person_name, person_values, same_values


def test_company_all_fields_in_object_forms() -> None:
    company = Company(
        name="Acme",
        domain="https://www.Acme.com/about",
        description="Widgets",
        linkedin_url="linkedin.com/company/acme",
    )
    assert company_values(company) == {
        "domains": [{"domain": "acme.com"}],
        "name": [{"value": "Acme"}],
        "description": [{"value": "Widgets"}],
        "linkedin": [{"value": "https://linkedin.com/company/acme"}],
    }


def test_company_sends_only_what_is_present() -> None:
    assert company_values(Company(domain="acme.com")) == {"domains": [{"domain": "acme.com"}]}
    assert company_values(Company(name="Acme", description="  ")) == {"name": [{"value": "Acme"}]}


def test_person_first_and_last_take_the_three_key_form() -> None:
    person = Person(
        email="Ada@Example.com",
        name="Ada Lovelace",
        job_title="CTO",
        linkedin_url="https://linkedin.com/in/ada",
    )
    assert person_values(person, "c1") == {
        "email_addresses": [{"email_address": "ada@example.com"}],
        "name": [{"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace"}],
        "job_title": [{"value": "CTO"}],
        "linkedin": [{"value": "https://linkedin.com/in/ada"}],
        "company": [{"target_object": "companies", "target_record_id": "c1"}],
    }


def test_single_token_name_is_the_plain_string() -> None:
    # Attio reads a string without a comma as the first name: right for "Cher".
    assert person_name(Person(name="Cher")) == ["Cher"]
    assert person_name(Person(first_name="Cher")) == ["Cher"]


def test_last_name_alone_is_not_sent_as_a_first_name() -> None:
    assert person_name(Person(last_name="Curie")) == [
        {"first_name": "", "last_name": "Curie", "full_name": "Curie"}
    ]


def test_person_without_name_or_company_sends_no_such_keys() -> None:
    assert person_values(Person(email="a@b.com")) == {
        "email_addresses": [{"email_address": "a@b.com"}]
    }


def test_every_form_fits_the_openapi_schema() -> None:
    people = [
        person_values(Person(email="a@b.com", name="Ada Lovelace", job_title="x"), COMPANY_ID),
        person_values(Person(name="Cher")),
        person_values(Person(last_name="Curie")),
    ]
    for values in people:
        check_body("PUT", "/v2/objects/{object}/records", {"data": {"values": values}}, "people")
    company = company_values(Company(name="A", domain="a.com", description="d"))
    check_body("POST", "/v2/objects/{object}/records", {"data": {"values": company}}, "companies")


def test_same_values_compares_primary_parts_ignoring_case() -> None:
    sent = person_values(Person(name="Ada Lovelace", job_title="CTO"))
    stored = {
        "name": [{"first_name": "Ada", "last_name": "Lovelace", "full_name": "ada lovelace"}],
        "job_title": [{"value": "CTO", "attribute_type": "text"}],
        "description": [{"value": "extra is fine"}],
    }
    assert same_values(sent, stored)
    assert not same_values(sent, {**stored, "job_title": [{"value": "CEO"}]})
    assert not same_values(sent, {"name": stored["name"]})
