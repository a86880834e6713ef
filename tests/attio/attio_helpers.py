"""Constants and builders shared by the Attio tests (Attio's shapes, with fixed ids)."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from typing import Any

import httpx
from crm_push.models.crm import Connection, Credentials
from pydantic import SecretStr

BASE = "https://api.attio.com"
TOKEN = "attio-test-token-0123456789"
WORKSPACE = "14beef7a-99f7-4534-a87e-70b564330a4c"
ALL_SCOPES = "record_permission:read-write object_configuration:read note:read-write"
PERSON_ID = "891dcbfc-9141-415d-9b2a-2238a6cc012d"
COMPANY_ID = "3c2d4f5e-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
NOTE_ID = "ff3f3bd4-40f4-4f80-8187-cd02385af424"


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_connection(
    capabilities: frozenset[str] = frozenset({"notes", "inline_link"}),
    credentials: Credentials | None = None,
    base_url: str = BASE,
) -> Connection:
    return Connection(
        destination="attio",
        workspace_id=WORKSPACE,
        workspace_name="Acme workspace",
        scopes=tuple(ALL_SCOPES.split()),
        capabilities=capabilities,
        credentials=credentials or Credentials(access_token=SecretStr(TOKEN)),
        base_url=base_url,
    )


def http_date(when: dt.datetime) -> str:
    return format_datetime(when.astimezone(dt.UTC), usegmt=True)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def record(
    object: str,
    record_id: str,
    created_at: dt.datetime,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record in Attio's output shape."""
    return {
        "id": {"workspace_id": WORKSPACE, "object_id": "obj-" + object, "record_id": record_id},
        "created_at": iso(created_at),
        "web_url": f"https://app.attio.com/acme/{object}/{record_id}",
        "values": values or {},
    }


def record_response(
    object: str,
    record_id: str,
    *,
    created_at: dt.datetime,
    now: dt.datetime | None = None,
    values: dict[str, Any] | None = None,
) -> httpx.Response:
    """Attio's answer to a record write; `now` is the server's Date header."""
    now = now or dt.datetime.now(dt.UTC)
    return httpx.Response(
        200,
        json={"data": record(object, record_id, created_at, values)},
        headers={"Date": http_date(now)},
    )


def error(
    status: int, code: str, message: str, type_: str = "invalid_request_error"
) -> httpx.Response:
    return httpx.Response(
        status, json={"status_code": status, "type": type_, "code": code, "message": message}
    )


def self_body(scope: str = ALL_SCOPES, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "active": True,
        "scope": scope,
        "client_id": "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
        "token_type": "Bearer",
        "exp": None,
        "iat": 1700000000,
        "sub": WORKSPACE,
        "aud": "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
        "iss": "attio.com",
        "authorized_by_workspace_member_id": None,
        "workspace_id": WORKSPACE,
        "workspace_name": "Acme workspace",
        "workspace_slug": "acme",
        "workspace_logo_url": None,
    }
    body.update(extra)
    return body


def connect_local(dest: Any, srv: Any, token: str | None = None) -> Connection:
    """Connect a Destination to a local AttioServer with a token it knows."""
    from crm_push.models.crm import ConnectOptions

    from crm_push_attio.server import DEFAULT_TOKEN

    return dest.connect(  # type: ignore[no-any-return]
        Credentials(access_token=SecretStr(token or DEFAULT_TOKEN)),
        ConnectOptions(base_url=srv.base_url),
    )
