"""Visitors as input: one JSON object a line, validated into a Visitor, read one at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from crm_push.errors import InvalidInput
from crm_push.inputs.lines import REJECT_KEY, Line, RawLine, invalid_input, json_object, read_lines
from crm_push.models.fields import quote
from crm_push.models.visitor import NORMALIZED, Visitor, id_text
from pydantic import ValidationError

_NORMALIZED = {NORMALIZED: True}


def parse_visitor(data: Any, *, line: int | None = None, normalized: bool = False) -> Visitor:
    """Validate one visitor; raise InvalidInput naming the visitor id (or line) and the field.

    `normalized`: the visitor was validated and dumped by crm-push before (a job's stored
    visitors): an email or domain already in its normalised form skips its normaliser (about
    35 µs a visitor); any other value is normalised, or refused, as always."""
    record = None
    if isinstance(data, dict):
        with contextlib.suppress(ValueError):
            record = id_text(data.get("id"))
    where = f"visitor {quote(record)}" if record else "visitor without id"
    if line is not None:
        where += f" (line {line})"
    if not isinstance(data, dict):
        # Not an object at all: the whole line (or payload) is at fault, as with broken JSON.
        raise InvalidInput(
            f"{where}: expected a JSON object, got {type(data).__name__}",
            field="(line)" if line is not None else "(visitor)",
            record=record,
        )
    if REJECT_KEY in data:
        # A line from a --rejects file, fixed and pushed again: its reject note is not input.
        data = {k: v for k, v in data.items() if k != REJECT_KEY}
    try:
        return Visitor.model_validate(data, context=_NORMALIZED if normalized else None)
    except ValidationError as exc:
        raise invalid_input(exc, where, whole="(visitor)", record=record, next_step=None) from None


def parse_line(text: str, *, line: int) -> Visitor:
    """One JSON Lines line as a Visitor, or InvalidInput naming the line."""
    return parse_visitor(json_object(text, line=line, what="a visitor", next_step=None), line=line)


def read_jsonl(lines: Iterable[str | bytes | RawLine]) -> Iterator[Line[Visitor]]:
    """Yield each non-blank line as a Line of a Visitor; a bad line never stops the stream."""
    return read_lines(lines, parse_line)
