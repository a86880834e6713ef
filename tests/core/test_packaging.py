"""The built wheel holds every package folder of core/ and plugins/ (an editable install would
hide a folder missing from pyproject's `packages`)."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from support.wheels import build_wheel

ROOT = Path(__file__).resolve().parents[2]


def _package_dirs() -> set[str]:
    """Import paths of every folder with Python code under core/ (crm_push) and plugins/."""
    found = set()
    for base, prefix in ((ROOT / "core", "crm_push"), (ROOT / "plugins", "")):
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts or ".egg-info" in str(init):
                continue
            rel = init.parent.relative_to(base).parts
            found.add(".".join(p for p in (prefix, *rel) if p))
    return found


def test_the_wheel_holds_every_package_and_the_servers_data(tmp_path: Path) -> None:
    # Build from a copy of the tracked files, so the checkout gets no build/ or egg-info.
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    src = tmp_path / "src"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path / "dist"
    wheel = build_wheel(src, out, "crm_push")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = _package_dirs()
    assert {"crm_push", "crm_push.models", "crm_push_attio.server"} <= packages
    missing = sorted(p for p in packages if f"{p.replace('.', '/')}/__init__.py" not in names)
    assert not missing, f"pyproject.toml's packages lacks {missing}"
    assert "crm_push_attio/server/attio-openapi-subset-2025-06.json" in names
