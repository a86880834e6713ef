"""Schema validation, rate limits, injected failures, latency, DELETE, the log and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from crm_push_attio.server import AttioServer

AUTH = {"Authorization": "Bearer local-dev-token"}


def test_malformed_bodies_get_400_with_the_json_path(api: Any, srv: AttioServer) -> None:
    values_not_object = api.client.put(
        "/v2/objects/people/records",
        params={"matching_attribute": "email_addresses"},
        json={"data": {"values": ["a@x.com"]}},
    )
    note_without_parent = api.client.post(
        "/v2/notes",
        json={
            "data": {
                "parent_record_id": api.person("a@x.com"),
                "title": "t",
                "format": "plaintext",
                "content": "c",
            }
        },
    )
    bad_format = api.client.post(
        "/v2/notes",
        json={
            "data": {
                "parent_object": "people",
                "parent_record_id": "x",
                "title": "t",
                "format": "html",
                "content": "c",
            }
        },
    )
    bad_value_form = api.upsert(
        "people", "email_addresses", {"email_addresses": [{"email_address": 5}]}
    )
    not_json = api.client.post(
        "/v2/objects/people/records", content=b"{nope", headers={"Content-Type": "application/json"}
    )

    for response, where in (
        (values_not_object, "$.data.values"),
        (note_without_parent, "parent_object"),
        (bad_format, "$.data"),
        (bad_value_form, "$.data.values.email_addresses[0].email_address"),
        (not_json, "JSON"),
    ):
        body = api.error(response, 400)
        assert body["type"] == "invalid_request_error"
        assert body["code"] == "validation_type"
        assert where in body["message"]
    assert srv.notes() == []


def test_write_rate_limit_answers_429_with_an_http_date() -> None:
    with AttioServer(write_rate=3) as srv, httpx.Client(base_url=srv.base_url, headers=AUTH) as c:

        def create(i: int) -> httpx.Response:
            return c.put(
                "/v2/objects/companies/records",
                params={"matching_attribute": "domains"},
                json={"data": {"values": {"domains": [f"c{i}.com"]}}},
            )

        statuses = [create(i).status_code for i in range(4)]
        limited = create(99)
        reads_still_fine = c.get("/v2/objects").status_code

        assert statuses == [200, 200, 200, 429]
        body = limited.json()
        assert (body["type"], body["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        retry_at = parsedate_to_datetime(limited.headers["Retry-After"])
        assert retry_at.tzinfo is not None
        assert 0 <= (retry_at - datetime.now(UTC)).total_seconds() <= 2
        assert len(srv.records("companies")) == 3  # a 429 was not processed
        assert reads_still_fine == 200

        time.sleep(max(0.0, (retry_at - datetime.now(UTC)).total_seconds()) + 0.05)
        assert create(99).status_code == 200


def test_read_rate_counts_record_queries() -> None:
    with AttioServer(read_rate=2) as srv, httpx.Client(base_url=srv.base_url, headers=AUTH) as c:
        codes = [c.post("/v2/objects/people/records/query", json={}).status_code for _ in range(3)]

    assert codes == [200, 200, 429]


def test_fail_next_injects_retriable_failures(api: Any, srv: AttioServer) -> None:
    srv.fail_next(1, status=500)
    srv.fail_next(1, status=409, path_prefix="/v2/objects/people")
    srv.fail_next(1, status=429, path_prefix="/v2/notes", retry_after_seconds=2)

    server_error = api.client.get("/v2/objects")
    conflict = api.upsert("people", "email_addresses", {"email_addresses": ["a@x.com"]})
    throttled = api.client.get("/v2/notes")
    ok = api.upsert("people", "email_addresses", {"email_addresses": ["a@x.com"]})

    assert server_error.status_code == 500
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "concurrent_write_conflict"
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert ok.status_code == 200
    assert len(srv.records("people")) == 1


def test_latency_overlaps_between_concurrent_requests() -> None:
    with AttioServer(latency=0.2) as srv:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=5) as pool:
            codes = list(
                pool.map(
                    lambda _: httpx.get(f"{srv.base_url}/v2/objects", headers=AUTH).status_code,
                    range(5),
                )
            )
        elapsed = time.perf_counter() - started

    assert codes == [200] * 5
    assert 0.2 <= elapsed < 0.8


@pytest.mark.sends_delete
def test_delete_is_not_served_and_is_logged(api: Any, srv: AttioServer) -> None:
    rid = api.person("a@x.com")

    record = api.client.delete(f"/v2/objects/people/records/{rid}")
    note = api.client.delete("/v2/notes/0b0d7d4c-0d5c-4c57-9e0f-000000000000")

    assert api.error(record, 405)["type"] == "invalid_request_error"
    assert note.status_code == 405
    assert srv.count(method="DELETE") == 2
    assert len(srv.records("people")) == 1


def test_request_log_records_what_was_sent(api: Any, srv: AttioServer) -> None:
    srv.reset_log()
    api.person("a@x.com")

    [entry] = srv.requests
    assert (entry.method, entry.path, entry.status) == ("PUT", "/v2/objects/people/records", 200)
    assert entry.query == {"matching_attribute": "email_addresses"}
    assert entry.body == {"data": {"values": {"email_addresses": ["a@x.com"]}}}
    assert srv.count(path_prefix="/v2/objects/people") == 1
    assert srv.count(method="POST") == 0


def test_cli_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm_push_attio.server", "--port", "0", "--token", "demo"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "ATTIO_ACCESS_TOKEN=demo" in banner
        base = banner.split("ATTIO_BASE_URL=")[1].split()[0]
        # Generous: under load (the full suite on 2 cores) the first answer can take seconds.
        me = httpx.get(f"{base}/v2/self", headers={"Authorization": "Bearer demo"}, timeout=60)
        assert me.json()["active"] is True
    finally:
        proc.send_signal(2)  # SIGINT, as Ctrl-C
        assert proc.wait(timeout=30) == 0  # generous: a loaded machine is slow to stop
