"""Fixtures of the browser test: Debian's Chromium driven by Playwright, the local Attio server
with two workspaces, and the example host app (docs/examples/hostapp) as its own process.

When a test fails, a screenshot of every open page and the host app's output are kept in
tests/artifacts/ (gitignored), named after the test.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from crm_push_attio.server import AttioServer

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # hostapp_helpers beside this file
    sys.path.insert(0, str(HERE))

from hostapp_helpers import (  # noqa: E402
    ARTIFACTS,
    CHROMIUM_ARGS,
    CLIENT_ID,
    CLIENT_SECRET,
    WORKSPACES,
    HostApp,
    chromium,
    playwright,
    start_hostapp,
)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


def failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_reports, {})
    return any(r.failed for r in reports.values())


@pytest.fixture
def attio() -> Iterator[AttioServer]:
    """The local Attio server: two workspaces, the host app's OAuth client, a consent page."""
    with AttioServer(
        workspace_name=WORKSPACES[0],
        more_workspaces=WORKSPACES[1:],
        oauth_clients={CLIENT_ID: CLIENT_SECRET},
    ) as server:
        yield server


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hostapp-state.db'}"


@pytest.fixture
def secret_key() -> str:
    """The host app's CRM_PUSH_SECRET_KEY (a test reads its stored connections with it)."""
    return Fernet.generate_key().decode()


@pytest.fixture
def hostapp(
    attio: AttioServer, state_db: str, secret_key: str, request: pytest.FixtureRequest
) -> Iterator[HostApp]:
    """The example host app on the local Attio server, its tokens encrypted with a key."""
    app = start_hostapp(
        ["--attio-url", attio.base_url, "--db", state_db],
        {
            "ATTIO_CLIENT_ID": CLIENT_ID,
            "ATTIO_CLIENT_SECRET": CLIENT_SECRET,
            "CRM_PUSH_SECRET_KEY": secret_key,
        },
    )
    try:
        app.wait()
        yield app
    finally:
        app.stop()
        if failed(request):
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / f"{request.node.name}.log").write_text("".join(app.output))


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A headless Chromium with a fresh profile; screenshots of its pages if the test fails."""
    executable = chromium()
    sync_api = playwright()
    with sync_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        # Upper bounds, not speed checks: the machine may be busy, a page must just get there.
        context.set_default_timeout(60_000)
        sync_api.expect.set_options(timeout=60_000)
        try:
            yield context
        finally:
            if failed(request):
                ARTIFACTS.mkdir(exist_ok=True)
                for n, page in enumerate(context.pages):
                    page.screenshot(path=ARTIFACTS / f"{request.node.name}-{n}.png", full_page=True)
            context.close()
