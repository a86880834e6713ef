"""The plugin as a whole: its hooks register cleanly, and no code path can send DELETE."""

from __future__ import annotations

import re
from pathlib import Path

from crm_push.destination.facade import Destination
from crm_push.hookspecs import CORE_HOOKS, OPTIONAL_HOOKS

import crm_push_attio
from crm_push_attio.plugin import AttioDestination

PACKAGE = Path(crm_push_attio.__file__).parent
# A method given as a string, or an httpx-style delete call.
_DELETE = re.compile(r"""["']DELETE["']|\.delete\(|method\s*=\s*["']delete""", re.IGNORECASE)


def test_no_source_of_the_plugin_sends_delete() -> None:
    sources = [p for p in PACKAGE.glob("*.py")]  # the plugin; server/ is the fake Attio
    assert {p.name for p in sources} >= {"api.py", "plugin.py", "oauth.py", "records.py"}
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if _DELETE.search(line)
    ]
    assert offenders == []


def test_every_hook_is_implemented_and_registers() -> None:
    dest = Destination("attio", AttioDestination())  # runs check_pending()
    assert dest.status == "ok"
    for hook in (*CORE_HOOKS, *OPTIONAL_HOOKS):
        assert dest.implements(hook), hook
