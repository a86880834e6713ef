"""What the browser test drives: the example host app as its own process, and Debian's Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTAPP = ROOT / "docs" / "examples" / "hostapp"
ARTIFACTS = ROOT / "tests" / "artifacts"
WORKSPACES = ("Northwind CRM", "Contoso CRM")
CLIENT_ID, CLIENT_SECRET = "hostapp-test", "hostapp-test-secret"
#: Chromium's flags on a machine with no network: without the background-networking ones it
#: tries to reach Google's services and its connections are refused.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_ADDRESS = re.compile(r"Host app on (http://\S+?)/? ")


def missing(why: str) -> NoReturn:
    """Skip the browser test, saying why — but in CI, where it must run, fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


def chromium() -> str:
    """The distribution's Chromium."""
    found = shutil.which("chromium")
    if found is None:
        missing("no Chromium installed (Debian: apt-get install chromium); .ci/run installs it")
    return found


def playwright() -> ModuleType:
    """Playwright's sync API (the test extra installs it)."""
    try:
        from playwright import sync_api
    except ImportError:
        missing("playwright is not installed: pip install -e '.[test]'")
    return sync_api


class HostApp:
    """The host app's process: its URL and what it printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.output: list[str] = []
        self.url = ""
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            found = _ADDRESS.search(line)
            if found and not self.url:
                self.url = found.group(1)
                self._ready.set()
        self._ready.set()  # it ended: wait() says so

    def wait(self) -> str:
        self._ready.wait(120)
        assert self.url, "the host app did not start:\n" + "".join(self.output)
        return self.url

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_hostapp(args: list[str], env: dict[str, str]) -> HostApp:
    """`python -m hostapp ARGS` from the example's folder (not an installed copy)."""
    path = os.pathsep.join(filter(None, [str(HOSTAPP), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "hostapp", "--port", "0", *args],
        env={**os.environ, **env, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return HostApp(process)
