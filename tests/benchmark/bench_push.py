"""Benchmark: bulk push to a local Attio-compatible server at Attio's rate limits.

    python tests/benchmark/bench_push.py                 # the full run (about 10 minutes)
    python tests/benchmark/bench_push.py --quick          # 300 visitors, memory at 2,000/10,000

Prints, side by side in one run: crm-push (concurrent workers, shared company writes, inline
links) against a naive baseline (one visitor at a time; company, person, link and note as
separate calls; nothing shared), both against the same server settings; the ceiling the rate
limit allows for the mix; the framework's own CPU per visitor; and peak memory as the input
grows. Servers run in subprocesses so that client figures are the client's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

TOKEN = "bench-token"


# -- data ------------------------------------------------------------------------------------


def generate(path: Path, visitors: int, companies: int, seed: int = 7) -> dict[str, int]:
    """A realistic mix: 80 % people with email, 12 % without, 8 % company only; 90 % visited."""
    rng = random.Random(seed)
    mix: Counter[str] = Counter()
    seen: set[int] = set()
    with path.open("w") as fh:
        for i in range(visitors):
            c = rng.randrange(companies)
            seen.add(c)
            v: dict[str, Any] = {
                "id": f"v{i}",
                "company": {
                    "name": f"Company {c}",
                    "domain": f"company{c}.example",
                    "description": f"Makes thing number {c}",
                },
            }
            roll = rng.random()
            if roll < 0.80:
                v["person"] = {
                    "email": f"person{i}@company{c}.example",
                    "name": f"Pat Person{i}",
                    "job_title": rng.choice(["CTO", "CEO", "Engineer", "Buyer"]),
                }
                mix["with_email"] += 1
            elif roll < 0.92:
                v["person"] = {"name": f"Anon Visitor{i}"}
                mix["without_email"] += 1
            else:
                mix["company_only"] += 1
            if rng.random() < 0.90:
                v["visit"] = {
                    "visited_at": f"2026-11-{1 + i % 25:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                    "visit_count": rng.randint(1, 9),
                    "quality_score": rng.randint(10, 99),
                    "pages": rng.sample(["/pricing", "/docs", "/blog", "/careers", "/api"], 2),
                }
                if "email" in v.get("person", {}):
                    mix["notes"] += 1
            fh.write(json.dumps(v) + "\n")
    mix["companies"] = len(seen)
    return dict(mix)


def minimum_writes(path: Path) -> int:
    """Writes the mix needs at the least: one per company, person and note."""
    domains, people, notes = set(), 0, 0
    with path.open() as fh:
        for line in fh:
            v = json.loads(line)
            domains.add(v["company"]["domain"])
            if "person" in v:
                people += 1
                notes += "email" in v["person"] and "visit" in v
    return len(domains) + people + notes


# -- server ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(latency: float, write_rate: float | None, read_rate: float | None) -> Iterator[str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "crm_push_attio.server", "--port", str(port), "--token", TOKEN]
    cmd += ["--latency", str(latency)]
    if write_rate:
        cmd += ["--write-rate", str(write_rate)]
    if read_rate:
        cmd += ["--read-rate", str(read_rate)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/v2/self", headers={"Authorization": f"Bearer {TOKEN}"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the local Attio server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a server holding 100,000 records, on a busy machine
            proc.kill()
            proc.wait()


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
                self.counts["429"] += 1
        return response


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (Linux), else the peak from getrusage."""
    with suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _max_rss_mb() -> float:
    """Peak resident memory (since the last _reset_peak, where Linux allows one)."""
    return _status_mb("VmHWM")


def _reset_peak() -> None:
    # Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current RSS, so the peak
    # measured afterwards is the push's own, not that of imports or generating the input.
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


# -- crm-push --------------------------------------------------------------------------------


def push_crm_push(
    url: str, path: Path, workers: int, db: str, write_rate: float | None, read_rate: float | None
) -> dict[str, Any]:
    from crm_push import ConnectOptions, Destination, MarkerStore, Pusher
    from crm_push.inputs.visitors import read_jsonl

    from crm_push_attio.plugin import AttioDestination

    os.environ["ATTIO_ACCESS_TOKEN"] = TOKEN
    # The client's budget, as a user would set it for their workspace (0 = unlimited).
    os.environ["ATTIO_WRITES_PER_SECOND"] = str(write_rate or 0)
    os.environ["ATTIO_READS_PER_SECOND"] = str(read_rate or 0)
    transport = CountingTransport()
    dest = Destination("attio", AttioDestination(transport=transport))
    connection = dest.connect(options=ConnectOptions(base_url=url, interactive=False))
    pusher = Pusher(
        dest, connection, MarkerStore("attio", connection.workspace_id, db), workers=workers
    )
    started, cpu = time.monotonic(), time.process_time()
    with path.open() as fh:
        summary = pusher.run(read_jsonl(fh))
    return {
        "seconds": time.monotonic() - started,
        "cpu": time.process_time() - cpu,
        "summary": summary,
        "http": dict(transport.counts),
    }


# -- the naive baseline ----------------------------------------------------------------------


def push_naive(url: str, path: Path, write_rate: float, read_rate: float) -> dict[str, Any]:
    """One visitor at a time: company, person, link, note — four separate calls, no sharing."""
    from crm_push.http import HttpClient, RateLimits
    from crm_push.models import parse_visitor
    from crm_push.push.notes import visit_note

    from crm_push_attio.records import company_values, person_values

    transport = CountingTransport()
    http = HttpClient(
        url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        limits=RateLimits(write_rate, read_rate),
        transport=transport,
    )
    failed = 0
    started = time.monotonic()
    with path.open() as fh:
        for line in fh:
            try:
                v = parse_visitor(json.loads(line))
                assert v.company is not None
                company = http.json(
                    "PUT",
                    "/v2/objects/companies/records",
                    params={"matching_attribute": "domains"},
                    json={"data": {"values": company_values(v.company)}},
                )["data"]["id"]["record_id"]
                if v.person is None:
                    continue
                values = person_values(v.person)
                if v.person.email:
                    person = http.json(
                        "PUT",
                        "/v2/objects/people/records",
                        params={"matching_attribute": "email_addresses"},
                        json={"data": {"values": values}},
                    )
                else:
                    person = http.json(
                        "POST", "/v2/objects/people/records", json={"data": {"values": values}}
                    )
                pid = person["data"]["id"]["record_id"]
                link = {"company": [{"target_object": "companies", "target_record_id": company}]}
                http.json(
                    "PATCH", f"/v2/objects/people/records/{pid}", json={"data": {"values": link}}
                )
                if v.person.email and v.visit:
                    note = visit_note(v)
                    http.json(
                        "POST",
                        "/v2/notes",
                        json={
                            "data": {
                                "parent_object": "people",
                                "parent_record_id": pid,
                                "title": note.title,
                                "format": "markdown",
                                "content": note.content,
                                "created_at": note.created_at.isoformat()
                                if note.created_at
                                else None,
                            }
                        },
                    )
            except Exception as exc:  # the baseline counts failures, like the real run
                failed += 1
                print(f"  baseline failure: {exc}", file=sys.stderr)
    http.close()
    return {"seconds": time.monotonic() - started, "failed": failed, "http": dict(transport.counts)}


# -- framework overhead and memory -----------------------------------------------------------


class NullCRM:
    """A destination that answers at once: what remains is crm-push's own work."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def _ref(self, obj: str, linked: tuple[str, ...] = ()) -> Any:
        from crm_push import RecordRef

        with self._lock:
            self._n += 1
            return RecordRef(object=obj, record_id=f"r{self._n}", outcome="created", linked=linked)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def _null_plugin() -> Any:
    from crm_push import NoteResult, hookimpl

    class Null(NullCRM):
        @hookimpl
        def assert_company(self, company: Any) -> Any:
            return self._ref("companies")

        @hookimpl
        def assert_person(self, company: Any) -> Any:
            return self._ref("people", (company.record_id,) if company else ())

        @hookimpl
        def add_note(self) -> Any:
            return NoteResult(status="created", note_id="n")

    return Null()


def framework_run(path: Path, db: str, workers: int) -> dict[str, float]:
    from crm_push import Connection, Destination, MarkerStore, Pusher
    from crm_push.inputs.visitors import read_jsonl

    dest = Destination("null", _null_plugin())
    connection = Connection(destination="null", workspace_id="w", capabilities=frozenset({"notes"}))
    pusher = Pusher(dest, connection, MarkerStore("null", "w", db), workers=workers)
    started, cpu = time.monotonic(), time.process_time()
    with path.open() as fh:
        summary = pusher.run(read_jsonl(fh))
    return {
        "seconds": time.monotonic() - started,
        "cpu": time.process_time() - cpu,
        "visitors": summary.total,
        "failed": summary.failed,
        "max_rss_mb": _max_rss_mb(),
    }


def child(args: argparse.Namespace) -> None:
    """Run in a fresh process so that max RSS is this size's alone."""
    import crm_push.push.pusher  # noqa: F401  (imports count as the baseline, not as the push)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "visitors.jsonl"
        generate(path, args.child_memory, args.companies)
        baseline_rss = _status_mb("VmRSS")
        _reset_peak()
        result = framework_run(path, f"sqlite:///{tmp}/state.db", args.workers)
        result["rss_before_mb"] = baseline_rss
        print(json.dumps(result))


def memory_profile(sizes: list[int], companies: int, workers: int) -> list[dict[str, float]]:
    rows = []
    for size in sizes:
        cmd = [sys.executable, __file__, "--child-memory", str(size), "--companies", str(companies)]
        cmd += ["--workers", str(workers)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append({"size": size, **json.loads(out.strip().splitlines()[-1])})
    return rows


# -- report ----------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--visitors", type=int, default=2000)
    p.add_argument("--companies", type=int, default=300)
    p.add_argument("--latency", type=float, default=0.05, help="seconds added to each response")
    p.add_argument("--write-rate", type=float, default=25.0)
    p.add_argument("--read-rate", type=float, default=100.0)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--baseline-visitors", type=int, help="default: the same as --visitors")
    p.add_argument("--memory-sizes", default="10000,100000", help="comma-separated; '' to skip")
    p.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    p.add_argument(
        "--quick",
        action="store_true",
        help="300 visitors, memory at 2,000 and 10,000 (a few minutes)",
    )
    args = p.parse_args()
    if args.quick:
        args.visitors, args.companies, args.memory_sizes = 300, 60, "2000,10000"
    if args.child_memory:
        child(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "visitors.jsonl"
        mix = generate(data, args.visitors, args.companies)
        need = minimum_writes(data)
        ceiling = args.write_rate * args.visitors / need
        print(f"Mix: {args.visitors} visitors, {mix}")
        print(
            f"Server: latency {args.latency * 1000:.0f} ms, {args.write_rate:g} writes/s, "
            f"{args.read_rate:g} reads/s. The mix needs at least {need} writes "
            f"({need / args.visitors:.2f} per visitor): ceiling {ceiling:.2f} visitors/s.\n"
        )

        with server(args.latency, args.write_rate, args.read_rate) as url:
            ours = push_crm_push(
                url, data, args.workers, f"sqlite:///{tmp}/ours.db", args.write_rate, args.read_rate
            )
        s, http = ours["summary"], ours["http"]
        rate = args.visitors / ours["seconds"]
        print(f"crm-push ({args.workers} workers):")
        print(f"  {rate:.2f} visitors/s = {rate / ceiling:.0%} of the ceiling")
        print(f"  {ours['seconds']:.1f} s; {http.get('writes', 0) / args.visitors:.2f} writes")
        print(f"  per visitor; {http.get('reads', 0)} reads; {http.get('429', 0)} 429s received")
        print(f"  failures {s.failed}; created {s.created}, updated {s.updated}")

        base_n = args.baseline_visitors or args.visitors
        base_data = data
        if base_n != args.visitors:
            base_data = Path(tmp) / "baseline.jsonl"
            generate(base_data, base_n, args.companies)
        with server(args.latency, args.write_rate, args.read_rate) as url:
            naive = push_naive(url, base_data, args.write_rate, args.read_rate)
        nhttp = naive["http"]
        base_rate = base_n / naive["seconds"]
        print(f"Naive baseline ({base_n} visitors, one at a time, 4 separate calls):")
        print(f"  {base_rate:.2f} visitors/s ({naive['seconds']:.1f} s)")
        print(f"  {nhttp.get('writes', 0) / base_n:.2f} writes per visitor")
        print(f"  {nhttp.get('429', 0)} 429s received; failures {naive['failed']}")
        print(f"Ratio crm-push / baseline: {rate / base_rate:.2f}x visitors/s\n")

        with server(0.0, None, None) as url:
            fast = push_crm_push(url, data, args.workers, f"sqlite:///{tmp}/fast.db", None, None)
        frame = framework_run(data, f"sqlite:///{tmp}/frame.db", args.workers)
        per = 1000 / args.visitors
        print("CPU per visitor:")
        print(f"  framework alone (instant destination): {frame['cpu'] * per:.3f} ms")
        print(
            f"  whole client, Attio over HTTP to a zero-latency server: {fast['cpu'] * per:.3f} ms"
        )

    sizes = [int(x) for x in args.memory_sizes.split(",") if x.strip()]
    if sizes:
        print("\nPeak memory (framework alone, fresh process per size):")
        for row in memory_profile(sizes, args.companies, args.workers):
            print(
                f"  {row['size']:>7} visitors: max RSS {row['max_rss_mb']:.1f} MB "
                f"(before the push {row['rss_before_mb']:.1f} MB), "
                f"{row['visitors'] / row['seconds']:.0f} visitors/s"
            )


if __name__ == "__main__":
    main()
