"""`crm-push markers` at its edges: limits, unknown parts and visitors, long part names."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from crm_push.cli import cli
from crm_push.models.crm import RecordRef
from crm_push.state.markers import MarkerStore

pytestmark = pytest.mark.usefixtures("with_test_plugins")

LONG_CONTACT = "contact:head.of.procurement.and.vendor.relations@very-long-company-name.example"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--dest", "filecrm", "markers", *args])


@pytest.fixture
def stored() -> MarkerStore:
    """Markers of two visitors in workspace ws (CRM_PUSH_DB: the test's own database)."""
    store = MarkerStore("filecrm", "ws", None)
    store.record("v1", "person", payload="h", record_id="p-1")
    store.record("v1", "note", payload="h", record_id="n-1")
    store.record("v2", LONG_CONTACT, payload="h", record_id="p-2")
    store.record("v2", "link:" + LONG_CONTACT, payload="h")
    store.record_company("acme.com", payload="h", ref=RecordRef(object="companies", record_id="c"))
    return store


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_list_limit_below_one_is_refused(limit: str, stored: MarkerStore) -> None:
    for extra in ([], ["--companies"]):
        result = run("list", "--limit", limit, *extra)
        assert result.exit_code == 2, result.output
        assert "--limit" in result.stderr and ">=1" in result.stderr.replace(" ", "")


def test_list_limit_says_when_it_cut(stored: MarkerStore) -> None:
    lines = run("--workspace", "ws", "list", "--limit", "1").stdout.splitlines()
    assert len(lines) == 4  # heading, column titles, one marker, the note
    assert lines[-1] == "(the 1 newest; --limit N for more)"
    assert "newest" not in run("--workspace", "ws", "list").stdout.splitlines()[-1]


def test_list_names_the_workspace_and_has_a_header(stored: MarkerStore) -> None:
    lines = run("--workspace", "ws", "list").stdout.splitlines()
    assert lines[0] == "Visitor markers of workspace ws, newest first:"
    assert lines[1].split() == ["TIME", "(UTC)", "VISITOR", "PART", "RECORD", "STATE"]
    everywhere = run("list").stdout.splitlines()  # no stored connection, no --workspace
    assert everywhere[0].startswith("Visitor markers of every workspace (no stored connection")
    assert everywhere[1].split()[2] == "WORKSPACE"
    assert all(line.split()[2] == "ws" for line in everywhere[2:])
    companies = run("--workspace", "ws", "list", "--companies").stdout.splitlines()
    assert companies[1].split() == ["TIME", "(UTC)", "DOMAIN", "OBJECT", "RECORD"]
    empty = run("--workspace", "other", "list")
    assert empty.stdout.strip() == "No visitor markers yet (workspace other)."


def test_list_columns_fit_long_part_names(stored: MarkerStore) -> None:
    lines = run("--workspace", "ws", "list").stdout.splitlines()[1:]
    record_at = lines[0].index("RECORD")
    state_at = lines[0].index("STATE")
    for line in lines[1:]:
        assert line[record_at - 2 : record_at] == "  " and line[record_at] != " ", line
        assert line[state_at:].split() == [line.split()[-1]], line  # state in its own column
    assert any(LONG_CONTACT in line and "p-2" in line for line in lines)


@pytest.mark.parametrize("part", ["bogus", "contact:", "link:contact:  ", "Person", "link:"])
def test_remove_refuses_unknown_parts(part: str, stored: MarkerStore) -> None:
    result = run("--workspace", "ws", "remove", "--part", part, "v1")
    assert result.exit_code == 2, result.output
    assert "is not a part" in result.stderr and "link:contact:<email or name>" in result.stderr
    assert len(stored.for_visitor("v1")) == 2  # nothing removed


def test_remove_warns_when_nothing_matched(stored: MarkerStore) -> None:
    unknown = run("--workspace", "ws", "remove", "nobody")
    assert unknown.exit_code == 0
    assert unknown.stdout.strip() == "Removed 0 marker(s)."
    assert unknown.stderr.strip() == (
        "warning: no marker of visitor 'nobody' in workspace ws; nothing removed for it"
    )
    mixed = run("--workspace", "ws", "remove", "--part", "note", "v1", "v2")
    assert mixed.stdout.startswith("Removed 1 marker(s). Nothing in the CRM was deleted")
    assert mixed.stderr.strip() == (
        "warning: no 'note' marker of visitor 'v2' in workspace ws; nothing removed for it"
    )
    contact = run("--workspace", "ws", "remove", "--part", LONG_CONTACT, "v2")
    assert contact.stdout.startswith("Removed 1 marker(s).") and contact.stderr == ""
    company = run("--workspace", "ws", "remove", "--company", "globex.io", "--company", "acme.com")
    assert company.stdout.startswith("Removed 1 company marker(s).")
    assert company.stderr.strip() == (
        "warning: no company marker of globex.io in workspace ws; nothing removed for it"
    )


def test_is_part() -> None:
    from crm_push.state.markers import is_part

    for part in ("company", "person", "link", "note", "contact:a@b.co", "link:contact:Sam Roe"):
        assert is_part(part), part
    for part in ("", "bogus", "contact:", "link:contact:", "link:", "contact", "Note"):
        assert not is_part(part), part
