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

from crm_push.errors import InvalidInput
from crm_push.models.actions import RecordAssertion
from crm_push.push.runner import FIX_LINE, ActionInput, json_object
from pydantic import ValidationError

#: The keys of one line.
RECORD_KEYS = tuple(RecordAssertion.model_fields)


def parse_record(text: str, *, line: int) -> RecordAssertion:
    """One line as a RecordAssertion, or InvalidInput naming the line and the field."""
    data = json_object(text, line, "a record: object, matching_attribute, values")
    try:
        return RecordAssertion.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(record)"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = f"unknown key (a line has {', '.join(RECORD_KEYS)})"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidInput(
            f"line {line}: {field}: {msg}{more}", field=field, next_step=FIX_LINE
        ) from None


def read_records(lines: Iterable[str]) -> Iterator[ActionInput]:
    """Yield each non-blank line as an ActionInput; a bad line never stops the stream."""
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not stripped:
            continue
        try:
            yield ActionInput(number, stripped, action=parse_record(stripped, line=number))
        except InvalidInput as exc:
            yield ActionInput(number, stripped, error=exc)
