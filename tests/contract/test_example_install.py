"""The example plugin installed as a real distribution, in a fresh venv, used through its entry
point: `crm-push plugins`, `crm-push --dest jsoncrm push`, then its own contract tests.

Offline: the venv sees this environment's packages (crm-push and its dependencies) through a
.pth file, and pip installs only the example, with --no-deps.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from packaging.version import Version

from contract.helpers import EXAMPLE, run_pytest

VISITORS = [
    {
        "id": "v1",
        "person": {"email": "jane@acme.example", "name": "Jane Doe"},
        "company": {"name": "Acme", "domain": "https://www.acme.example/pricing"},
        "visit": {"visited_at": "2026-11-20T10:00:00Z", "pages": ["/pricing"]},
        "key_contacts": [{"email": "cfo@acme.example", "name": "Sam Roe"}],
    },
    {"id": "v2", "company": {"name": "Globex", "domain": "globex.example"}},
    {"id": "v3", "person": {"name": "Anonymous Reader"}},
]


def _can_build_wheels_offline() -> bool:
    """setuptools builds wheels by itself from 70.1; before that it needs `wheel` installed."""
    try:
        setuptools = Version(metadata.version("setuptools"))
    except metadata.PackageNotFoundError:
        return False
    return setuptools >= Version("70.1") or importlib.util.find_spec("wheel") is not None


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A fresh venv that also sees this environment's site-packages (crm-push and its deps)."""
    root = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", root], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # addsitedir (not a bare path line) so this environment's own .pth files run too: the
    # editable install of crm-push is one. A venv made from a venv would not see them.
    parents = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    lines = [f"import site; site.addsitedir({p!r})" for p in sorted(parents)]
    (Path(purelib) / "_parent_env.pth").write_text("\n".join(lines) + "\n")
    return root


def test_example_plugin_installs_and_runs_through_its_entry_point(
    venv: Path, tmp_path: Path
) -> None:
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CRM_PUSH_"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")

    # A copy, so pip's in-tree build leaves no build/ or egg-info in the docs folder.
    source = tmp_path / "jsoncrm"
    shutil.copytree(
        EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    pip = [python, "-m", "pip", "install", "--no-deps", "--quiet"]
    if _can_build_wheels_offline():
        pip += ["--no-index", "--no-build-isolation"]
    # else: pip fetches only the build backend (setuptools) from the package index.
    _run([*pip, str(source)], env, tmp_path)

    where = _run([python, "-c", "import crm_push_jsoncrm as m; print(m.__file__)"], env, tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv), "imported from outside the venv"

    # crm-push plugins: listed through the entry point, with its distribution and version.
    listed = json.loads(_run([python, "-m", "crm_push", "plugins"], env, tmp_path).stdout)
    jsoncrm = next(p for p in listed if p["name"] == "jsoncrm")
    assert jsoncrm == {
        "name": "jsoncrm",
        "module": "crm_push_jsoncrm:JsonCRM",
        "distribution": "crm-push-jsoncrm",
        "version": "0.1.0",
        "status": "ok",
        "error": None,
    }
    # The debugging switches: load only the listed plugins, or block some.
    only = _run(
        [python, "-m", "crm_push", "plugins"], {**env, "CRM_PUSH_PLUGINS": "jsoncrm"}, tmp_path
    )
    assert [p["name"] for p in json.loads(only.stdout)] == ["jsoncrm"]
    blocked = _run(
        [python, "-m", "crm_push", "plugins"],
        {**env, "CRM_PUSH_BLOCK_PLUGINS": "jsoncrm"},
        tmp_path,
    )
    assert "jsoncrm" not in [p["name"] for p in json.loads(blocked.stdout)]

    # crm-push --dest jsoncrm push, twice: the second run finds everything unchanged.
    visitors = tmp_path / "visitors.jsonl"
    visitors.write_text("".join(json.dumps(v) + "\n" for v in VISITORS))
    crm_file = tmp_path / "crm.json"
    push_env = {**env, "JSONCRM_PATH": str(crm_file)}
    push = [
        python,
        "-m",
        "crm_push",
        "--dest",
        "jsoncrm",
        "--db",
        f"sqlite:///{tmp_path / 'state.db'}",
        "push",
        "--json",
        str(visitors),
    ]
    first = json.loads(_run(push, push_env, tmp_path).stdout)
    assert (first["total"], first["created"], first["failed"]) == (3, 3, 0)
    assert first["notes_created"] == 1
    crm = json.loads(crm_file.read_text())
    companies = {c["domain"]: rid for rid, c in crm["companies"].items()}
    assert set(companies) == {"acme.example", "globex.example"}
    people = {p.get("email") or p["name"]: p for p in crm["people"].values()}
    assert set(people) == {"jane@acme.example", "cfo@acme.example", "Anonymous Reader"}
    assert people["jane@acme.example"]["company_id"] == companies["acme.example"]
    assert people["cfo@acme.example"]["company_id"] == companies["acme.example"]
    [note] = crm["notes"].values()
    assert crm["people"][note["parent"]]["email"] == "jane@acme.example"

    again = json.loads(_run(push, push_env, tmp_path).stdout)
    assert (again["unchanged"], again["writes"]) == (3, 0)
    assert json.loads(crm_file.read_text()) == crm

    # The example's own tests: the contract suite, through the installed entry point.
    proc, outcomes = run_pytest(source, python=python, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcomes, "no tests ran"
    # The batch part of the contract is skipped: the example has no batch hooks.
    assert all(
        o.status == "passed" or (o.status == "skipped" and "no batch hooks" in o.message)
        for o in outcomes.values()
    ), proc.stdout
    assert any(o.status == "passed" for o in outcomes.values())
