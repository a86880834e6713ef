"""SIGINT and SIGTERM stop a push cleanly, in a real subprocess: the visitors being pushed finish
and are counted, queued ones never start, the rejects file is kept, the summary is printed (JSON
under --json) and the exit code says which signal (130, 143)."""

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
    lines = ['{"id": "bad", "person": {"email": "not-an-email"}}']
    for i in range(N):
        v = {"id": f"v{i}", "person": {"email": f"p{i}@c{i % 7}.example"}}
        v["company"] = {"name": f"Company {i % 7}", "domain": f"c{i % 7}.example"}
        lines.append(json.dumps(v))
    path.write_text("\n".join(lines) + "\n")


def push(visitors: Path, db: str, rejects: Path, *args: str, delay: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "crm_push", "--dest", "filecrm", "--db", db, "push"]
    command += [str(visitors), "--workers", "3", "--rejects", str(rejects), *args]
    env = {**os.environ, "FILECRM_DELAY": delay}
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def interrupt(proc: subprocess.Popen[str], crm: FileCRM, crm_file: Path, signum: int) -> int:
    deadline = time.monotonic() + 30
    while not (crm_file.exists() and len(crm.snapshot()["people"]) >= 5):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.005)
    at_signal = len(crm.snapshot()["people"])
    proc.send_signal(signum)
    return at_signal


@pytest.mark.parametrize(
    ("signum", "code", "args"),
    [
        (signal.SIGINT, 130, ["--json"]),
        (signal.SIGTERM, 143, ["--json"]),
        (signal.SIGTERM, 143, []),
        (signal.SIGINT, 130, ["--json", "--workers", "1"]),
    ],
)
def test_a_signal_stops_cleanly_prints_the_summary_and_says_which(
    tmp_path: Path, crm_file: Path, db_url: str, signum: int, code: int, args: list[str]
) -> None:
    visitors, rejects = tmp_path / "visitors.jsonl", tmp_path / "rejects.jsonl"
    write_input(visitors)
    crm = FileCRM(crm_file)
    proc = push(visitors, db_url, rejects, *args, delay="0.02")
    at_signal = interrupt(proc, crm, crm_file, signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    name = signal.Signals(signum).name
    assert f"Interrupted ({name}) after " in err and "run the same command again" in err
    people = len(crm.snapshot()["people"])
    assert people - at_signal <= 5  # the 3 running (and any starting then); the queue never starts
    if args:
        summary = json.loads(out)
        assert summary["stopped"] == "interrupted"
        # Every visitor that reached the CRM is counted: the ones running at the signal too.
        assert summary["created"] == people and summary["failed"] == 1
        assert summary["total"] == people + 1 < N
    else:
        assert " visitors in " in out and "1 failed" in out
        assert "Stopped early" not in out
    # The rejects file is kept, and a re-run finishes the job.
    assert json.loads(rejects.read_text().splitlines()[0])["id"] == "bad"
    rerun = push(visitors, db_url, tmp_path / "rejects-2.jsonl", "--json", delay="0")
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 1, err  # the bad line fails again
    assert json.loads(out)["created"] == N - people
    assert len(crm.snapshot()["people"]) == N


def test_a_second_ctrl_c_stops_at_once_and_still_prints_the_summary(
    tmp_path: Path, crm_file: Path, db_url: str
) -> None:
    visitors, rejects = tmp_path / "visitors.jsonl", tmp_path / "rejects.jsonl"
    write_input(visitors)
    crm = FileCRM(crm_file)
    proc = push(visitors, db_url, rejects, "--json", delay="0.2")
    interrupt(proc, crm, crm_file, signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Ctrl-C again to stop at once" in err
    summary = json.loads(out)
    assert summary["stopped"] == "interrupted" and summary["total"] < N
    assert len(crm.snapshot()["people"]) < 5 + 6
