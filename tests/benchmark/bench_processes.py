"""Benchmark: several processes pushing disjoint slices to one workspace, at Attio's limits.

    python tests/benchmark/bench_processes.py --db postgresql+psycopg://user@127.0.0.1/db
    python tests/benchmark/bench_processes.py --visitors 600 --processes 4      # SQLite file

One local Attio-compatible server (in a subprocess) enforces 25 writes/s and 100 reads/s per
workspace with its latency; N processes (each with its own worker threads) push disjoint slices
of one input to that workspace, sharing one state database. Two runs side by side, each on a
fresh server and a fresh state database: the per-process budget (``CRM_PUSH_BUDGET=process``,
each process its own 25 writes/s) and the shared one (the default: one budget row in the state
database for all of them). Prints accepted writes/s as a share of 25, 429s as a share of
writes, and failed visitors.

``worker`` is the subcommand each process runs; tests/core/test_budget_processes.py uses it too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
WRITE_RATE = 25.0
READ_RATE = 100.0


class CountingTransport(httpx.HTTPTransport):
    """Counts what reached the server: writes, reads, 429s."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        write = request.method in ("POST", "PUT", "PATCH") and not request.url.path.endswith(
            "/query"
        )
        with self._lock:
            self.counts["writes" if write else "reads"] += 1
            if response.status_code == 429:
                self.counts["429" if write else "429_reads"] += 1
        return response


# -- one process -----------------------------------------------------------------------------


def run_worker(
    url: str, db: str, path: Path, index: int, count: int, workers: int, token: str = TOKEN
) -> dict[str, Any]:
    """Push visitors number index, index + count, … of the file to the server's workspace with a
    Session on ``db`` (so the budget is shared unless CRM_PUSH_BUDGET=process)."""
    from crm_push import ConnectOptions, Credentials, Destination, Session
    from crm_push.inputs.visitors import read_jsonl
    from pydantic import SecretStr

    from crm_push_attio.plugin import AttioDestination

    transport = CountingTransport()
    dest = Destination("attio", AttioDestination(transport=transport))
    credentials = Credentials(access_token=SecretStr(token))
    with Session(dest, db_url=db, credentials=credentials) as session:
        session.connect(ConnectOptions(base_url=url, interactive=False))
        with path.open() as fh:
            lines = [line for n, line in enumerate(fh) if n % count == index]
        pusher = session.pusher(workers=workers)
        started = time.time()
        summary = pusher.run(read_jsonl(lines))
        ended = time.time()
        stats = session.request_stats()
    return {
        "started": started,
        "ended": ended,
        "visitors": summary.total,
        "failed": summary.failed,
        "waited": stats.get("limiter_wait_seconds", 0.0),
        **transport.counts,
    }


# -- the comparison --------------------------------------------------------------------------


def _fresh_db(base: str | None, tmp: Path, label: str) -> str:
    """A new state database with its tables (made here: several processes creating them at
    once on a new PostgreSQL database race)."""
    import sqlalchemy as sa
    from crm_push.state.database import engine_for

    if base is None:
        url = f"sqlite:///{tmp / f'{label}.db'}"
        engine_for(url).dispose()
        return url

    name = f"bench_budget_{label}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    engine_for(url).dispose()
    return url


def _drop_db(base: str | None, db: str) -> None:
    if base is None:
        return
    import sqlalchemy as sa

    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        name = sa.make_url(db).database
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_mode(mode: str, args: argparse.Namespace, path: Path, tmp: Path) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from bench_push import server

    db = _fresh_db(args.db, tmp, mode)
    env = {
        **os.environ,
        "CRM_PUSH_BUDGET": mode,
        "ATTIO_WRITES_PER_SECOND": str(WRITE_RATE),
        "ATTIO_READS_PER_SECOND": str(READ_RATE),
    }
    with server(args.latency, WRITE_RATE, READ_RATE) as url:
        cmd = [sys.executable, str(Path(__file__).resolve()), "worker", "--url", url]
        cmd += ["--db", db, "--input", str(path), "--workers", str(args.workers)]
        logs = [tmp / f"{mode}-{i}.log" for i in range(args.processes)]
        procs = [
            subprocess.Popen(
                [*cmd, "--index", str(i), "--count", str(args.processes)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log.open("w"),  # the retry lines, shown only if a worker fails
                text=True,
            )
            for i, log in enumerate(logs)
        ]
        results = []
        for proc, log in zip(procs, logs, strict=True):
            out, _ = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                print(log.read_text()[-3000:], file=sys.stderr)
                raise RuntimeError(f"a worker failed (exit {proc.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
    _drop_db(args.db, db)
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    total: Counter[str] = Counter()
    for r in results:
        for key in ("visitors", "failed", "writes", "reads", "429", "429_reads", "waited"):
            total[key] += r.get(key, 0)
    accepted = total["writes"] - total["429"]
    return {
        "mode": mode,
        "seconds": seconds,
        "writes_per_second": accepted / seconds,
        "share": accepted / seconds / WRITE_RATE,
        "refused_share": total["429"] / max(1, total["writes"]),
        **total,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command")
    w = sub.add_parser("worker")
    w.add_argument("--url", required=True)
    w.add_argument("--db", required=True)
    w.add_argument("--input", required=True, type=Path)
    w.add_argument("--index", type=int, required=True)
    w.add_argument("--count", type=int, required=True)
    w.add_argument("--workers", type=int, default=8)
    w.add_argument("--token", default=TOKEN)
    p.add_argument("--visitors", type=int, default=2000)
    p.add_argument("--companies", type=int, default=400)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--workers", type=int, default=8, help="threads per process")
    p.add_argument("--latency", type=float, default=0.05, help="server latency, seconds")
    p.add_argument("--db", default=None, help="a PostgreSQL server URL (default: SQLite files)")
    p.add_argument("--modes", default="process,shared")
    p.add_argument("--quick", action="store_true", help="300 visitors over 60 companies")
    args = p.parse_args()
    if args.quick:
        args.visitors, args.companies = 300, 60
    if args.command == "worker":
        result = run_worker(
            args.url, args.db, args.input, args.index, args.count, args.workers, args.token
        )
        print(json.dumps(result))
        return

    sys.path.insert(0, str(HERE))
    from bench_push import generate, minimum_writes

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "visitors.jsonl"
        mix = generate(path, args.visitors, args.companies)
        print(
            f"{args.visitors} visitors ({mix}), at least {minimum_writes(path)} writes; "
            f"{args.processes} processes x {args.workers} workers; server latency "
            f"{args.latency * 1000:.0f} ms, {WRITE_RATE:.0f} writes/s and {READ_RATE:.0f} reads/s "
            f"per workspace; state: {'PostgreSQL' if args.db else 'SQLite file'}"
        )
        for mode in args.modes.split(","):
            r = run_mode(mode, args, path, tmp)
            print(
                f"  budget={mode:8s} {r['seconds']:6.1f} s  {r['writes_per_second']:5.1f} writes/s "
                f"= {r['share']:.0%} of {WRITE_RATE:.0f}  429s {r['429']} "
                f"({r['refused_share']:.1%} of {r['writes']} writes; reads: {r['429_reads']})  "
                f"failed {r['failed']}/{r['visitors']}  limiter wait {r['waited']:.0f} s"
            )


if __name__ == "__main__":
    main()
