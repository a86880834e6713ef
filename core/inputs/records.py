"""Records to assert, from JSON Lines: `{"object", "matching_attribute", "values"}` per line.

    {"object": "companies", "matching_attribute": "domains", "values": {"domains": "acme.com"}}
    {"object": "deals", "matching_attribute": "external_id",
     "values": {"external_id": "d-1", "name": "Acme rockets", "stage": "Lead", "value": 5000}}

(one object per line in the file). Values are simple values keyed by attribute slug or id; the
destination checks them against its attribute metadata. A bad line is rejected with its line
number and the field; the stream goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from crm_push.inputs.lines import Line, RawLine, invalid_input, json_object, read_lines
from crm_push.models.actions import RecordAssertion
from pydantic import ValidationError

#: The keys of one line.
RECORD_KEYS = tuple(RecordAssertion.model_fields)


def parse_record(text: str, *, line: int) -> RecordAssertion:
    """One line as a RecordAssertion, or InvalidInput naming the line and the field."""
    data = json_object(text, line=line, what="a record: object, matching_attribute, values")
    try:
        return RecordAssertion.model_validate(data)
    except ValidationError as exc:
        unknown = f"unknown key (a line has {', '.join(RECORD_KEYS)})"
        raise invalid_input(exc, f"line {line}", whole="(record)", extra=unknown) from None


def read_records(lines: Iterable[str | bytes | RawLine]) -> Iterator[Line[RecordAssertion]]:
    """Yield each non-blank line as a Line of a RecordAssertion; a bad line never stops the
    stream."""
    return read_lines(lines, parse_record)
