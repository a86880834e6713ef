"""docs/architecture.md names every folder and top-level module of core/, and nothing more."""

from __future__ import annotations

import re
from pathlib import Path

from support.docs import python_blocks

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


def test_every_module_of_push_and_models_is_described() -> None:
    modules = {
        f"{folder}/{p.name}"
        for folder in ("push", "models")
        for p in (ROOT / "core" / folder).glob("*.py")
        if p.name != "__init__.py"
    }
    assert _table_rows("## `core/push/` and `core/models/`") == modules


def test_core_top_level_holds_only_the_six_files() -> None:
    files = {p.name for p in (ROOT / "core").glob("*.py")}
    assert files == {
        "__init__.py",
        "__main__.py",
        "hookspecs.py",
        "errors.py",
        "session.py",
        "oauth.py",
    }


def test_the_common_destination_files_are_described() -> None:
    common = {"plugin.py", "connect.py", "clients.py", "api.py", "errors.py", "records.py"}
    assert common | {"notes.py"} <= _table_rows("## `plugins/`")


PUBLIC_MODULES = {
    "crm_push",
    "crm_push.hookspecs",
    "crm_push.errors",
    "crm_push.jobs",  # the jobs extra: enqueue and the procrastinate app
    "crm_push.models",
    "crm_push.http",
    "crm_push.testing",
    "crm_push.oauth",  # the OAuth web flow of host apps (begin, complete)
}


def test_docs_code_imports_only_public_names() -> None:
    """The docs teach the public API: their code imports no internal module of crm_push."""
    bad = []
    docs = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    for doc in docs:
        for block in python_blocks(doc.read_text()):
            for module in re.findall(r"^\s*(?:from|import) (crm_push[\w.]*)", block, re.M):
                if module not in PUBLIC_MODULES:
                    bad.append(f"{doc.name}: {module}")
    assert not bad, f"docs import internal modules: {bad}"


def test_destination_packages_have_the_common_file_names() -> None:
    """Every real destination (one with a plugin.py) has the files every other one has."""
    common = {"plugin.py", "connect.py", "clients.py", "api.py", "errors.py", "records.py"}
    common.add("notes.py")
    packages = [p for p in (ROOT / "plugins").glob("crm_push_*") if (p / "plugin.py").exists()]
    assert packages, "no destination package with a plugin.py"
    for package in packages:
        missing = common - {f.name for f in package.glob("*.py")}
        assert not missing, f"{package.name} lacks {sorted(missing)}"
