"""Global options after the command, a crash's own exit code, and quiet library loggers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from crm_push.cli import cli
from crm_push.cli.app import CRASH_EXIT, hoist_global_options

pytestmark = pytest.mark.usefixtures("with_test_plugins")

VISITOR = '{"id": "v1", "company": {"name": "Acme", "domain": "acme.com"}}\n'


@pytest.fixture
def visitors(tmp_path: Path) -> Path:
    path = tmp_path / "visitors.jsonl"
    path.write_text(VISITOR)
    return path


def test_global_options_work_after_the_command(crm_file: Path, visitors: Path, db_url: str) -> None:
    result = CliRunner().invoke(cli, ["push", str(visitors), "--dest", "filecrm", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "1 visitor in" in result.output
    listed = CliRunner().invoke(cli, ["markers", "list", "--dest=filecrm", f"--db={db_url}", "-v"])
    assert listed.exit_code == 0, listed.output
    assert "v1" in listed.output


def test_values_and_arguments_after_a_double_dash_are_left_alone() -> None:
    args = ["assert-record", "--set", "note=-v", "--", "--dest", "x"]
    assert hoist_global_options(["--dest", "a", *args]) == ["--dest", "a", *args]
    assert hoist_global_options(["push", "-vv", "f"]) == ["-vv", "push", "f"]


def test_a_crash_is_exit_3_with_a_message_not_1(
    crm_file: Path, visitors: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_push.session import Session

    def broken(self: Session, *args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Session, "connect", broken)
    result = CliRunner().invoke(cli, ["--dest", "filecrm", "--db", db_url, "push", str(visitors)])
    assert result.exit_code == CRASH_EXIT == 3
    assert "crm-push crashed: RuntimeError: boom" in result.stderr
    assert "This is a bug" in result.stderr and "Traceback" not in result.stderr
    verbose = CliRunner().invoke(
        cli, ["-vv", "--dest", "filecrm", "--db", db_url, "push", str(visitors)]
    )
    assert verbose.exit_code == 3 and "Traceback" in verbose.stderr


def test_library_loggers_stay_at_warning_under_vv(crm_file: Path, db_url: str) -> None:
    CliRunner().invoke(cli, ["-vv", "--db", db_url, "plugins"])
    assert logging.getLogger("httpcore").level == logging.WARNING
    assert logging.getLogger("stevedore").level == logging.WARNING
    CliRunner().invoke(cli, ["-vvv", "--db", db_url, "plugins"])
    assert logging.getLogger("httpcore").level == logging.NOTSET
