"""The local server's OAuth consent page: a real form, a workspace to choose, Approve or Deny."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm_push_attio.server import AttioServer

REDIRECT = "https://app.example.com/callback?from=attio"


@pytest.fixture
def srv() -> Iterator[AttioServer]:
    with AttioServer(
        oauth_clients={"app": "s3cret"}, workspace_name="Acme", more_workspaces=["Globex"]
    ) as server:
        yield server


def _page(srv: AttioServer, **extra: str) -> httpx.Response:
    params = {"client_id": "app", "response_type": "code", "redirect_uri": REDIRECT, **extra}
    return httpx.get(f"{srv.base_url}/authorize", params=params)


def _ticket(page: httpx.Response) -> str:
    found = re.search(r'name="ticket" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _decide(srv: AttioServer, **form: str) -> httpx.Response:
    return httpx.post(f"{srv.base_url}/authorize", data=form)


def _exchange(srv: AttioServer, code: str) -> dict[str, object]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "app",
        "client_secret": "s3cret",
    }
    answer = httpx.post(f"{srv.base_url}/oauth/token", data=form)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_the_consent_page_is_a_form_listing_the_workspaces(srv: AttioServer) -> None:
    page = _page(srv, state="s-1")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["X-Frame-Options"] == "DENY"  # no clickjacking of the Approve button
    assert page.headers["Cache-Control"] == "no-store"
    assert '<form method="post" action="/authorize">' in page.text
    for workspace_id, name in srv.workspaces:
        assert f'value="{workspace_id}"' in page.text and name in page.text
    assert 'value="approve">Approve</button>' in page.text
    assert 'value="deny"' in page.text and ">Deny</button>" in page.text
    assert "s-1" not in page.text  # the state stays on the server, behind the ticket


def test_approve_sends_back_a_code_for_the_chosen_workspace(srv: AttioServer) -> None:
    globex = dict((name, wid) for wid, name in srv.workspaces)["Globex"]
    ticket = _ticket(_page(srv, state="s-1"))
    answer = _decide(srv, ticket=ticket, decision="approve", workspace=globex)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT.split("?")[0]
    query = parse_qs(location.query)
    assert query["from"] == ["attio"] and query["state"] == ["s-1"]
    token = _exchange(srv, query["code"][0])["access_token"]
    me = httpx.get(f"{srv.base_url}/v2/self", headers={"Authorization": f"Bearer {token}"})
    assert (me.json()["workspace_id"], me.json()["workspace_name"]) == (globex, "Globex")
    # What the token writes lands in Globex only.
    created = httpx.put(
        f"{srv.base_url}/v2/objects/companies/records",
        params={"matching_attribute": "domains"},
        json={"data": {"values": {"domains": [{"domain": "globex.example"}]}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 200, created.text
    assert len(srv.records("companies", workspace="Globex")) == 1
    assert srv.records("companies", workspace="Acme") == []


def test_deny_sends_back_access_denied_and_no_code(srv: AttioServer) -> None:
    ticket = _ticket(_page(srv, state="s-2"))
    answer = _decide(srv, ticket=ticket, decision="deny")
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s-2"]
    assert "code" not in query


def test_a_page_is_answered_once(srv: AttioServer) -> None:
    acme = srv.workspaces[0][0]
    ticket = _ticket(_page(srv))
    assert _decide(srv, ticket=ticket, decision="approve", workspace=acme).status_code == 302
    again = _decide(srv, ticket=ticket, decision="approve", workspace=acme)
    assert again.status_code == 400 and "already answered" in again.text


@pytest.mark.parametrize(
    ("form", "why"),
    [
        ({"ticket": "forged", "decision": "approve"}, "already answered or has expired"),
        ({"decision": "approve"}, "already answered or has expired"),
        ({"decision": "maybe"}, 'decision must be "approve" or "deny"'),
        ({"decision": "approve", "workspace": "not-a-workspace"}, "Choose one of the workspaces"),
        ({"decision": "approve"}, "Choose one of the workspaces"),
    ],
)
def test_a_bad_decision_is_refused_with_no_redirect(
    srv: AttioServer, form: dict[str, str], why: str
) -> None:
    if "ticket" not in form and why != "already answered or has expired":
        form = {**form, "ticket": _ticket(_page(srv))}
    answer = _decide(srv, **form)
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert why in html.unescape(answer.text)


def test_the_page_refuses_an_unknown_client_or_a_bad_redirect(srv: AttioServer) -> None:
    unknown = _page(srv, client_id="nope")
    assert unknown.status_code == 400 and "Unknown OAuth client_id" in unknown.text
    bad = _page(srv, redirect_uri="javascript:alert(1)")
    assert bad.status_code == 400 and "redirect_uri must be an http(s) URL" in bad.text
    assert 'name="ticket"' not in bad.text


def test_auto_approve_skips_the_page_for_the_first_workspace() -> None:
    with AttioServer(oauth_clients={"app": "s3cret"}, auto_approve=True) as srv:
        answer = _page(srv, state="s-3")
        assert answer.status_code == 302
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert query["state"] == ["s-3"]
        token = _exchange(srv, query["code"][0])["access_token"]
        me = httpx.get(f"{srv.base_url}/v2/self", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["workspace_id"] == srv.workspace_id


def test_the_command_line_serves_the_page_with_more_workspaces() -> None:
    import subprocess
    import sys

    args = ["--port", "0", "--oauth-client", "app:s3cret", "--more-workspace", "Globex"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm_push_attio.server", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base = re.search(r"ATTIO_BASE_URL=(\S+)", first)
        assert base, first
        params = {"client_id": "app", "response_type": "code", "redirect_uri": REDIRECT}
        page = httpx.get(f"{base.group(1)}/authorize", params=params, timeout=5)
        assert page.status_code == 200
        assert "Local workspace" in page.text and "Globex" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
