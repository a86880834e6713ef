"""The crm-push runner, driven as a user would, against the file CRM entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from crm_push.cli import cli

from support.filecrm import FileCRM

pytestmark = pytest.mark.usefixtures("with_test_plugins")

LINES = [
    '{"id": "v1", "person": {"email": "jane@acme.com", "name": "Jane Doe"}, '
    '"company": {"name": "Acme", "domain": "acme.com"}, '
    '"visit": {"visited_at": "2026-11-20T10:00:00Z", "visit_count": 2}}',
    "",
    '{"id": "v2", "person": {"email": "broken"}}',
    "{oops",
    '{"id": "v3", "company": {"name": "Globex", "domain": "globex.io"}}',
]


@pytest.fixture
def visitors(tmp_path: Path) -> Path:
    path = tmp_path / "visitors.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    return path


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--dest", "filecrm", *args], input=input)


def test_push_summary_rejects_and_exit_code(crm_file: Path, visitors: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    result = run("push", str(visitors), "--rejects", str(rejects))
    assert result.exit_code == 1, result.output
    assert "4 visitors" in result.output
    assert "2 created, 0 updated, 0 unchanged, 2 failed" in result.output
    assert "failed: visitor 'v2' (line 3): person.email" in result.output
    assert "line 4" in result.output and "not valid JSON" in result.output
    rows = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert rows[0]["id"] == "v2" and rows[0]["_reject"]["field"] == "person.email"
    assert rows[1]["_reject"]["raw"] == "{oops" and rows[1]["_reject"]["line"] == 4
    db = FileCRM(crm_file).snapshot()
    assert len(db["companies"]) == 2 and len(db["people"]) == 1 and len(db["notes"]) == 1


def test_fixed_rejects_can_be_pushed_again(crm_file: Path, visitors: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    run("push", str(visitors), "--rejects", str(rejects))
    fixed = rejects.read_text().splitlines()[0].replace('"broken"', '"v2@x.io"')
    result = run("push", "-", input=fixed + "\n")
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output


def test_second_push_is_unchanged_and_json_summary(crm_file: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(LINES[0] + "\n" + LINES[4] + "\n")
    assert run("push", str(good)).exit_code == 0
    result = run("push", str(good), "--json")
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["unchanged"] == 2 and summary["writes"] == 0 and summary["failed"] == 0
    assert summary["workspace"] == "file:crm.json"


def test_dry_run_shows_writes_and_writes_nothing(crm_file: Path, visitors: Path) -> None:
    result = run("push", "--dry-run", str(visitors))
    assert "would assert company by domain acme.com" in result.output
    assert "would assert person by email jane@acme.com" in result.output
    assert "would add note" in result.output
    assert "Dry run — nothing was written" in result.output
    assert not crm_file.exists()
    # and no markers either: a real push afterwards creates everything
    assert "2 created" in run("push", str(visitors)).output


def test_dry_run_creates_no_state_database(crm_file: Path, visitors: Path, tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    result = run("--db", f"sqlite:///{db}", "push", "--dry-run", str(visitors))
    assert "would assert company by domain acme.com" in result.output, result.output
    assert "Dry run — nothing was written. 4 visitors" in result.output
    assert not db.exists() and not crm_file.exists()


def test_connect_status_disconnect(crm_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("connect")
    assert result.exit_code == 0, result.output
    assert "workspace:   File CRM (file:crm.json)" in result.output
    assert "good-token" not in result.output
    monkeypatch.delenv("FILECRM_TOKEN")  # from now on only the stored token works
    status = run("status")
    assert status.exit_code == 0, status.output
    assert "Stored connection" in status.output and "Checked now" in status.output
    assert "good-token" not in status.output
    bye = run("disconnect")
    assert "Nothing in the CRM was deleted: records and notes stay." in bye.output
    assert run("status").exit_code == 1


def test_bad_token_says_reconnect(crm_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILECRM_TOKEN", "wrong")
    result = run("connect")
    assert result.exit_code == 1
    assert "does not know this token" in result.output and "connect" in result.output


def test_markers_list_show_remove(crm_file: Path, visitors: Path) -> None:
    run("connect")
    run("push", str(visitors))
    listing = run("markers", "list")
    assert "v1" in listing.output and "person" in listing.output
    shown = json.loads(run("markers", "show", "v1").output)
    assert {m["part"] for m in shown} == {"company", "person", "link", "note"}
    removed = run("markers", "remove", "v1")
    assert "Removed 4 marker(s). Nothing in the CRM was deleted" in removed.output
    assert run("markers", "show", "v1").exit_code == 1
    assert len(FileCRM(crm_file).snapshot()["people"]) == 1


def test_markers_list_shows_visitors_and_companies_apart(crm_file: Path, visitors: Path) -> None:
    run("connect")
    run("push", str(visitors))
    listing = run("markers", "list").output.splitlines()
    assert listing[0] == "Visitor markers of workspace file:crm.json, newest first:"
    assert listing[1].split() == ["TIME", "(UTC)", "VISITOR", "PART", "RECORD", "STATE"]
    assert {line.split()[2] for line in listing[2:]} == {"v1", "v3"}
    assert not any("acme.com" in line or "globex.io" in line for line in listing)
    companies = run("markers", "list", "--companies").output.splitlines()
    assert companies[0] == "Company markers of workspace file:crm.json, newest first:"
    assert sorted(line.split()[2] for line in companies[2:]) == ["acme.com", "globex.io"]
    as_json = json.loads(run("markers", "list", "--companies", "--json").output)
    assert {m["domain"] for m in as_json} == {"acme.com", "globex.io"}
    assert {m["workspace"] for m in as_json} == {"file:crm.json"} and "visitor_id" not in as_json[0]
    assert all("domain" not in m for m in json.loads(run("markers", "list", "--json").output))
    assert run("markers", "show", "@companies").exit_code == 1  # no such visitor


def test_markers_remove_company_is_explicit_and_leaves_the_crm(
    crm_file: Path, visitors: Path
) -> None:
    run("connect")
    run("push", str(visitors))
    before = FileCRM(crm_file).snapshot()
    assert run("markers", "remove").exit_code == 2
    assert run("markers", "remove", "--company", "acme.com", "v1").exit_code == 2
    assert run("markers", "remove", "--company", "not a domain").exit_code == 2
    removed = run("markers", "remove", "--company", "https://www.Acme.com/pricing")
    assert removed.output.startswith("Removed 1 company marker(s). Nothing in the CRM was deleted")
    companies = run("markers", "list", "--companies").output
    assert "acme.com" not in companies and "globex.io" in companies
    assert "v1" in run("markers", "list").output  # visitors' markers are untouched
    assert FileCRM(crm_file).snapshot() == before


def test_schema_and_usage_errors() -> None:
    schema = json.loads(CliRunner().invoke(cli, ["schema"]).output)
    assert schema["title"] == "Visitor"
    missing = CliRunner().invoke(cli, ["push", "-"], input="")
    assert missing.exit_code == 2 and "--dest" in missing.output
    nofile = run("push", "/nonexistent.jsonl")
    assert nofile.exit_code == 2 and "does not exist" in nofile.output


def test_dry_run_after_a_push_plans_only_what_changed(crm_file: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(LINES[0] + "\n")
    run("connect")
    run("push", str(good))
    unchanged = run("push", "--dry-run", str(good))
    assert "would assert" not in unchanged.output and "1 unchanged" in unchanged.output
    good.write_text(LINES[0].replace('"Jane Doe"', '"Jane Q. Doe"') + "\n")
    changed = run("push", "--dry-run", str(good))
    assert "would assert person by email jane@acme.com" in changed.output
    assert "would assert company" not in changed.output


def test_markers_of_another_workspace(crm_file: Path, visitors: Path) -> None:
    run("connect")
    run("push", str(visitors))
    other = run("markers", "--workspace", "elsewhere", "list")
    assert other.output.strip() == "No visitor markers yet (workspace elsewhere)."
    assert run("markers", "--workspace", "elsewhere", "remove", "v1").output.startswith(
        "Removed 0 marker(s)"
    )
    assert "v1" in run("markers", "--workspace", "file:crm.json", "list").output
