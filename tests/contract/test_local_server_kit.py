"""What the local servers share (`crm_localserver`) stays an independent peer of crm-push: it
imports nothing from crm_push or a destination, and both servers serve and stop through it."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx

import crm_localserver
from crm_push_attio.server import AttioServer
from crm_push_hubspot.server import HubSpotServer


def test_the_kit_imports_nothing_from_crm_push() -> None:
    for path in Path(crm_localserver.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        roots = {
            (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0)
            for alias in node.names
        }
        assert not {r for r in roots if r == "crm_push" or r.startswith("crm_push_")}, path.name


def test_both_servers_listen_on_a_free_port_and_stop() -> None:
    for server in (AttioServer(port=0), HubSpotServer(port=0)):
        with server:
            url = server.base_url
            assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
            answer = httpx.get(url + "/nowhere", timeout=5)
            assert answer.status_code in (401, 404)  # the server's own answer, not a refusal
        try:
            httpx.get(url + "/nowhere", timeout=2)
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError(f"{type(server).__name__} still answers after stop")
