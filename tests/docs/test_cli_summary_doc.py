"""The summaries docs/cli.md shows are what `crm-push push docs/examples/visitors.jsonl` prints:
against the local Attio server (the text and the JSON summary), and as a dry run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from crm_push.cli import cli

import crm_push_attio
from crm_push_attio import server

ROOT = Path(__file__).resolve().parents[2]
CLI_MD = ROOT / "docs" / "cli.md"
SAMPLE = ROOT / "docs" / "examples" / "visitors.jsonl"


def block_after(marker: str, lang: str) -> str:
    """The first ```lang block after `marker` in docs/cli.md."""
    text = CLI_MD.read_text(encoding="utf-8")
    at = text.index(marker)
    found = re.search(rf"^```{lang}\n(.*?)^```", text[at:], flags=re.DOTALL | re.MULTILINE)
    assert found, f"no ```{lang} block after {marker!r}"
    return found.group(1)


@pytest.fixture
def attio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The CLI's global options for a new workspace of the local Attio server."""
    for name in ("ATTIO_WRITES_PER_SECOND", "ATTIO_READS_PER_SECOND"):
        monkeypatch.setenv(name, "unlimited")
    crm_push_attio.reset_caches()
    with server.AttioServer() as srv:
        monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url)
        monkeypatch.setenv("ATTIO_ACCESS_TOKEN", server.DEFAULT_TOKEN)
        yield ["--dest", "attio", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
    crm_push_attio.reset_caches()


def push(options: list[str], tmp_path: Path, *args: str) -> str:
    rejects = tmp_path / "rejects.jsonl"
    command = [*options, "push", "--rejects", str(rejects), *args, str(SAMPLE)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1, result.output  # v_128 fails
    return result.stdout.replace(str(rejects), "rejects.jsonl")


def test_the_documented_summary_is_what_the_sample_gives(attio: list[str], tmp_path: Path) -> None:
    documented = block_after("At the end, a summary on stdout:", "text")
    printed = re.sub(r" in \d+\.\ds:", " in 1.2s:", push(attio, tmp_path))
    assert printed == documented


def test_the_documented_json_summary_is_what_the_sample_gives(
    attio: list[str], tmp_path: Path
) -> None:
    shown = block_after("With `--json` the summary is one JSON object:", "json")
    shown = shown.replace(", …}", "}").replace('"…"', "null")
    documented: dict[str, Any] = json.loads(shown)
    printed = json.loads(push(attio, tmp_path, "--json"))
    assert set(documented) == set(printed)
    for key, value in documented.items():
        if key == "http":
            assert {k: printed["http"][k] for k in value} == value
        elif key not in ("seconds", "workspace"):
            assert printed[key] == value, key


def test_the_documented_dry_run_summary_is_what_the_sample_gives(tmp_path: Path) -> None:
    documented = block_after("A dry run's summary starts with", "text")
    db = ["--dest", "attio", "--db", f"sqlite:///{tmp_path / 'none.db'}"]
    printed = push(db, tmp_path, "--dry-run")
    assert printed.startswith(documented)
