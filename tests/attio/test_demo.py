"""The README's first command: the offline demo against the bundled server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_offline_demo_pushes_then_finds_nothing_to_do() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "crm_push_attio.demo", "docs/examples/visitors.jsonl"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    first, second = out.split("Second push")
    assert "5 created, 0 updated, 0 unchanged, 1 failed" in first
    assert "0 created, 0 updated, 5 unchanged, 1 failed; 0 steps." in second
    assert "Attio now holds 3 companies" in second and "5 people" in second
    assert "Jane Doe" in second and "→ Acme" in second
    assert "3 notes" in second
    requests = next(line for line in second.splitlines() if "requests reached" in line)
    assert "PUT" in requests and "POST" in requests and "DELETE" not in requests
    assert '"_reject"' in second and "not-an-email" in second


def test_demo_help_is_help_not_a_file() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crm_push_attio.demo", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m crm_push_attio.demo [-h] [FILE]")
    assert "docs/examples/visitors.jsonl" in done.stdout and "no such file" not in done.stderr


def test_demo_refuses_an_unknown_option_as_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crm_push_attio.demo", "--fast"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unrecognized arguments: --fast" in done.stderr
