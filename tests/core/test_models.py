"""Visitor input: normalisation of what users get wrong, and errors that name the field."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from crm_push import InvalidInput, parse_visitor
from crm_push.inputs.visitors import parse_line
from crm_push.models import Visitor

FULL = {
    "id": "v_123",
    "person": {
        "email": "jane@acme.com",
        "name": "Jane Doe",
        "first_name": "Jane",
        "last_name": "Doe",
        "job_title": "CTO",
        "linkedin_url": "https://www.linkedin.com/in/janedoe",
    },
    "company": {
        "name": "Acme",
        "domain": "acme.com",
        "description": "Rockets",
        "linkedin_url": "https://www.linkedin.com/company/acme",
    },
    "visit": {
        "visited_at": "2026-11-20T10:00:00Z",
        "visit_count": 3,
        "quality_score": 87,
        "pages": ["/pricing", "/docs"],
    },
    "key_contacts": [{"email": "cfo@acme.com", "name": "Sam Roe", "job_title": "CFO"}],
}


def test_the_documented_example_parses_whole() -> None:
    v = parse_visitor(FULL)
    assert v.id == "v_123"
    assert v.person and v.person.email == "jane@acme.com" and v.person.job_title == "CTO"
    assert v.company and v.company.domain == "acme.com"
    assert v.visit and v.visit.visited_at == dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    assert v.visit.pages == ("/pricing", "/docs")
    assert v.key_contacts[0].first_name == "Sam" and v.key_contacts[0].last_name == "Roe"


@pytest.mark.parametrize(
    "raw",
    [
        "https://www.Acme.com/pricing",
        "ACME.COM.",
        "acme.com",
        "http://acme.com:8080/x?y=1",
        " www.acme.com ",
    ],
)
def test_domains_from_any_spelling(raw: str) -> None:
    assert parse_visitor({"id": "1", "company": {"domain": raw}}).company.domain == "acme.com"  # type: ignore[union-attr]


def test_international_domain_is_reduced_to_its_ascii_form() -> None:
    v = parse_visitor({"id": "1", "company": {"domain": "https://www.Bücher.de/"}})
    assert v.company and v.company.domain == "xn--bcher-kva.de"


def test_email_trimmed_and_lowercased() -> None:
    v = parse_visitor({"id": "1", "person": {"email": "  Jane.Doe@ACME.com "}})
    assert v.person and v.person.email == "jane.doe@acme.com"


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Jane Doe", "Jane", "Doe"),
        ("Doe, Jane", "Jane", "Doe"),
        ("Dr. Juan Q. Xavier de la Vega III", "Juan Q. Xavier", "de la Vega"),
        ("Madonna", "Madonna", None),
    ],
)
def test_full_name_split_with_a_name_parser(name: str, first: str, last: str | None) -> None:
    v = parse_visitor({"id": "1", "person": {"name": name}})
    assert v.person and (v.person.first_name, v.person.last_name) == (first, last)


def test_given_first_and_last_are_kept_and_make_the_full_name() -> None:
    v = parse_visitor({"id": "1", "person": {"first_name": "Ana", "last_name": "de Souza"}})
    assert v.person and v.person.name == "Ana de Souza"
    assert (v.person.first_name, v.person.last_name) == ("Ana", "de Souza")


def test_blocks_are_optional() -> None:
    assert parse_visitor({"id": "c", "company": {"name": "Only a company"}}).person is None
    no_email = parse_visitor({"id": "p", "person": {"name": "No Email"}})
    assert no_email.person and no_email.person.email is None
    assert parse_visitor({"id": 42, "company": {"domain": "x.io"}}).id == "42"


def test_naive_visit_time_is_utc() -> None:
    v = parse_visitor(
        {"id": "1", "person": {"name": "A B"}, "visit": {"visited_at": "2026-01-02T03:04:05"}}
    )
    assert v.visit and v.visit.visited_at and v.visit.visited_at.tzinfo == dt.UTC


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"id": "v9", "person": {"email": "not-an-email"}}, "person.email", "not a valid email"),
        ({"id": "v9", "company": {"domain": "localhost"}}, "company.domain", "not a domain"),
        ({"id": "v9", "person": {"email": "a@b.co", "favourite": 1}}, "person.favourite", "Extra"),
        (
            {"id": "v9", "visit": {"visit_count": -1}, "person": {"name": "A"}},
            "visit.visit_count",
            "greater than or equal to 0",
        ),
        (
            {"id": "v9", "key_contacts": [{"email": "x"}], "company": {"domain": "a.io"}},
            "key_contacts[0].email",
            "valid email",
        ),
        ({"id": "v9"}, "(visitor)", "needs a person"),
        ({"id": "v9", "person": {"job_title": "CTO"}}, "person", "email or a name"),
        ({"person": {"email": "a@b.co"}}, "id", "required"),
    ],
)
def test_invalid_input_names_visitor_and_field(data: dict, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_visitor(data, line=7)
    err = info.value
    assert err.field == field
    assert words.lower() in str(err).lower()
    assert "line 7" in str(err)
    if "id" in data:
        assert err.record == "v9" and "'v9'" in str(err)


def test_malformed_json_line_names_its_line() -> None:
    with pytest.raises(InvalidInput, match="line 12: not valid JSON"):
        parse_line('{"id": "x", ', line=12)


def test_a_rejects_line_can_be_pushed_again() -> None:
    line = json.dumps({**FULL, "_reject": {"reason": "was broken", "line": 3}})
    assert parse_line(line, line=1).id == "v_123"


def test_schema_describes_the_input() -> None:
    schema = Visitor.model_json_schema()
    assert schema["required"] == ["id"]
    assert {"person", "company", "visit", "key_contacts"} <= set(schema["properties"])
