"""Helpers of the jobs tests: stored connections, visitors, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from crm_push.cli import cli
from crm_push.models.crm import ConnectOptions, Credentials
from crm_push.session import Session
from pydantic import SecretStr

from crm_push_attio import server


def store_connection(db_url: str, srv: server.AttioServer, token: str | None = None) -> str:
    """Connect to a local server and store the connection, as `crm-push connect` does."""
    credentials = Credentials(access_token=SecretStr(token or server.DEFAULT_TOKEN))
    with Session("attio", db_url=db_url, credentials=credentials) as session:
        session.connect(ConnectOptions(base_url=srv.base_url, interactive=False))
        session.save()
    return srv.workspace_id


def visitors(prefix: str, n: int, *, notes: bool = True) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        v: dict[str, Any] = {
            "id": f"{prefix}-{i}",
            "person": {"email": f"p{i}@co{i % 3}.{prefix}.example.com", "name": f"Person {i}"},
            "company": {"name": f"Co {i % 3}", "domain": f"co{i % 3}.{prefix}.example.com"},
        }
        if notes:
            v["visit"] = {"visited_at": "2025-03-04T09:30:00Z", "pages": ["/pricing"]}
        out.append(v)
    return out


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def run_cli(*args: str) -> Result:
    env: dict[str, str | None] = {"ATTIO_ACCESS_TOKEN": None, "CRM_PUSH_DEST": None}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def emails(srv: server.AttioServer) -> list[str]:
    """The email of every person record (one each when nothing was duplicated)."""
    found = []
    for record in srv.records("people"):
        for value in record["values"].get("email_addresses", []):
            found.append(value["email_address"])
    return found
