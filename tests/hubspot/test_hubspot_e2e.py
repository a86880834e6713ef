"""End to end: `crm-push --dest hubspot push docs/examples/visitors.jsonl` against the local
HubSpot server (search lag on), then again: the right contacts, companies, associations and
notes, a second run that writes nothing, no DELETE, and the token in no output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from crm_push.cli import cli

from crm_push_hubspot import server

ROOT = Path(__file__).resolve().parents[2]
VISITORS = ROOT / "docs" / "examples" / "visitors.jsonl"


@pytest.fixture
def srv() -> Iterator[Any]:
    with server.HubSpotServer(search_lag=1.0) as running:
        yield running


def _summary(output: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(output[output.index("{") :])
    return data


def test_cli_push_twice_against_the_local_server(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_BASE_URL", srv.base_url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", server.DEFAULT_TOKEN)
    db = ["--dest", "hubspot", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
    runner = CliRunner()
    outputs = []

    connected = runner.invoke(cli, [*db, "connect"])
    outputs.append(connected.output)
    assert connected.exit_code == 0, connected.output
    assert str(srv.portal_id) in connected.output

    first = runner.invoke(cli, [*db, "push", "--json", str(VISITORS)])
    outputs.append(first.output)
    summary = _summary(first.output)
    assert first.exit_code == 1  # v_128 failed (not an email)
    assert (summary["created"], summary["failed"], summary["notes_created"]) == (5, 1, 3)

    contacts = {c.get("email") or c.get("firstname"): c for c in srv.objects("contacts")}
    assert set(contacts) == {
        "jane@acme.com",
        "cfo@acme.com",
        "omar.haddad@acme.com",
        "li@initech.example",
        "Anonymous",
    }
    jane = contacts["jane@acme.com"]
    assert (jane["firstname"], jane["lastname"], jane["jobtitle"]) == ("Jane", "Doe", "CTO")
    assert jane["hs_linkedin_url"] == "https://www.linkedin.com/in/janedoe"
    companies = {c["domain"]: c for c in srv.objects("companies")}
    assert set(companies) == {"acme.com", "globex.io", "initech.example"}
    acme, initech = companies["acme.com"]["id"], companies["initech.example"]["id"]
    for email in ("jane@acme.com", "cfo@acme.com", "omar.haddad@acme.com"):
        assert srv.associated("contacts", contacts[email]["id"], "companies") == [acme]
    assert srv.associated("contacts", contacts["li@initech.example"]["id"], "companies") == [
        initech
    ]
    notes = srv.objects("notes")
    assert len(notes) == 3
    for email in ("jane@acme.com", "omar.haddad@acme.com", "li@initech.example"):
        (note_id,) = srv.associated("contacts", contacts[email]["id"], "notes")
        note = next(n for n in notes if n["id"] == note_id)
        assert "crm-push visit key" in note["hs_note_body"]
    assert next(n for n in notes if "/pricing" in n["hs_note_body"])["hs_timestamp"]

    srv.clear_requests()
    second = runner.invoke(cli, [*db, "push", "--json", str(VISITORS)])
    outputs.append(second.output)
    again = _summary(second.output)
    assert again["writes"] == 0 and again["failed"] == 1
    # The second run's connect reads the account and the token's scopes; no CRM write.
    writes = [r for r in srv.requests if r.method in ("POST", "PUT", "PATCH")]
    crm = [r.path for r in writes if r.path.startswith("/crm/objects/2026-03/")]
    assert [p for p in crm if not p.endswith(("/search", "/batch/read"))] == []

    assert all(r.method != "DELETE" for r in srv.requests)
    for output in outputs:
        assert server.DEFAULT_TOKEN not in output


def test_cli_connect_with_a_wrong_token_says_reconnect_and_hides_it(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "pat-na1-wrong-token-4f9c2d"
    monkeypatch.setenv("HUBSPOT_BASE_URL", srv.base_url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", wrong)
    result = CliRunner().invoke(
        cli, ["--dest", "hubspot", "--db", f"sqlite:///{tmp_path / 's.db'}", "connect"]
    )
    assert result.exit_code == 1
    assert "reconnect" in result.output.lower() and wrong not in result.output


def test_cli_connect_without_a_scope_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scopes = tuple(s for s in server.DEFAULT_SCOPES if s != "crm.objects.companies.write")
    with server.HubSpotServer(tokens={"pat-narrow": server.TokenInfo(scopes=scopes)}) as srv:
        monkeypatch.setenv("HUBSPOT_BASE_URL", srv.base_url)
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-narrow")
        result = CliRunner().invoke(
            cli, ["--dest", "hubspot", "--db", f"sqlite:///{tmp_path / 's.db'}", "connect"]
        )
    assert result.exit_code == 1
    assert "crm.objects.companies.write" in result.output and "pat-narrow" not in result.output
