"""The plugin as a whole: the template's module layout, hooks that delegate, no DELETE."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from crm_push.destination.facade import Destination
from crm_push.hookspecs import CORE_HOOKS

import crm_push_hubspot
from crm_push_hubspot.plugin import HubSpotDestination

PACKAGE = Path(crm_push_hubspot.__file__).parent
TEMPLATE = {"plugin.py", "connect.py", "clients.py", "api.py", "errors.py", "records.py"}
TEMPLATE |= {"notes.py"}
HUBSPOT_OWN = {"limits.py", "__init__.py"}
PLUGIN_FACING = {
    "crm_push",
    "crm_push.hookspecs",
    "crm_push.errors",
    "crm_push.models",
    "crm_push.http",
    "crm_push.testing",
}
HOOKS = {
    "connect",
    "assert_company",
    "assert_person",
    "associate",
    "add_note",
    "disconnect",
    "current_credentials",
    "request_stats",
    "close",
}
_DELETE = re.compile(r"""["']DELETE["']|\.delete\(|method\s*=\s*["']delete""", re.IGNORECASE)


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


def test_the_modules_are_the_templates() -> None:
    assert {p.name for p in PACKAGE.glob("*.py")} == TEMPLATE | HUBSPOT_OWN
    assert (PACKAGE / "server" / "__init__.py").is_file()


def test_every_module_opens_with_a_one_line_docstring() -> None:
    for path in [*PACKAGE.glob("*.py"), *(PACKAGE / "server").glob("*.py")]:
        docstring = ast.get_docstring(_tree(path))
        assert docstring, f"{path.name} has no docstring"
        first = docstring.splitlines()[0]
        assert first.strip() and len(first) <= 100, f"{path.name}: {first!r}"


def test_the_plugin_imports_only_plugin_facing_core_names() -> None:
    for path in PACKAGE.glob("*.py"):
        core = {n for n in _imported(_tree(path)) if n.split(".")[0] == "crm_push"}
        assert core <= PLUGIN_FACING, f"{path.name}: {sorted(core - PLUGIN_FACING)}"


def test_the_local_server_imports_nothing_from_crm_push() -> None:
    for path in (PACKAGE / "server").glob("*.py"):
        roots = {n.split(".")[0] for n in _imported(_tree(path))}
        assert not roots & {"crm_push", "crm_push_hubspot"}, path.name


def test_plugin_py_holds_only_the_hooks_and_each_delegates() -> None:
    tree = _tree(PACKAGE / "plugin.py")
    defined = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom | ast.Expr)]
    assert [type(n).__name__ for n in defined] == ["ClassDef"]
    (cls,) = defined
    assert isinstance(cls, ast.ClassDef) and cls.name == "HubSpotDestination"
    hooks = []
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef) or node.name == "__init__":
            continue
        body = node.body[1:] if ast.get_docstring(node) else node.body
        assert len(body) == 1, f"{node.name} has {len(body)} statements"
        statement = body[0]
        assert isinstance(statement, ast.Return | ast.Expr), node.name
        assert isinstance(statement.value, ast.Call), node.name
        assert node.end_lineno is not None and node.end_lineno - node.lineno < 15, node.name
        if any(ast.unparse(d) == "hookimpl" for d in node.decorator_list):
            hooks.append(node.name)
    assert set(hooks) == HOOKS


def test_no_source_of_the_plugin_sends_delete() -> None:
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in PACKAGE.glob("*.py")  # the plugin; server/ is the fake HubSpot
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if _DELETE.search(line)
    ]
    assert offenders == []


def test_every_hook_is_implemented_and_registers() -> None:
    dest = Destination("hubspot", HubSpotDestination())  # runs check_pending()
    assert dest.status == "ok"
    for hook in (*CORE_HOOKS, "current_credentials", "request_stats", "close"):
        assert dest.implements(hook), hook
