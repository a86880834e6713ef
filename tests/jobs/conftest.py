"""Jobs on the real PostgreSQL (CRM_PUSH_TEST_PG_URL) against local Attio-compatible servers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_push_attio import server
from support.databases import fresh_postgres

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # jobs_helpers beside this file
    sys.path.insert(0, str(HERE))

SERVER_URL = os.environ.get("CRM_PUSH_TEST_PG_URL")
pytest.importorskip("procrastinate")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="set CRM_PUSH_TEST_PG_URL to a PostgreSQL server")
    for item in items:
        if not SERVER_URL and "tests/jobs/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database per test: procrastinate's schema and ours are applied on first use."""
    with fresh_postgres("crm_push_jobs") as url:
        yield url


@pytest.fixture
def attio() -> Iterator[Callable[..., server.AttioServer]]:
    """Local Attio servers (one workspace each); each is checked to have had no DELETE."""
    started: list[server.AttioServer] = []

    def start(**kwargs: Any) -> server.AttioServer:
        srv = server.AttioServer(**kwargs).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
        assert srv.count("DELETE") == 0
