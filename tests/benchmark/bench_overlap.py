"""Benchmark: 2 and 4 pushes of the same file at once, against a local Attio-compatible server.

    python tests/benchmark/bench_overlap.py                      # 2,000 visitors, 2 and 4 pushes
    python tests/benchmark/bench_overlap.py --visitors 300       # quick
    python tests/benchmark/bench_overlap.py --db postgresql+psycopg://postgres@127.0.0.1/postgres

Two workers, an overlapping cron, a retried job: the same file pushed by several processes at
once, on one state database. Prints, for each number of processes, what the server holds twice
(notes, people without email, companies without domain, and for completeness people by email
and companies by domain), the write requests of all pushes together and how many more that is
than one push needs ("extra": mostly idempotent asserts by email or domain, which every push
repeats), the notes created, and the visitors deferred, with claims (crm-push as it is) and
without (the baseline: the pending marker before a create is a plain upsert, as before claims,
reproduced here by replacing `MarkerStore.claim` in the pushing processes only).

Each run gets a fresh server and a fresh state database (SQLite in a temporary directory, or a
new database on the PostgreSQL server given by --db).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_push import TOKEN, generate, server


def make_input(path: Path, visitors: int, companies: int) -> dict[str, int]:
    """bench_push's mix, with one visitor in 20 at a company without a domain (its own)."""
    mix = generate(path, visitors, companies)
    lines = path.read_text().splitlines()
    nameless = 0
    with path.open("w") as fh:
        for i, line in enumerate(lines):
            v = json.loads(line)
            if i % 20 == 7:
                v["company"] = {"name": f"Nameless Company {i}"}
                nameless += 1
            fh.write(json.dumps(v) + "\n")
    return {**mix, "nameless_companies": nameless}


def minimum_writes(path: Path) -> int:
    """Writes one push needs at the least: one per company, person and note."""
    domains, nameless, people, notes = set(), 0, 0, 0
    for line in path.read_text().splitlines():
        v = json.loads(line)
        if v["company"].get("domain"):
            domains.add(v["company"]["domain"])
        else:
            nameless += 1
        if "person" in v:
            people += 1
            notes += "email" in v["person"] and "visit" in v
    return len(domains) + nameless + people + notes


# -- the pushing processes --------------------------------------------------------------------


def _without_claims() -> None:
    """The old behaviour: the pending marker before a note or a keyless create is an upsert,
    so every process "wins" it (a pending one left by anybody is looked for, as before)."""
    from crm_push.state.markers import Claim, MarkerStore

    def claim(self: MarkerStore, visitor_id: str, part: str, *, payload: str, **_: Any) -> Claim:
        marker = self.get(visitor_id, part)
        self.record(visitor_id, part, payload=payload, state="pending")
        return Claim(True, marker if marker is not None and marker.state == "pending" else None)

    MarkerStore.claim = claim  # type: ignore[method-assign,assignment]


def child(args: argparse.Namespace) -> None:
    from crm_push import ConnectOptions, Destination, MarkerStore, Pusher
    from crm_push.inputs.visitors import read_jsonl

    from crm_push_attio.plugin import AttioDestination

    if args.no_claims:
        _without_claims()
    os.environ["ATTIO_ACCESS_TOKEN"] = TOKEN
    os.environ["ATTIO_WRITES_PER_SECOND"] = "0"
    os.environ["ATTIO_READS_PER_SECOND"] = "0"
    dest = Destination("attio", AttioDestination())
    connection = dest.connect(options=ConnectOptions(base_url=args.url, interactive=False))
    markers = MarkerStore("attio", connection.workspace_id, args.db)
    pusher = Pusher(dest, connection, markers, workers=args.workers)
    time.sleep(max(0.0, args.start - time.time()))  # all processes start pushing together
    started = time.monotonic()
    with open(args.input) as fh:
        summary = pusher.run(read_jsonl(fh))
    stats = dest.request_stats(connection) if hasattr(dest, "request_stats") else {}
    out = summary.model_dump()
    out["http"] = stats or out["http"]
    out["seconds"] = time.monotonic() - started
    print(json.dumps(out))


# -- what the server holds -----------------------------------------------------------------------


def _unthrottled(send: Any, *args: Any, **kwargs: Any) -> httpx.Response:
    """A read of the check, waiting out the server's limits (notes listing: 10/s), which hold
    for the check too."""
    from crm_push.http import retry_after_seconds

    while True:
        r = send(*args, **kwargs)
        if r.status_code != 429:
            r.raise_for_status()
            return r
        time.sleep(retry_after_seconds(r.headers.get("Retry-After")) or 1.0)


def _all(client: httpx.Client, obj: str) -> list[dict[str, Any]]:
    records, offset = [], 0
    while True:
        body = {"limit": 500, "offset": offset}
        r = _unthrottled(client.post, f"/v2/objects/{obj}/records/query", json=body)
        page = r.json()["data"]
        records += page
        if len(page) < 500:
            return records
        offset += 500


def _notes(client: httpx.Client) -> list[dict[str, Any]]:
    notes, offset = [], 0
    while True:
        r = _unthrottled(client.get, "/v2/notes", params={"limit": 50, "offset": offset})
        page = r.json()["data"]
        notes += page
        if len(page) < 50:
            return notes
        offset += 50


def _first(values: dict[str, Any], attribute: str, field: str) -> str | None:
    items = values.get(attribute) or []
    return items[0].get(field) if items else None


def duplicates(url: str) -> dict[str, int]:
    """Extra copies on the server of what must exist once."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        people = _all(client, "people")
        companies = _all(client, "companies")
        notes = _notes(client)
    emails: Counter[str] = Counter()
    nameless_people: Counter[str] = Counter()
    for p in people:
        email = _first(p["values"], "email_addresses", "email_address")
        if email:
            emails[email] += 1
        else:
            nameless_people[_first(p["values"], "name", "full_name") or "?"] += 1
    domains: Counter[str] = Counter()
    nameless: Counter[str] = Counter()
    for c in companies:
        domain = _first(c["values"], "domains", "domain")
        if domain:
            domains[domain] += 1
        else:
            nameless[_first(c["values"], "name", "value") or "?"] += 1
    keyed: Counter[tuple[str, str]] = Counter(
        (n["parent_record_id"], n["content_plaintext"]) for n in notes
    )

    def extra(counter: Counter[Any]) -> int:
        return sum(n - 1 for n in counter.values())

    return {
        "notes": extra(keyed),
        "people without email": extra(nameless_people),
        "companies without domain": extra(nameless),
        "people by email": extra(emails),
        "companies by domain": extra(domains),
    }


# -- runs -----------------------------------------------------------------------------------------


@contextmanager
def state_db(db: str | None, tmp: Path) -> Iterator[str]:
    if not db:
        yield f"sqlite:///{tmp / f'state-{uuid.uuid4().hex[:8]}.db'}"
        return
    import sqlalchemy as sa

    name = f"bench_overlap_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(db, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(db).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(args: argparse.Namespace, path: Path, tmp: Path, processes: int, claims: bool) -> dict:
    with server(args.latency, None, None) as url, state_db(args.db, tmp) as db:
        start = time.time() + 3.0  # after every process has imported and connected
        cmd = [sys.executable, __file__, "--child", "--url", url, "--db", db]
        cmd += ["--input", str(path), "--workers", str(args.workers), "--start", str(start)]
        if not claims:
            cmd.append("--no-claims")
        procs = [
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(processes)
        ]
        summaries = []
        for proc in procs:
            out, err = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                raise RuntimeError(f"a push failed ({proc.returncode}): {err[-2000:]}")
            summaries.append(json.loads(out.strip().splitlines()[-1]))
        dups = duplicates(url)
    writes = sum(int(s["http"].get("writes", 0)) for s in summaries)
    return {
        "duplicates": dups,
        "writes": writes,
        "deferred": sum(s.get("deferred", 0) for s in summaries),
        "notes_created": sum(s["notes_created"] for s in summaries),
        "failed": sum(s["failed"] for s in summaries),
        "seconds": max(s["seconds"] for s in summaries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=300)
    parser.add_argument("--processes", default="2,4", help="comma-separated, e.g. 2,4")
    parser.add_argument("--workers", type=int, default=8, help="--workers of each push")
    parser.add_argument("--latency", type=float, default=0.02, help="server latency, seconds")
    parser.add_argument("--db", help="a PostgreSQL server URL (default: SQLite files)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-claims", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="300 visitors")
    args = parser.parse_args()
    if args.quick:
        args.visitors, args.companies = 300, 60
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "visitors.jsonl"
        mix = make_input(path, args.visitors, args.companies)
        needed = minimum_writes(path)
        print(f"{args.visitors} visitors ({mix}); one push writes at least {needed} times")
        print(f"state: {args.db or 'SQLite'}; {args.workers} workers a push; "
              f"server latency {args.latency * 1000:.0f} ms")  # fmt: skip
        head = f"{'pushes':>6}  {'claims':<7} {'dup notes':>9} {'dup no-email':>12} "
        head += f"{'dup no-domain':>13} {'dup other':>9} {'writes':>7} {'extra':>6} "
        head += f"{'notes':>5} {'deferred':>8} {'failed':>6} {'seconds':>7}"
        print(head)
        for processes in [int(p) for p in args.processes.split(",")]:
            for claims in (False, True):
                r = run(args, path, tmp, processes, claims)
                d = r["duplicates"]
                other = d["people by email"] + d["companies by domain"]
                print(
                    f"{processes:>6}  {'on' if claims else 'off':<7} {d['notes']:>9} "
                    f"{d['people without email']:>12} {d['companies without domain']:>13} "
                    f"{other:>9} {r['writes']:>7} {r['writes'] - needed:>6} "
                    f"{r['notes_created']:>5} {r['deferred']:>8} {r['failed']:>6} "
                    f"{r['seconds']:>7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
