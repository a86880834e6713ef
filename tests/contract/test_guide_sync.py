"""docs/plugin-guide.md shows the example plugin's code, and cannot drift from it.

Every ```python or ```toml block is tagged on the line before it:

* ``<!-- file: examples/jsoncrm/PATH -->``: the block appears verbatim in that file (paths are
  relative to docs/), and the tagged blocks together show every line of the example's files;
* ``<!-- exec -->``: a sketch that is not part of the example; it is run, and each call it
  makes to crm-push is checked against the real signature.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass
from typing import Any

import crm_push
import pytest
from crm_push import hookspecs

from contract.helpers import REPO

DOCS = REPO / "docs"
GUIDE = DOCS / "plugin-guide.md"
SHOWN_WHOLE = [
    "examples/jsoncrm/pyproject.toml",
    "examples/jsoncrm/crm_push_jsoncrm/__init__.py",
    "examples/jsoncrm/tests/test_contract.py",
]
CHECKED_LANGUAGES = {"python", "toml"}
TAG = re.compile(r"<!-- (?:file: (?P<file>\S+)|(?P<exec>exec)) -->")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    file: str | None
    exec: bool


def _blocks() -> list[Block]:
    lines = GUIDE.read_text().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w*)", lines[i])
        if not fence:
            i += 1
            continue
        end = lines.index("```", i + 1)
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        tag = TAG.fullmatch(before.strip())
        blocks.append(
            Block(
                line=i + 1,
                lang=fence[1],
                text="\n".join(lines[i + 1 : end]) + "\n",
                file=tag["file"] if tag else None,
                exec=bool(tag and tag["exec"]),
            )
        )
        i = end + 1
    return blocks


BLOCKS = _blocks()
FILE_BLOCKS = [b for b in BLOCKS if b.file]
EXEC_BLOCKS = [b for b in BLOCKS if b.exec]


def test_the_guide_has_tagged_blocks() -> None:
    assert len(FILE_BLOCKS) >= 10 and EXEC_BLOCKS


def test_code_blocks_are_tagged() -> None:
    untagged = [
        f"line {b.line}: ```{b.lang}"
        for b in BLOCKS
        if b.lang in CHECKED_LANGUAGES and not (b.file or b.exec)
    ]
    assert not untagged, (
        "tag these blocks of plugin-guide.md with <!-- file: examples/jsoncrm/PATH --> "
        "(or <!-- exec --> for a runnable sketch):\n" + "\n".join(untagged)
    )


@pytest.mark.parametrize("block", FILE_BLOCKS, ids=lambda b: f"line{b.line}")
def test_file_blocks_are_the_example_code(block: Block) -> None:
    assert block.file
    path = DOCS / block.file
    assert path.is_file(), f"line {block.line}: {block.file} does not exist"
    assert block.text in path.read_text(), (
        f"plugin-guide.md line {block.line} is not verbatim in {block.file}: copy the code "
        "from the example into the guide again"
    )


@pytest.mark.parametrize("name", SHOWN_WHOLE)
def test_the_guide_shows_every_line_of_the_example(name: str) -> None:
    text = (DOCS / name).read_text()
    covered = [False] * len(text)
    for block in FILE_BLOCKS:
        if block.file == name and (start := text.find(block.text)) >= 0:
            covered[start : start + len(block.text)] = [True] * len(block.text)
    offset = 0
    missing = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.strip() and not all(covered[offset : offset + len(line)]):
            missing.append(f"{number}: {line.rstrip()}")
        offset += len(line)
    assert not missing, f"lines of {name} the guide does not show:\n" + "\n".join(missing)


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_resolve(node.value, namespace), node.attr, None)
    return None


@pytest.mark.parametrize("block", EXEC_BLOCKS, ids=lambda b: f"line{b.line}")
def test_exec_blocks_run_and_call_crm_push_correctly(block: Block) -> None:
    namespace: dict[str, Any] = {"__name__": "guide_sketch"}
    exec(compile(block.text, f"plugin-guide.md:{block.line}", "exec"), namespace)
    checked = 0
    for node in ast.walk(ast.parse(block.text)):
        if not isinstance(node, ast.Call):
            continue
        target = _resolve(node.func, namespace)
        if not str(getattr(target, "__module__", "")).startswith("crm_push"):
            continue  # a parameter's method, or not crm-push's
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        ):
            continue
        try:
            inspect.signature(target).bind(
                *[None] * len(node.args), **{k.arg: None for k in node.keywords if k.arg}
            )
        except TypeError as exc:
            pytest.fail(f"plugin-guide.md line {block.line + node.lineno}: {exc}")
        checked += 1
    assert checked, "the sketch calls nothing of crm-push"


def test_the_guide_lists_each_hook_with_its_exact_signature() -> None:
    guide = GUIDE.read_text()
    for name in hookspecs.CORE_HOOKS + hookspecs.OPTIONAL_HOOKS:
        # hookspecs uses postponed annotations: each annotation is its source text.
        sig = inspect.signature(getattr(hookspecs, name))
        params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
        line = f"{name}({params}) -> {sig.return_annotation}"
        assert line in guide, f"plugin-guide.md does not show `{line}`"


def test_links_to_the_example_exist() -> None:
    for target in re.findall(r"\]\((examples/[^)#]*)", GUIDE.read_text()):
        assert (DOCS / target).exists(), target


def test_the_models_table_lists_each_models_fields() -> None:
    # Rows look like: | `RecordRef` | `object`, `record_id`, … | notes |
    rows = re.findall(r"^\| `(\w+)` \| ((?:`\w+`(?:, )?)+) \|", GUIDE.read_text(), re.M)
    assert len(rows) >= 10
    for name, fields in rows:
        model = getattr(crm_push, name)
        listed = set(re.findall(r"`(\w+)`", fields))
        actual = set(model.model_fields) - {"connected_at"}  # set by crm-push, not by plugins
        assert listed == actual, f"plugin-guide.md's row for {name}: {sorted(actual)}"
