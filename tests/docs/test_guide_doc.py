"""The Python examples of docs/guide.md run, against a destination installed by entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE_MD = ROOT / "docs" / "guide.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


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
    monkeypatch.chdir(ROOT)  # the example reads docs/examples/visitors.jsonl
    namespace: dict[str, object] = {"__name__": "guide_md"}
    exec(compile("\n\n".join(blocks), str(GUIDE_MD), "exec"), namespace)
    out = capsys.readouterr().out
    assert '"total"' in out
    summary = namespace["summary"]
    assert summary.total > 0 and summary.created > 0  # type: ignore[attr-defined]
    assert namespace["result"].status == "created"  # type: ignore[attr-defined]
