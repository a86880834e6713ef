"""Kill `crm-push push` mid-run against the local Attio server, re-run: nothing is doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from crm_push_attio.server import DEFAULT_TOKEN, AttioServer

N = 80


def visitors(path: Path) -> None:
    lines = []
    for i in range(N):
        v: dict = {
            "id": f"v{i}",
            "company": {"name": f"Co {i % 9}", "domain": f"co{i % 9}.example"},
            "visit": {"visited_at": f"2026-11-20T10:{i % 60:02d}:00Z", "pages": ["/pricing"]},
        }
        if i % 4 == 3:
            v["person"] = {"name": f"Nomail Person{i}"}
        else:
            v["person"] = {"email": f"p{i}@co{i % 9}.example", "name": f"Pat Person{i}"}
        lines.append(json.dumps(v))
    path.write_text("\n".join(lines) + "\n")


def push(file: Path, db: str, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "crm_push", "--dest", "attio", "--db", db, "push", str(file)]
    return subprocess.Popen(
        [*cmd, "--json", "--workers", "6"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kill_after_writes", [5, 40, 90, 130])
def test_killed_push_resumes_without_duplicates(tmp_path: Path, kill_after_writes: int) -> None:
    file = tmp_path / "visitors.jsonl"
    visitors(file)
    db = f"sqlite:///{tmp_path / 'state.db'}"
    with AttioServer(latency=0.01) as srv:
        env = {**os.environ, "ATTIO_BASE_URL": srv.base_url, "ATTIO_ACCESS_TOKEN": DEFAULT_TOKEN}
        env.pop("CRM_PUSH_DB", None)
        proc = push(file, db, env)
        deadline = time.monotonic() + 60
        while srv.count(method="POST") + srv.count(method="PUT") < kill_after_writes:
            assert time.monotonic() < deadline and proc.poll() is None, "the push ended too soon"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(srv.records("people")) < N, "the kill must land mid-run"

        rerun = push(file, db, env)
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
        assert json.loads(out)["failed"] == 0

        people = srv.records("people")
        names = Counter(p["values"]["name"][0]["full_name"] for p in people)
        assert len(people) == N and max(names.values()) == 1
        assert len(srv.records("companies")) == 9
        keys = Counter(n["content_plaintext"].splitlines()[-1] for n in srv.notes())
        assert sum(keys.values()) == N - N // 4 and max(keys.values()) == 1
        assert srv.count(method="DELETE") == 0
