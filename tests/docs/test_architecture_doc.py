"""docs/architecture.md names every folder and top-level module of core/, and nothing more."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCH_MD = ROOT / "docs" / "architecture.md"


def _core_entries() -> set[str]:
    core = ROOT / "core"
    folders = {f"{p.name}/" for p in core.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.name for p in core.glob("*.py") if p.name != "__main__.py"}
    return folders | modules


def _table_rows(section: str) -> set[str]:
    text = ARCH_MD.read_text(encoding="utf-8")
    body = text.split(section, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([\w./]+)` \|", body, flags=re.MULTILINE))


def test_every_core_folder_and_module_is_described() -> None:
    assert _table_rows("## `core/`") == _core_entries()


def test_core_top_level_holds_only_the_five_files() -> None:
    files = {p.name for p in (ROOT / "core").glob("*.py")}
    assert files == {"__init__.py", "__main__.py", "hookspecs.py", "errors.py", "session.py"}


def test_every_destination_package_has_the_common_file_names() -> None:
    common = {"plugin.py", "connect.py", "api.py", "errors.py", "records.py", "notes.py"}
    assert common <= _table_rows("## `plugins/`")
