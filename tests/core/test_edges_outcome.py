"""Nothing lost at the edges of a run: what a push counts, says, logs and does when stopped."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from crm_push import Connection, Destination, MarkerStore, Pusher, hookimpl, parse_visitor
from crm_push.cli import cli
from crm_push.errors import InvalidInput
from crm_push.http import HttpClient
from crm_push.models.actions import RecordAssertion
from crm_push.models.crm import RecordRef
from crm_push.push.runner import ActionRunner

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
    summary = json.loads(run("push", "--json", str(visitors)).stdout)
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


# -- actions sent, and what a dry run says ----------------------------------------------------


class Refusing:
    """A CRM over crm_push.http that refuses the name "refused"; the plugin itself refuses a
    name that is too long before sending anything, and has a bug on "bug"."""

    def __init__(self) -> None:
        def answer(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            if body.get("name") == "refused":
                return httpx.Response(400, json={"message": "the CRM refuses this name"})
            return httpx.Response(200, json={"id": "r1"})

        self.http = HttpClient("https://crm.test", transport=httpx.MockTransport(answer))

    @hookimpl
    def connect(self, credentials: Any, options: Any) -> Connection:
        return Connection(destination="refusing", workspace_id="ws")

    @hookimpl
    def assert_record(
        self, connection: Connection, object: str, matching_attribute: str, values: dict[str, Any]
    ) -> RecordRef:
        if len(values["name"]) > 10:
            raise InvalidInput("name is longer than 10 characters", field="name")
        if values["name"] == "bug":
            raise ZeroDivisionError("oops")
        if values["name"] == "lookup":  # a read the CRM refuses: nothing was written
            self.http.request("GET", f"/{object}", json={"name": "refused"})
        self.http.request("PUT", f"/{object}", json=values)
        return RecordRef(object=object, record_id="r1", outcome="created")


def test_only_actions_that_reached_the_crm_count_as_sent() -> None:
    crm = Refusing()
    runner = ActionRunner(Destination("refusing", crm), crm.connect(None, None))

    def perform(name: str) -> Any:
        action = RecordAssertion(object="deals", matching_attribute="name", values={"name": name})
        return runner.perform(action, line=1)

    names = ["much too long", "bug", "lookup", "refused", "ok"]
    too_long, bug, lookup, refused, written = map(perform, names)
    assert (lookup.status, lookup.writes) == ("failed", 0)
    assert (too_long.status, too_long.field, too_long.writes) == ("failed", "name", 0)
    assert (bug.status, bug.writes) == ("failed", 0)
    assert (refused.status, refused.writes) == ("failed", 1)
    assert (written.status, written.writes) == ("created", 1)
    assert crm.http.stats.writes == 2


def test_a_dry_run_summary_says_would_never_created() -> None:
    from crm_push.push.results import ActionResult, ActionSummary, RunSummary, VisitorResult

    visitors = RunSummary()
    visitors.add(VisitorResult(line=1, status="created", writes=3, note="created"))
    visitors.add(VisitorResult(line=2, status="updated", writes=1))
    visitors.add(VisitorResult(line=3, status="failed", reason="bad"))
    text = summary_text(visitors, dry_run=True)
    assert text.startswith(
        "Dry run — nothing was written. 3 visitors: 1 would be created, 1 would be updated, "
        "0 unchanged, 1 failed; 4 steps planned.\nNotes: 1 would be added, 0 skipped.\n"
    )
    assert " created," not in text.replace("would be created", "")
    actions = ActionSummary()
    actions.add(ActionResult(line=1, status="created", writes=1))
    actions.add(ActionResult(line=2, status="skipped", skipped_type="track"))
    text = summary_text(actions, dry_run=True, noun="event")
    assert text.startswith(
        "Dry run — nothing was written. 2 events: 1 would be asserted, 0 failed, "
        "1 skipped (track: 1); 1 action would be sent.\n"
    )


@pytest.mark.usefixtures("with_test_plugins", "crm_file")
def test_dry_run_plan_lines_come_in_input_order_tagged_with_line_and_visitor(
    tmp_path: Path,
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    rows = [
        {
            "id": f"v_{i}",
            "person": {"email": f"p{i}@c{i}.example"},
            "company": {"name": f"C{i}", "domain": f"c{i}.example"},
            "visit": VISIT,
        }
        for i in range(1, 41)
    ]
    visitors.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run("push", "--dry-run", "--workers", "8", str(visitors))
    assert result.exit_code == 0, result.output
    plan = [line for line in result.stderr.splitlines() if "would" in line]
    assert len(plan) == 40 * 3
    assert plan[0] == (
        "line 1 visitor 'v_1': would assert company by domain c1.example: name='C1', "
        "domain='c1.example'"
    )
    assert plan[1].startswith("line 1 visitor 'v_1': would assert person by email p1@c1.example")
    numbers = [int(re.match(r"line (\d+) visitor 'v_(\d+)': would ", p)[1]) for p in plan]
    assert numbers == sorted(numbers) and set(numbers) == set(range(1, 41))


def test_a_dry_run_against_a_stub_says_it_is_a_stub(tmp_path: Path) -> None:
    visitors = tmp_path / "visitors.jsonl"
    visitors.write_text(json.dumps({"id": "v1", "person": {"email": "ann@acme.com"}}) + "\n")
    text = CliRunner().invoke(cli, ["--dest", "salesforce", "push", "--dry-run", str(visitors)])
    assert text.exit_code == 0, text.output
    assert "warning: salesforce is a stub destination" in text.stdout
    assert "a real push would fail" in text.stdout
    as_json = CliRunner().invoke(
        cli, ["--dest", "salesforce", "push", "--dry-run", "--json", str(visitors)]
    )
    assert json.loads(as_json.stdout)["destination_status"] == "stub"


# -- -v: crm-push's own steps at INFO -----------------------------------------------------------


@pytest.mark.usefixtures("with_test_plugins", "crm_file")
def test_verbose_logs_the_run_and_each_outcome_and_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    rows = [
        {
            "id": "v1",
            "person": {"email": "ann@acme.com"},
            "company": {"name": "Acme", "domain": "acme.com"},
        },
        {"id": "v2", "person": {"email": "broken"}},
    ]
    visitors.write_text("".join(json.dumps(r) + "\n" for r in rows))
    caplog.set_level("INFO", logger="crm_push.push")
    result = run("-v", "push", "--workers", "2", str(visitors))
    assert result.exit_code == 1, result.output
    logged = [r for r in caplog.records if r.name == "crm_push.push"]
    assert all(r.levelname == "INFO" for r in logged)
    texts = [r.getMessage() for r in logged]
    assert texts[0] == "push of visitors to filecrm (workspace file:crm.json) started, 2 workers"
    assert re.fullmatch(
        r"line 1 visitor 'v1': created \(company=[-\w]+, person=[-\w]+\)", texts[1]
    ), texts[1]
    assert texts[2].startswith("line 2 visitor 'v2': failed: ") and "person.email" in texts[2]
    assert re.fullmatch(
        r"push of visitors ended in \d+\.\ds: 2 visitors, 1 created, 0 updated, 0 unchanged, "
        r"1 failed; 2 steps",
        texts[3],
    ), texts[3]
    assert len(texts) == 4
    assert not any("good-token" in r.getMessage() for r in caplog.records)
