"""Watching every HTTP request that leaves crm-push, at the one place they all pass: the
transport (crm-push's LeanTransport, httpx's own, or a MockTransport, which respx's httpx
mocker puts in front of the others)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from crm_push.http import LeanTransport

Send = Callable[[httpx.BaseTransport, httpx.Request], httpx.Response]


def wrap_transports(monkeypatch: pytest.MonkeyPatch, wrap: Callable[[Send], Send]) -> None:
    """Replace `handle_request` of httpx's sync transports with `wrap(original)`."""
    for cls in (LeanTransport, httpx.HTTPTransport, httpx.MockTransport):
        monkeypatch.setattr(cls, "handle_request", wrap(cls.handle_request))  # type: ignore[arg-type]
