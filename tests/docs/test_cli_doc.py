"""docs/cli.md documents every command and option of `crm-push`, and the environment it reads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from crm_push import cli as cli_module
from crm_push.destination import discovery as loading
from crm_push.state import database as db

ROOT = Path(__file__).resolve().parents[2]
CLI_MD = ROOT / "docs" / "cli.md"
GLOBAL_SECTION = "Global options"


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command under the root, as ("markers list", command); the root is ""."""
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


COMMANDS = dict(walk(cli_module.cli))


def options(command: click.Command) -> list[str]:
    """Long option names of a command, without --help."""
    out = []
    for param in command.params:
        if isinstance(param, click.Option):
            out += [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
    return [o for o in out if o != "--help"]


def arguments(command: click.Command) -> list[str]:
    return [p.human_readable_name for p in command.params if isinstance(p, click.Argument)]


def headed_sections(text: str) -> dict[str, str]:
    """Heading text ⇒ body up to the next heading of any level (code fences are not headings)."""
    out: dict[str, list[str]] = {}
    body: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"#{1,6} (.+)", line)
        if heading:
            body = out.setdefault(heading.group(1).strip(), [])
        else:
            body.append(line)
    return {heading: "\n".join(lines) for heading, lines in out.items()}


@pytest.fixture(scope="module")
def doc() -> str:
    return CLI_MD.read_text(encoding="utf-8")


def section_of(doc: str, path: str) -> str:
    heading = GLOBAL_SECTION if path == "" else f"`{path}`"
    found = headed_sections(doc).get(heading)
    assert found is not None, f"docs/cli.md has no section headed '### {heading}'"
    return found


def test_the_tree_is_walked() -> None:
    assert {"", "push", "connect", "markers", "markers list"} <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_command_is_documented(path: str, doc: str) -> None:
    body = section_of(doc, path)
    if path:
        usage = rf"^crm-push [^\n]*\b{re.escape(path)}\b"
        assert re.search(usage, body, re.MULTILINE), (
            f"the section of `{path}` shows no usage line `crm-push … {path} …`"
        )


@pytest.mark.parametrize(
    ("path", "option"),
    [(path, opt) for path, command in sorted(COMMANDS.items()) for opt in options(command)],
)
def test_option_is_documented(path: str, option: str, doc: str) -> None:
    body = section_of(doc, path)
    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", body), (
        f"docs/cli.md does not mention {option} in the section of `{path or 'crm-push'}`"
    )


@pytest.mark.parametrize(
    ("path", "argument"),
    [(path, arg) for path, command in sorted(COMMANDS.items()) for arg in arguments(command)],
)
def test_argument_is_documented(path: str, argument: str, doc: str) -> None:
    assert argument in section_of(doc, path)


def test_option_environment_variables_are_documented(doc: str) -> None:
    envvars = {
        param.envvar
        for _, command in COMMANDS.items()
        for param in command.params
        if isinstance(param, click.Option) and isinstance(param.envvar, str)
    }
    envvars |= {cli_module.DEST_ENV, db.DB_ENV, loading.ONLY_ENV, loading.BLOCK_ENV}
    missing = sorted(v for v in envvars if v not in doc)
    assert not missing, f"docs/cli.md does not mention {missing}"


def test_exit_codes_are_documented(doc: str) -> None:
    body = headed_sections(doc).get("Exit codes", "")
    for code in ("0", "1", "2"):
        assert re.search(rf"^\| {code} \|", body, re.M), f"exit code {code} is not documented"


def test_input_and_rejects_formats_are_documented(doc: str) -> None:
    from crm_push.inputs.lines import REJECT_KEY
    from crm_push.models import Visitor

    sections = headed_sections(doc)
    assert REJECT_KEY in sections.get("Rejects file", "")
    inputs = sections.get("Input format", "")
    for field in Visitor.model_fields:
        assert f"`{field}`" in inputs, f"the input field {field!r} is not documented"
