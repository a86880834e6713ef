"""The shared rate budget across real processes, against the local Attio-compatible server.

Several subprocesses push disjoint slices to one workspace whose write limit the server
enforces; one state database (a SQLite file, or PostgreSQL when CRM_PUSH_TEST_PG_URL is set)
holds their one budget. Counts are asserted (429s, failures, records), never speed; the
timeouts only catch a hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_push.http import HttpClient
from crm_push.state import database
from crm_push.state.budget import SharedBudget

from crm_push_attio import server
from support.databases import fresh_postgres

BENCH = Path(__file__).resolve().parents[1] / "benchmark" / "bench_processes.py"
WRITE_RATE = 10.0


@pytest.fixture
def srv() -> Iterator[Any]:
    with server.AttioServer(write_rate=WRITE_RATE, latency=0.01) as running:
        yield running


def visitors(path: Path, n: int) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            c = i % 6
            visitor = {
                "id": f"v{i}",
                "company": {"name": f"Company {c}", "domain": f"company{c}.example"},
                "person": {"email": f"p{i}@company{c}.example", "name": f"Pat Person{i}"},
            }
            fh.write(json.dumps(visitor) + "\n")
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTIO_", "CRM_PUSH_"))}
    return {**env, "ATTIO_WRITES_PER_SECOND": str(WRITE_RATE), **extra}


def test_processes_share_one_budget(srv: Any, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'state.db'}"
    database.engine_for(db)  # its tables, before three processes race to create them
    path = visitors(tmp_path / "visitors.jsonl", 45)
    count = 3
    cmd = [sys.executable, str(BENCH), "worker", "--url", srv.base_url, "--db", db]
    cmd += ["--token", server.DEFAULT_TOKEN]
    cmd += ["--input", str(path), "--workers", "4", "--count", str(count)]
    procs = [
        subprocess.Popen(
            [*cmd, "--index", str(i)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    writes = sum(r.get("writes", 0) for r in results)
    refused = sum(r.get("429", 0) for r in results)
    assert sum(r["visitors"] for r in results) == 45
    assert sum(r["failed"] for r in results) == 0
    # Three processes at 10 writes/s each are refused by the dozen (CRM_PUSH_BUDGET=process:
    # 18 429s in one run); one budget is not (a stray 429 may come from scheduling jitter at the
    # edge of a server second on a loaded machine).
    assert writes >= 45 + 6
    assert refused <= 3, results
    assert srv.count("DELETE") == 0


def test_a_429_seen_by_one_process_holds_the_others(srv: Any, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'state.db'}"
    workspace = srv.workspace_id
    slept: list[float] = []
    budget = SharedBudget("attio", workspace, db, writes_per_second=WRITE_RATE, sleep=slept.append)
    srv.faults.add(1, 429, "/v2/objects/companies", "PUT", retry_after_seconds=4)
    with HttpClient(
        srv.base_url,
        headers={"Authorization": f"Bearer {server.DEFAULT_TOKEN}"},
        limits=budget,
        sleep=slept.append,  # this process does not wait: the other one must
    ) as client:
        client.request(
            "PUT",
            "/v2/objects/companies/records",
            params={"matching_attribute": "domains"},
            json={"data": {"values": {"domains": [{"domain": "held.example"}]}}},
        )
    assert client.stats.as_dict()["throttled"] == 1
    code = (
        "import sys; from crm_push.state.budget import SharedBudget; "
        f"b = SharedBudget('attio', {workspace!r}, {db!r}, writes_per_second={WRITE_RATE}); "
        "print(b.acquire('write'))"
    )
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    waited = float(out.stdout.strip())
    # The hold is 4 s from the 429; the other process started a moment later and waited for it.
    assert waited > 4 - (time.monotonic() - started) - 0.5
    assert waited > 1


def test_processes_share_one_budget_on_postgresql(srv: Any, tmp_path: Path) -> None:
    with fresh_postgres("crm_push_budget") as db:
        # Tables first: concurrent create_all on a new PostgreSQL database races (not ours here).
        database.engine_for(db)
        path = visitors(tmp_path / "visitors.jsonl", 24)
        cmd = [sys.executable, str(BENCH), "worker", "--url", srv.base_url, "--db", db]
        cmd += ["--token", server.DEFAULT_TOKEN]
        cmd += ["--input", str(path), "--workers", "4", "--count", "3"]
        procs = [
            subprocess.Popen(
                [*cmd, "--index", str(i)], env=_env(), stdout=subprocess.PIPE, text=True
            )
            for i in range(3)
        ]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
        assert sum(r.get("writes", 0) for r in results) >= 24 + 6
        assert sum(r["visitors"] for r in results) == 24
        assert sum(r["failed"] for r in results) == 0
        assert sum(r.get("429", 0) for r in results) <= 3, results
