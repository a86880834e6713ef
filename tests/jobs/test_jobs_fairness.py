"""Workspaces are served in turn; the schema is applied once when processes start together;
SIGTERM lets a worker finish its job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from crm_push.jobs import enqueue
from crm_push.jobs.engine import _ready, ensure_schema
from jobs_helpers import emails, run_cli, store_connection, visitors


def _finished_order(pg_url: str) -> list[str]:
    """The workspaces of the jobs, in the order they succeeded."""
    engine = sa.create_engine(pg_url)
    query = sa.text(
        "SELECT j.args->>'workspace' FROM procrastinate_jobs j "
        "JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'succeeded' "
        "ORDER BY e.at, e.id"
    )
    with engine.connect() as conn:
        order = [row[0] for row in conn.execute(query)]
    engine.dispose()
    return order


def test_a_big_backlog_does_not_starve_a_small_workspace(pg_url: str, attio) -> None:
    big, small = attio(), attio()
    ws_big, ws_small = store_connection(pg_url, big), store_connection(pg_url, small)
    assert (
        enqueue("attio", ws_big, visitors("big", 12, notes=False), db_url=pg_url, batch_size=1).jobs
        == 12
    )
    assert (
        enqueue(
            "attio", ws_small, visitors("small", 2, notes=False), db_url=pg_url, batch_size=1
        ).jobs
        == 2
    )
    assert run_cli("--db", pg_url, "worker", "--concurrency", "1", "--burst").exit_code == 0
    order = _finished_order(pg_url)
    assert len(order) == 14
    # Enqueued after all twelve of the big one, the small workspace's two jobs are among the
    # first four: the workers alternate between workspaces' waiting jobs.
    assert order[:4].count(ws_small) == 2, order
    assert len(set(emails(big))) == 12 and len(set(emails(small))) == 2


def test_the_schema_is_applied_once_when_many_start_together(pg_url: str) -> None:
    errors: list[BaseException] = []

    def apply() -> None:
        try:
            ensure_schema(pg_url)
        except BaseException as exc:
            errors.append(exc)

    _ready.discard(pg_url)
    threads = [threading.Thread(target=apply) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    _ready.discard(pg_url)
    ensure_schema(pg_url)  # again: nothing to do, no error
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        assert conn.execute(sa.text("SELECT to_regclass('crm_push_job_failures')")).scalar()
    engine.dispose()


def test_sigterm_lets_the_worker_finish_its_job(pg_url: str, attio, tmp_path: Path) -> None:
    srv = attio(latency=0.03)
    store_connection(pg_url, srv)
    assert enqueue("attio", None, visitors("s", 12), db_url=pg_url, batch_size=12).jobs == 1
    env = {k: v for k, v in os.environ.items() if k not in ("ATTIO_ACCESS_TOKEN", "CRM_PUSH_DB")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "crm_push", "--db", pg_url, "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not emails(srv):
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.02)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert len(set(emails(srv))) == 12  # the job being run finished
    assert run_cli("--db", pg_url, "jobs", "--json").stdout.count('"succeeded": 1') >= 1
