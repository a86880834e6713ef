"""The optional hooks from core: the Destination facade, the action runner, the records input,
and the CLI (`assert-record`, `push --format records|segment`), against an in-memory CRM."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from crm_push import cli as cli_module
from crm_push.destination import discovery as loading
from crm_push.destination.facade import Destination
from crm_push.destination.planner import PlannerPlugin
from crm_push.errors import CapabilityMissing, InvalidInput, ReconnectRequired
from crm_push.hookspecs import hookimpl
from crm_push.inputs.lines import Line
from crm_push.inputs.records import read_records
from crm_push.models.actions import (
    GroupResult,
    IdentifyResult,
    RecordAssertion,
    UserIdentity,
    WorkspaceGroup,
)
from crm_push.models.crm import Connection, RecordRef
from crm_push.push.runner import ActionRunner


class Actions:
    """A CRM that only does Segment's three actions, logging each call with its timing."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.log: list[tuple[str, str, float, float]] = []  # (action, key, start, end)
        self.lock = threading.Lock()
        self.token_dead_after: int | None = None

    @hookimpl
    def connect(self, credentials: Any, options: Any) -> Connection:
        return Connection(destination="memory", workspace_id="ws-1")

    def _upsert(self, table: str, key: str, values: dict[str, Any]) -> RecordRef:
        with self.lock:
            rows = self.tables.setdefault(table, {})
            if key in rows:
                rows[key].update(values)
                return RecordRef(object=table, record_id=rows[key]["_rid"], outcome="updated")
            rows[key] = {**values, "_rid": str(uuid.uuid4())}
            return RecordRef(object=table, record_id=rows[key]["_rid"], outcome="created")

    def _timed(self, action: str, key: str) -> None:
        with self.lock:
            if self.token_dead_after is not None and len(self.log) >= self.token_dead_after:
                raise ReconnectRequired("the token died")
        start = time.monotonic()
        time.sleep(self.delay)
        with self.lock:
            self.log.append((action, key, start, time.monotonic()))

    @hookimpl
    def assert_record(
        self, connection: Connection, object: str, matching_attribute: str, values: dict[str, Any]
    ) -> RecordRef:
        if values.get(matching_attribute) is None:
            raise InvalidInput(f"{matching_attribute} has no value", field=matching_attribute)
        if object == "boom":
            raise RuntimeError("plugin bug")
        if object == "refused":
            raise InvalidInput(f"refused: id {values[matching_attribute]} is not allowed")
        key = str(values[matching_attribute])
        self._timed("record", key)
        return self._upsert(object, key, values)

    @hookimpl
    def identify_user(self, connection: Connection, identity: UserIdentity) -> IdentifyResult:
        self._timed("identify", identity.user_id)
        person = self._upsert("people", identity.email, dict(identity.person_values))
        user = self._upsert("users", identity.user_id, dict(identity.user_values))
        return IdentifyResult(person=person, user=user)

    @hookimpl
    def group_workspace(self, connection: Connection, group: WorkspaceGroup) -> GroupResult:
        self._timed("group", group.workspace_id)
        if group.user_id and group.user_id not in self.tables.get("users", {}):
            raise InvalidInput(f"no user {group.user_id!r}", field="user_id")
        company = self._upsert("companies", group.domain, dict(group.company_values))
        workspace = self._upsert("workspaces", group.workspace_id, dict(group.workspace_values))
        return GroupResult(company=company, workspace=workspace)


class VisitorsOnly:
    @hookimpl
    def connect(self, credentials: Any, options: Any) -> Connection:
        return Connection(destination="plain", workspace_id="ws-1")


CONNECTION = Connection(destination="memory", workspace_id="ws-1")


def item(line: int, action: Any) -> Line[Any]:
    return Line(line, json.dumps({"line": line}), item=action)


# -- the facade ------------------------------------------------------------------------------


def test_a_destination_without_the_optional_hooks_says_so() -> None:
    dest = Destination("plain", VisitorsOnly())
    assert not dest.implements("assert_record")
    assert dest.cannot("assert_record") == (
        "destination 'plain' cannot assert records: it does not implement the optional hook "
        "'assert_record'"
    )
    assert "cannot identify users" in (dest.cannot("identify_user") or "")
    assert "cannot group workspaces" in (dest.cannot("group_workspace") or "")
    with pytest.raises(CapabilityMissing, match="cannot assert records"):
        dest.assert_record(CONNECTION, "deals", "id", {"id": 1})
    with pytest.raises(CapabilityMissing, match="cannot identify users"):
        dest.identify_user(CONNECTION, UserIdentity(user_id="u", email="a@b.io"))
    with pytest.raises(CapabilityMissing, match="cannot group workspaces"):
        dest.group_workspace(CONNECTION, WorkspaceGroup(workspace_id="w", domain="b.io"))


def test_the_facade_calls_the_optional_hooks() -> None:
    crm = Actions()
    dest = Destination("memory", crm)
    assert dest.cannot("assert_record") is None
    ref = dest.assert_record(CONNECTION, "deals", "id", {"id": "d-1", "name": "x"})
    assert ref.outcome == "created"
    identified = dest.identify_user(
        CONNECTION, UserIdentity(user_id="u_1", email="A@B.io", user_values={"plan": "pro"})
    )
    assert identified.outcome == "created" and len(identified.refs) == 2
    assert crm.tables["users"]["u_1"]["plan"] == "pro" and "a@b.io" in crm.tables["people"]
    grouped = dest.group_workspace(
        CONNECTION, WorkspaceGroup(workspace_id="w_1", domain="www.b.io", user_id="u_1")
    )
    assert grouped.outcome == "created" and "b.io" in crm.tables["companies"]
    again = dest.group_workspace(CONNECTION, WorkspaceGroup(workspace_id="w_1", domain="b.io"))
    assert again.outcome == "updated"


# -- the runner ------------------------------------------------------------------------------


def test_actions_on_the_same_user_keep_input_order_across_workers() -> None:
    crm = Actions(delay=0.05)
    runner = ActionRunner(Destination("memory", crm), CONNECTION, workers=8)
    items = [
        item(1, UserIdentity(user_id="u_1", email="a@b.io")),
        item(2, WorkspaceGroup(workspace_id="w_1", domain="b.io", user_id="u_1")),
        item(3, UserIdentity(user_id="u_2", email="c@b.io")),
        item(4, WorkspaceGroup(workspace_id="w_2", domain="d.io", user_id="u_2")),
        item(5, RecordAssertion(object="deals", matching_attribute="id", values={"id": "x"})),
        item(6, RecordAssertion(object="deals", matching_attribute="id", values={"id": "x"})),
    ]
    results: list[Any] = []
    summary = runner.run(items, on_result=lambda i, r: results.append(r))
    assert summary.failed == 0, [r.reason for r in results]
    assert [r.line for r in results] == [1, 2, 3, 4, 5, 6]
    spans = {(a, k): (s, e) for a, k, s, e in crm.log if a != "record"}
    assert spans[("group", "w_1")][0] >= spans[("identify", "u_1")][1]
    assert spans[("group", "w_2")][0] >= spans[("identify", "u_2")][1]
    records = [(s, e) for a, _, s, e in crm.log if a == "record"]
    assert records[1][0] >= records[0][1]
    # Unrelated actions did run at the same time.
    assert spans[("identify", "u_2")][0] < spans[("identify", "u_1")][1]
    assert (summary.created, summary.updated) == (5, 1)


def test_a_failed_line_never_stops_the_run_and_a_plugin_bug_fails_its_line_only() -> None:
    runner = ActionRunner(Destination("memory", Actions()), CONNECTION, workers=2)
    items = [
        item(1, RecordAssertion(object="deals", matching_attribute="id", values={"name": "x"})),
        item(2, RecordAssertion(object="boom", matching_attribute="id", values={"id": 1})),
        Line(3, "{}", error=InvalidInput("line 3: bad", field="x")),
        Line(4, "{}", skipped="track"),
        Line(5, "{}", skipped="page"),
        Line(6, "{}", skipped="track"),
        item(7, RecordAssertion(object="deals", matching_attribute="id", values={"id": 1})),
    ]
    results: list[Any] = []
    summary = runner.run(items, on_result=lambda i, r: results.append(r))
    assert (summary.total, summary.created, summary.failed, summary.skipped) == (7, 1, 3, 3)
    assert summary.skipped_types == {"track": 2, "page": 1}
    assert results[0].reason.startswith("line 1: deals by id None: id has no value")
    assert results[0].field == "id"
    assert results[1].reason == "RuntimeError: plugin bug"
    assert results[2].reason.startswith("line 3: bad") and results[2].field == "x"
    # Only line 7 was sent: line 1 was refused by the destination's own check before sending,
    # line 2 is a plugin bug, line 3 never reached the destination.
    assert summary.writes == 1


@pytest.mark.parametrize("workers", [1, 4])
def test_dead_credentials_stop_the_run(workers: int) -> None:
    crm = Actions()
    crm.token_dead_after = 2
    runner = ActionRunner(Destination("memory", crm), CONNECTION, workers=workers)
    items = [
        item(n, RecordAssertion(object="deals", matching_attribute="id", values={"id": n}))
        for n in range(1, 30)
    ]
    summary = runner.run(items)
    assert summary.stopped is not None and "the token died" in summary.stopped
    # With several workers, the actions already in flight finish and are reported.
    assert summary.created == 2 if workers == 1 else summary.created >= 2
    assert summary.total < 29 and summary.failed == 0


def test_a_dry_run_says_what_it_would_do_and_calls_nothing() -> None:
    crm = Actions()
    real = Destination("memory", crm)
    plan: list[str] = []
    # A dry run is the planner destination in place of the real one, through the same runner.
    planner = Destination(real.name, PlannerPlugin(real.name, on_plan=plan.append))
    runner = ActionRunner(planner, planner.connect())
    summary = runner.run(
        [
            item(1, UserIdentity(user_id="u_1", email="a@b.io")),
            item(2, WorkspaceGroup(workspace_id="w_1", domain="b.io")),
            item(3, RecordAssertion(object="deals", matching_attribute="id", values={"id": "d"})),
        ]
    )
    assert plan == [
        "line 1: would identify user 'u_1' (a@b.io)",
        "line 2: would group workspace 'w_1' (b.io)",
        "line 3: would assert deals by id 'd'",
    ]
    # The writes a real run would send; none reached the CRM.
    assert summary.created == summary.writes == 3 and crm.log == []


# -- records input ---------------------------------------------------------------------------


def test_records_lines_are_read_with_their_errors() -> None:
    lines = [
        json.dumps({"object": "deals", "matching_attribute": "id", "values": {"id": 1}}),
        "   ",
        json.dumps({"object": "deals", "values": {"id": 1}}),
        json.dumps({"object": "deals", "matching_attribute": "id", "values": [1]}),
        json.dumps({"object": "deals", "matching_attribute": "id", "values": {}, "x": 1}),
        "nope",
        json.dumps(
            {"object": "d", "matching_attribute": "id", "values": {"id": 2}, "_reject": {"line": 1}}
        ),
    ]
    items = list(read_records(lines))
    assert [i.line for i in items] == [1, 3, 4, 5, 6, 7]
    assert items[0].item == RecordAssertion(
        object="deals", matching_attribute="id", values={"id": 1}
    )
    errors = [str(i.error) for i in items[1:5]]
    assert errors[0].startswith("line 3: matching_attribute: Field required")
    assert errors[1].startswith("line 4: values: Input should be a valid dictionary")
    assert errors[2].startswith("line 5: x: unknown key (a line has object, matching_attribute")
    assert errors[3].startswith("line 6: not valid JSON")
    assert items[1].error is not None and items[1].error.field == "matching_attribute"
    assert items[5].item is not None  # a line of a rejects file pushes again


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> Actions:
    crm = Actions()
    plain = VisitorsOnly()

    def load(name: str) -> Destination:
        return Destination(name, crm if name == "memory" else plain)

    monkeypatch.setattr(loading, "load_destination", load)
    return crm


def run(*args: str, dest: str = "memory", input: str | None = None) -> Any:
    return CliRunner().invoke(cli_module.cli, ["--dest", dest, *args], input=input)


def test_assert_record_parses_values_and_prints_the_record(memory: Actions) -> None:
    result = run(
        "assert-record",
        "--object", "companies",
        "--match", "domains",
        "--set", "domains=app.attio.com",
        "--set", "twitter=@attio",
        "--set", "employees=42",
        "--set", "public=true",
        "--set", "parent=null",
        "--set", 'tags=["a","b"]',
        "--set", "categories=B2B",
        "--set", "categories=SAAS",
        "--set", "zip=02139",
        "--set", "name=Bloggs, Joe",
        "--set-json", 'code="123"',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created companies record ")
    assert memory.tables["companies"]["app.attio.com"] | {"_rid": None} == {
        "_rid": None,
        "domains": "app.attio.com",
        "twitter": "@attio",
        "employees": 42,
        "public": True,
        "parent": None,
        "tags": ["a", "b"],
        "categories": ["B2B", "SAAS"],
        "zip": "02139",
        "name": "Bloggs, Joe",
        "code": "123",
    }
    again = run(
        "assert-record", "--object", "companies", "--match", "domains",
        "--set", "domains=app.attio.com", "--json",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    out = json.loads(again.output)
    assert out["outcome"] == "updated" and out["object"] == "companies"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "name=x"], "--match domains needs a value to match on"),
        (["--set", "domains"], "'domains' is not KEY=VALUE"),
        (["--set", "domains=a.io", "--set-json", "x={oops"], "x: '{oops' is not JSON"),
        (["--set", "domains=null"], "--match domains needs a value"),
    ],
)
def test_assert_record_usage_errors(memory: Actions, args: list[str], message: str) -> None:
    result = run("assert-record", "--object", "companies", "--match", "domains", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert memory.log == []


def test_assert_record_refused_by_the_destination_exits_1(memory: Actions) -> None:
    result = run("assert-record", "--object", "refused", "--match", "id", "--set", "id=1")
    assert result.exit_code == 1
    assert "Error: refused: id 1 is not allowed" in result.output


def test_a_destination_without_the_hooks_is_a_usage_error(memory: Actions, tmp_path: Path) -> None:
    result = run("assert-record", "--object", "c", "--match", "d", "--set", "d=1", dest="plain")
    assert result.exit_code == 2
    assert "destination 'plain' cannot assert records" in result.output
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "track"}\n')
    pushed = run("push", "--format", "segment", str(events), dest="plain")
    assert pushed.exit_code == 2 and "cannot identify users" in pushed.output
    records = run("push", "--format", "records", str(events), dest="plain")
    assert records.exit_code == 2 and "cannot assert records" in records.output


def test_push_records_and_segment(memory: Actions, tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    records.write_text(
        json.dumps({"object": "deals", "matching_attribute": "id", "values": {"id": 1}})
        + "\n{oops\n"
    )
    rejects = tmp_path / "rejects.jsonl"
    result = run("push", "--format", "records", "--rejects", str(rejects), str(records))
    assert result.exit_code == 1
    assert "2 records in" in result.output and "1 created, 0 updated, 1 failed" in result.output
    assert "failed: line 2: not valid JSON" in result.output
    rejected = json.loads(rejects.read_text())
    assert rejected["_reject"]["line"] == 2 and rejected["_reject"]["raw"] == "{oops"

    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            json.dumps(e)
            for e in [
                {"type": "identify", "userId": "u_1", "traits": {"email": "a@b.io", "plan": "x"}},
                {"type": "page"},
                {"type": "group", "userId": "u_1", "groupId": "w_1", "website": "b.io"},
            ]
        )
    )
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"user": {"plan": "traits.plan"}}))
    result = run("push", "--format", "segment", "--mapping", str(mapping), "--json", str(events))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["format"] == "segment" and summary["skipped_types"] == {"page": 1}
    assert (summary["total"], summary["created"], summary["skipped"]) == (3, 2, 1)
    assert memory.tables["users"]["u_1"]["plan"] == "x"

    dry = run("push", "--format", "segment", "--dry-run", str(events))
    assert dry.exit_code == 0, dry.output
    assert "would identify user 'u_1' (a@b.io)" in dry.output
    assert "Dry run — nothing was written. 3 events" in dry.output
    assert "1 skipped (page: 1)" in dry.output

    # A dry run creates no state database: no file, no tables, nothing stored.
    none = tmp_path / "none.db"
    for fmt, file in (("segment", events), ("records", records)):
        dry = run("--db", f"sqlite:///{none}", "push", "--format", fmt, "--dry-run", str(file))
        assert "Dry run — nothing was written." in dry.output, dry.output
    assert not none.exists()


def test_mapping_usage_errors(memory: Actions, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("user:\n  plan: Pro\n")
    wrong_format = run("push", "--mapping", str(mapping), str(events))
    assert (
        wrong_format.exit_code == 2
        and "--mapping goes with --format segment" in wrong_format.output
    )
    bad = run("push", "--format", "segment", "--mapping", str(mapping), str(events))
    assert bad.exit_code == 2 and "user.plan: 'Pro' is not an event path" in bad.output
    missing = run(
        "push", "--format", "segment", "--mapping", str(tmp_path / "no.yaml"), str(events)
    )
    assert missing.exit_code == 2
