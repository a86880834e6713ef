"""Visitor models: the input crm-push reads, one JSON object per line.

A visitor has an `id` and optional `person`, `company`, `visit` and `key_contacts` blocks.
Everything is normalised on the way in, and unknown fields are errors rather than silently dropped.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from crm_push.models.fields import normalize_domain, normalize_email, normalize_url, split_name
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)


def _strip_or_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


Email = Annotated[str, AfterValidator(normalize_email)]
Domain = Annotated[str, AfterValidator(normalize_domain)]
Url = Annotated[str, AfterValidator(normalize_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # "" and "  " mean "not given" for optional text fields, not an empty value to write.
        return _strip_or_none(value)


class Person(_Model):
    """A person: matched by email where there is one."""

    email: Email | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job_title: str | None = None
    linkedin_url: Url | None = None

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

    name: str | None = None
    domain: Domain | None = None
    description: str | None = None
    linkedin_url: Url | None = None

    @model_validator(mode="after")
    def _needs_identity(self) -> Company:
        if not (self.domain or self.name):
            raise ValueError("a company needs at least a domain or a name")
        return self


class Visit(_Model):
    """What the visitor did on the site."""

    visited_at: dt.datetime | None = None
    visit_count: int | None = Field(default=None, ge=0)
    quality_score: float | None = Field(default=None, ge=0, le=100)
    pages: tuple[str, ...] = ()

    @field_validator("visited_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        # A visit time without a zone is read as UTC, as CRMs do.
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Visitor(_Model):
    """One line of the input: a website visitor and what is known of them."""

    id: str = Field(min_length=1)
    person: Person | None = None
    company: Company | None = None
    visit: Visit | None = None
    key_contacts: tuple[Person, ...] = ()

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        # Numeric ids are common in exports; keep them as text rather than rejecting them.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _has_something(self) -> Visitor:
        if not (self.person or self.company or self.key_contacts):
            raise ValueError("a visitor needs a person, a company or key contacts to push")
        if self.key_contacts and not self.company:
            raise ValueError("key_contacts need a company to be linked to")
        return self
