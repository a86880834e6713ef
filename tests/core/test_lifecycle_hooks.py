"""The optional lifecycle hooks: renewed credentials, request statistics, close — and their
defaults for a plugin that leaves them out."""

from __future__ import annotations

import subprocess
import sys

from crm_push import Connection, Credentials, Destination, hookimpl
from pydantic import SecretStr

from support.filecrm import FileCRM


class Renewing(FileCRM):
    def __init__(self) -> None:
        super().__init__("unused.json")
        self.closed = 0

    @hookimpl
    def current_credentials(self, connection: Connection) -> Credentials:
        return Credentials(access_token=SecretStr("renewed"), refresh_token=SecretStr("r2"))

    @hookimpl
    def request_stats(self, connection: Connection) -> dict[str, float]:
        return {"requests": 3.0, "retries": 1.0}

    @hookimpl
    def close(self) -> None:
        self.closed += 1


CONNECTION = Connection(
    destination="x", workspace_id="w1", credentials=Credentials(access_token=SecretStr("old"))
)


def test_a_plugin_without_the_hooks_gets_the_defaults() -> None:
    dest = Destination("filecrm", FileCRM("unused.json"))
    assert dest.current_credentials(CONNECTION) == CONNECTION.credentials
    assert dest.request_stats(CONNECTION) == {}
    dest.close()  # nothing to close, and no error


def test_a_plugin_with_the_hooks_answers_them() -> None:
    plugin = Renewing()
    dest = Destination("renewing", plugin)
    renewed = dest.current_credentials(CONNECTION)
    assert renewed.access_token is not None
    assert renewed.access_token.get_secret_value() == "renewed"
    assert dest.request_stats(CONNECTION) == {"requests": 3.0, "retries": 1.0}
    dest.close()
    assert plugin.closed == 1


def test_importing_the_hookspecs_or_a_stub_plugin_imports_no_pydantic() -> None:
    code = (
        "import sys, crm_push.hookspecs, crm_push_hubspot; "
        "print(sorted(m for m in ('pydantic', 'sqlalchemy', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
