"""Benchmark: a push to the local HubSpot server at HubSpot's limits, batches beside one visitor
at a time.

    python tests/benchmark/bench_hubspot.py                      # 2,000 visitors (about 2 min)
    python tests/benchmark/bench_hubspot.py --visitors 500 --per-visitor 100     # quick

Both runs push the same mix (2,000 visitors over 300 companies by default: mixed-case emails,
`https://www.` domains, people without email, companies without domain, key contacts, visits)
to a fresh local server (in a subprocess, so its CPU is not the client's) allowing 100 requests
per rolling 10 s and 5 searches a second, with search lag on, through crm-push's shared rate
budget in a SQLite state database and 8 workers:

- **batch**: the batch hooks (`crm-push push`'s path for HubSpot: 100 records a request);
- **per-visitor**: the core hooks, one visitor at a time (`Pusher`), on the first
  `--per-visitor` visitors of the same file (all 2,000 would take over ten minutes at this
  limit), its figures projected to the whole file.

Prints requests per visitor (the target is ≤ 0.05), visitors a second, 429s and searches.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

TOKEN = "pat-bench-token"


def generate(path: Path, visitors: int, companies: int, seed: int = 13) -> Counter[str]:
    """80 % people with email (mixed case), 12 % without, 8 % company only; 90 % visited; 3 %
    of companies without a domain; one visitor in 20 names a key contact."""
    rng = random.Random(seed)
    mix: Counter[str] = Counter()
    with path.open("w") as fh:
        for i in range(visitors):
            c = rng.randrange(companies)
            company: dict[str, Any] = {"name": f"Company {c}", "description": f"Makes {c}"}
            if c % 33:
                company["domain"] = f"https://www.Company{c}.example/pricing"
            v: dict[str, Any] = {"id": f"v{i}", "company": company}
            roll = rng.random()
            if roll < 0.80:
                name = f"Pat Person{i}" if i % 7 else f"Mononym{i}"
                v["person"] = {"email": f"Person{i}@Company{c}.example", "name": name}
                mix["with email"] += 1
            elif roll < 0.92:
                v["person"] = {"name": f"Anon Visitor{i}"}
                mix["without email"] += 1
            else:
                mix["company only"] += 1
            if rng.random() < 0.90:
                v["visit"] = {
                    "visited_at": f"2026-11-{1 + i % 25:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                    "pages": rng.sample(["/pricing", "/docs", "/blog", "/careers"], 2),
                }
            if i % 20 == 0 and "domain" in company:
                v["key_contacts"] = [{"email": f"cfo{c}@company{c}.example", "name": "Sam Roe"}]
                mix["key contacts"] += 1
            fh.write(json.dumps(v) + "\n")
    return mix


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(window: int, searches: int, lag: float) -> Iterator[str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "crm_push_hubspot.server", "--port", str(port)]
    cmd += ["--token", TOKEN, "--ten-secondly-limit", str(window)]
    cmd += ["--search-rate", str(searches), "--search-lag", str(lag)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/crm/properties/2026-03/nothing", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the local HubSpot server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _endpoint(request: httpx.Request) -> str:
    """`POST contacts/batch/upsert`: the object type and the operation, without ids."""
    parts = [p for p in request.url.path.split("/") if p and not p.isdigit()][2:]
    return f"{request.method} {'/'.join(parts)}"


class CountingTransport(httpx.HTTPTransport):
    """Counts what reached the server: CRM requests, searches, 429s (connect's excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.endpoints: Counter[str] = Counter()
        self.counting = False
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.counting:
            with self._lock:
                self.counts["requests"] += 1
                self.counts["searches"] += request.url.path.endswith("/search")
                self.endpoints[_endpoint(request)] += 1
                self.counts["429s"] += response.status_code == 429
        return response


def push(url: str, path: Path, workers: int, batch: bool) -> dict[str, Any]:
    from crm_push import Destination, Session
    from crm_push.inputs.visitors import read_jsonl
    from crm_push.models import Credentials
    from crm_push.push.pusher import Pusher
    from pydantic import SecretStr

    from crm_push_hubspot.plugin import HubSpotDestination

    # The client's own budget: HubSpot's smallest tier, the shared (database) budget.
    for name in ("HUBSPOT_REQUESTS_PER_TEN_SECONDS", "HUBSPOT_SEARCHES_PER_SECOND"):
        os.environ.pop(name, None)
    transport = CountingTransport()
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(
            Destination("hubspot", HubSpotDestination(transport=transport)),
            db_url=f"sqlite:///{tmp}/state.db",
            credentials=Credentials(access_token=SecretStr(TOKEN)),
        )
        with session:
            from crm_push.models import ConnectOptions

            session.connect(ConnectOptions(base_url=url, interactive=False))
            pusher = (
                session.pusher(workers=workers)
                if batch
                else Pusher(
                    session.destination, session.connection, session.markers(), workers=workers
                )
            )
            transport.counting = True
            failures: Counter[str] = Counter()

            def failed(line: Any, result: Any) -> None:
                if result.status == "failed":
                    failures[str(result.reason)[:120]] += 1

            started = time.monotonic()
            with path.open() as fh:
                summary = pusher.run(read_jsonl(fh), on_result=failed)
            seconds = time.monotonic() - started
    return {
        "seconds": seconds,
        "summary": summary,
        "http": dict(transport.counts),
        "endpoints": transport.endpoints,
        "failures": failures,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--visitors", type=int, default=2000)
    p.add_argument("--companies", type=int, default=300)
    p.add_argument("--per-visitor", type=int, default=200, help="visitors of the per-visitor run")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--window", type=int, default=100, help="server: requests per rolling 10 s")
    p.add_argument("--searches", type=int, default=5, help="server: searches a second")
    p.add_argument("--search-lag", type=float, default=1.0)
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "visitors.jsonl"
        mix = generate(full, args.visitors, args.companies)
        head = Path(tmp) / "head.jsonl"
        head.write_text("".join(full.read_text().splitlines(True)[: args.per_visitor]))
        print(
            f"mix: {args.visitors} visitors, {args.companies} companies, "
            + ", ".join(f"{k} {v}" for k, v in sorted(mix.items()))
        )
        print(
            f"server: {args.window} requests / 10 s, {args.searches} searches / s, "
            f"search lag {args.search_lag} s; client: {args.workers} workers, shared budget\n"
        )
        rows = []
        for label, path, visitors, batch in (
            ("batch", full, args.visitors, True),
            ("per-visitor", head, args.per_visitor, False),
        ):
            with server(args.window, args.searches, args.search_lag) as url:
                run = push(url, path, args.workers, batch)
            rows.append((label, visitors, run))

    print(
        f"{'run':<12}{'visitors':>9}{'requests':>10}{'req/visitor':>13}{'seconds':>9}"
        f"{'visitors/s':>12}{'429s':>6}{'searches':>10}{'failed':>8}"
    )
    for label, visitors, run in rows:
        http, summary = run["http"], run["summary"]
        print(
            f"{label:<12}{visitors:>9}{http.get('requests', 0):>10}"
            f"{http.get('requests', 0) / visitors:>13.3f}{run['seconds']:>9.1f}"
            f"{visitors / run['seconds']:>12.1f}{http.get('429s', 0):>6}"
            f"{http.get('searches', 0):>10}{summary.failed:>8}"
        )
    for label, _, run in rows:
        calls = ", ".join(f"{n} {e}" for e, n in run["endpoints"].most_common())
        print(f"  {label}: {calls}")
        for reason, count in run["failures"].most_common(5):
            print(f"  {label} failed {count}×: {reason}")
    _, visitors, per = rows[1]
    rate = per["http"].get("requests", 0) / visitors
    print(
        f"\nper-visitor projected to {args.visitors} visitors: about "
        f"{rate * args.visitors:.0f} requests, {args.visitors * per['seconds'] / visitors:.0f} s"
    )


if __name__ == "__main__":
    main()
