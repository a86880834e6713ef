"""The shell-completion lines of docs/cli.md give a completion script for each shell, and
completing a partial command offers the real commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
# The console script beside this interpreter (the venv's), else the one on PATH.
_BESIDE = Path(sys.executable).with_name("crm-push")
CRM_PUSH = str(_BESIDE) if _BESIDE.exists() else shutil.which("crm-push")


@pytest.mark.skipif(CRM_PUSH is None, reason="the crm-push script is not installed")
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_documented_completion_source_works(shell: str) -> None:
    section = CLI_MD.read_text(encoding="utf-8").split("## Shell completion", 1)[1]
    assert f"_CRM_PUSH_COMPLETE={shell}_source crm-push" in section
    env = {**os.environ, "_CRM_PUSH_COMPLETE": f"{shell}_source"}
    script = subprocess.run([CRM_PUSH], env=env, capture_output=True, text=True, timeout=30)
    assert script.returncode == 0 and "_CRM_PUSH_COMPLETE" in script.stdout


@pytest.mark.skipif(CRM_PUSH is None, reason="the crm-push script is not installed")
def test_completing_a_command_offers_the_commands() -> None:
    env = {
        **os.environ,
        "_CRM_PUSH_COMPLETE": "bash_complete",
        "COMP_WORDS": "crm-push ma",
        "COMP_CWORD": "1",
    }
    out = subprocess.run([CRM_PUSH], env=env, capture_output=True, text=True, timeout=30)
    assert re.search(r"\bmarkers\b", out.stdout), out.stdout
