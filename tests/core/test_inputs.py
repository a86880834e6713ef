"""The one line type and the one reader loop that visitors, records and Segment events share."""

from __future__ import annotations

import json

import pytest
from crm_push import Line, read_jsonl, read_records, read_segment
from crm_push.errors import InvalidInput
from crm_push.inputs.lines import REJECT_KEY, Skip, json_object, read_lines


def test_a_line_holds_exactly_one_of_item_error_and_skipped() -> None:
    assert Line(1, "{}", item={"a": 1}).item == {"a": 1}
    with pytest.raises(ValueError, match="exactly one"):
        Line(1, "{}")
    with pytest.raises(ValueError, match="exactly one"):
        Line(1, "{}", item=1, skipped="track")


def test_the_loop_numbers_lines_skips_blanks_and_never_stops() -> None:
    def parse(text: str, *, line: int) -> int | Skip:
        if text == "skip":
            return Skip("page")
        if text == "bad":
            raise InvalidInput(f"line {line}: bad")
        return int(text)

    lines = list(read_lines(["1\n", "  \n", "bad\n", "skip\n", " 4 "], parse))
    assert [(x.line, x.raw) for x in lines] == [(1, "1"), (3, "bad"), (4, "skip"), (5, "4")]
    assert (lines[0].item, lines[3].item) == (1, 4)
    assert lines[1].error is not None and str(lines[1].error).startswith("line 3: bad")
    assert lines[2].skipped == "page" and lines[2].item is None


def test_one_decoder_for_every_format() -> None:
    assert json_object(json.dumps({"a": 1, REJECT_KEY: {}}), line=1, what="x") == {"a": 1}
    with pytest.raises(InvalidInput, match=r"line 2: expected a JSON object \(x\), got list"):
        json_object("[1]", line=2, what="x")
    bad = ["{oops"]
    for reader in (read_jsonl, read_records, read_segment):
        (line,) = reader(bad)
        assert line.error is not None and str(line.error).startswith("line 1: not valid JSON")
        assert line.error.field == "(line)"


def test_a_visitor_normalised_before_parses_to_the_same_and_odd_values_are_still_checked() -> None:
    from crm_push.inputs.visitors import parse_visitor

    given = {
        "id": "v1",
        "person": {"email": " Ada@Example.ORG ", "name": "Ada Lovelace"},
        "company": {"name": "Engines", "domain": "https://www.Engines.example.com/about"},
        "key_contacts": [{"email": "Bob@Engines.example.com"}],
    }
    visitor = parse_visitor(given)
    stored = visitor.model_dump(mode="json", exclude_none=True)  # what a job keeps
    assert parse_visitor(stored, normalized=True) == visitor
    # Not in normalised form: normalised as always, even when said to be.
    assert parse_visitor(given, normalized=True) == visitor
    for value in ("not an email", "ada@@example.org", "ada@example..org"):
        bad = {**stored, "person": {**stored["person"], "email": value}}
        with pytest.raises(InvalidInput) as caught:
            parse_visitor(bad, normalized=True)
        assert caught.value.field == "person.email"
    bad = {**stored, "company": {**stored["company"], "domain": "www.-engines.com"}}
    with pytest.raises(InvalidInput, match=r"company\.domain"):
        parse_visitor(bad, normalized=True)
