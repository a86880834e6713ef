"""Benchmark: the cost of one Attio connection's client, for many connections in one process.

    python tests/benchmark/bench_connections.py                  # 3,000 connections
    python tests/benchmark/bench_connections.py --connections 500

A worker serving thousands of workspaces builds one client per connection it meets. This prints,
for N connections (each its own workspace and token), the time and memory (tracemalloc, and the
process RSS) per client for:

- today: `Clients.client` as the plugin builds them (a shared SSL context, a bounded LRU cache);
- baseline: the way it was built before (two `HttpClient`s, each with its own `httpx.Client`,
  transport and SSL context, that load the CA bundle: most of the time and memory went there).

Nothing is sent: building a client opens no connection.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx
from crm_push.models import Connection, Credentials
from pydantic import SecretStr

from crm_push_attio import clients as attio_clients
from crm_push_attio import oauth
from crm_push_attio.api import AttioClient
from crm_push_attio.errors import error_for, is_retriable
from crm_push_attio.limits import workspace_limits
from crm_push_attio.token import TokenAuth


def connection(i: int) -> Connection:
    return Connection(
        destination="attio",
        workspace_id=f"ws_{i}",
        credentials=Credentials(access_token=SecretStr(f"token-{i}")),
        base_url="https://api.attio.com",
    )


def baseline_client(conn: Connection) -> Any:
    """What `Clients.client` built before: two HttpClients, each with its own SSL context."""
    from crm_push.http import HttpClient

    base_url = "https://api.attio.com"
    auth = TokenAuth(conn.credentials, oauth.Endpoints.resolve(None, base_url), None)
    limits = workspace_limits(conn)

    def http(retries: int) -> HttpClient:
        return HttpClient(
            base_url=base_url,
            auth=auth,
            secrets=auth.secret_values,
            limits=limits,
            timeout=30.0,
            max_retries=retries,
            user_agent=attio_clients.USER_AGENT,
            error_for=error_for,
            is_retriable=is_retriable,
            transport=httpx.HTTPTransport(),  # httpx's own, with an SSL context of its own
        )

    return AttioClient(http(5), once=http(0))


def rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(name: str, n: int, build: Callable[[Connection], Any]) -> dict[str, float]:
    """Time n clients (untraced), then n more under tracemalloc; all kept referenced."""
    kept = []
    build(connection(-1))  # imports and one-time setup (the shared SSL context) not counted
    conns = [connection(i) for i in range(n)]
    gc.collect()
    started = time.perf_counter()
    for conn in conns:
        kept.append(build(conn))
    elapsed = time.perf_counter() - started
    conns = [connection(n + i) for i in range(n)]
    gc.collect()
    rss0 = rss_kb()
    tracemalloc.start()
    snap0 = tracemalloc.take_snapshot()
    for conn in conns:
        kept.append(build(conn))
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    rss1 = rss_kb()
    out = {
        "ms_per_client": 1000 * elapsed / n,
        "kb_per_client": grown / 1024 / n,
        "rss_kb_per_client": (rss1 - rss0) / n,
    }
    print(
        f"{name:<9} {n} clients: {out['ms_per_client']:.3f} ms and "
        f"{out['kb_per_client']:.1f} KB (tracemalloc) per client; peak RSS grew "
        f"{out['rss_kb_per_client']:.1f} KB per client"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--baseline", type=int, default=None, help="connections for the baseline")
    parser.add_argument("--quick", action="store_true", help="500 connections")
    args = parser.parse_args()
    if args.quick:
        args.connections = 500
    n = args.connections
    cache = attio_clients.Clients(cache_size=4 * n)  # all kept open: the cost of each
    print(f"cache size {attio_clients.CACHE_SIZE}: at most that many clients stay open")
    print("(RSS: the peak of the process, so it grows only past its earlier peak)")
    today = measure("today", n, cache.client)
    cache.close()
    base_n = args.baseline or n
    # Kept open (as an unbounded cache did), so their memory shows; time is per client anyway.
    base = measure("baseline", base_n, baseline_client)
    print(
        f"today is {base['ms_per_client'] / max(today['ms_per_client'], 1e-9):.0f}x faster; "
        f"RSS per client {base['rss_kb_per_client'] / max(today['rss_kb_per_client'], 1e-9):.0f}"
        "x smaller (tracemalloc does not see OpenSSL's memory, most of the baseline's)"
    )


if __name__ == "__main__":
    main()
