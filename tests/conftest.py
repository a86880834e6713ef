"""Shared fixtures: a test distribution whose entry points register test destinations."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).parent
ENTRY_POINTS = """\
[crm_push.destinations]
filecrm = support.filecrm:FileCRM
broken = support.broken_plugin:Broken
misspelt = support.misspelt_plugin:Misspelt
"""


@pytest.fixture(scope="session")
def test_distribution(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real installed distribution (a dist-info on sys.path) with test entry points."""
    site = tmp_path_factory.mktemp("site")
    info = site / "crm_push_testdests-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: crm-push-testdests\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


@pytest.fixture
def with_test_plugins(
    test_distribution: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Put the test distribution on sys.path (and PYTHONPATH for subprocesses)."""
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    monkeypatch.syspath_prepend(str(test_distribution))
    path = os.pathsep.join(
        [str(test_distribution), str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]
    )
    monkeypatch.setenv("PYTHONPATH", path)
    yield {"PYTHONPATH": path}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def crm_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "crm.json"
    monkeypatch.setenv("FILECRM_PATH", str(path))
    monkeypatch.setenv("FILECRM_TOKEN", "good-token")
    return path


@pytest.fixture(autouse=True)
def _never_delete(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Across the whole suite: no HTTP request with method DELETE ever leaves crm-push.

    Only tests marked `sends_delete` (of the test server and the generic HTTP client, which
    must handle one) may send it themselves.
    """
    import httpx

    if request.node.get_closest_marker("sends_delete"):
        yield
        return

    from support.transports import Send, wrap_transports

    def guard(original: Send) -> Send:
        def handle(self: httpx.BaseTransport, request: httpx.Request) -> httpx.Response:
            assert request.method != "DELETE", f"DELETE {request.url} was sent: never delete"
            return original(self, request)

        return handle

    wrap_transports(monkeypatch, guard)
    yield


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never touch the user's real state database from a test.
    monkeypatch.setenv("CRM_PUSH_DB", f"sqlite:///{tmp_path / 'default-state.db'}")
    for var in ("CRM_PUSH_PLUGINS", "CRM_PUSH_BLOCK_PLUGINS", "CRM_PUSH_DEST"):
        monkeypatch.delenv(var, raising=False)
    sys.modules.pop("support.broken_plugin", None)


@pytest.fixture(autouse=True)
def _fresh_job_destinations() -> Iterator[None]:
    # Jobs keep one loaded destination per process; each test configures its own.
    yield
    tasks = sys.modules.get("crm_push.jobs.tasks")
    if tasks is not None:
        tasks.close_destinations()
