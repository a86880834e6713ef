"""Secrets out of messages: the header values (and bare tokens) a client must never show.

A secret is found in a message however it was quoted on the way: as is, as a Python str or
bytes repr (``b'Bearer abc\\n'``, what h11 puts in "Illegal header value"), JSON-quoted (with
``\\uXXXX`` and ``\\/`` escapes), URL- or form-encoded (either hex case), HTML-escaped, and
each line of a secret with a line break in it (a server may echo one of them).
"""

from __future__ import annotations

import functools
import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import TypeVar

_SECRET_HEADER = re.compile(r"auth|token|secret|key|cookie|session|password", re.IGNORECASE)
_MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words; real tokens are long
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

E = TypeVar("E", bound=BaseException)


def has_control_characters(value: str) -> bool:
    """Whether `value` holds a character no HTTP header may carry (a newline, a tab, NUL…)."""
    return _CONTROL.search(value) is not None


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


def _forms(secret: str) -> set[str]:
    """The ways `secret` may be written in a message."""
    forms = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "replace"))[2:-1]}
    for quoted in (json.dumps(secret), json.dumps(secret, ensure_ascii=False)):
        forms |= {quoted[1:-1], quoted[1:-1].replace("/", "\\/")}
    for safe in ("", "/"):
        forms |= {urllib.parse.quote(secret, safe=safe), urllib.parse.quote_plus(secret, safe=safe)}
    forms.add(html.escape(secret))
    # Each line of a secret that holds a line break (and of its other forms).
    forms |= {part for form in list(forms) for part in _CONTROL.split(form)}
    forms |= {part for form in list(forms) for part in re.split(r"\\[nrt]|\\x[0-9a-f]{2}", form)}
    return {f for f in forms if len(f.strip()) >= _MIN_SECRET_CHARS}


@functools.lru_cache(maxsize=256)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_CHARS:
            forms |= _forms(secret)
    if not forms:
        return None
    # Longest first, so "Bearer abc" goes as a whole before "abc" could; case-insensitive, as
    # hex escapes come in either case (a long random token does not match a word by chance).
    alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(alternatives, re.IGNORECASE)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, in any of its encodings, replaced by ***."""
    pattern = _pattern(tuple(sorted({str(s) for s in secrets if s})))
    return text if pattern is None else pattern.sub("***", text)


def redact_error(error: E, secrets: Iterable[str]) -> E:
    """`error` with the secrets scrubbed from its message, its args and every text attribute
    (a CrmPushError's ``message``, ``next_step``, ``field``, ``code``…), changed in place."""
    secrets = tuple(secrets)
    for name, value in list(vars(error).items()):
        if isinstance(value, str):
            setattr(error, name, redact(value, secrets))
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
    return error
