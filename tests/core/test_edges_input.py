"""Nothing lost at the edges of the input: what a file, a pipe or a rejects file can hold or be,
and what `push` and `schema` say about it."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from crm_push import InvalidInput, parse_visitor
from crm_push.cli import cli

from support.filecrm import FileCRM

pytestmark = pytest.mark.usefixtures("with_test_plugins")


def visitor(i: int | str, **extra: Any) -> str:
    return json.dumps({"id": f"v{i}", "company": {"domain": f"c{i}.io"}, **extra})


def run(*args: str, input: str | bytes | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--dest", "filecrm", *args], input=input)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path


def rejects_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


# Row 1: the rejects file is the input ------------------------------------------------------


def test_rejects_file_that_is_the_input_is_refused_before_reading(
    crm_file: Path, tmp_path: Path
) -> None:
    same = write(tmp_path / "same.jsonl", [visitor(i) for i in range(50)] + ["{oops"])
    before = same.read_bytes()
    result = run("push", "--rejects", str(same), str(same))
    assert result.exit_code == 2, result.output
    assert "--rejects" in result.output and "is the input" in result.output
    assert same.read_bytes() == before
    assert not crm_file.exists()  # refused before connecting
    # another spelling of the same path, and a hard link to it
    os.link(same, tmp_path / "link.jsonl")
    for other in (tmp_path / "." / "same.jsonl", tmp_path / "link.jsonl"):
        assert run("push", "--rejects", str(other), str(same)).exit_code == 2
    assert same.read_bytes() == before


def test_rejects_are_written_beside_the_target_and_renamed_into_place(tmp_path: Path) -> None:
    from crm_push.cli.report import RejectsFile

    target = tmp_path / "r.jsonl"
    rejects = RejectsFile(str(target), input_path="-")
    rejects.write('{"a": 1}\n')
    assert not target.exists()  # a crash now leaves no half-written rejects file
    assert len(list(tmp_path.iterdir())) == 1  # the temporary file, in the target's directory
    rejects.close()
    assert target.read_text() == '{"a": 1}\n'
    assert list(tmp_path.iterdir()) == [target]


# Row 2: pipes and stdin are read once ------------------------------------------------------


def _crm_push(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crm_push", "--dest", "filecrm", *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_stdin_and_dev_stdin_from_a_pipe_are_pushed(crm_file: Path, name: str) -> None:
    data = "".join(visitor(i) + "\n" for i in range(5))
    out = _crm_push("push", name, input=data)
    assert out.returncode == 0, out.stderr
    assert "5 visitors" in out.stdout and "5 created" in out.stdout
    assert len(FileCRM(crm_file).snapshot()["companies"]) == 5


def test_a_named_pipe_is_read_once_and_does_not_hang(crm_file: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w") as fh:
            fh.writelines(visitor(i) + "\n" for i in range(3))

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = _crm_push("push", str(fifo))
    writer.join(5)
    assert out.returncode == 0, out.stderr
    assert "3 visitors" in out.stdout and "3 created" in out.stdout


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_sized_in_bytes_and_a_pipe_gets_a_counter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crm_push.cli.report import RunReport
    from crm_push.inputs.lines import Line
    from crm_push.push.results import Result

    ok = Result(status="created")
    for size, expect, refuse in ((200, "50%", "/200"), (None, "2 visitors", "/0")):
        err = _Tty()
        monkeypatch.setattr(sys, "stderr", err)
        with RunReport(size=size, noun="visitor", as_json=False, rejects=None) as report:
            report.on_result(Line(1, "{}", skipped="x", end=60), ok)
            report.on_result(Line(2, "{}", skipped="x", end=100), ok)
            shown = err.getvalue()
        last = shown.split("\r")[-1]
        assert expect in last and refuse not in last, shown


# Row 3: bytes that are not UTF-8 -------------------------------------------------------------


def test_a_line_that_is_not_utf8_is_rejected_and_the_rest_pushed(
    crm_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.jsonl"
    bad = '{"id": "v2", "person": {"name": "Ren\xe9"}}'.encode("latin-1")
    path.write_bytes(visitor(1).encode() + b"\n" + bad + b"\n" + visitor(3).encode() + b"\n")
    rejects = tmp_path / "r.jsonl"
    result = run("push", "--rejects", str(rejects), str(path))
    assert result.exit_code == 1, result.output
    assert "2 created" in result.output and "1 failed" in result.output
    assert "line 2: not UTF-8" in result.output and "0xe9" in result.output
    [row] = rejects_of(rejects)
    assert row["_reject"]["field"] == "(line)" and row["_reject"]["line"] == 2
    assert len(FileCRM(crm_file).snapshot()["companies"]) == 2


def test_gzip_input_stops_before_connecting(crm_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(visitor(i) for i in range(9)) + "\n").encode()))
    result = run("push", str(path))
    assert result.exit_code == 2, result.output
    assert "looks like a gzip file" in result.output and "gzip -dc" in result.output
    assert "Traceback" not in result.output and not crm_file.exists()


def test_binary_input_stops_before_connecting(crm_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    path.write_bytes(bytes(range(256)) * 40)
    result = run("push", str(path))
    assert result.exit_code == 2, result.output
    assert "looks like a binary file" in result.output and not crm_file.exists()


def test_text_in_another_encoding_is_read_line_by_line(crm_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "cp1251.jsonl"
    name = "Дмитрий Иванович Менделеев " * 4
    lines = [
        json.dumps({"id": f"v{i}", "person": {"name": name}}, ensure_ascii=False) for i in range(9)
    ]
    path.write_bytes(b"".join(x.encode("cp1251") + b"\n" for x in lines) + visitor(9).encode())
    result = run("push", str(path))
    assert result.exit_code == 1, result.output
    assert "1 created" in result.output and "9 failed" in result.output
    assert "line 1: not UTF-8 text" in result.output


def test_a_utf8_bom_at_the_start_is_accepted(crm_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (visitor(1) + "\n" + visitor(2) + "\n").encode())
    result = run("push", str(path))
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output


# Row 4: a lone surrogate --------------------------------------------------------------------


def test_a_lone_surrogate_can_be_written_to_the_rejects_file(
    crm_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(visitor(1) + "\n" + '{"id": "v2", "person": {"email": "x\\ud83d@acme.com"}}\n')
    rejects = tmp_path / "r.jsonl"
    result = run("push", "--rejects", str(rejects), str(path))
    assert result.exit_code == 1, result.output
    assert "1 created" in result.output and "1 failed" in result.output
    assert "half a character (a lone surrogate" in result.output
    [row] = rejects_of(rejects)
    assert row["person"]["email"] == "x\ud83d@acme.com"  # the same value, pushable once fixed


# Row 5: a rejects path that cannot be written ---------------------------------------------


def test_an_unwritable_rejects_path_exits_2_before_connecting(
    crm_file: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "v.jsonl", [visitor(1), "{oops"])
    result = run("push", "--rejects", "/nonexistent/dir/r.jsonl", str(path))
    assert result.exit_code == 2, result.output
    assert "/nonexistent/dir" in result.output and "Traceback" not in result.output
    assert not crm_file.exists()
    assert run("push", "--rejects", str(tmp_path), str(path)).exit_code == 2  # a directory


def test_bytes_lines_are_decoded_one_by_one() -> None:
    from crm_push import read_jsonl

    lines = [visitor(1).encode() + b"\n", b"\xff\n", visitor(3).encode()]
    out = list(read_jsonl(lines))
    assert [x.item is not None for x in out] == [True, False, True]
    assert out[1].error is not None and "not UTF-8" in str(out[1].error)


# Row 11: JSON that is not an object ---------------------------------------------------------


@pytest.mark.parametrize("data", [[1, 2], 42, None, "text"])
def test_json_that_is_not_an_object_is_an_error_of_the_whole_line(data: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_visitor(data, line=3)
    assert info.value.field == "(line)"


def test_rejects_of_non_objects_name_the_whole_line(crm_file: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "v.jsonl", ["[1, 2]", "42", "null", '"text"'])
    rejects = tmp_path / "r.jsonl"
    assert run("push", "--rejects", str(rejects), str(path)).exit_code == 1
    assert [r["_reject"]["field"] for r in rejects_of(rejects)] == ["(line)"] * 4


# Row 16: a stale rejects file ---------------------------------------------------------------


def test_a_stale_rejects_file_is_removed_when_nothing_fails(crm_file: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "r.jsonl"
    rejects.write_text('{"old": 1}\n')
    path = write(tmp_path / "v.jsonl", [visitor(1)])
    result = run("push", "--rejects", str(rejects), str(path))
    assert result.exit_code == 0, result.output
    assert not rejects.exists()
    assert f"No failures: removed the old rejects file {rejects}." in result.output


# Row 17: types, and the schema accepts exactly what push does -------------------------------

COMPANY = {"domain": "acme.com"}
#: (a visitor line, accepted by push?). The schema must agree on every one.
CASES: list[tuple[dict[str, Any], bool]] = [
    ({"id": "v", "company": COMPANY}, True),
    ({"id": 7, "company": COMPANY}, True),
    ({"id": 1e3, "company": COMPANY}, True),
    ({"id": "", "company": COMPANY}, False),
    ({"id": "  ", "company": COMPANY}, False),
    ({"id": True, "company": COMPANY}, False),
    ({"id": None, "company": COMPANY}, False),
    ({"id": ["v"], "company": COMPANY}, False),
    ({"company": COMPANY}, False),
    ({"id": "v"}, False),
    ({"id": "v", "company": None}, False),
    ({"id": "v", "company": {}}, False),
    ({"id": "v", "company": {"name": " "}}, False),
    ({"id": "v", "company": {"name": "Acme"}}, True),
    ({"id": "v", "company": {"name": 5}}, False),
    ({"id": "v", "company": {"name": "Acme", "domain": None}}, True),
    ({"id": "v", "company": {"name": "Acme", "domain": ""}}, True),
    ({"id": "v", "company": COMPANY, "extra": 1}, False),
    ({"id": "v", "company": {**COMPANY, "size": 9}}, False),
    ({"id": "v", "person": {"name": "Ada"}}, True),
    ({"id": "v", "person": {"last_name": "Lovelace"}}, True),
    ({"id": "v", "person": {"email": "ada@acme.com"}}, True),
    ({"id": "v", "person": {"job_title": "CTO"}}, False),
    ({"id": "v", "person": {"name": ""}}, False),
    ({"id": "v", "person": "Ada"}, False),
    ({"id": "v", "key_contacts": [{"name": "Ada"}], "company": COMPANY}, True),
    ({"id": "v", "key_contacts": [{"name": "Ada"}]}, False),
    ({"id": "v", "key_contacts": [], "company": COMPANY}, True),
    ({"id": "v", "key_contacts": [], "person": {"name": "Ada"}}, True),
    ({"id": "v", "key_contacts": []}, False),
    ({"id": "v", "key_contacts": None, "company": COMPANY}, True),
    ({"id": "v", "key_contacts": {"name": "Ada"}, "company": COMPANY}, False),
    ({"id": "v", "key_contacts": [{}], "company": COMPANY}, False),
    ({"id": "v", "company": COMPANY, "visit": None}, True),
    ({"id": "v", "company": COMPANY, "visit": {}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"pages": []}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": None}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": " "}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"pages": ["/pricing"]}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"pages": "/pricing"}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"pages": [1]}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"pages": [""]}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"pages": None, "visit_count": 1}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": 3}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": 3.0}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": 0}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": -1}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": 2.5}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": True}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": "3"}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"quality_score": 87.5}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"quality_score": 100}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"quality_score": 101}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"quality_score": False}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"quality_score": "87"}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": "2026-11-20T10:00:00Z"}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": "2026-11-20 10:00"}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": "2026-11-20"}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": "2026-11-20T10:00:00.5+02:00"}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": "yesterday"}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": "2026-13-01"}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": 1700000000}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"seen": 1}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": None, "pages": ["/a"]}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"quality_score": None}}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visit_count": 1e3}}, True),
    ({"id": "v", "company": COMPANY, "visit": []}, False),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": "2026-11-20T10:00+0530"}}, True),
    ({"id": "v", "company": COMPANY, "visit": {"visited_at": "2026-11-20T25:00"}}, False),
    ({"id": "v", "key_contacts": [{"name": "Ada"}], "company": None}, False),
    ({"id": " v ", "company": COMPANY}, True),
    ({"id": 1.5, "company": COMPANY}, True),
    ({"id": "v", "person": {"name": "Ada", "email": None}}, True),
    ({"id": "v", "person": {"name": ["Ada"]}}, False),
    ({"id": "v", "company": {"domain": " ", "name": "X"}}, True),
    ({"id": "v", "person": {"name": "Ada"}, "company": "Acme"}, False),
    ({"id": "v", "company": COMPANY, "_reject": {"line": 3}}, True),
    ({"id": "v", "company": COMPANY, "_reject": "anything"}, True),
]


def _accepted_by_push(data: dict[str, Any]) -> bool:
    try:
        parse_visitor(data)
    except InvalidInput:
        return False
    return True


@pytest.fixture(scope="module")
def printed_schema() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_schema_carries_its_draft(printed_schema: dict[str, Any]) -> None:
    assert printed_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(printed_schema)


@pytest.mark.parametrize(("data", "accepted"), CASES, ids=[json.dumps(c[0]) for c in CASES])
def test_push_and_schema_accept_and_refuse_the_same_lines(
    printed_schema: dict[str, Any], data: dict[str, Any], accepted: bool
) -> None:
    valid = jsonschema.Draft202012Validator(printed_schema).is_valid(data)
    assert (_accepted_by_push(data), valid) == (accepted, accepted)


#: What a JSON Schema cannot check: the schema accepts these, push refuses them (documented).
PUSH_ONLY = [
    {"id": "v", "person": {"email": "not-an-email"}},
    {"id": "v", "company": {"domain": "localhost"}},
    {"id": "v", "company": {"name": "A", "linkedin_url": "ftp://x"}},
    {"id": "v", "company": COMPANY, "visit": {"visited_at": "2026-02-30"}},
]


@pytest.mark.parametrize("data", PUSH_ONLY, ids=[json.dumps(c) for c in PUSH_ONLY])
def test_values_only_push_can_check(printed_schema: dict[str, Any], data: dict[str, Any]) -> None:
    assert jsonschema.Draft202012Validator(printed_schema).is_valid(data)
    assert not _accepted_by_push(data)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"id": "", "company": COMPANY}, "id", "must not be empty"),
        ({"id": True, "company": COMPANY}, "id", "text or a number, not true"),
        ({"id": "v", "company": COMPANY, "visit": {}}, "visit", "must not be empty"),
        ({"id": "v", "company": COMPANY, "visit": {"pages": "/p"}}, "visit.pages", "list of"),
        ({"id": "v", "company": COMPANY, "visit": {"pages": [""]}}, "visit.pages[0]", "empty"),
        (
            {"id": "v", "company": COMPANY, "visit": {"visit_count": True}},
            "visit.visit_count",
            "a whole number, not true",
        ),
        (
            {"id": "v", "company": COMPANY, "visit": {"visit_count": "3"}},
            "visit.visit_count",
            "a whole number, not text ('3')",
        ),
        (
            {"id": "v", "company": COMPANY, "visit": {"quality_score": "87"}},
            "visit.quality_score",
            "a number, not text ('87')",
        ),
        (
            {"id": "v", "company": COMPANY, "visit": {"visited_at": "yesterday"}},
            "visit.visited_at",
            "ISO 8601",
        ),
    ],
)
def test_type_errors_say_the_real_problem(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_visitor(data)
    assert info.value.field == field
    assert words in str(info.value)


def test_a_number_id_is_kept_as_text() -> None:
    assert parse_visitor({"id": 1e3, "company": COMPANY}).id == "1000"
    assert parse_visitor({"id": 12.5, "company": COMPANY}).id == "12.5"
    assert parse_visitor({"id": 42, "company": COMPANY}).id == "42"


# Row 18: huge values and huge lines ---------------------------------------------------------


def test_a_long_value_is_quoted_cut_with_its_size(crm_file: Path, tmp_path: Path) -> None:
    big = "x" * 500_000 + "@"
    path = write(tmp_path / "v.jsonl", [json.dumps({"id": "v1", "person": {"email": big}})])
    rejects = tmp_path / "r.jsonl"
    result = run("push", "--rejects", str(rejects), str(path))
    assert result.exit_code == 1
    assert "(500,001 characters)" in result.output and len(result.output) < 2000
    [row] = rejects_of(rejects)
    assert row["person"]["email"] == big and len(row["_reject"]["reason"]) < 1000


def test_a_long_id_or_key_is_quoted_cut() -> None:
    for data in (
        {"id": "i" * 10_000, "person": {"email": "bad"}},
        {"id": "v", "company": COMPANY, "k" * 10_000: 1},
    ):
        with pytest.raises(InvalidInput) as info:
            parse_visitor(data)
        assert "(10,000 characters)" in str(info.value) and len(str(info.value)) < 500


def test_a_line_over_the_limit_is_rejected_unparsed(crm_file: Path, tmp_path: Path) -> None:
    from crm_push.inputs.lines import MAX_LINE_BYTES

    huge = json.dumps({"id": "v2", "company": {"name": "y" * MAX_LINE_BYTES}})
    path = write(tmp_path / "v.jsonl", [visitor(1), huge, visitor(3)])
    rejects = tmp_path / "r.jsonl"
    result = run("push", "--rejects", str(rejects), str(path))
    assert result.exit_code == 1, result.output[:2000]
    assert "2 created" in result.output and "1 failed" in result.output
    assert f"line 2: too long ({len(huge):,} bytes" in result.output
    assert len(result.output) < 2000
    [row] = rejects_of(rejects)
    reject = row["_reject"]
    assert reject["line"] == 2 and reject["field"] == "(line)"
    assert huge.startswith(reject["raw"].removesuffix("…")) and len(reject["raw"]) < 1000
