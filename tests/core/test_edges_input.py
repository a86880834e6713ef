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


# Row 18: huge lines -----------------------------------------------------------------------


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
