"""A throttled run finishes: at 2 writes/s with 8 workers, no visitor fails for 429s.

Attio says a 429 was not processed: it is waited out (Retry-After) and sent again, never
spending the retries kept for errors, nor a create's few look-then-retry attempts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from attio_helpers import connect_local
from crm_push.destination.facade import Destination
from crm_push.inputs.visitors import read_jsonl
from crm_push.push.pusher import Pusher
from crm_push.state.markers import MarkerStore

from crm_push_attio import server
from crm_push_attio.api import AttioClient
from crm_push_attio.limits import NOTES_PER_SECOND, NotesListLimits
from crm_push_attio.plugin import AttioDestination


@pytest.fixture
def srv() -> Iterator[Any]:
    with server.AttioServer(write_rate=2) as running:
        yield running


@pytest.fixture
def real_sleep_dest(monkeypatch: pytest.MonkeyPatch) -> Destination:
    # The server's clock is real, so the client really waits out its Retry-After.
    monkeypatch.setenv("ATTIO_WRITES_PER_SECOND", "unlimited")  # hammer it: 429s galore
    return Destination("attio", AttioDestination(sleep=time.sleep))


def test_a_run_at_2_writes_per_second_fails_no_visitor(
    real_sleep_dest: Destination, srv: Any, db_url: str
) -> None:
    dest = real_sleep_dest
    conn = connect_local(dest, srv)
    visitors = [
        {
            "id": f"v{i}",
            "person": {"email": f"p{i}@co{i}.com", "name": f"Person {i}"},
            "company": {"name": f"Co {i}", "domain": f"co{i}.com"},
        }
        for i in range(2)
    ] + [{"id": f"k{i}", "person": {"name": f"Keyless {i}"}} for i in range(10)]
    markers = MarkerStore("attio", conn.workspace_id, db_url)
    lines = read_jsonl([json.dumps(v) for v in visitors])
    summary = Pusher(dest, conn, markers, workers=8).run(lines)
    assert summary.failed == 0, summary
    assert sum(1 for log in srv.requests if log.status == 429) > 0  # it was throttled
    assert len(srv.records("people")) == 12  # and no duplicate of a create sent again


def test_listing_notes_draws_on_its_own_10_per_second_budget() -> None:
    from crm_push.http import RateLimits

    workspace = RateLimits(reads_per_second=100, extra={"notes": NOTES_PER_SECOND})
    notes = NotesListLimits(workspace)
    assert NOTES_PER_SECOND == 10.0
    assert AttioClient.list_notes.__doc__
    started = time.monotonic()
    for _ in range(11):
        notes.acquire("read")
    assert time.monotonic() - started >= 0.9  # the 11th waited for the notes window
