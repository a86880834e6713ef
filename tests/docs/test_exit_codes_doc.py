"""The exit codes docs/cli.md lists are the ones the CLI uses, and no two meanings share one."""

from __future__ import annotations

import re
from pathlib import Path

from crm_push.cli.app import CRASH_EXIT

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_the_exit_code_table_lists_0_1_2_and_the_crash_code() -> None:
    section = CLI_MD.read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    codes = [int(c) for c in re.findall(r"^\| (\d+) \|", section, flags=re.M)]
    assert len(codes) == len(set(codes))
    assert {0, 1, 2, CRASH_EXIT} <= set(codes)
    assert CRASH_EXIT not in (0, 1, 2)
