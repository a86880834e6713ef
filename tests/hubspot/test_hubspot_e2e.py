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


def _rich_file(path: Path) -> list[dict[str, Any]]:
    """Mixed-case emails, `https://www.` domains, single-token names, people without email,
    companies without domain, key contacts, visits; many visitors sharing a few companies."""
    visitors: list[dict[str, Any]] = [
        {
            "id": "ann",
            "person": {"email": "Ann.Lee@ACME.com", "name": "Ann Lee", "job_title": "CTO"},
            "company": {"name": "Acme", "domain": "https://www.acme.com/pricing"},
            "visit": {"visited_at": "2026-11-20T10:00:00Z", "pages": ["/pricing"]},
            "key_contacts": [
                {"email": "CFO@Acme.com", "name": "Sam Roe", "job_title": "CFO"},
                {"email": "ceo@acme.com", "name": "Madonna"},
            ],
        },
        {
            "id": "bo",
            "person": {"email": "bo@acme.com", "name": "Bo"},
            "company": {"domain": "acme.com"},
            "visit": {"visited_at": "2026-11-21T09:30:00Z", "pages": ["/docs"]},
        },
        {
            "id": "anon",
            "person": {"name": "Anonymous Reader"},
            "company": {"name": "No Domain Co"},
            "visit": {"visited_at": "2026-11-22T08:00:00Z", "pages": ["/careers"]},
        },
        {"id": "globex", "company": {"name": "Globex", "domain": "HTTPS://WWW.Globex.IO/"}},
    ]
    for i in range(48):
        visitors.append(
            {
                "id": f"v{i}",
                "person": {"email": f"Person{i}@Shared{i % 6}.Example", "name": f"Pat P{i}"},
                "company": {
                    "name": f"Shared {i % 6}",
                    "domain": f"https://www.shared{i % 6}.example",
                },
                "visit": {"visited_at": f"2026-11-{1 + i % 20:02d}T12:00:00Z", "pages": ["/"]},
            }
        )
    path.write_text("".join(json.dumps(v) + "\n" for v in visitors))
    return visitors


NO_SCHEMAS = tuple(s for s in server.DEFAULT_SCOPES if s != "crm.schemas.companies.write")


@pytest.mark.parametrize("schemas", [True, False], ids=["unique-property", "search-fallback"])
def test_cli_push_of_a_feature_rich_file_with_8_workers_then_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schemas: bool
) -> None:
    path = tmp_path / "rich.jsonl"
    _rich_file(path)
    scopes = server.DEFAULT_SCOPES if schemas else NO_SCHEMAS
    tokens = {server.DEFAULT_TOKEN: server.TokenInfo(scopes=scopes)}
    with server.HubSpotServer(search_lag=2.0, ten_secondly_limit=None, tokens=tokens) as srv:
        monkeypatch.setenv("HUBSPOT_BASE_URL", srv.base_url)
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", server.DEFAULT_TOKEN)
        db = ["--dest", "hubspot", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
        runner = CliRunner()
        outputs = [runner.invoke(cli, [*db, "connect"]).output]
        first = runner.invoke(cli, [*db, "push", "--json", "--workers", "8", str(path)])
        outputs.append(first.output)
        assert first.exit_code == 0, first.output
        assert _summary(first.output)["failed"] == 0

        contacts = {c.get("email") or c["firstname"]: c for c in srv.objects("contacts")}
        emails = {f"person{i}@shared{i % 6}.example" for i in range(48)}
        assert set(contacts) == emails | {
            "ann.lee@acme.com",
            "cfo@acme.com",
            "ceo@acme.com",
            "bo@acme.com",
            "Anonymous",
        }
        assert (contacts["bo@acme.com"]["firstname"], contacts["bo@acme.com"].get("lastname")) == (
            "Bo",
            None,
        )
        assert contacts["ceo@acme.com"]["firstname"] == "Madonna"
        assert contacts["cfo@acme.com"]["jobtitle"] == "CFO"
        companies = srv.objects("companies")
        by_domain = {c.get("domain") or c["name"]: c for c in companies}
        assert len(companies) == len(by_domain)  # no company twice, despite lag and 8 workers
        assert set(by_domain) == {
            "acme.com",
            "globex.io",
            "No Domain Co",
            *(f"shared{i}.example" for i in range(6)),
        }
        assert by_domain["acme.com"]["name"] == "Acme"
        acme = by_domain["acme.com"]["id"]
        for email in ("ann.lee@acme.com", "cfo@acme.com", "ceo@acme.com", "bo@acme.com"):
            assert srv.associated("contacts", contacts[email]["id"], "companies") == [acme]
        assert srv.associated("contacts", contacts["Anonymous"]["id"], "companies") == [
            by_domain["No Domain Co"]["id"]
        ]
        for i in range(48):
            contact = contacts[f"person{i}@shared{i % 6}.example"]["id"]
            assert srv.associated("contacts", contact, "companies") == [
                by_domain[f"shared{i % 6}.example"]["id"]
            ]
        # One note per visit of a contact with an email (none for the anonymous reader).
        notes = {n["id"]: n for n in srv.objects("notes")}
        assert len(notes) == 2 + 48
        (ann_note,) = srv.associated("contacts", contacts["ann.lee@acme.com"]["id"], "notes")
        assert notes[ann_note]["hs_timestamp"] == "2026-11-20T10:00:00.000Z"
        assert srv.associated("contacts", contacts["Anonymous"]["id"], "notes") == []
        # Batches: far fewer requests than visitors.
        crm = [r for r in srv.requests if r.path.startswith(("/crm/objects", "/crm/assoc"))]
        assert len(crm) < len(contacts) / 2
        assert ("crmpush_domain" in by_domain["acme.com"]) is schemas

        srv.clear_requests()
        second = runner.invoke(cli, [*db, "push", "--json", "--workers", "8", str(path)])
        outputs.append(second.output)
        assert second.exit_code == 0 and _summary(second.output)["writes"] == 0
        writes = [r for r in srv.requests if r.method in ("POST", "PUT", "PATCH")]
        assert [r.path for r in writes if r.path.startswith("/crm/objects/2026-03/")] == []
        assert len(srv.objects("companies")) == len(companies)
        assert all(r.method != "DELETE" for r in srv.requests)
    for output in outputs:
        assert server.DEFAULT_TOKEN not in output
