"""Finding destinations through entry points; one PluginManager per destination."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from crm_push import (
    DestinationNotFound,
    NotImplementedYet,
    PluginLoadError,
    available,
    list_plugins,
    load_destination,
)
from crm_push.cli import cli
from crm_push.hookspecs import CORE_HOOKS

pytestmark = pytest.mark.usefixtures("with_test_plugins")


def test_stubs_and_test_plugins_are_listed_with_status() -> None:
    infos = {p.name: p for p in list_plugins()}
    for stub in ("salesforce", "pipedrive"):
        assert infos[stub].status == "stub"
        assert infos[stub].distribution == "crm-push"
    assert infos["hubspot"].status == "ok"  # a real destination now
    assert infos["filecrm"].status == "ok"
    assert infos["filecrm"].distribution == "crm-push-testdests"
    assert infos["filecrm"].version == "1.0"
    assert infos["broken"].status == "broken"
    assert "not installed" in (infos["broken"].error or "")
    assert infos["misspelt"].status == "broken"
    assert "assert_persn" in (infos["misspelt"].error or "")


def test_plugins_command_prints_json_and_survives_a_broken_plugin() -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["name"] for r in rows} >= {"hubspot", "salesforce", "pipedrive", "broken"}
    assert set(rows[0]) == {"name", "module", "distribution", "version", "status", "error"}


def test_unknown_destination_names_the_installed_ones() -> None:
    with pytest.raises(DestinationNotFound) as info:
        load_destination("hubspto")
    assert "hubspot" in str(info.value) and "filecrm" in str(info.value)
    result = CliRunner().invoke(cli, ["--dest", "hubspto", "push", "-"], input="")
    assert result.exit_code == 2
    assert "installed destinations: " in result.output


def test_broken_plugin_fails_to_load_with_its_error() -> None:
    with pytest.raises(PluginLoadError, match="could not be loaded: ImportError"):
        load_destination("broken")


def test_only_the_named_destination_is_imported() -> None:
    code = (
        "import sys; from crm_push import load_destination; load_destination('filecrm');"
        "print(sorted(m for m in sys.modules if m.startswith(('crm_push_', 'support.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['support.filecrm']"


def test_each_destination_has_its_own_plugin_manager() -> None:
    a, b = load_destination("filecrm"), load_destination("hubspot")
    assert a.pm is not b.pm
    assert [p for p in a.pm.get_plugins()] == [a.plugin]
    for hook in CORE_HOOKS:
        assert len(getattr(a.pm.hook, hook).get_hookimpls()) == 1


def test_stub_hooks_fail_plainly_and_never_fake_success() -> None:
    dest = load_destination("salesforce")
    assert dest.status == "stub"
    with pytest.raises(NotImplementedYet, match="Salesforce destination is a stub"):
        dest.connect()


def test_env_vars_limit_and_block_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PUSH_PLUGINS", "filecrm,hubspot")
    assert available() == ["filecrm", "hubspot"]
    monkeypatch.setenv("CRM_PUSH_BLOCK_PLUGINS", "hubspot")
    assert available() == ["filecrm"]
    with pytest.raises(DestinationNotFound):
        load_destination("hubspot")


def test_help_imports_no_plugin_and_no_heavy_module() -> None:
    code = (
        "import sys; from crm_push.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('sqlalchemy', 'pydantic', 'httpx', 'crm_push_')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
