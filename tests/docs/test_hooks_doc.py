"""Every hook has a docstring, a section in docs/hooks.md with its exact signature, and a test.

And the examples of docs/hooks.md run: all its ```python blocks, top to bottom, in one namespace.
"""

from __future__ import annotations

import inspect
import re
import tempfile
from pathlib import Path

import pytest
from crm_push import hookspecs

from support.docs import python_blocks

ROOT = Path(__file__).resolve().parents[2]
HOOKS_MD = ROOT / "docs" / "hooks.md"
TESTS_DIR = ROOT / "tests"
DOCS_TESTS_DIR = TESTS_DIR / "docs"
HOOKS = (*hookspecs.CORE_HOOKS, *hookspecs.OPTIONAL_HOOKS)


def signature_line(name: str) -> str:
    # As written in the source (annotations are strings under `from __future__ import
    # annotations`; shown without their quotes, the way a plugin author types them).
    return f"def {name}{inspect.signature(getattr(hookspecs, name))}".replace("'", "")


def sections(text: str) -> dict[str, str]:
    """Level-2 sections of a markdown text: heading ⇒ body (up to the next level-2 heading)."""
    out: dict[str, str] = {}
    for chunk in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        heading, _, body = chunk.partition("\n")
        out[heading.strip()] = body
    return out


@pytest.fixture(scope="module")
def hook_sections() -> dict[str, str]:
    return sections(HOOKS_MD.read_text(encoding="utf-8"))


def test_every_hookspec_is_listed() -> None:
    """CORE_HOOKS + OPTIONAL_HOOKS name every hookspec in the module, and nothing else."""
    specs = {
        name
        for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, f"{hookspecs.PROJECT}_spec")
    }
    assert specs == set(HOOKS)
    assert len(HOOKS) == len(set(HOOKS))


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name))
    assert doc and doc.strip(), f"hook {name!r} has no docstring in crm_push.hookspecs"
    params = inspect.signature(getattr(hookspecs, name)).parameters
    undocumented = [p for p in params if f":param {p}:" not in doc]
    assert not undocumented, f"hook {name!r}: docstring lacks :param: for {undocumented}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_doc_section(name: str, hook_sections: dict[str, str]) -> None:
    heading = f"`{name}`"
    assert heading in hook_sections, f"docs/hooks.md has no section headed '## {heading}'"


@pytest.mark.parametrize("name", HOOKS)
def test_doc_section_has_exact_signature(name: str, hook_sections: dict[str, str]) -> None:
    body = hook_sections.get(f"`{name}`", "")
    lines = {line.strip() for line in body.splitlines()}
    expected = signature_line(name)
    assert expected in lines, f"the '## `{name}`' section lacks the signature line:\n{expected}"


@pytest.mark.parametrize("name", HOOKS)
def test_doc_section_has_example(name: str, hook_sections: dict[str, str]) -> None:
    body = hook_sections.get(f"`{name}`", "")
    blocks = python_blocks(body)
    assert blocks, f"the '## `{name}`' section has no ```python example"
    assert any(re.search(rf"\bdef {name}\(", block) for block in blocks), (
        f"the '## `{name}`' section's example does not implement {name}"
    )


@pytest.mark.parametrize("name", hookspecs.OPTIONAL_HOOKS)
def test_optional_hooks_are_marked_optional(name: str, hook_sections: dict[str, str]) -> None:
    assert "optional" in hook_sections.get(f"`{name}`", "").lower()


def test_doc_documents_no_unknown_hook(hook_sections: dict[str, str]) -> None:
    documented = {h.strip("`") for h in hook_sections if re.fullmatch(r"`\w+`", h)}
    assert documented <= set(HOOKS), (
        f"docs/hooks.md documents unknown hooks: {documented - set(HOOKS)}"
    )


def _test_sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for path in sorted(TESTS_DIR.rglob("*.py"))
        if DOCS_TESTS_DIR not in path.parents
    }


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name: str) -> None:
    """Some test (outside tests/docs) implements the hook or calls it."""
    pattern = re.compile(rf"\bdef {name}\s*\(|\.{name}\s*\(")
    users = [path for path, text in _test_sources().items() if pattern.search(text)]
    assert users, (
        f"no test under tests/ (outside tests/docs) implements `def {name}(` or calls "
        f"`.{name}(`: add one"
    )


def test_hooks_md_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(HOOKS_MD.read_text(encoding="utf-8"))
    assert len(blocks) >= len(HOOKS) + 1  # one per hook, and the push at the end
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_PUSH_DB", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = compile("\n\n".join(blocks), str(HOOKS_MD), "exec")
    namespace: dict[str, object] = {"__name__": "hooks_md"}
    exec(code, namespace)
    assert "MemoryCRM" in namespace
