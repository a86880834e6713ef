"""CRM_PUSH_PLUGINS and CRM_PUSH_BLOCK_PLUGINS never hide a destination silently."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from crm_push.cli import cli
from crm_push.errors import DestinationNotFound

pytestmark = pytest.mark.usefixtures("with_test_plugins")


def plugins(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[list[str], list[str]]:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    names = [p["name"] for p in json.loads(result.stdout)]  # stdout stays JSON
    return names, result.stderr.splitlines()


def test_no_filter_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    names, stderr = plugins(monkeypatch)
    assert {"filecrm", "hubspot"} <= set(names) and stderr == []


def test_only_unknown_names_warns_and_says_it_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    names, stderr = plugins(monkeypatch, CRM_PUSH_PLUGINS="nope")
    assert names == []
    assert stderr[0].startswith("warning: CRM_PUSH_PLUGINS names 'nope', which is not installed")
    assert "filecrm" in stderr[0] and "hubspot" in stderr[0]  # what is installed
    assert stderr[1].startswith("note: destinations filtered by CRM_PUSH_PLUGINS=nope (")
    assert "hubspot" in stderr[1] and len(stderr) == 2


def test_only_known_names_notes_the_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    names, stderr = plugins(monkeypatch, CRM_PUSH_PLUGINS="filecrm, hubspot")
    assert names == ["filecrm", "hubspot"]
    assert len(stderr) == 1 and stderr[0].startswith(
        "note: destinations filtered by CRM_PUSH_PLUGINS=filecrm,hubspot ("
    )
    assert "hidden: " in stderr[0] and "salesforce" in stderr[0]


def test_block_list_is_noted_and_its_typos_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    names, stderr = plugins(monkeypatch, CRM_PUSH_BLOCK_PLUGINS="broken,hubsopt")
    assert "broken" not in names and "hubspot" in names
    assert stderr[0].startswith("warning: CRM_PUSH_BLOCK_PLUGINS names 'hubsopt'")
    assert stderr[1] == (
        "note: destinations filtered by CRM_PUSH_BLOCK_PLUGINS=broken,hubsopt (1 hidden: broken)"
    )


@pytest.mark.parametrize(
    ("var", "value", "fix"),
    [
        ("CRM_PUSH_PLUGINS", "filecrm", "add it to CRM_PUSH_PLUGINS"),
        ("CRM_PUSH_BLOCK_PLUGINS", "hubspot", "remove it from CRM_PUSH_BLOCK_PLUGINS"),
    ],
)
def test_dest_hidden_by_a_variable_says_so(
    var: str, value: str, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(var, value)
    result = CliRunner().invoke(cli, ["--dest", "hubspot", "markers", "list"])
    assert result.exit_code == 2
    assert f"destination 'hubspot' is installed but hidden by {var}={value}" in result.stderr
    assert fix in result.stderr and "no destination named" not in result.stderr
    from crm_push.destination.discovery import load_destination

    with pytest.raises(DestinationNotFound, match="hidden by"):
        load_destination("hubspot")


def test_unknown_dest_and_no_dest_name_what_the_filter_hides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRM_PUSH_PLUGINS", "nope")
    unknown = CliRunner().invoke(cli, ["--dest", "nope", "markers", "list"])
    assert unknown.exit_code == 2
    assert "installed destinations: none (" in unknown.stderr
    assert "hidden by CRM_PUSH_PLUGINS=nope" in unknown.stderr
    missing = CliRunner().invoke(cli, ["markers", "list"])
    assert missing.exit_code == 2 and "hidden by CRM_PUSH_PLUGINS=nope" in missing.stderr
