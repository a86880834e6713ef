"""The HTTP answer type and the ways of building one (JSON, Attio error, HTML page)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(
        status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


def error_response(err: ApiError) -> Response:
    return json_response(err.status, err.body(), err.headers)


def html_page(status: int, title: str, message: str) -> Response:
    page = (
        f"<!doctype html><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
    )
    return Response(status, page.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})
