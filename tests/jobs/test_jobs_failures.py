"""Failed visitors are recorded, transient errors reschedule, dead credentials stop a workspace."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from crm_push.jobs import enqueue
from jobs_helpers import emails, run_cli, store_connection, visitors, write_jsonl

from crm_push_attio import server


def _counts(pg_url: str) -> dict:
    result = run_cli("--db", pg_url, "jobs", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_failed_visitor_is_recorded_and_its_job_succeeds(pg_url: str, attio, tmp_path: Path):
    srv = attio()
    ws = store_connection(pg_url, srv)
    rows = visitors("f", 3, notes=False)
    rows[1]["person"]["email"] = "rejected@f.example.com"
    file = write_jsonl(tmp_path / "f.jsonl", rows)
    assert run_cli("--dest", "attio", "--db", pg_url, "enqueue", str(file)).exit_code == 0
    # The CRM refuses the second visitor's person (a 400 is no transient error).
    srv.fail_next(1, status=400, path_prefix="/v2/objects/people", method="PUT")
    assert run_cli("--db", pg_url, "worker", "--concurrency", "1", "--burst").exit_code == 0

    totals = _counts(pg_url)
    assert (totals["succeeded"], totals["failed"], totals["todo"]) == (1, 0, 0)
    listed = run_cli("--db", pg_url, "jobs", "failed", "--json")
    failures = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(failures) == 1
    (failure,) = failures
    assert failure["workspace"] == ws and failure["destination"] == "attio"
    assert failure["line"] in (1, 2, 3) and failure["visitor_id"] == f"f-{failure['line'] - 1}"
    assert failure["reason"]
    text = run_cli("--db", pg_url, "jobs", "failed").stdout
    assert f"line {failure['line']} visitor 'f-{failure['line'] - 1}'" in text
    assert len(set(emails(srv))) == 2


def test_a_transient_error_reschedules_the_job_and_nothing_is_duplicated(
    pg_url: str, attio, tmp_path: Path
) -> None:
    srv = attio()
    store_connection(pg_url, srv)
    file = write_jsonl(tmp_path / "t.jsonl", visitors("t", 4))
    assert run_cli("--dest", "attio", "--db", pg_url, "enqueue", str(file)).exit_code == 0
    # More 429s than the HTTP client retries: the job ends in RetryLater, runs again later.
    srv.fail_next(8, status=429, path_prefix="/v2/objects/people", retry_after_seconds=0.05)
    assert run_cli("--db", pg_url, "worker", "--concurrency", "1", "--burst").exit_code == 0

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        attempts = conn.execute(sa.text("SELECT attempts FROM procrastinate_jobs")).scalar()
    engine.dispose()
    assert attempts >= 1  # it was rescheduled at least once
    assert _counts(pg_url)["succeeded"] == 1
    found = Counter(emails(srv))
    assert len(found) == 4 and set(found.values()) == {1}
    assert len(srv.notes()) == 4
    assert "No failed visitors." in run_cli("--db", pg_url, "jobs", "failed").stdout


def test_dead_credentials_stop_only_that_workspace(pg_url: str, attio, tmp_path: Path) -> None:
    good, dead = attio(), attio()
    ws_good, ws_dead = store_connection(pg_url, good), store_connection(pg_url, dead)
    for name, ws in (("g", ws_good), ("d", ws_dead)):
        file = write_jsonl(tmp_path / f"{name}.jsonl", visitors(name, 6))
        result = run_cli(
            "--dest",
            "attio",
            "--db",
            pg_url,
            "enqueue",
            str(file),
            "--workspace",
            ws,
            "--batch-size",
            "2",
        )
        assert result.exit_code == 0, result.output
    dead.expire_token(server.DEFAULT_TOKEN)
    assert run_cli("--db", pg_url, "worker", "--concurrency", "2", "--burst").exit_code == 0

    by_ws = {w["workspace"]: w for w in _counts(pg_url)["workspaces"]}
    assert by_ws[ws_good]["succeeded"] == 3 and by_ws[ws_good]["stopped"] is None
    assert by_ws[ws_dead]["failed"] == 3 and by_ws[ws_dead]["succeeded"] == 0
    assert by_ws[ws_dead]["stopped"]
    assert "stopped, reconnect" in run_cli("--db", pg_url, "jobs").stdout
    assert len(set(emails(good))) == 6 and emails(dead) == []
    failed = run_cli("--db", pg_url, "jobs", "failed", "--workspace", ws_dead, "--json")
    rows = [json.loads(line) for line in failed.stdout.splitlines()]
    assert sorted(r["line"] for r in rows) == [1, 2, 3, 4, 5, 6]
    assert all(r["reason"].startswith("reconnect") for r in rows)
    # Only the first job asked the CRM; the others failed fast without a request.
    assert dead.count(path_prefix="/v2/self") <= 2

    # Connected again (a new token): the stop is lifted, the failed visitors go through.
    dead.add_token("fresh")
    store_connection(pg_url, dead, token="fresh")
    assert _counts(pg_url)["workspaces"][0]["stopped"] is None
    file = write_jsonl(tmp_path / "d.jsonl", visitors("d", 6))
    assert (
        run_cli(
            "--dest", "attio", "--db", pg_url, "enqueue", str(file), "--workspace", ws_dead
        ).exit_code
        == 0
    )
    assert run_cli("--db", pg_url, "worker", "--burst").exit_code == 0
    assert len(set(emails(dead))) == 6


def test_enqueue_inside_the_host_transaction(pg_url: str, attio) -> None:
    srv = attio()
    ws = store_connection(pg_url, srv)
    conninfo = sa.make_url(pg_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo) as conn:
        done = enqueue("attio", ws, visitors("h", 3), connection=conn, batch_size=2)
        assert done.jobs == 2
        conn.rollback()  # the host's transaction rolled back: no job
    assert _counts(pg_url)["todo"] == 0
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # a SQLAlchemy connection works too
        assert enqueue("attio", None, visitors("h", 3), connection=conn, db_url=pg_url).jobs == 1
    assert _counts(pg_url)["todo"] == 1
    with psycopg.connect(conninfo, autocommit=True) as conn:  # a connection in autocommit too
        assert enqueue("attio", ws, visitors("a", 2), connection=conn).jobs == 1
    assert _visitor_rows(pg_url) == 2  # one per job: the rolled-back ones left none
    assert run_cli("--db", pg_url, "worker", "--burst").exit_code == 0
    assert len(set(emails(srv))) == 5
    # A job's visitors go with its row (procrastinate's clean-up of old jobs, say).
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM procrastinate_jobs"))
    engine.dispose()
    assert _visitor_rows(pg_url) == 0


def _visitor_rows(pg_url: str) -> int:
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM crm_push_job_visitors")).scalar_one()
    engine.dispose()
    return int(n)


def test_jobs_need_postgresql(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "v.jsonl", visitors("s", 1))
    db = f"sqlite:///{tmp_path / 'state.db'}"
    result = run_cli("--dest", "attio", "--db", db, "enqueue", str(file))
    assert result.exit_code == 2 and "PostgreSQL" in result.output
    assert run_cli("--db", db, "worker", "--burst").exit_code == 2


@pytest.mark.parametrize("size", [0])
def test_batch_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError):
        enqueue("attio", "ws", [], batch_size=size, db_url="postgresql+psycopg://x@127.0.0.1:1/x")


def test_jobs_in_one_process_share_the_destination_and_its_clients(pg_url: str, attio) -> None:
    from crm_push.jobs.engine import ensure_schema
    from crm_push.jobs.tasks import close_destinations, kept_destination, run_job

    srv = attio()
    ws = store_connection(pg_url, srv)
    ensure_schema(pg_url)
    rows = visitors("k", 4)
    first = [{"line": i + 1, "visitor": v} for i, v in enumerate(rows[:2])]
    second = [{"line": i + 1, "visitor": v} for i, v in enumerate(rows[2:])]
    assert run_job(pg_url, 1, 0, "attio", ws, first)["failed"] == 0
    destination = kept_destination("attio")
    clients = list(destination.plugin._clients._clients.values())
    assert run_job(pg_url, 2, 0, "attio", ws, second)["failed"] == 0
    assert kept_destination("attio") is destination  # not loaded again
    # The second job sent through the first one's client: its connections, its token.
    assert list(destination.plugin._clients._clients.values()) == clients
    assert len(clients) == 1 and not clients[0].http._client.is_closed
    assert sorted(emails(srv)) == sorted(v["person"]["email"] for v in rows)
    close_destinations()  # what a stopping worker does
    assert clients[0].http._client.is_closed
