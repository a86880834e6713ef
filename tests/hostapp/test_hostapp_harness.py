"""The browser test's own rule: without Chromium it skips, saying why — but under CI=true
(where .ci/run installs it) a missing Chromium fails the run instead of hiding the test."""

from __future__ import annotations

import shutil
import sys

import hostapp_helpers
import pytest


def test_no_chromium_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium installed"):
        hostapp_helpers.chromium()


def test_no_chromium_under_ci_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no Chromium installed"):
        hostapp_helpers.chromium()


def test_no_playwright_under_ci_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "playwright", None)  # as if not installed
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="playwright is not installed"):
        hostapp_helpers.playwright()
