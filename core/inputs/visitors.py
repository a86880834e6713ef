"""Reading visitors from JSON Lines, one at a time, so memory stays flat on any file size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from crm_push.errors import InvalidInput
from crm_push.models import Visitor, parse_line


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One non-blank input line: the visitor, or the error that rejects it, and the raw text."""

    line: int
    raw: str
    visitor: Visitor | None = None
    error: InvalidInput | None = None


def read_jsonl(lines: Iterable[str]) -> Iterator[InputRecord]:
    """Yield each non-blank line as an InputRecord; a bad line never stops the stream."""
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not stripped:
            continue
        try:
            yield InputRecord(number, stripped, visitor=parse_line(stripped, line=number))
        except InvalidInput as exc:
            yield InputRecord(number, stripped, error=exc)
