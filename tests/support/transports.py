"""Watching every HTTP request that leaves crm-push, at the one place they all pass: the
transport (httpx's own, a MockTransport, or httpx's under respx, which mocks below it)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

Send = Callable[[httpx.BaseTransport, httpx.Request], httpx.Response]


def wrap_transports(monkeypatch: pytest.MonkeyPatch, wrap: Callable[[Send], Send]) -> None:
    """Replace `handle_request` of httpx's sync transports with `wrap(original)`."""
    for cls in (httpx.HTTPTransport, httpx.MockTransport):
        monkeypatch.setattr(cls, "handle_request", wrap(cls.handle_request))  # type: ignore[arg-type]
