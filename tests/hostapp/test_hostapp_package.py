"""The example host app as a package of its own: its wheel holds its pages and its visitors,
and those visitors are crm-push's example file, unchanged."""

from __future__ import annotations

import ast
import shutil
import zipfile
from pathlib import Path

from hostapp_helpers import HOSTAPP, ROOT

from support.wheels import build_wheel


def test_the_example_visitors_are_a_copy_of_docs_examples_visitors() -> None:
    copy = HOSTAPP / "hostapp" / "visitors.jsonl"
    assert copy.read_bytes() == (ROOT / "docs" / "examples" / "visitors.jsonl").read_bytes()


def test_its_wheel_holds_the_pages_the_visitors_and_the_command(tmp_path: Path) -> None:
    # A copy, so the build leaves no build/ or egg-info in the docs folder.
    src = tmp_path / "hostapp"
    shutil.copytree(HOSTAPP, src, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    wheel = build_wheel(src, out, "crm_push_hostapp")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    pages = {f"hostapp/templates/{p}.html" for p in ("base", "sign_in", "integrations", "visitors")}
    assert pages | {"hostapp/visitors.jsonl", "hostapp/__main__.py"} <= names
    assert "crm-push-hostapp = hostapp.__main__:main" in scripts


def test_it_uses_only_the_public_api_of_crm_push() -> None:
    """The app is what any host app can write: crm_push's top-level names, crm_push.oauth and
    crm_push.models, no private name, nothing of a plugin (the local server is a command)."""
    public = {"crm_push", "crm_push.oauth", "crm_push.models"}
    ours = ("crm_push", "crm_push_")
    bad = []
    for path in sorted((HOSTAPP / "hostapp").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported = [(a.name, "") for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported = [(node.module, a.name) for a in node.names]
            else:
                continue
            for module, name in imported:
                if module.startswith(ours) and (module not in public or name.startswith("_")):
                    bad.append(f"{path.name}: {module} {name}".strip())
    assert not bad, f"the example host app uses non-public names: {bad}"
