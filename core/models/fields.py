"""Normalisers for what users get wrong: emails, domains, names, URLs; and how a message quotes
a value it refuses.

Each normaliser takes the raw value and returns the canonical one or raises ValueError with a
message a user can act on; pydantic turns that into an error naming the field.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

#: A value longer than this is quoted cut, with its size: a message never echoes megabytes.
QUOTE_CHARS = 60


def quote(value: str) -> str:
    """A value as a message quotes it: `'acme'`, or `'xxxx…' (52,428,800 characters)`."""
    if len(value) <= QUOTE_CHARS:
        return repr(value)
    return f"{value[:QUOTE_CHARS] + '…'!r} ({len(value):,} characters)"


def describe(value: Any) -> str:
    """What a JSON value is, for a message saying it is not what was expected: `true`, `null`,
    `text ('3')`, `a number (2.5)`, `a list`, `an object`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"text ({quote(value)})"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def normalize_email(value: str) -> str:
    """Trim, validate the syntax (no DNS) and lower-case an email address."""
    import email_validator  # 15 ms of imports: not for a worker's stored visitors

    raw = value.strip()
    try:
        checked = email_validator.validate_email(raw, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"{quote(raw)} is not a valid email address: {exc}") from None
    # Mailboxes are case-insensitive in practice and CRMs match on the exact string.
    return checked.normalized.lower()


def normalize_domain(value: str) -> str:
    """Reduce any spelling of a site to its host: no scheme, path, port, trailing dot or www.

    International names are returned in their ASCII (IDNA) form so that every spelling of one
    domain matches the same CRM record.
    """
    raw = value.strip()
    if not raw:
        raise ValueError("domain is empty")
    candidate = raw if "://" in raw else "//" + raw
    try:
        host = urllib.parse.urlsplit(candidate).hostname or ""
    except ValueError as exc:
        raise ValueError(f"{quote(raw)} is not a domain or URL: {exc}") from None
    host = host.rstrip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    if "." not in host:
        raise ValueError(f"{quote(raw)} is not a domain: expected a name like acme.com")
    import idna

    try:
        host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{quote(raw)} is not a valid domain: {exc}") from None
    return host


def split_name(full_name: str) -> tuple[str | None, str | None]:
    """Split a full name into (first, last) with nameparser; titles and suffixes are dropped.

    Middle names stay with the first name; "Doe, Jane" is understood as last, first.
    """
    from nameparser import HumanName  # 20 ms of imports: only when a name is split

    parsed = HumanName(full_name)
    first = " ".join(p for p in (parsed.first, parsed.middle) if p) or None
    last = parsed.last or None
    return first, last


def normalize_url(value: str) -> str:
    """Accept a URL with or without a scheme; return it with https:// when none was given."""
    raw = value.strip()
    if not raw:
        raise ValueError("URL is empty")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or "." not in parts.hostname:
        raise ValueError(f"{quote(value)} is not a web URL")
    return raw
