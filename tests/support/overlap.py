"""What the real-process overlap tests share: a state database of each kind, a finished push's
summary, and the count of duplicates a FileCRM holds."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from typing import Any

from support.databases import fresh_postgres
from support.filecrm import FileCRM

PG_URL = os.environ.get("CRM_PUSH_TEST_PG_URL")
#: A push that ends with everything written, or with some visitors deferred (75).
OK_EXITS = (0, 75)


def state_database(kind: str, sqlite_url: str, prefix: str) -> Iterator[str]:
    """Yield the SQLite URL, or a fresh PostgreSQL database's URL dropped afterwards."""
    if kind == "sqlite":
        yield sqlite_url
        return
    with fresh_postgres(prefix) as url:
        yield url


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> dict[str, Any]:
    """The `--json` summary of a push that ended well (else its stderr as the failure)."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode in OK_EXITS, err
    summary: dict[str, Any] = json.loads(out)
    return summary


def duplicates(crm: FileCRM) -> dict[str, int]:
    """Extra copies of what must exist once: notes (by visit key), email-less people and
    domain-less companies (by name), people and companies by their key."""
    db = crm.snapshot()
    notes = Counter(n["content"].splitlines()[-1] for n in db["notes"].values())
    people = Counter(p["name"] for p in db["people"].values() if not p["email"])
    emails = Counter(p["email"] for p in db["people"].values() if p["email"])
    nameless = Counter(c["name"] for c in db["companies"].values() if not c["domain"])
    domains = Counter(c["domain"] for c in db["companies"].values() if c["domain"])
    return {
        what: sum(n - 1 for n in counter.values())
        for what, counter in [
            ("notes", notes),
            ("people without email", people),
            ("people by email", emails),
            ("companies without domain", nameless),
            ("companies by domain", domains),
        ]
    }
