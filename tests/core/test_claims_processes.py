"""Several real processes pushing the same file at once, on one state database: claims keep
every write that is not idempotent (notes, people without email, companies without domain) to
one process, and a kill -9 of one of them leaves nothing a re-run duplicates.

SQLite always; PostgreSQL too when CRM_PUSH_TEST_PG_URL names a server (each test gets its own
database).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.filecrm import FileCRM
from support.overlap import duplicates, finish, state_database

pytestmark = pytest.mark.usefixtures("with_test_plugins")

N = 30


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
        lines.append(json.dumps(v))
    path.write_text("\n".join(lines) + "\n")


EMAILED = sum(1 for i in range(N) if i % 4 != 3)
NAMELESS = sum(1 for i in range(N) if i % 3 == 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, db_url: str) -> Iterator[str]:
    yield from state_database(request.param, db_url, "crm_push_claims")


def push(visitors: Path, db: str, delay: float) -> subprocess.Popen[str]:
    command = ["-m", "crm_push", "--dest", "filecrm", "--db", db, "push", str(visitors)]
    return subprocess.Popen(
        [sys.executable, *command, "--json", "--workers", "3"],
        env={**os.environ, "FILECRM_DELAY": str(delay)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


#: A list run, as a job or a host app pushes: `Pusher.run` of a list of lines, which reads the
#: markers ahead and claims the next visitors' notes and keyless records ahead.
LIST_RUN = """
import json, sys
from crm_push import Session, parse_visitor
from crm_push.inputs.lines import Line
from crm_push.push.batch import pusher_for

path, db = sys.argv[1:3]
lines = [
    Line(line=i, raw=raw, item=parse_visitor(json.loads(raw)))
    for i, raw in enumerate(open(path), 1)
]
with Session("filecrm", db_url=db, environment=True) as session:
    pusher = pusher_for(session.destination, session.connect(), session.markers(), workers=3)
    print(pusher.run(lines).model_dump_json())
"""


def push_list(visitors: Path, db: str, delay: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LIST_RUN, str(visitors), db],
        env={**os.environ, "FILECRM_DELAY": str(delay)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_complete(crm: FileCRM) -> None:
    assert set(duplicates(crm).values()) == {0}, duplicates(crm)
    db = crm.snapshot()
    assert len(db["people"]) == N
    assert len(db["notes"]) == EMAILED
    assert len(db["companies"]) == NAMELESS + 5


@pytest.mark.parametrize(
    ("processes", "run"), [(2, push), (4, push), (8, push), (2, push_list), (4, push_list)]
)
def test_overlapping_pushes_write_everything_once(
    tmp_path: Path, crm_file: Path, state_url: str, processes: int, run: Any
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    write_input(visitors)
    crm = FileCRM(crm_file)
    procs = [run(visitors, state_url, 0.01) for _ in range(processes)]
    summaries = [finish(p) for p in procs]
    assert all(s["failed"] == 0 for s in summaries), summaries
    assert set(duplicates(crm).values()) == {0}, duplicates(crm)
    # Every note was created by exactly one of them; the others found it done.
    assert sum(s["notes_created"] for s in summaries) == len(crm.snapshot()["notes"])
    # A re-run pushes what was deferred (if anything), and then everything is there, once.
    rerun = finish(push(visitors, state_url, 0))
    assert rerun["failed"] == rerun["deferred"] == 0
    assert_complete(crm)
    assert finish(push(visitors, state_url, 0))["unchanged"] == N


@pytest.mark.parametrize("run", [push, push_list])
def test_kill_9_of_one_overlapping_push_then_a_rerun_duplicates_nothing(
    tmp_path: Path, crm_file: Path, state_url: str, run: Any
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    write_input(visitors)
    crm = FileCRM(crm_file)
    victim = run(visitors, state_url, 0.02)
    others = [run(visitors, state_url, 0.02) for _ in range(2)]
    deadline = time.monotonic() + 30
    while not (crm_file.exists() and len(crm.snapshot()["people"]) >= 8):
        assert time.monotonic() < deadline, "the pushes never started"
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()  # reaped: its claims are now known to be a dead process's
    summaries = [finish(p) for p in others]
    assert all(s["failed"] == 0 for s in summaries), summaries
    rerun = finish(push(visitors, state_url, 0))
    assert rerun["failed"] == rerun["deferred"] == 0
    assert_complete(crm)
