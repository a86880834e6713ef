"""Real processes pushing one file in batches on one state database: overlapping pushes and a
kill -9 in the middle of a batch leave every record and note written once.

SQLite always; PostgreSQL too when CRM_PUSH_TEST_PG_URL names a server (each test gets its own
database).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import batch_plugins
from support.filecrm import FileCRM
from support.overlap import duplicates, finish, state_database

N = 40


def write_input(path: Path) -> None:
    lines = []
    for i in range(N):
        v: dict = {"id": f"v{i}", "visit": {"visited_at": f"2026-11-20T10:{i % 60:02d}:00Z"}}
        if i % 4 == 3:
            v["person"] = {"name": f"No Mail {i}"}
        else:
            v["person"] = {"email": f"p{i}@c{i % 5}.example"}
        if i % 3 == 0:
            v["company"] = {"name": f"Nameless {i}"}  # no domain: claimed
        else:
            v["company"] = {"name": f"Company {i % 5}", "domain": f"c{i % 5}.example"}
        if i % 5 == 1:
            v["key_contacts"] = [{"name": f"Contact {i}"}]  # keyless: claimed too
        lines.append(json.dumps(v))
    path.write_text("\n".join(lines) + "\n")


EMAILED = sum(1 for i in range(N) if i % 4 != 3)
NAMELESS = sum(1 for i in range(N) if i % 3 == 0)
CONTACTS = sum(1 for i in range(N) if i % 5 == 1)


@pytest.fixture
def env(tmp_path: Path, crm_file: Path) -> dict[str, str]:
    tests_dir = Path(__file__).resolve().parents[1]
    return batch_plugins.install(tmp_path / "site", tests_dir)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, db_url: str) -> Iterator[str]:
    yield from state_database(request.param, db_url, "crm_push_batch")


def push(
    env: dict[str, str], visitors: Path, db: str, delay: float, after: float = 0
) -> subprocess.Popen[str]:
    command = ["-m", "crm_push", "--dest", "batchfilecrm", "--db", db, "push", str(visitors)]
    return subprocess.Popen(
        [sys.executable, *command, "--json", "--workers", "2"],
        env={**env, "FILECRM_DELAY": str(delay), "FILECRM_AFTER": str(after), "FILECRM_BATCH": "5"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_complete(crm: FileCRM) -> None:
    assert set(duplicates(crm).values()) == {0}, duplicates(crm)
    db = crm.snapshot()
    assert len(db["people"]) == N + CONTACTS
    assert len(db["notes"]) == EMAILED
    assert len(db["companies"]) == NAMELESS + 5


@pytest.mark.parametrize("processes", [2, 4])
def test_overlapping_batch_pushes_write_everything_once(
    tmp_path: Path, crm_file: Path, env: dict[str, str], state_url: str, processes: int
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    write_input(visitors)
    crm = FileCRM(crm_file)
    procs = [push(env, visitors, state_url, 0.01) for _ in range(processes)]
    summaries = [finish(p) for p in procs]
    assert all(s["failed"] == 0 for s in summaries), summaries
    assert set(duplicates(crm).values()) == {0}, duplicates(crm)
    # Every note was created by exactly one of them; the others found it done (or deferred).
    assert sum(s["notes_created"] for s in summaries) == len(crm.snapshot()["notes"])
    rerun = finish(push(env, visitors, state_url, 0))
    assert rerun["failed"] == rerun["deferred"] == 0
    assert_complete(crm)
    assert finish(push(env, visitors, state_url, 0))["unchanged"] == N


def test_kill_9_in_a_batch_then_a_rerun_duplicates_nothing(
    tmp_path: Path, crm_file: Path, env: dict[str, str], state_url: str
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    write_input(visitors)
    crm = FileCRM(crm_file)
    # Each batch call of the victim answers 0.2 s after its write: killed in one of those
    # windows, it leaves records and notes in the CRM that its markers do not know of.
    victim = push(env, visitors, state_url, 0.01, after=0.2)
    deadline = time.monotonic() + 60
    while not (crm_file.exists() and len(crm.snapshot()["notes"]) >= 5):
        assert time.monotonic() < deadline, "the push never started"
        time.sleep(0.005)
    time.sleep(0.1)  # into the next call's window
    victim.send_signal(signal.SIGKILL)
    victim.wait()  # reaped: its claims are now known to be a dead process's
    assert len(crm.snapshot()["people"]) < N + CONTACTS, "killed too late to test a resume"
    others = [push(env, visitors, state_url, 0.01) for _ in range(2)]
    summaries = [finish(p) for p in others]
    assert all(s["failed"] == 0 for s in summaries), summaries
    rerun = finish(push(env, visitors, state_url, 0))
    assert rerun["failed"] == rerun["deferred"] == 0
    assert_complete(crm)
