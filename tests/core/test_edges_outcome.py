"""Nothing lost at the edges of a run: what a push counts, says, logs and does when stopped."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

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


# -- steps and requests: two counts, two names, singular when one ----------------------------


def summary_text(summary: Any, *, dry_run: bool = False, noun: str = "visitor") -> str:
    from crm_push.cli.report import RunReport, print_summary

    out = io.StringIO()
    with redirect_stdout(out):
        print_summary(
            summary, RunReport(size=None, noun=noun, as_json=False, rejects=None), dry_run=dry_run
        )
    return re.sub(r" in \d+\.\ds", "", out.getvalue())


def test_steps_and_requests_are_named_apart_and_singular_when_one() -> None:
    from crm_push.push.results import RunSummary, VisitorResult

    summary = RunSummary()
    summary.add(VisitorResult(visitor_id="v1", line=1, status="created", writes=1))
    summary.http = {"requests": 1, "writes": 1, "reads": 0, "retries": 1, "throttled": 0}
    text = summary_text(summary)
    assert "1 visitor: 1 created, 0 updated, 0 unchanged, 0 failed; 1 step." in text
    assert "HTTP: 1 request (1 write, 0 reads); 1 retry, 0 rate-limited (429)." in text


@pytest.mark.usefixtures("with_test_plugins", "crm_file")
@pytest.mark.parametrize("dry_run", [False, True])
def test_json_http_always_has_its_documented_keys(tmp_path: Path, dry_run: bool) -> None:
    visitors = tmp_path / "visitors.jsonl"
    visitors.write_text(json.dumps({"id": "v1", "person": {"email": "ann@acme.com"}}) + "\n")
    args = ["push", "--json", *(["--dry-run"] if dry_run else []), str(visitors)]
    result = run(*args)
    assert result.exit_code == 0, result.output
    http = json.loads(result.stdout)["http"]
    assert http == {"requests": 0, "reads": 0, "writes": 0, "retries": 0, "throttled": 0}
