"""A push killed mid-run (SIGKILL, no clean-up) and re-run creates no duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.filecrm import FileCRM

pytestmark = pytest.mark.usefixtures("with_test_plugins")

N = 60


def write_input(path: Path) -> None:
    lines = []
    for i in range(N):
        v: dict = {"id": f"v{i}", "visit": {"visited_at": f"2026-11-20T10:{i % 60:02d}:00Z"}}
        if i % 5 == 4:
            v["person"] = {"name": f"No Mail {i}"}  # created, then updated through its marker
        else:
            v["person"] = {"email": f"p{i}@c{i % 7}.example"}
        v["company"] = {"name": f"Company {i % 7}", "domain": f"c{i % 7}.example"}
        lines.append(json.dumps(v))
    path.write_text("\n".join(lines) + "\n")


def push(visitors: Path, db: str, env: dict[str, str], **kw) -> subprocess.Popen:  # type: ignore[type-arg]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_push",
            "--dest",
            "filecrm",
            "--db",
            db,
            "push",
            str(visitors),
            "--json",
            "--workers",
            "3",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.mark.parametrize("kill_after_people", [5, 23])
def test_kill_then_rerun_has_no_duplicates(
    tmp_path: Path, crm_file: Path, db_url: str, kill_after_people: int
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    write_input(visitors)
    env = {**os.environ, "FILECRM_DELAY": "0.01"}
    crm = FileCRM(crm_file)
    proc = push(visitors, db_url, env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if crm_file.exists() and len(crm.snapshot()["people"]) >= kill_after_people:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted = crm.snapshot()
    assert 0 < len(interrupted["people"]) < N, "the kill must land mid-run"

    rerun = push(visitors, db_url, {**env, "FILECRM_DELAY": "0"})
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    summary = json.loads(out)
    assert summary["failed"] == 0 and summary["total"] == N

    db = crm.snapshot()
    assert len(db["companies"]) == 7
    assert len(db["people"]) == N
    emails = [p["email"] for p in db["people"].values() if p["email"]]
    assert len(emails) == len(set(emails))
    names = [p["name"] for p in db["people"].values() if not p["email"]]
    assert len(names) == len(set(names)) == N // 5
    assert len(db["notes"]) == N - N // 5  # one per visitor with an email, never two
    keys = [n["content"].splitlines()[-1] for n in db["notes"].values()]
    assert len(keys) == len(set(keys))
    # A third run has nothing left to do.
    third = push(visitors, db_url, env)
    out, _ = third.communicate(timeout=60)
    assert json.loads(out)["unchanged"] == N


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(
    tmp_path: Path, crm_file: Path, db_url: str
) -> None:
    visitors = tmp_path / "visitors.jsonl"
    write_input(visitors)
    env = {**os.environ, "FILECRM_DELAY": "0.02"}
    crm = FileCRM(crm_file)
    proc = push(visitors, db_url, env)
    deadline = time.monotonic() + 30
    while not (crm_file.exists() and len(crm.snapshot()["people"]) >= 5):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    at_interrupt = len(crm.snapshot()["people"])
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "Interrupted (SIGINT) after" in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    # Only the visitors already running (3 workers, plus any that started while the signal was
    # on its way) finish; the 9 queued behind them never start.
    assert len(crm.snapshot()["people"]) - at_interrupt <= 5

    rerun = push(visitors, db_url, {**env, "FILECRM_DELAY": "0"})
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert len(crm.snapshot()["people"]) == N
