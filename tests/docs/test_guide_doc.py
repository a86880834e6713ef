"""The Python examples of docs/guide.md run, against a destination installed by entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.docs import python_blocks

ROOT = Path(__file__).resolve().parents[2]
GUIDE_MD = ROOT / "docs" / "guide.md"


def test_guide_links_the_other_docs() -> None:
    text = GUIDE_MD.read_text(encoding="utf-8")
    for name in ("hooks.md", "cli.md", "attio.md"):
        assert name in text


@pytest.mark.usefixtures("with_test_plugins", "crm_file")
def test_guide_host_app_examples_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(GUIDE_MD.read_text(encoding="utf-8"))
    assert blocks, "docs/guide.md has no ```python example"
    monkeypatch.setenv("CRM_PUSH_DEST", "filecrm")
    monkeypatch.setenv("CUSTOMER_TOKEN", "good-token")
    monkeypatch.delenv("FILECRM_TOKEN")  # a Session must not need the destination's env
    monkeypatch.chdir(ROOT)  # the example reads docs/examples/visitors.jsonl
    namespace: dict[str, object] = {"__name__": "guide_md"}
    exec(compile("\n\n".join(blocks), str(GUIDE_MD), "exec"), namespace)
    out = capsys.readouterr().out
    assert '"total"' in out
    summary = namespace["summary"]
    assert summary.total > 0 and summary.created > 0  # type: ignore[attr-defined]
    assert namespace["result"].status == "created"  # type: ignore[attr-defined]
    assert namespace["connection"].workspace_id == namespace["workspace_id"]


def test_workers_defaults_in_the_docs_match_the_cli() -> None:
    """Every "default N" said of --workers (or "runs N visitors at once by default") is the
    CLI's own default."""
    from crm_push.cli import cli

    push = cli.commands["push"]
    default = next(p.default for p in push.params if p.name == "workers")
    said = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        said += [
            (doc.name, int(n))
            for n in re.findall(r"--workers[^.\n]{0,40}?default:? (\d+)", text)
            + re.findall(r"runs (\d+) visitors at once by default", text)
        ]
    assert said, "no doc states the --workers default"
    wrong = [(name, n) for name, n in said if n != default]
    assert not wrong, f"docs give another --workers default than the CLI's {default}: {wrong}"


def test_the_constants_the_docs_name_exist_with_the_values_they_give() -> None:
    """Each `crm_push.module.NAME` the docs name is there; where a number of seconds or a
    count is given just before it ("60 s: `…LEASE_SECONDS`"), it is that constant's value."""
    import importlib

    pattern = re.compile(r"`(crm_push(?:\.[a-z_]+)+)\.([A-Z][A-Z_0-9]+)`")
    named = checked = 0
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text()
        for match in pattern.finditer(text):
            module, name = match.groups()
            value = getattr(importlib.import_module(module), name, None)
            assert value is not None, f"{doc.name} names {module}.{name}, which does not exist"
            before = text[max(0, match.start() - 30) : match.start()]
            numbers = re.findall(r"(\d+(?:\.\d+)?)(?: s)?[:,]?\s*\(?$", before)
            if numbers and isinstance(value, int | float):
                said = numbers[-1]
                assert float(said) == value, f"{doc.name}: {name} is {value}, not {said}"
                checked += 1
            named += 1
    assert named >= 4 and checked >= 3
