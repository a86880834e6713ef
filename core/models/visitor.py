"""Visitor models: the input crm-push reads, one JSON object per line.

A visitor has an `id` and optional `person`, `company`, `visit` and `key_contacts` blocks.
Everything is normalised on the way in, and unknown fields are errors rather than silently dropped.
Types are strict: a count is a whole number (not `true`, not `"3"`), pages are a list of text, and
each message says what was expected and what was given. The JSON Schema (`crm-push schema`)
accepts exactly the lines whose types and structure these models accept; only what a schema
cannot check (an email's syntax, a domain, a URL, the 30th of February) is push's alone.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Annotated, Any

from crm_push.models.fields import (
    describe,
    normalize_domain,
    normalize_email,
    normalize_url,
    split_name,
)
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

#: A visit time as accepted: ISO 8601 date, or date and time (to the minute at least), with an
#: optional zone; surrounding blanks allowed. The same pattern is in the JSON Schema.
ISO_DATETIME = (
    r"^\s*[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
    r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?\s*$"
)
_ISO_DATETIME = re.compile(ISO_DATETIME)
#: A string with something in it, as the JSON Schema says it.
_NOT_BLANK = {"type": "string", "pattern": r"\S"}
_NULL = {"type": "null"}


def _optional_text(value: Any) -> str | None:
    # "" and "  " mean "not given" for optional text fields, not an empty value to write.
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {describe(value)}")
    return value.strip() or None


def _required_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {describe(value)}")
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


#: Validation context of values this package normalised before (a job's stored visitors):
#: one that already has its normalised form is kept as it is, without the normaliser.
NORMALIZED = "normalized"


def _if_given(
    normalize: Callable[[str], str], normal: re.Pattern[str] | None = None
) -> Callable[[str | None, ValidationInfo], str | None]:
    def check(value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        trusted = normal is not None and info.context and info.context.get(NORMALIZED)
        if trusted and normal.fullmatch(value):  # type: ignore[union-attr]
            return value
        return normalize(value)

    return check


# What normalize_email and normalize_domain return, in the usual case (ASCII): the shape of a
# value that needs no normaliser when it was normalised before. Anything else takes the
# normaliser, which says what is wrong with it.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_TLD = r"(?!(?:test|local|localhost|invalid|onion|arpa)$)[a-z]{2,63}"  # special use: refused
_NORMAL_DOMAIN = re.compile(rf"(?!www\.)(?!.*--)(?=.{{4,253}}$)(?:{_LABEL}\.)+{_TLD}")
_NORMAL_EMAIL = re.compile(
    rf"(?=.{{6,254}}$)[a-z0-9!#$%&'*+/=?^_`{{|}}~-]{{1,64}}(?:\.[a-z0-9!#$%&'*+/=?^_`{{|}}~-]+)*"
    rf"@(?!.*--)(?:{_LABEL}\.)+{_TLD}"
)


def id_text(value: Any) -> str:
    """A visitor id as kept, or ValueError saying why it is not one."""
    # Numeric ids are common in exports: a number is kept as text (1e3 ⇒ "1000").
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be text or a number, not {value}")
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, str):
        return _required_text(value)
    raise ValueError(f"must be text or a number, not {describe(value)}")


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"must be a whole number, not {describe(value)}")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    raise ValueError(f"must be a number, not {describe(value)}")


def _list_of(what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a list of {what}, not {describe(value)}")
        return value

    return check


def _visit_time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 date and time as text, not {describe(value)}")
    if not value.strip():
        return None
    try:
        if not _ISO_DATETIME.match(value):
            raise ValueError(value)
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"must be an ISO 8601 date and time such as 2026-11-20T10:00:00Z, not {describe(value)}"
        ) from None


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, _NULL], "default": None}


Text = Annotated[
    str | None, BeforeValidator(_optional_text), WithJsonSchema(_optional({"type": "string"}))
]
Email = Annotated[Text, AfterValidator(_if_given(normalize_email, _NORMAL_EMAIL))]
Domain = Annotated[Text, AfterValidator(_if_given(normalize_domain, _NORMAL_DOMAIN))]
Url = Annotated[Text, AfterValidator(_if_given(normalize_url))]
Page = Annotated[str, BeforeValidator(_required_text), WithJsonSchema(_NOT_BLANK)]


def _one_of_given(*keys: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON Schema: at least one of `keys` is there and not blank (a string with something in it,
    unless `given` says what counts)."""
    return {
        "anyOf": [
            {"required": [key], "properties": {key: (given or {}).get(key, _NOT_BLANK)}}
            for key in keys
        ]
    }


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if isinstance(data, dict | BaseModel):
            return data
        raise ValueError(f"must be an object, not {describe(data)}")


class Person(_Model):
    """A person: matched by email where there is one."""

    model_config = ConfigDict(
        json_schema_extra=_one_of_given("email", "name", "first_name", "last_name")
    )

    email: Email = None
    name: Text = None
    first_name: Text = None
    last_name: Text = None
    job_title: Text = None
    linkedin_url: Url = None

    @model_validator(mode="after")
    def _names(self) -> Person:
        if self.name and not (self.first_name or self.last_name):
            first, last = split_name(self.name)
            object.__setattr__(self, "first_name", first)
            object.__setattr__(self, "last_name", last)
        elif not self.name and (self.first_name or self.last_name):
            full = " ".join(p for p in (self.first_name, self.last_name) if p)
            object.__setattr__(self, "name", full)
        if not (self.email or self.name):
            raise ValueError("a person needs at least an email or a name")
        return self


class Company(_Model):
    """A company: matched by its domain where there is one."""

    model_config = ConfigDict(json_schema_extra=_one_of_given("domain", "name"))

    name: Text = None
    domain: Domain = None
    description: Text = None
    linkedin_url: Url = None

    @model_validator(mode="after")
    def _needs_identity(self) -> Company:
        if not (self.domain or self.name):
            raise ValueError("a company needs at least a domain or a name")
        return self


class Visit(_Model):
    """What the visitor did on the site: at least one of its fields."""

    model_config = ConfigDict(
        json_schema_extra=_one_of_given(
            "visited_at",
            "visit_count",
            "quality_score",
            "pages",
            given={
                "visit_count": {"type": "number"},
                "quality_score": {"type": "number"},
                "pages": {"type": "array", "minItems": 1},
            },
        )
    )

    visited_at: Annotated[
        dt.datetime | None,
        BeforeValidator(_visit_time),
        WithJsonSchema(
            _optional(
                {
                    "anyOf": [
                        {"type": "string", "pattern": ISO_DATETIME},
                        {"type": "string", "pattern": r"^\s*$"},
                    ],
                    "description": "ISO 8601; no zone means UTC; blank means not given",
                }
            )
        ),
    ] = None
    visit_count: Annotated[
        Annotated[int, Field(ge=0)] | None,
        BeforeValidator(_count),
        WithJsonSchema(_optional({"type": "integer", "minimum": 0})),
    ] = None
    quality_score: Annotated[
        Annotated[float, Field(ge=0, le=100)] | None,
        BeforeValidator(_number),
        WithJsonSchema(_optional({"type": "number", "minimum": 0, "maximum": 100})),
    ] = None
    pages: Annotated[
        tuple[Page, ...],
        BeforeValidator(_list_of("text (page paths)")),
        WithJsonSchema({"anyOf": [{"type": "array", "items": _NOT_BLANK}, _NULL], "default": []}),
    ] = ()

    @field_validator("visited_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        # A visit time without a zone is read as UTC, as CRMs do.
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Visit:
        given = (self.visited_at, self.visit_count, self.quality_score)
        if all(x is None for x in given) and not self.pages:
            raise ValueError(
                "must not be empty: give visited_at, visit_count, quality_score or pages "
                "(or leave the visit out)"
            )
        return self


def _visitor_schema(schema: dict[str, Any]) -> None:
    contacts = schema["properties"]["key_contacts"]  # null is read as none, as for pages
    contacts["anyOf"] = [{"type": "array", "items": contacts.pop("items")}, _NULL]
    del contacts["type"]
    schema.update(
        _one_of_given(
            "person",
            "company",
            "key_contacts",
            given={
                "person": {"type": "object"},
                "company": {"type": "object"},
                "key_contacts": {"type": "array", "minItems": 1},
            },
        )
    )
    schema["if"] = {
        "required": ["key_contacts"],
        "properties": {"key_contacts": {"type": "array", "minItems": 1}},
    }
    schema["then"] = {"required": ["company"], "properties": {"company": {"type": "object"}}}


class Visitor(_Model):
    """One line of the input: a website visitor and what is known of them."""

    model_config = ConfigDict(json_schema_extra=_visitor_schema)

    id: Annotated[
        str,
        BeforeValidator(id_text),
        WithJsonSchema(
            {
                "anyOf": [_NOT_BLANK, {"type": "number"}],
                "description": "text, or a number (kept as text)",
            }
        ),
    ]
    person: Person | None = None
    company: Company | None = None
    visit: Visit | None = None
    key_contacts: Annotated[
        tuple[Person, ...],
        BeforeValidator(_list_of("people (objects)")),
    ] = ()

    @model_validator(mode="after")
    def _has_something(self) -> Visitor:
        if not (self.person or self.company or self.key_contacts):
            raise ValueError("a visitor needs a person, a company or key contacts to push")
        if self.key_contacts and not self.company:
            raise ValueError("key_contacts need a company to be linked to")
        return self
