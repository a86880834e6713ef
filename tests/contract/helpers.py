"""Helpers for the contract tests: where the example plugin is, and pytest run as a plugin
author runs it (in a subprocess, in a folder of its own) with its outcomes parsed."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "jsoncrm"


@dataclass(frozen=True)
class Outcome:
    status: str  # "passed", "failed", "skipped" or "error"
    message: str = ""


def junit_outcomes(report: Path) -> dict[str, Outcome]:
    """Outcomes by "Class::test[param]" from a pytest --junitxml report."""
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').rpartition('.')[2]}::{case.get('name')}"
        outcome = Outcome("passed")
        for status in ("skipped", "failure", "error"):
            child = case.find(status)
            if child is not None:
                text = child.get("message") or child.text or ""
                outcome = Outcome("failed" if status == "failure" else status, text)
        outcomes[name] = outcome
    return outcomes


def run_pytest(
    folder: Path,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Outcome]]:
    """Run pytest on `folder` in a subprocess whose rootdir is that folder."""
    report = folder.parent / f"{folder.name}-junit.xml"
    proc = subprocess.run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-rs", f"--junitxml={report}"],
        cwd=folder,
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc, junit_outcomes(report) if report.exists() else {}
