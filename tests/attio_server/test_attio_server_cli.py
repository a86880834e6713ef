"""`python -m crm_push_attio.server --help` (and `crm-push-attio-server --help`): its name, its
options and their defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crm_push_attio.server import cli


def test_module_help_names_the_module_and_shows_the_defaults() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "crm_push_attio.server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith("usage: python -m crm_push_attio.server ")
    text = " ".join(out.split())
    for default in (
        "(default: 127.0.0.1)",
        "(default: 8765)",
        "(default: local-dev-token)",
        "(default: Local workspace)",
        "(default: no limit)",
        "(default: 0.0)",
        "(default: record_permission:read-write object_configuration:read",
    ):
        assert default in text, default


def test_the_console_script_names_itself(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/crm-push-attio-server", "--help"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage: crm-push-attio-server ")
