"""Every real destination package has the template's shape: the shared file names, hooks that
delegate, only plugin-facing core imports, a local server that imports nothing from crm_push,
and no DELETE anywhere in the plugin."""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from crm_push.destination.facade import Destination
from crm_push.hookspecs import BATCH_HOOKS, CORE_HOOKS, OPTIONAL_HOOKS

# The file names every CRM package shares.
TEMPLATE = {"plugin.py", "connect.py", "clients.py", "api.py", "errors.py", "records.py"}
TEMPLATE |= {"notes.py", "__init__.py"}
LIFECYCLE = {"current_credentials", "request_stats", "close"}
# What a plugin may import from core.
PLUGIN_FACING = {
    "crm_push",
    "crm_push.hookspecs",
    "crm_push.errors",
    "crm_push.models",
    "crm_push.http",
    "crm_push.oauth",  # refresh, revoke and the token answer of the OAuth flow
    "crm_push.testing",
}
# A method given as a string, or an httpx-style delete call.
_DELETE = re.compile(r"""["']DELETE["']|\.delete\(|method\s*=\s*["']delete""", re.IGNORECASE)


@dataclass(frozen=True)
class Package:
    name: str  # the entry-point name
    module: str
    cls: str
    own: frozenset[str]  # its modules beyond the template's
    hooks: frozenset[str]

    @property
    def path(self) -> Path:
        return Path(importlib.import_module(self.module).__file__ or "").parent


PACKAGES = [
    Package(
        "attio",
        "crm_push_attio",
        "AttioDestination",
        frozenset({"limits.py", "actions.py", "attributes.py", "convert.py", "token.py"})
        | {"oauth.py", "demo.py"},
        # One at a time; both CRMs' token answers are the standard ones core reads itself.
        frozenset(CORE_HOOKS) | (set(OPTIONAL_HOOKS) - set(BATCH_HOOKS) - {"oauth_credentials"}),
    ),
    Package(
        "hubspot",
        "crm_push_hubspot",
        "HubSpotDestination",
        frozenset({"limits.py", "oauth.py", "batches.py", "properties.py"}),
        frozenset(CORE_HOOKS)
        | LIFECYCLE
        | {"oauth_settings"}
        | set(BATCH_HOOKS),  # 100 records a request
    ),
]
pytestmark = pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text("utf-8"), str(path))


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_modules_are_the_templates(package: Package) -> None:
    assert {p.name for p in package.path.glob("*.py")} == TEMPLATE | package.own
    assert (package.path / "server" / "__init__.py").is_file()


def test_every_module_opens_with_a_one_line_docstring(package: Package) -> None:
    for path in [*package.path.glob("*.py"), *(package.path / "server").glob("*.py")]:
        docstring = ast.get_docstring(_tree(path))
        assert docstring, f"{path.name} has no docstring"
        first = docstring.splitlines()[0]
        assert first.strip() and len(first) <= 100, f"{path.name}: {first!r}"


def test_the_plugin_imports_only_plugin_facing_core_names(package: Package) -> None:
    for path in package.path.glob("*.py"):
        core = {n for n in _imported(_tree(path)) if n.split(".")[0] == "crm_push"}
        assert core <= PLUGIN_FACING, f"{path.name}: {sorted(core - PLUGIN_FACING)}"


def test_the_local_server_imports_nothing_from_crm_push(package: Package) -> None:
    for path in (package.path / "server").glob("*.py"):
        roots = {n.split(".")[0] for n in _imported(_tree(path))}
        assert not roots & {"crm_push", package.module}, path.name


def test_plugin_py_holds_only_the_hooks_and_each_delegates(package: Package) -> None:
    tree = _tree(package.path / "plugin.py")
    defined = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom | ast.Expr)]
    assert [type(n).__name__ for n in defined] == ["ClassDef"]
    (cls,) = defined
    assert isinstance(cls, ast.ClassDef) and cls.name == package.cls
    hooks = []
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef) or node.name == "__init__":
            continue
        body = node.body[1:] if ast.get_docstring(node) else node.body
        # One statement that hands the work to another module: `return x.y(...)` (or a call).
        assert len(body) == 1, f"{node.name} has {len(body)} statements"
        statement = body[0]
        assert isinstance(statement, ast.Return | ast.Expr), node.name
        assert isinstance(statement.value, ast.Call), node.name
        assert node.end_lineno is not None and node.end_lineno - node.lineno < 15, node.name
        if any(ast.unparse(d) == "hookimpl" for d in node.decorator_list):
            hooks.append(node.name)
    assert set(hooks) == package.hooks


def test_no_source_of_the_plugin_sends_delete(package: Package) -> None:
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in package.path.glob("*.py")  # the plugin; server/ is the fake CRM
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if _DELETE.search(line)
    ]
    assert offenders == []


def test_every_hook_is_implemented_and_registers(package: Package) -> None:
    plugin = getattr(importlib.import_module(f"{package.module}.plugin"), package.cls)
    dest = Destination(package.name, plugin())  # runs check_pending()
    assert dest.status == "ok"
    for hook in package.hooks:
        assert dest.implements(hook), hook
