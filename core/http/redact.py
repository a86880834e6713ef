"""Secrets out of messages: the header values (and bare tokens) a client must never show."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_SECRET_HEADER = re.compile(r"auth|token|secret|key|cookie|session|password", re.IGNORECASE)
_MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words; real tokens are long


def secrets_in(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The secret values among request headers (by name: auth, token, key…), longest first."""
    found: set[str] = set()
    for name, value in headers.items():
        if not _SECRET_HEADER.search(name):
            continue
        value = str(value).strip()
        found.add(value)
        # "Bearer abc" -> also "abc", in case a server echoes the bare token.
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            found.add(credential.strip())
    # Longest first so a token inside "Bearer token" is replaced as a whole.
    return tuple(sorted((s for s in found if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (longest first) replaced by ***."""
    for secret in sorted(
        (s for s in secrets if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True
    ):
        text = text.replace(secret, "***")
    return text
