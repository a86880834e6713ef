"""Several stored connections: listed by `connections`, addressed by --workspace, never guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from crm_push.cli import cli

pytestmark = pytest.mark.usefixtures("with_test_plugins")


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--dest", "filecrm", *args])


@pytest.fixture
def two(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two workspaces of the file CRM (one per file), both connected and stored."""
    monkeypatch.setenv("CRM_PUSH_DB", db_url)
    monkeypatch.setenv("FILECRM_TOKEN", "good-token")
    paths = (tmp_path / "a.json", tmp_path / "b.json")
    for path in paths:
        monkeypatch.setenv("FILECRM_PATH", str(path))
        assert run("connect").exit_code == 0
    monkeypatch.delenv("FILECRM_TOKEN")  # from now on only stored tokens
    return paths


def test_connections_lists_every_stored_one_without_secrets(two: tuple[Path, Path]) -> None:
    listed = run("connections")
    assert listed.exit_code == 0, listed.output
    assert "file:a.json" in listed.output and "file:b.json" in listed.output
    data = json.loads(run("connections", "--json").output)
    assert [c["workspace_id"] for c in data] == ["file:a.json", "file:b.json"]
    assert "good-token" not in listed.output + json.dumps(data)
    everything = CliRunner().invoke(cli, ["connections"])  # no --dest: every destination
    assert "filecrm" in everything.output


def test_without_a_workspace_nothing_is_guessed(two: tuple[Path, Path]) -> None:
    for args in (["status"], ["disconnect"], ["markers", "list"]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "several stored connections: file:a.json (File CRM), file:b.json" in result.output
        assert "--workspace" in result.output
    assert len(json.loads(run("connections", "--json").output)) == 2  # nothing forgotten


def test_a_workspace_picks_its_connection(
    two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILECRM_PATH", str(two[0]))
    status = run("status", "--workspace", "file:a.json")
    assert status.exit_code == 0, status.output
    assert "file:a.json" in status.output and "file:b.json" not in status.output
    assert run("markers", "--workspace", "file:b.json", "list").exit_code == 0
    gone = run("disconnect", "--workspace", "file:a.json")
    assert gone.exit_code == 0, gone.output
    left = json.loads(run("connections", "--json").output)
    assert [c["workspace_id"] for c in left] == ["file:b.json"]


def test_push_takes_the_workspace_of_its_stored_connection(
    two: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitors = tmp_path / "v.jsonl"
    visitors.write_text('{"id": "v1", "company": {"name": "Acme", "domain": "acme.com"}}\n')
    ambiguous = run("push", str(visitors))
    assert ambiguous.exit_code == 2 and "several stored connections" in ambiguous.output
    monkeypatch.setenv("FILECRM_PATH", str(two[1]))
    pushed = run("push", "--workspace", "file:b.json", str(visitors))
    assert pushed.exit_code == 0, pushed.output
    assert "acme.com" in two[1].read_text() and "acme.com" not in two[0].read_text()
    planned = run("push", "--dry-run", "--workspace", "file:b.json", str(visitors))
    assert planned.exit_code == 0, planned.output
