"""Nothing lost at the edges of a run: what a push counts, says, logs and does when stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from crm_push import Connection, Destination, MarkerStore, Pusher, parse_visitor
from crm_push.cli import cli

from support.filecrm import FileCRM

VISIT = {"visited_at": "2026-11-20T10:00:00Z", "pages": ["/pricing"]}


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--dest", "filecrm", *args], input=input)


def make_pusher(crm: FileCRM, db_url: str, *, workers: int = 1) -> Pusher:
    dest = Destination("filecrm", crm)
    connection = Connection(
        destination="filecrm", workspace_id="ws1", capabilities=frozenset({"notes"})
    )
    return Pusher(dest, connection, MarkerStore("filecrm", "ws1", db_url), workers=workers)


# -- a visit that cannot be noted is counted, with its reason ---------------------------------


def test_a_visit_on_a_person_without_email_is_counted_not_noted(
    tmp_path: Path, db_url: str
) -> None:
    pusher = make_pusher(FileCRM(tmp_path / "crm.json"), db_url)
    result = pusher.push(parse_visitor({"id": "v1", "person": {"name": "Ann"}, "visit": VISIT}))
    assert result.status == "created"
    assert (result.note, result.note_skipped_reason) == ("skipped", "the person has no email")
    company_only = parse_visitor(
        {"id": "v2", "company": {"name": "Acme", "domain": "acme.com"}, "visit": VISIT}
    )
    assert pusher.push(company_only).note_skipped_reason == "the visitor has no person"


@pytest.mark.usefixtures("with_test_plugins", "crm_file")
def test_the_summary_says_which_visits_were_not_noted(tmp_path: Path) -> None:
    visitors = tmp_path / "visitors.jsonl"
    rows = [
        {"id": "v1", "person": {"email": "ann@acme.com"}, "visit": VISIT},
        {"id": "v2", "person": {"name": "Bob"}, "visit": VISIT},
    ]
    visitors.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = run("push", str(visitors))
    assert text.exit_code == 0, text.output
    assert "Notes: 1 created, 1 skipped." in text.output
    assert "  1 visit not noted: the person has no email" in text.output
    summary = json.loads(run("push", "--json", str(visitors)).output)
    assert summary["notes_skipped"] == 1
    assert summary["notes_skipped_reasons"] == {"the person has no email": 1}
