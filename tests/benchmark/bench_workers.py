"""Benchmark: push jobs of several workspaces run by several `crm-push worker` processes.

    python tests/benchmark/bench_workers.py --db postgresql+psycopg://user@127.0.0.1/postgres
    python tests/benchmark/bench_workers.py --db postgresql+psycopg://… --quick    # 4 x 100

N workspaces (each a local Attio-compatible server in its own subprocess, with its own token,
50 ms latency, 25 writes/s and 100 reads/s enforced) get M visitors each. Two runs side by side,
each on fresh servers and a fresh PostgreSQL state database:

- jobs: `crm-push enqueue` per workspace, then K `crm-push worker --burst` processes;
- baseline: one `crm-push push` process per workspace, all at once.

Prints the writes the servers accepted per second, as a share of N × 25, the 429s, failed
visitors, and the CPU time (user + system, from the kernel's accounting of each process) of the
whole pushing processes per visitor — with and without their fixed cost (imports, the schema
check, connecting, polling), measured in the same run as the same processes pushing one
already-pushed visitor per workspace. CPU time is what other load on the machine disturbs
least; wall-clock figures (and so writes/s) move with it.

``--profile DIR`` records each pushing process with py-spy (a dev tool, ``pip install py-spy``;
not a dependency) in collapsed form, sampling only threads that hold the GIL, i.e. CPU.

``serve`` is the subcommand each server process runs: it prints its URL, and its request counts
when it is stopped (SIGTERM), so the counts are the server's own and its CPU is not the client's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
WRITE_RATE = 25.0
READ_RATE = 100.0
CRM_PUSH = str(Path(sys.executable).with_name("crm-push"))
#: System CPU seconds of every process run so far (the kernel's share of the CPU figures).
SYSTEM_CPU = [0.0]


# -- one server ----------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    from crm_push_attio.server import AttioServer
    from crm_push_attio.server.auth import TokenInfo

    srv = AttioServer(
        tokens={args.token: TokenInfo()},
        latency=args.latency,
        write_rate=args.write_rate or None,
        read_rate=args.read_rate or None,
        workspace_name=args.token,
    ).start()
    print(srv.base_url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    srv.stop()
    counts: Counter[str] = Counter()
    for r in srv.requests:
        write = r.method in ("POST", "PUT", "PATCH") and not r.path.endswith("/query")
        kind = "writes" if write else "reads"
        counts[kind] += 1
        if r.status == 429:
            counts[f"429_{kind}"] += 1
    counts["people"] = len(srv.records("people"))
    counts["notes"] = len(srv.notes())
    print(json.dumps(counts), flush=True)


class Servers:
    """N server subprocesses, one workspace and token each."""

    def __init__(self, n: int, latency: float, write_rate: float, read_rate: float) -> None:
        self.tokens = [f"bench-token-{i}" for i in range(n)]
        self.procs = []
        for token in self.tokens:
            cmd = [sys.executable, __file__, "serve", "--token", token, "--latency", str(latency)]
            cmd += ["--write-rate", str(write_rate), "--read-rate", str(read_rate)]
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
        self.urls = [p.stdout.readline().strip() for p in self.procs]  # type: ignore[union-attr]

    def stop(self) -> list[dict[str, int]]:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        out = []
        for p in self.procs:
            text, _ = p.communicate(timeout=60)
            out.append(json.loads(text.strip().splitlines()[-1]))
        return out


# -- the runs ------------------------------------------------------------------------------------


def _env(db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTIO_", "CRM_PUSH_"))}
    env["ATTIO_WRITES_PER_SECOND"] = str(WRITE_RATE)
    env["ATTIO_READS_PER_SECOND"] = str(READ_RATE)
    env["CRM_PUSH_DB"] = db
    return env


def _store(db: str, url: str, token: str) -> str:
    """Connect a workspace and store its connection, as `crm-push connect` does."""
    from crm_push.models.crm import ConnectOptions, Credentials
    from crm_push.session import Session
    from pydantic import SecretStr

    credentials = Credentials(access_token=SecretStr(token))
    with Session("attio", db_url=db, credentials=credentials) as session:
        connection = session.connect(ConnectOptions(base_url=url, interactive=False))
        session.save()
    return connection.workspace_id


def _run_all(
    cmds: list[list[str]], env: dict[str, str], tmp: Path
) -> tuple[float, float, list[str]]:
    """Run the commands at once; (wall seconds, CPU seconds of them all, their stdout)."""
    logs = [tmp / f"proc-{i}.err" for i in range(len(cmds))]
    started = time.monotonic()
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
        for c, log in zip(cmds, logs, strict=True)
    ]
    outs = [p.stdout.read() for p in procs]  # type: ignore[union-attr]
    cpu = 0.0
    for p, log in zip(procs, logs, strict=True):
        _, status, usage = os.wait4(p.pid, 0)  # the kernel's CPU accounting of that process
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        SYSTEM_CPU[0] += usage.ru_stime
        if p.returncode not in (0, 1):
            print(log.read_text()[-3000:], file=sys.stderr)
            raise RuntimeError(f"{cmds[0][1:3]} exited {p.returncode}")
    return time.monotonic() - started, cpu, outs


def _profiled(cmd: list[str], profile: Path | None, name: str) -> list[str]:
    """The command under py-spy (a dev tool: `pip install py-spy`), its samples in collapsed
    form (one stack a line) in the profile directory; CPU figures then include py-spy's pauses."""
    if profile is None:
        return cmd
    profile.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    out = profile / f"{name}.txt"
    return [spy, "record", "--format", "raw", "--rate", "100", "--gil", "-o", str(out), "--", *cmd]


def _first_lines(files: list[Path], tmp: Path) -> list[Path]:
    out = []
    for path in files:
        first = tmp / f"first-{path.name}"
        first.write_text(path.read_text().splitlines(keepends=True)[0])
        out.append(first)
    return out


def run_mode(mode: str, args: argparse.Namespace, files: list[Path], tmp: Path) -> dict[str, Any]:
    from bench_processes import _drop_db, _fresh_db

    db = _fresh_db(args.db, tmp, mode)
    env = _env(db)
    servers = Servers(len(files), args.latency, WRITE_RATE, READ_RATE)
    try:
        workspaces = [_store(db, u, t) for u, t in zip(servers.urls, servers.tokens, strict=True)]
        base = [CRM_PUSH, "--dest", "attio", "--db", db]
        if mode == "jobs":
            for path, ws in zip(files, workspaces, strict=True):
                cmd = [*base, "enqueue", str(path), "--workspace", ws]
                cmd += ["--batch-size", str(args.batch_size)]
                subprocess.run(cmd, env=env, check=True, capture_output=True)
            worker = [CRM_PUSH, "--db", db, "worker", "--burst"]
            worker += ["--concurrency", str(args.concurrency)]
            cmds = [_profiled(worker, args.profile, f"worker-{i}") for i in range(args.workers)]
            SYSTEM_CPU[0] = 0.0
            seconds, cpu, _ = _run_all(cmds, env, tmp)
            system = SYSTEM_CPU[0]
            listed = subprocess.run(
                [CRM_PUSH, "--db", db, "jobs", "failed", "--json"],
                env=env,
                check=True,
                text=True,
                capture_output=True,
            ).stdout
            failed = len(listed.splitlines())
            # The fixed cost: the same processes running one job per workspace of one visitor
            # already pushed (imports, the schema check, connecting, polling; nothing written).
            for path, ws in zip(_first_lines(files, tmp), workspaces, strict=True):
                cmd = [*base, "enqueue", str(path), "--workspace", ws]
                subprocess.run(cmd, env=env, check=True, capture_output=True)
            _, idle, _ = _run_all([worker] * args.workers, env, tmp)
        else:
            cmds = [
                _profiled([*base, "push", str(p), "--workspace", ws, "--json"], args.profile, ws)
                for p, ws in zip(files, workspaces, strict=True)
            ]
            SYSTEM_CPU[0] = 0.0
            seconds, cpu, outs = _run_all(cmds, env, tmp)
            system = SYSTEM_CPU[0]
            failed = sum(json.loads(o)["failed"] for o in outs)
            # The fixed cost: the same processes pushing one visitor already pushed.
            again = [
                [*base, "push", str(p), "--workspace", ws]
                for p, ws in zip(_first_lines(files, tmp), workspaces, strict=True)
            ]
            _, idle, _ = _run_all(again, env, tmp)
    finally:
        counts = servers.stop()
        _drop_db(args.db, db)
    total: Counter[str] = Counter(dict.fromkeys(("writes", "429_writes", "429_reads"), 0))
    for c in counts:
        total.update(c)
    visitors = args.visitors * len(files)
    accepted = total["writes"] - total["429_writes"]
    return {
        "mode": mode,
        "seconds": seconds,
        "writes_per_second": accepted / seconds,
        "share": accepted / seconds / (WRITE_RATE * len(files)),
        "cpu_ms": cpu * 1000 / visitors,
        "cpu_ms_net": (cpu - idle) * 1000 / visitors,
        "idle_cpu": idle,
        "system_share": system / cpu,
        "failed": failed,
        **total,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("serve")
    s.add_argument("--token", required=True)
    s.add_argument("--latency", type=float, default=0.05)
    s.add_argument("--write-rate", type=float, default=WRITE_RATE)
    s.add_argument("--read-rate", type=float, default=READ_RATE)
    p.add_argument("--db", required=False, help="a PostgreSQL server URL (jobs need PostgreSQL)")
    p.add_argument("--workspaces", type=int, default=4)
    p.add_argument("--visitors", type=int, default=500, help="per workspace")
    p.add_argument("--companies", type=int, default=100, help="per workspace")
    p.add_argument("--workers", type=int, default=3, help="`crm-push worker` processes")
    p.add_argument("--concurrency", type=int, default=2, help="jobs each worker runs at once")
    p.add_argument("--batch-size", type=int, default=100, help="visitors per job")
    p.add_argument("--latency", type=float, default=0.05, help="server latency, seconds")
    p.add_argument("--modes", default="jobs,push")
    p.add_argument("--profile", type=Path, help="record each pushing process with py-spy here")
    p.add_argument("--quick", action="store_true", help="100 visitors per workspace")
    args = p.parse_args()
    if args.command == "serve":
        serve(args)
        return
    logging.basicConfig(level=logging.ERROR)  # not the new-database and plain-token warnings
    args.db = args.db or os.environ.get("CRM_PUSH_TEST_PG_URL")
    if not args.db:
        p.error("give --db (a PostgreSQL server URL): jobs need PostgreSQL")
    if args.quick:
        args.visitors, args.companies, args.batch_size = 100, 25, 25

    from bench_push import generate, minimum_writes

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files, need = [], 0
        for i in range(args.workspaces):
            path = tmp / f"ws{i}.jsonl"
            generate(path, args.visitors, args.companies, seed=7 + i)
            need += minimum_writes(path)
            files.append(path)
        print(
            f"{args.workspaces} workspaces x {args.visitors} visitors (at least {need} writes); "
            f"server latency {args.latency * 1000:.0f} ms, {WRITE_RATE:.0f} writes/s and "
            f"{READ_RATE:.0f} reads/s per workspace; state: PostgreSQL"
        )
        for mode in args.modes.split(","):
            r = run_mode(mode, args, files, tmp)
            who = (
                f"{args.workers} workers x {args.concurrency} jobs"
                if mode == "jobs"
                else f"{args.workspaces} x crm-push push"
            )
            print(
                f"  {who:26s} {r['seconds']:6.1f} s  {r['writes_per_second']:5.1f} writes/s = "
                f"{r['share']:.0%} of {WRITE_RATE * args.workspaces:.0f}  429s {r['429_writes']}"
                f" (reads {r['429_reads']})  failed {r['failed']}  people {r['people']} notes "
                f"{r['notes']}\n  {'':26s} CPU {r['cpu_ms']:.2f} ms/visitor, "
                f"({r['system_share']:.0%} in the kernel), "
                f"{r['cpu_ms_net']:.2f} without the fixed cost ({r['idle_cpu']:.1f} s: the same "
                "processes on one pushed visitor per workspace)"
            )


if __name__ == "__main__":
    main()
