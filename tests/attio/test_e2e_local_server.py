"""End to end against the local Attio-compatible server: push, push again, resume, OAuth.

The server enforces Attio's semantics (unique matching, references that must exist, scopes,
schema validation of every body) and never serves DELETE; its request log is checked too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import urllib.parse
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from attio_helpers import FakeSleep, connect_local
from crm_push import oauth
from crm_push.destination.facade import Destination
from crm_push.errors import InvalidInput, ReconnectRequired
from crm_push.inputs.visitors import read_jsonl
from crm_push.models import Person
from crm_push.models.crm import Connection, ConnectOptions, Pending, RecordRef
from crm_push.push.pusher import Pusher, RunSummary
from crm_push.state.markers import MarkerStore

from crm_push_attio import server
from crm_push_attio.errors import NOTES_NO_PERMISSION, NOTES_SKIPPED
from crm_push_attio.plugin import AttioDestination
from support.transports import wrap_transports

VISITORS: list[dict[str, Any]] = [
    {
        "id": "v1",
        "person": {
            "email": "ada@acme.com",
            "name": "Ada Lovelace",
            "job_title": "CTO",
            "linkedin_url": "linkedin.com/in/ada",
        },
        "company": {"name": "Acme", "domain": "acme.com", "description": "Widgets"},
        "visit": {
            "visited_at": "2025-03-04T09:30:00Z",
            "visit_count": 3,
            "quality_score": 87.5,
            "pages": ["/pricing", "/docs"],
        },
        "key_contacts": [{"email": "bob@acme.com", "name": "Bob Builder"}],
    },
    {
        "id": "v2",
        "person": {"name": "Cher", "job_title": "Singer"},
        "company": {"name": "Side Project"},
    },
    {
        "id": "v3",
        "person": {"email": "grace@navy.mil", "name": "Grace Hopper"},
        "visit": {"visited_at": "2025-03-05T10:00:00Z", "pages": ["/"]},
    },
]


@pytest.fixture
def srv() -> Iterator[Any]:
    with server.AttioServer() as running:
        yield running
    assert running.count("DELETE") == 0


def push(
    dest: Destination, conn: Connection, db: str, visitors: list[dict[str, Any]]
) -> RunSummary:
    markers = MarkerStore("attio", conn.workspace_id, db)
    lines = [json.dumps(v) for v in visitors]
    return Pusher(dest, conn, markers).run(read_jsonl(lines))


# The parts of stored values the assertions compare (not the audit fields Attio adds).
_KEYS = {"value", "domain", "email_address", "first_name", "last_name", "full_name"}


def values(record: dict[str, Any], slug: str) -> list[Any]:
    return [
        {k: v for k, v in value.items() if k in _KEYS or k == "target_record_id"}
        for value in record["values"].get(slug, [])
    ]


def by_email(srv: Any, email: str) -> dict[str, Any]:
    for person in srv.records("people"):
        if {"email_address": email} in values(person, "email_addresses"):
            return person
    raise AssertionError(f"no person with {email}")


def writes(srv: Any) -> int:
    return sum(srv.count(m) for m in ("POST", "PUT", "PATCH")) - srv.count(
        "POST", "/v2/objects/people/records/query"
    )


def test_push_then_push_again(dest: Destination, srv: Any, db_url: str) -> None:
    conn = connect_local(dest, srv)
    summary = push(dest, conn, db_url, VISITORS)
    assert (summary.total, summary.created, summary.failed) == (3, 3, 0)
    assert summary.notes_created == 2

    people, companies = srv.records("people"), srv.records("companies")
    # Three companies: Acme, Side Project, and navy.mil, which Attio itself derives from
    # grace@navy.mil's domain when it creates her (the server models it).
    assert len(people) == 4 and len(companies) == 3
    acme = next(c for c in companies if values(c, "domains") == [{"domain": "acme.com"}])
    assert values(acme, "name") == [{"value": "Acme"}]
    assert values(acme, "description") == [{"value": "Widgets"}]
    acme_id = acme["id"]["record_id"]

    ada = by_email(srv, "ada@acme.com")
    assert values(ada, "name") == [
        {"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace"}
    ]
    assert values(ada, "job_title") == [{"value": "CTO"}]
    assert values(ada, "linkedin") == [{"value": "https://linkedin.com/in/ada"}]
    # Linked inline through the person's company reference, contacts too.
    assert values(ada, "company") == [{"target_record_id": acme_id}]
    assert values(by_email(srv, "bob@acme.com"), "company") == [{"target_record_id": acme_id}]

    cher = next(p for p in people if not p["values"].get("email_addresses"))
    assert values(cher, "name") == [{"first_name": "Cher", "last_name": "", "full_name": "Cher"}]
    side = next(c for c in companies if c["id"]["record_id"] != acme_id)
    assert values(cher, "company") == [{"target_record_id": side["id"]["record_id"]}]

    notes = srv.notes()
    assert len(notes) == 2
    ada_note = next(n for n in notes if n["parent_record_id"] == ada["id"]["record_id"])
    assert ada_note["parent_object"] == "people"
    assert ada_note["created_at"].startswith("2025-03-04T09:30:00")
    assert "Quality score: 87.5" in ada_note["content_plaintext"]
    assert "crm-push visit key:" in ada_note["content_plaintext"]

    # Again: nothing is written, nothing is added.
    srv.reset_log()
    again = push(dest, conn, db_url, VISITORS)
    assert (again.unchanged, again.writes) == (3, 0)
    assert writes(srv) == 0
    assert len(srv.records("people")) == 4 and len(srv.notes()) == 2


def test_email_less_visitor_pushed_twice_is_one_person(
    dest: Destination, srv: Any, db_url: str
) -> None:
    conn = connect_local(dest, srv)
    visitor = {"id": "anon", "person": {"name": "Grace Hopper", "job_title": "Captain"}}
    push(dest, conn, db_url, [visitor])
    changed = {"id": "anon", "person": {"name": "Grace Hopper", "job_title": "Admiral"}}
    summary = push(dest, conn, db_url, [changed])
    assert summary.updated == 1
    people = srv.records("people")
    assert len(people) == 1
    assert values(people[0], "job_title") == [{"value": "Admiral"}]
    assert srv.count("PATCH") == 1


def test_without_the_note_scope_notes_are_skipped(dest: Destination, srv: Any, db_url: str) -> None:
    srv.set_scopes(
        server.DEFAULT_TOKEN, ["record_permission:read-write", "object_configuration:read"]
    )
    conn = connect_local(dest, srv)
    summary = push(dest, conn, db_url, VISITORS)
    assert summary.failed == 0 and summary.notes_skipped == 2
    assert summary.notes_skipped_reasons == {NOTES_SKIPPED: 2}
    assert srv.notes() == [] and srv.count(path_prefix="/v2/notes") == 0


def test_note_scope_revoked_mid_run_skips_on_403(dest: Destination, srv: Any, db_url: str) -> None:
    conn = connect_local(dest, srv)  # connected with the note scope...
    srv.set_scopes(
        server.DEFAULT_TOKEN, ["record_permission:read-write", "object_configuration:read"]
    )
    summary = push(dest, conn, db_url, VISITORS[:1])  # ...which is gone by push time
    assert summary.failed == 0 and summary.notes_skipped == 1
    assert summary.notes_skipped_reasons == {NOTES_SKIPPED: 1}


def test_throttling_and_server_errors_are_retried(
    dest: Destination, srv: Any, db_url: str, sleeps: FakeSleep
) -> None:
    conn = connect_local(dest, srv)
    srv.fail_next(2, status=429, path_prefix="/v2/objects/companies/records")
    srv.fail_next(1, status=409, path_prefix="/v2/objects/people/records", method="PUT")
    srv.fail_next(1, status=500, path_prefix="/v2/notes", method="POST")
    summary = push(dest, conn, db_url, VISITORS)
    assert summary.failed == 0 and summary.notes_created == 2
    assert len(srv.records("people")) == 4 and len(srv.notes()) == 2
    assert len(sleeps.calls) >= 4


def test_a_failed_create_makes_one_person(
    dest: Destination, srv: Any, db_url: str, sleeps: FakeSleep
) -> None:
    conn = connect_local(dest, srv)
    srv.fail_next(1, status=503, path_prefix="/v2/objects/people/records", method="POST")
    summary = push(dest, conn, db_url, [VISITORS[1]])
    assert summary.failed == 0
    assert len(srv.records("people")) == 1


def test_pending_create_finds_the_record_on_the_server(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    since = dt.datetime.now(dt.UTC)
    person = Person(name="Grace Hopper", job_title="Admiral")
    first = dest.assert_person(conn, person)
    again = dest.assert_person(conn, person, pending=Pending(since=since))
    assert again.record_id == first.record_id
    assert len(srv.records("people")) == 1
    # Someone else of the same name but another job is not taken for ours.
    other = dest.assert_person(conn, Person(name="Grace Hopper"), pending=Pending(since=since))
    assert other.record_id == first.record_id  # holds every value sent: same name, no job
    third = dest.assert_person(
        conn, Person(name="Grace Hopper", job_title="Cook"), pending=Pending(since=since)
    )
    assert third.record_id != first.record_id


def test_a_reference_to_a_missing_company_names_the_field(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    ghost = RecordRef(object="companies", record_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(InvalidInput) as caught:
        dest.assert_person(conn, Person(email="x@y.com"), company=ghost)
    assert (caught.value.field, caught.value.code) == ("company", "value_not_found")
    assert str(caught.value).startswith("Attio rejected people record assert: ")
    assert srv.records("people") == []


# -- OAuth against the local server --------------------------------------------------------


def _browser(url: str) -> None:
    """A real browser: GET the consent page, press Approve (the first workspace), follow the
    redirect to the loopback listener."""

    def run() -> None:
        with httpx.Client(timeout=5, follow_redirects=True) as client:
            page = client.get(url).text
            fields = dict(re.findall(r'name="(ticket|workspace)" value="([^"]+)"', page))
            client.post(
                urllib.parse.urljoin(url, "/authorize"), data={**fields, "decision": "approve"}
            )

    threading.Thread(target=run, daemon=True).start()


def test_oauth_flow_refresh_and_revoke(tmp_path: Path) -> None:
    lines: list[str] = []
    db = f"sqlite:///{tmp_path / 'state.db'}"
    with server.AttioServer(oauth_clients={"cid": "csecret"}, issue_refresh_tokens=True) as srv:
        attio = AttioDestination()
        conn = oauth.loopback(
            Destination("attio", attio),
            client_id="cid",
            client_secret="csecret",
            options={"base_url": srv.base_url},
            db_url=db,
            timeout=10,
            open_browser=_browser,
            echo=lines.append,
        )
        assert conn.workspace_id == srv.workspace_id and conn.can("notes")
        creds = conn.credentials
        assert creds.access_token is not None and creds.refresh_token is not None
        access = creds.access_token.get_secret_value()

        # The access token dies: a later connect refreshes it with the stored refresh token.
        srv.expire_token(access)
        again = attio.connect(conn.credentials, ConnectOptions(base_url=srv.base_url))
        assert again.credentials.access_token is not None
        renewed = again.credentials.access_token.get_secret_value()
        assert renewed != access

        result = attio.disconnect(again)
        assert result.revoked and "records and notes" in result.message
        with pytest.raises(ReconnectRequired, match="reconnect Attio"):
            connect_local(Destination("attio", attio), srv, renewed)
        attio.close()
        assert not any("csecret" in line or renewed in line for line in lines)
        assert srv.count("DELETE") == 0


def test_scopes_reported_by_the_server(dest: Destination, srv: Any) -> None:
    conn = connect_local(dest, srv)
    assert set(conn.scopes) >= {"record_permission:read-write", "note:read-write"}
    assert conn.workspace_name == srv.workspace_name


# -- the command line, as the issue's acceptance check runs it -------------------------------


def test_cli_push_twice_against_the_local_server(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from crm_push.cli import cli

    monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url)
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", server.DEFAULT_TOKEN)
    visitors = tmp_path / "visitors.jsonl"
    visitors.write_text("".join(json.dumps(v) + "\n" for v in VISITORS))
    db = ["--dest", "attio", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
    runner = CliRunner()

    connected = runner.invoke(cli, [*db, "connect"])
    assert connected.exit_code == 0, connected.output
    assert srv.workspace_id in connected.output
    assert server.DEFAULT_TOKEN not in connected.output

    first = runner.invoke(cli, [*db, "push", "--json", str(visitors)])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output[first.output.index("{") :])
    assert (summary["created"], summary["failed"], summary["notes_created"]) == (3, 0, 2)
    # The summary's HTTP figures are what reached the server.
    sent = [r for r in srv.requests if r.path != "/v2/self"]
    writes = sum(r.method in ("POST", "PUT", "PATCH") for r in sent)
    assert summary["http"]["writes"] == writes == summary["writes"]
    assert summary["http"]["retries"] == 0 and summary["http"]["throttled"] == 0

    second = runner.invoke(cli, [*db, "push", "--json", str(visitors)])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output[second.output.index("{") :])
    assert (summary["unchanged"], summary["writes"]) == (3, 0)
    assert len(srv.records("people")) == 4 and len(srv.notes()) == 2

    gone = runner.invoke(cli, [*db, "disconnect"])
    assert gone.exit_code == 0, gone.output
    assert "Workspace settings → Developers" in gone.output
    assert "records and notes" in gone.output


def test_cli_summary_counts_retries_and_429s(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from crm_push.cli import cli

    monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url)
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", server.DEFAULT_TOKEN)
    visitors = tmp_path / "visitors.jsonl"
    visitors.write_text(json.dumps(VISITORS[0]) + "\n")
    srv.fail_next(1, status=429, path_prefix="/v2/objects/companies", retry_after_seconds=0.2)
    srv.fail_next(1, status=503, path_prefix="/v2/objects/people")
    db = ["--dest", "attio", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
    result = CliRunner().invoke(cli, [*db, "push", str(visitors)])
    assert result.exit_code == 0, result.output
    assert "2 retries, 1 rate-limited (429)" in result.output


def test_a_token_that_dies_mid_run_is_renewed_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from crm_push.cli import cli
    from crm_push.state.connections import ConnectionStore

    with server.AttioServer(oauth_clients={"cid": "csecret"}, issue_refresh_tokens=True) as srv:
        # Connect with `crm-push connect --oauth`, the browser pressing Approve.
        db = f"sqlite:///{tmp_path / 'state.db'}"
        monkeypatch.setattr(webbrowser, "open", _browser)
        monkeypatch.setenv("ATTIO_CLIENT_ID", "cid")
        monkeypatch.setenv("ATTIO_CLIENT_SECRET", "csecret")
        connected = CliRunner().invoke(
            cli,
            ["--dest", "attio", "--db", db, "connect", "--oauth", "--base-url", srv.base_url],
        )
        assert connected.exit_code == 0, connected.output
        assert srv.workspace_id in connected.output and "OAuth access token" in connected.output
        assert "csecret" not in connected.output
        stored = ConnectionStore(db).load("attio")
        assert stored is not None and stored.credentials.access_token is not None
        first_access = stored.credentials.access_token.get_secret_value()

        # The access token dies after the first write of the run.
        def expire_after_first_write(request: Any) -> None:
            if request.method in ("PUT", "POST") and request.url.path.startswith("/v2/objects"):
                srv.expire_token(first_access)

        wrap_transports(monkeypatch, lambda send: _spy(send, expire_after_first_write))
        visitors = tmp_path / "visitors.jsonl"
        visitors.write_text("".join(json.dumps(v) + "\n" for v in VISITORS))
        result = CliRunner().invoke(
            cli, ["--dest", "attio", "--db", db, "push", "--workers", "1", str(visitors)]
        )
        assert result.exit_code == 0, result.output
        assert "0 failed" in result.output
        assert len(srv.records("people")) == 4

        renewed = ConnectionStore(db).load("attio")
        assert renewed is not None and renewed.credentials.access_token is not None
        assert renewed.credentials.access_token.get_secret_value() != first_access
        assert renewed.credentials.refresh_token != stored.credentials.refresh_token
        # The kept tokens work for the next run, with no reconnect.
        again = CliRunner().invoke(cli, ["--dest", "attio", "--db", db, "push", str(visitors)])
        assert again.exit_code == 0 and "3 unchanged" in again.output, again.output


def _spy(send: Any, before: Any) -> Any:
    def wrapped(self: httpx.BaseTransport, request: httpx.Request) -> httpx.Response:
        response = send(self, request)
        before(request)
        return response

    return wrapped


@pytest.mark.not_attio
def test_cli_connect_tells_a_wrong_base_url_from_a_wrong_token(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from crm_push.cli import cli

    db = ["--dest", "attio", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", server.DEFAULT_TOKEN)
    monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url + "/v2")
    wrong_url = CliRunner().invoke(cli, [*db, "connect"])
    assert wrong_url.exit_code == 2  # a wrong setting, not failed visitors
    assert f"{srv.base_url}/v2 (from ATTIO_BASE_URL) is not Attio's API: GET " in wrong_url.output
    assert f"{srv.base_url}/v2/v2/self answered 404" in wrong_url.output
    assert "must not end in /v2" in wrong_url.output and "revoked" not in wrong_url.output

    monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url)
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", "a-token-attio-never-issued")
    wrong_token = CliRunner().invoke(cli, [*db, "connect"])
    assert wrong_token.exit_code == 1
    assert (
        "the token in ATTIO_ACCESS_TOKEN was refused (invalid, revoked or expired) by "
        f"{srv.base_url} (from ATTIO_BASE_URL)"
    ) in wrong_token.output
    assert "never-issued" not in wrong_token.output


@pytest.mark.parametrize("command", ["push", "connect", "status"])
def test_cli_a_bad_rate_setting_stops_before_any_visitor(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from click.testing import CliRunner
    from crm_push.cli import cli

    monkeypatch.setenv("ATTIO_BASE_URL", srv.base_url)
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", server.DEFAULT_TOKEN)
    visitors = tmp_path / "visitors.jsonl"
    visitors.write_text("".join(json.dumps(v) + "\n" for v in VISITORS))
    rejects = tmp_path / "rejects.jsonl"
    db = ["--dest", "attio", "--db", f"sqlite:///{tmp_path / 'state.db'}"]
    args = {"push": ["push", "--rejects", str(rejects), str(visitors)]}.get(command, [command])
    monkeypatch.setenv("ATTIO_WRITES_PER_SECOND", "fast")
    result = CliRunner().invoke(cli, [*db, *args])
    assert result.exit_code != 0
    assert "ATTIO_WRITES_PER_SECOND='fast' is not a request rate" in result.output
    assert result.output.count("ATTIO_WRITES_PER_SECOND='fast'") == 1
    assert "failed: line" not in result.output and "visitor '" not in result.output
    assert not rejects.exists() or rejects.read_text() == ""
    assert srv.requests == []


# -- the company Attio derives from a person's email ----------------------------------------

#: A visitor with a corporate email and a domain-less company.
INITECH_LIN = {
    "id": "v9",
    "person": {"email": "lin@initech.io", "name": "Lin Wu"},
    "company": {"name": "Initech"},
}


def one_initech_with_lin(srv: Any) -> None:
    """One company (not Attio's derived second one), with the email's domain, Lin linked."""
    [company] = srv.records("companies")
    assert values(company, "domains") == [{"domain": "initech.io"}]
    assert values(company, "name") == [{"value": "Initech"}]
    person = by_email(srv, "lin@initech.io")
    assert values(person, "company") == [{"target_record_id": company["id"]["record_id"]}]


def test_a_visitor_with_an_email_and_a_domainless_company_leaves_one_company(
    dest: Destination, srv: Any, db_url: str
) -> None:
    # Attio derives (or matches) a company from a new person's email domain. crm-push gives
    # its domain-less company the email's domain first, so Attio's derivation matches it.
    conn = connect_local(dest, srv)
    assert push(dest, conn, db_url, [INITECH_LIN]).failed == 0
    one_initech_with_lin(srv)


def test_a_domainless_company_pushed_before_gets_the_email_domain_in_another_process(
    dest: Destination, srv: Any, db_url: str
) -> None:
    # The company was created and its marker recorded, then giving it the email's domain
    # failed (a process killed there is the same): a later push, in another process, skips
    # the company (its marker) and must still give it the domain before writing the person.
    from crm_push_attio.records import reset_domainless

    conn = connect_local(dest, srv)
    srv.fail_next(1, status=400, path_prefix="/v2/objects/companies/records", method="PATCH")
    assert push(dest, conn, db_url, [INITECH_LIN]).failed == 1
    [company] = srv.records("companies")
    assert values(company, "domains") == []
    reset_domainless()  # what another process knows of it: nothing
    assert push(dest, conn, db_url, [INITECH_LIN]).failed == 0
    one_initech_with_lin(srv)
    reset_domainless()
    assert push(dest, conn, db_url, [INITECH_LIN]).failed == 0
    one_initech_with_lin(srv)  # no second domain appended


def test_free_mail_and_another_domain_are_attios_own_business(
    dest: Destination, srv: Any, db_url: str
) -> None:
    conn = connect_local(dest, srv)
    free = {"id": "f", "person": {"email": "kim@gmail.com"}, "company": {"name": "Kim Co"}}
    other = {
        "id": "o",
        "person": {"email": "sam@initech-mail.com"},
        "company": {"name": "Initech", "domain": "initech.io"},
    }
    assert push(dest, conn, db_url, [free, other]).failed == 0
    domains = sorted(str(values(c, "domains")) for c in srv.records("companies"))
    # Kim Co stays domain-less (no company from gmail.com); for Sam, a real workspace also
    # derives initech-mail.com, the person staying linked to the visitor's company.
    assert domains == ["[]", "[{'domain': 'initech-mail.com'}]", "[{'domain': 'initech.io'}]"]
    sam = by_email(srv, "sam@initech-mail.com")
    initech = next(
        c for c in srv.records("companies") if values(c, "name") == [{"value": "Initech"}]
    )
    assert values(sam, "company") == [{"target_record_id": initech["id"]["record_id"]}]


def test_a_403_on_notes_with_the_scope_granted_is_counted_as_no_permission(
    dest: Destination, srv: Any, db_url: str
) -> None:
    # A user-level token whose member may not write notes: every scope granted, still 403.
    conn = connect_local(dest, srv)
    srv.fail_next(1, status=403, path_prefix="/v2/notes", method="POST")
    summary = push(dest, conn, db_url, VISITORS[:1])
    assert summary.failed == 0 and summary.notes_skipped == 1
    assert summary.notes_skipped_reasons == {NOTES_NO_PERMISSION: 1}


def test_connect_reads_token_level(dest: Destination, srv: Any) -> None:
    assert "token_level:workspace" in connect_local(dest, srv).capabilities
    srv.tokens.set("member-token", server.TokenInfo(token_level="user"))
    user = connect_local(dest, srv, token="member-token")
    assert "token_level:user" in user.capabilities
    assert any("user-level" in w for w in user.warnings)
