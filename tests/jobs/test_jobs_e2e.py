"""Enqueue, run with `worker --burst`, list: several workspaces, exactly once."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest
from jobs_helpers import emails, run_cli, store_connection, visitors, write_jsonl


def test_enqueue_and_burst_push_every_workspace_exactly_once(
    pg_url: str, attio, tmp_path: Path
) -> None:
    a, b = attio(), attio()
    ws_a, ws_b = store_connection(pg_url, a), store_connection(pg_url, b)
    file_a = write_jsonl(tmp_path / "a.jsonl", visitors("a", 25))
    file_b = write_jsonl(tmp_path / "b.jsonl", [*visitors("b", 7), "{not json", {"id": "x"}])
    rejects = tmp_path / "rejects.jsonl"

    ok = run_cli(
        "--dest",
        "attio",
        "--db",
        pg_url,
        "enqueue",
        str(file_a),
        "--workspace",
        ws_a,
        "--batch-size",
        "10",
        "--json",
    )
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.stdout)
    assert (out["visitors"], out["jobs"], out["workspace"]) == (25, 3, ws_a)

    bad = run_cli(
        "--dest",
        "attio",
        "--db",
        pg_url,
        "enqueue",
        str(file_b),
        "--workspace",
        ws_b,
        "--rejects",
        str(rejects),
    )
    assert bad.exit_code == 1, bad.output
    assert "Enqueued 7 visitors in 1 job" in bad.stdout
    assert [json.loads(line)["_reject"]["line"] for line in rejects.read_text().splitlines()] == [
        8,
        9,
    ]

    # Several stored connections and no --workspace: which one? A usage error, nothing enqueued.
    ambiguous = run_cli("--dest", "attio", "--db", pg_url, "enqueue", str(file_a))
    assert ambiguous.exit_code == 2, ambiguous.output

    before = json.loads(run_cli("--db", pg_url, "jobs", "--json").stdout)
    assert (before["todo"], before["doing"], before["succeeded"], before["failed"]) == (4, 0, 0, 0)
    waiting = {w["workspace"]: w["visitors"]["todo"] for w in before["workspaces"]}
    assert waiting == {ws_a: 25, ws_b: 7}

    done = run_cli("--db", pg_url, "worker", "--concurrency", "3", "--burst")
    assert done.exit_code == 0, done.output

    after = json.loads(run_cli("--db", pg_url, "jobs", "--json").stdout)
    assert (after["todo"], after["doing"], after["succeeded"], after["failed"]) == (0, 0, 4, 0)
    by_ws = {w["workspace"]: w for w in after["workspaces"]}
    assert by_ws[ws_a]["succeeded"] == 3 and by_ws[ws_b]["succeeded"] == 1

    for srv, n in ((a, 25), (b, 7)):
        found = Counter(emails(srv))
        assert len(found) == n and set(found.values()) == {1}
        assert len(srv.notes()) == n
        assert len(srv.records("companies")) == 3

    # Enqueued again: markers make the jobs write nothing.
    writes = a.count("POST") + a.count("PUT") + a.count("PATCH")
    again = run_cli("--dest", "attio", "--db", pg_url, "enqueue", str(file_a), "--workspace", ws_a)
    assert again.exit_code == 0
    assert run_cli("--db", pg_url, "worker", "--burst").exit_code == 0
    assert a.count("POST") + a.count("PUT") + a.count("PATCH") == writes
    assert "No failed visitors." in run_cli("--db", pg_url, "jobs", "failed").stdout


def test_a_verbose_worker_logs_no_visitor_data(
    pg_url: str, attio, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    srv = attio()
    ws = store_connection(pg_url, srv)
    rows = visitors("pii", 4)
    file = write_jsonl(tmp_path / "v.jsonl", rows)
    assert run_cli("--dest", "attio", "--db", pg_url, "enqueue", str(file), "--workspace", ws)
    caplog.set_level(logging.DEBUG)
    assert run_cli("-v", "--db", pg_url, "worker", "--burst").exit_code == 0
    assert len(srv.notes()) == 4
    # procrastinate logs each job's arguments (messages and extras): they name the job's
    # destination, workspace and size, never a visitor's email or name.
    started = [r for r in caplog.records if r.getMessage().startswith("Starting job")]
    assert started and "count=4" in started[0].getMessage()
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for row in rows:
        assert row["person"]["email"] not in logged and row["person"]["name"] not in logged


def test_a_job_enqueued_with_its_visitors_in_its_arguments_still_runs(pg_url: str, attio) -> None:
    from crm_push.jobs import app
    from crm_push.jobs.engine import ensure_schema, new_connector
    from crm_push.jobs.enqueue import lock_for
    from crm_push.jobs.tasks import QUEUE, TASK_NAME

    srv = attio()
    ws = store_connection(pg_url, srv)
    ensure_schema(pg_url)
    # As enqueue wrote jobs before their visitors moved to crm_push_job_visitors.
    entries = [{"line": i + 1, "visitor": v} for i, v in enumerate(visitors("old", 3))]
    with app.replace_connector(new_connector(pg_url, sync=True)), app.open():
        app.configure_task(TASK_NAME, queue=QUEUE, lock=lock_for("attio", ws)).defer(
            destination="attio", workspace=ws, visitors=entries
        )
    listed = json.loads(run_cli("--db", pg_url, "jobs", "--json").stdout)
    assert [w["visitors"]["todo"] for w in listed["workspaces"]] == [3]
    assert run_cli("--db", pg_url, "worker", "--burst").exit_code == 0
    assert sorted(emails(srv)) == sorted(e["visitor"]["person"]["email"] for e in entries)


def test_a_stored_visitor_that_no_longer_validates_fails_alone(pg_url: str, attio) -> None:
    from crm_push.jobs import app
    from crm_push.jobs.engine import ensure_schema, new_connector
    from crm_push.jobs.enqueue import lock_for
    from crm_push.jobs.tasks import QUEUE, TASK_NAME

    srv = attio()
    ws = store_connection(pg_url, srv)
    ensure_schema(pg_url)
    # As another version (or a hand) might have stored them: the second one's email is bad.
    rows = visitors("bad", 3)
    rows[1]["person"]["email"] = "not an email"
    entries = [{"line": i + 1, "visitor": v} for i, v in enumerate(rows)]
    with app.replace_connector(new_connector(pg_url, sync=True)), app.open():
        app.configure_task(TASK_NAME, queue=QUEUE, lock=lock_for("attio", ws)).defer(
            destination="attio", workspace=ws, visitors=entries
        )
    assert run_cli("--db", pg_url, "worker", "--burst").exit_code == 0
    assert sorted(emails(srv)) == sorted([rows[0]["person"]["email"], rows[2]["person"]["email"]])
    totals = json.loads(run_cli("--db", pg_url, "jobs", "--json").stdout)
    assert (totals["succeeded"], totals["failed"]) == (1, 0)
    listed = run_cli("--db", pg_url, "jobs", "failed", "--json").stdout
    (failure,) = [json.loads(line) for line in listed.splitlines()]
    assert (failure["line"], failure["visitor_id"]) == (2, "bad-1")
    assert "email" in failure["reason"] and failure["field"] == "person.email"


def test_a_job_enqueued_while_a_burst_worker_runs_is_pushed_before_it_exits(
    pg_url: str, attio, tmp_path: Path
) -> None:
    import threading
    import time

    slow = attio(latency=0.2)  # the first job runs for a couple of seconds
    ws = store_connection(pg_url, slow)
    first = write_jsonl(tmp_path / "first.jsonl", visitors("first", 4, notes=False))
    late = write_jsonl(tmp_path / "late.jsonl", visitors("late", 3, notes=False))
    enqueue = ["--dest", "attio", "--db", pg_url, "enqueue"]
    assert run_cli(*enqueue, str(first), "--workspace", ws).exit_code == 0
    results = []
    worker = threading.Thread(
        target=lambda: results.append(run_cli("--db", pg_url, "worker", "--burst"))
    )
    worker.start()
    deadline = time.monotonic() + 30
    while len(slow.records("people")) < 1:  # the worker is pushing the first job
        assert worker.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    assert run_cli(*enqueue, str(late), "--workspace", ws).exit_code == 0
    worker.join(timeout=60)
    assert not worker.is_alive() and results[0].exit_code == 0, results[0].output
    assert sorted(emails(slow)) == sorted(
        v["person"]["email"] for v in [*visitors("first", 4), *visitors("late", 3)]
    )
