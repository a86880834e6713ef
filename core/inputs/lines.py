"""Input lines: the Line type, the one reader loop, the JSON-object decoder, the error formatter."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from crm_push.errors import InvalidInput

if TYPE_CHECKING:  # pydantic is imported by the parsers that raise its errors
    from pydantic import ValidationError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: The key a --rejects file adds to each failed line; ignored when the line is pushed again.
REJECT_KEY = "_reject"
#: What a rejected line's error suggests doing.
FIX_LINE = "fix the line and push it again"


@dataclass(frozen=True, slots=True)
class Skip:
    """What a parser returns for a valid line that is not for us (a Segment `track` event)."""

    type: str


@dataclass(frozen=True, slots=True)
class Line(Generic[T]):
    """One non-blank input line: its number, its text, and exactly one of what it holds (`item`),
    why it is rejected (`error`) or the type of line it skips (`skipped`)."""

    line: int
    raw: str
    item: T | None = None
    error: InvalidInput | None = None
    skipped: str | None = None

    def __post_init__(self) -> None:
        given = (self.item is not None) + (self.error is not None) + (self.skipped is not None)
        if given != 1:
            raise ValueError("a Line holds exactly one of item, error and skipped")


class Parser(Protocol[T_co]):
    """Turns one stripped, non-blank line into its item (or a Skip); raises InvalidInput."""

    def __call__(self, text: str, *, line: int) -> T_co | Skip: ...


def read_lines(lines: Iterable[str], parse: Parser[T]) -> Iterator[Line[T]]:
    """Yield each non-blank line as a Line; a bad line never stops the stream."""
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not stripped:
            continue
        try:
            parsed = parse(stripped, line=number)
        except InvalidInput as exc:
            yield Line(number, stripped, error=exc)
            continue
        if isinstance(parsed, Skip):
            yield Line(number, stripped, skipped=parsed.type)
        else:
            yield Line(number, stripped, item=parsed)


def open_lines(path: str) -> Iterator[str]:
    """The lines of a file, or of stdin for "-", read lazily."""
    if path == "-":
        yield from sys.stdin
        return
    with open(path, encoding="utf-8") as fh:
        yield from fh


def json_object(
    text: str, *, line: int, what: str, next_step: str | None = FIX_LINE
) -> dict[str, Any]:
    """One line as a JSON object, without the `_reject` key a rejects file added.

    `next_step=None` keeps InvalidInput's own next step (a visitor's)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"line {line}: not valid JSON ({exc.msg} at column {exc.colno})",
            field="(line)",
            next_step=next_step,
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(
            f"line {line}: expected a JSON object ({what}), got {type(data).__name__}",
            field="(line)",
            next_step=next_step,
        )
    data.pop(REJECT_KEY, None)
    return data


def field_path(loc: Iterable[int | str]) -> str:
    """A pydantic error location as a reader writes it: `key_contacts[0].email`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def invalid_input(
    exc: ValidationError,
    where: str,
    *,
    whole: str,
    fields: Mapping[str, str] | None = None,
    extra: str | None = None,
    record: str | None = None,
    next_step: str | None = FIX_LINE,
) -> InvalidInput:
    """The first error of a pydantic validation as InvalidInput: `{where}: {field}: {message}`.

    `whole` names an error of the whole object, `fields` renames fields as the input names them,
    `extra` replaces pydantic's message for an unknown key.
    """
    first = exc.errors()[0]
    field = field_path(first["loc"]) or whole
    field = (fields or {}).get(field, field)
    message = first["msg"].removeprefix("Value error, ")
    if extra is not None and first["type"] == "extra_forbidden":
        message = extra
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return InvalidInput(
        f"{where}: {field}: {message}{more}", field=field, record=record, next_step=next_step
    )
