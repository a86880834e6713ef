"""Benchmark: the whole client (Attio plugin over HTTP) with no latency and no limit, on SQLite
and on PostgreSQL state, and its peak memory as the input grows.

    python tests/benchmark/bench_client.py --db postgresql+psycopg://user@127.0.0.1/postgres
    python tests/benchmark/bench_client.py --db postgresql+psycopg://… --quick

One process pushes the visitors (8 worker threads, as `crm-push push`) through a `Session` on
the state database — markers, claims and the shared budget row on the state database's path, a
budget of 0 (unlimited) so nothing waits — to a local Attio-compatible server in a
subprocess (no latency, no limit; its CPU and memory are its own, not counted). Each run is a
fresh child process on a fresh server and state database, so that its peak resident memory is
its own; the peak counter is reset after imports and after generating the input.

Prints visitors/s and the CPU time (user + system) per visitor on SQLite and on PostgreSQL,
their ratio, and the peak RSS at each memory size on the chosen state database. CPU time is
what other load on the machine disturbs least; visitors/s moves with it.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def child(args: argparse.Namespace) -> None:
    """One push in this (fresh) process; prints its figures as JSON."""
    from bench_push import TOKEN, _max_rss_mb, _reset_peak, _status_mb, generate
    from crm_push import ConnectOptions, Credentials, Session
    from crm_push.inputs.visitors import read_jsonl
    from pydantic import SecretStr

    import crm_push_attio.plugin  # noqa: F401  (imports are the baseline, not the push)

    logging.basicConfig(level=logging.ERROR)
    os.environ["ATTIO_WRITES_PER_SECOND"] = "0"
    os.environ["ATTIO_READS_PER_SECOND"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "visitors.jsonl"
        generate(path, args.visitors, args.companies)
        credentials = Credentials(access_token=SecretStr(TOKEN))
        with Session("attio", db_url=args.state, credentials=credentials) as session:
            session.connect(ConnectOptions(base_url=args.url, interactive=False))
            pusher = session.pusher(workers=args.workers)
            gc.collect()
            before = _status_mb("VmRSS")
            _reset_peak()
            started, cpu = time.monotonic(), time.process_time()
            with path.open() as fh:
                summary = pusher.run(read_jsonl(fh))
            seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    print(
        json.dumps(
            {
                "visitors": summary.total,
                "failed": summary.failed,
                "seconds": seconds,
                "cpu": cpu,
                "rss_before_mb": before,
                "max_rss_mb": _max_rss_mb(),
            }
        )
    )


def one_run(args: argparse.Namespace, kind: str, visitors: int, tmp: Path) -> dict[str, Any]:
    from bench_processes import _drop_db, _fresh_db
    from bench_push import server

    db = _fresh_db(args.db if kind == "postgresql" else None, tmp, f"client_{visitors}")
    try:
        with server(0.0, None, None) as url:
            cmd = [sys.executable, __file__, "child", "--url", url, "--state", db]
            cmd += ["--visitors", str(visitors), "--companies", str(args.companies)]
            cmd += ["--workers", str(args.workers)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(out.stderr[-3000:])
    finally:
        _drop_db(args.db if kind == "postgresql" else None, db)
        if kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(sa_path(db) + suffix).unlink(missing_ok=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sa_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("child")
    c.add_argument("--url", required=True)
    c.add_argument("--state", required=True)
    c.add_argument("--visitors", type=int, required=True)
    c.add_argument("--companies", type=int, required=True)
    c.add_argument("--workers", type=int, default=8)
    p.add_argument("--db", help="a PostgreSQL server URL (default: CRM_PUSH_TEST_PG_URL)")
    p.add_argument("--visitors", type=int, default=2000, help="for the SQLite/PostgreSQL runs")
    p.add_argument("--companies", type=int, default=300)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2, help="runs of each state database; 0: none")
    p.add_argument("--memory-sizes", default="10000,100000", help="comma-separated; '' to skip")
    p.add_argument("--memory-db", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--quick", action="store_true", help="500 visitors, memory at 2,000/10,000")
    args = p.parse_args()
    if args.command == "child":
        child(args)
        return
    args.db = args.db or os.environ.get("CRM_PUSH_TEST_PG_URL")
    if not args.db:
        p.error("give --db (a PostgreSQL server URL)")
    if args.quick:
        args.visitors, args.repeat, args.memory_sizes = 500, 1, "2000,10000"

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(
            f"{args.visitors} visitors over {args.companies} companies, {args.workers} workers; "
            "server: no latency, no limit; client budget unlimited"
        )
        per: dict[str, float] = {}
        for kind in ("sqlite", "postgresql") if args.repeat else ():
            runs = [one_run(args, kind, args.visitors, tmp) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["cpu"])
            per[kind] = best["cpu"] * 1000 / best["visitors"]
            cpus = ", ".join(f"{r['cpu'] * 1000 / r['visitors']:.2f}" for r in runs)
            rates = ", ".join(f"{r['visitors'] / r['seconds']:.0f}" for r in runs)
            failed = sum(r["failed"] for r in runs)
            print(f"  {kind:10s} CPU {cpus} ms/visitor; {rates} visitors/s; failed {failed}")
        if per:
            ratio = per["postgresql"] / per["sqlite"]
            print(f"  PostgreSQL / SQLite CPU per visitor (best runs): {ratio:.2f}x")

        sizes = [int(x) for x in args.memory_sizes.split(",") if x.strip()]
        if sizes:
            print(f"Peak memory of the whole client ({args.memory_db} state, fresh process each):")
            for size in sizes:
                r = one_run(args, args.memory_db, size, tmp)
                print(
                    f"  {size:>7} visitors: max RSS {r['max_rss_mb']:.1f} MB (before the push "
                    f"{r['rss_before_mb']:.1f} MB), {r['visitors'] / r['seconds']:.0f} visitors/s, "
                    f"CPU {r['cpu'] * 1000 / r['visitors']:.2f} ms/visitor, failed {r['failed']}"
                )


if __name__ == "__main__":
    main()
