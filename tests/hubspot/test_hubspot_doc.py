"""docs/hubspot.md stays true: its Python runs against the local server, and every setting it
names is one the plugin reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crm_push_hubspot import server
from support.docs import python_blocks

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "hubspot.md"
PLUGIN = ROOT / "plugins" / "crm_push_hubspot"


def test_the_python_in_the_doc_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert blocks, "docs/hubspot.md shows no Python"
    with server.HubSpotServer() as local:
        # As the doc says: the local server's URL and token in the environment.
        monkeypatch.setenv("HUBSPOT_BASE_URL", local.base_url)
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", server.DEFAULT_TOKEN)
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), {})
        (contact,) = local.objects("contacts")
        assert contact["email"] == "jane@acme.com"
        assert len(local.objects("companies")) == 1


def test_every_setting_named_is_read_by_the_plugin() -> None:
    named = set(re.findall(r"`(HUBSPOT_[A-Z_]+)`", DOC.read_text(encoding="utf-8")))
    code = "".join(p.read_text(encoding="utf-8") for p in PLUGIN.glob("*.py"))
    assert named and all(f'"{name}"' in code for name in named), named
