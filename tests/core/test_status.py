"""`crm-push status`: what is stored and what the CRM says now, errors on stderr, --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from crm_push.cli import cli


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--dest", "filecrm", *args])


@pytest.fixture(autouse=True)
def _state(with_test_plugins: object, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PUSH_DB", db_url)


def test_status_shows_base_url_token_kind_and_expiry(crm_file: Path) -> None:
    assert run("connect").exit_code == 0
    result = run("status")
    assert result.exit_code == 0, result.output
    assert "base URL:" in result.stdout
    assert "token:       access token, expires never (or not reported)" in result.stdout
    assert "good-token" not in result.output


def test_a_failed_check_goes_to_stderr_with_exit_1(
    crm_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("connect").exit_code == 0
    monkeypatch.setenv("FILECRM_TOKEN", "revoked")
    result = run("status")
    assert result.exit_code == 1
    assert "Check failed: the file CRM does not know this token" in result.stderr
    assert "Check failed" not in result.stdout
    assert "Stored connection" in result.stdout  # what is stored is still shown


def test_status_json(crm_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("connect").exit_code == 0
    data = json.loads(run("status", "--json").stdout)
    assert data["destination"] == "filecrm" and data["error"] is None
    assert data["stored"]["workspace_id"] == data["live"]["workspace_id"] == "file:crm.json"
    assert data["live"]["token"] == "access token"
    assert "good-token" not in json.dumps(data)
    monkeypatch.setenv("FILECRM_TOKEN", "revoked")
    failed = run("status", "--json")
    assert failed.exit_code == 1
    data = json.loads(failed.stdout)
    assert data["live"] is None and "does not know this token" in data["error"]
