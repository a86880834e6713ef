"""A worker killed with kill -9 mid-job: another worker runs the job again, no duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from jobs_helpers import emails, run_cli, store_connection, visitors, write_jsonl

STALL = "2"


def _doing(pg_url: str) -> int:
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")
        ).scalar()
    engine.dispose()
    return int(n or 0)


def test_a_killed_worker_job_is_finished_by_another_with_no_duplicates(
    pg_url: str, attio, tmp_path: Path
) -> None:
    srv = attio(latency=0.03)
    store_connection(pg_url, srv)
    file = write_jsonl(tmp_path / "k.jsonl", visitors("k", 30))
    result = run_cli("--dest", "attio", "--db", pg_url, "enqueue", str(file), "--batch-size", "15")
    assert result.exit_code == 0, result.output

    env = {k: v for k, v in os.environ.items() if k not in ("ATTIO_ACCESS_TOKEN", "CRM_PUSH_DB")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "crm_push", "--db", pg_url, "worker", "--stall-seconds", STALL],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(emails(srv)) < 5:  # mid-job: some visitors written, not all
            assert time.monotonic() < deadline, "the worker pushed nothing"
            assert worker.poll() is None
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert _doing(pg_url) == 1 and len(emails(srv)) < 30

    started = time.monotonic()
    done = run_cli("--db", pg_url, "worker", "--burst", "--stall-seconds", STALL)
    assert done.exit_code == 0, done.output
    assert time.monotonic() - started < 45

    totals = json.loads(run_cli("--db", pg_url, "jobs", "--json").stdout)
    assert (totals["succeeded"], totals["doing"], totals["todo"]) == (2, 0, 0)
    found = Counter(emails(srv))
    assert len(found) == 30 and set(found.values()) == {1}, found
    assert len(srv.notes()) == 30
    assert len(srv.records("companies")) == 3
