"""The example host app (docs/examples/hostapp) in a real browser: headless Chromium, driven
by Playwright, through what a customer does — sign in, Settings → Integrations → Attio →
Connect on the local Attio server's consent page (choose a workspace, Approve), Test
connection, push one visitor, Push all, read the pushed states, record ids and the failure
reason, Disconnect — and a second customer on the other workspace who sees only its own. Each
step checks what the page shows and what the local Attio server holds.

A failing test leaves screenshots and the app's output in tests/artifacts/ (see conftest.py).
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import pytest
from crm_push import ConnectionStore
from hostapp_helpers import WORKSPACES, HostApp, start_hostapp

from crm_push_attio.server import AttioServer

NORTHWIND, CONTOSO = "Northwind Traders", "Contoso Ltd"
VISITORS = ("v_123", "v_124", "v_125", "v_126", "v_127", "v_128")


def expect(target: Any) -> Any:
    from playwright.sync_api import expect

    return expect(target)


def sign_in(page: Any, app: HostApp, customer: str) -> None:
    page.goto(app.url)
    page.get_by_role("button", name=f"Sign in as {customer}").click()
    expect(page.locator("#customer")).to_have_text(customer)
    expect(page.get_by_role("heading", name="Settings → Integrations")).to_be_visible()


def switch_to(page: Any, app: HostApp, customer: str) -> None:
    page.get_by_role("button", name="Switch customer").click()
    sign_in(page, app, customer)


def open_consent_page(page: Any, attio: AttioServer) -> None:
    expect(page.locator("#attio-status")).to_have_text("Not connected.")
    page.get_by_role("button", name="Connect").click()
    expect(page).to_have_url(re.compile("^" + re.escape(attio.base_url) + "/authorize"))
    expect(page.get_by_role("heading", name="Authorize access to Attio")).to_be_visible()


def connect(page: Any, attio: AttioServer, workspace: str) -> None:
    open_consent_page(page, attio)
    page.get_by_label(workspace).check()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Attio is connected to the workspace {workspace}."
    )
    expect(page.locator("#workspace-name")).to_have_text(workspace)
    expect(page.locator("#workspace-id")).to_have_text(workspace_id(attio, workspace))


def workspace_id(attio: AttioServer, name: str) -> str:
    (found,) = [wid for wid, each in attio.workspaces if each == name]
    return found


def row(page: Any, visitor_id: str) -> Any:
    return page.locator(f'tr[data-visitor="{visitor_id}"]')


def record_ids(page: Any, visitor_id: str) -> set[str]:
    return set(row(page, visitor_id).locator(".record-id").all_inner_texts())


def people(attio: AttioServer, workspace: str) -> dict[str, str]:
    """Record id by email (or by name, without one) of the people in a workspace."""
    out = {}
    for person in attio.records("people", workspace=workspace):
        values = person["values"]
        emails = [e["email_address"] for e in values.get("email_addresses") or []]
        names = [n["full_name"] for n in values.get("name") or []]
        out[(emails or names)[0]] = person["id"]["record_id"]
    return out


def companies(attio: AttioServer, workspace: str) -> dict[str, str]:
    """Record id by domain of the companies in a workspace."""
    return {
        company["values"]["domains"][0]["domain"]: company["id"]["record_id"]
        for company in attio.records("companies", workspace=workspace)
    }


def stored_secrets(db_url: str) -> dict[str, Any]:
    """The `secrets` column of each stored connection, by tenant, as the database holds it."""
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT tenant, secrets FROM connections").fetchall()
    return {tenant: json.loads(secrets) for tenant, secrets in rows}


def test_two_customers_connect_push_and_disconnect_in_a_browser(
    browser: Any, attio: AttioServer, hostapp: HostApp, state_db: str
) -> None:
    page = browser.new_page()
    north, contoso = WORKSPACES

    # Northwind connects its Attio: the consent page, its workspace chosen, Approve.
    sign_in(page, hostapp, NORTHWIND)
    connect(page, attio, north)
    secrets = stored_secrets(state_db)
    assert list(secrets) == ["cust_northwind"]
    assert list(secrets["cust_northwind"]) == ["fernet"]  # encrypted: no token in the clear

    # Test connection: the workspace and the scopes the token was granted.
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("The connection works")
    expect(result).to_contain_text(f"{north} ({workspace_id(attio, north)})")
    scopes = page.locator("#scopes li").all_inner_texts()
    assert "record_permission:read-write" in scopes and "note:read-write" in scopes

    # Visitors: every line of the example file, the broken one included, none pushed yet.
    page.get_by_role("link", name="Visitors").click()
    expect(page.locator("tr[data-visitor]")).to_have_count(len(VISITORS))
    for visitor in VISITORS:
        expect(row(page, visitor).locator(".state")).to_have_text("Not pushed")

    # Push one: Jane and her company land in Northwind's workspace, with the ids shown.
    row(page, "v_123").get_by_role("button", name="Push").click()
    expect(page.get_by_role("status")).to_contain_text("v_123: created")
    expect(row(page, "v_123").locator(".pushed")).to_have_text("Pushed")
    in_north = people(attio, north)
    assert set(in_north) == {"jane@acme.com", "cfo@acme.com"}  # Jane and her key contact
    acme = companies(attio, north)["acme.com"]
    assert {in_north["jane@acme.com"], in_north["cfo@acme.com"], acme} <= record_ids(page, "v_123")
    expect(row(page, "v_124").locator(".state")).to_have_text("Not pushed")
    assert attio.records("people", workspace=contoso) == []

    # Push all: the others are pushed, Jane is unchanged, the broken line fails and says why.
    page.get_by_role("button", name="Push all").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Pushed 6 visitors: 4 created, 1 unchanged, 1 failed."
    )
    for visitor in ("v_123", "v_124", "v_125", "v_126", "v_127"):
        expect(row(page, visitor).locator(".pushed")).to_have_text("Pushed")
    broken = row(page, "v_128")
    expect(broken.locator(".failed")).to_contain_text("Failed:")
    expect(broken.locator(".reason")).to_contain_text("person.email")
    assert record_ids(page, "v_128") == set()
    in_north = people(attio, north)
    assert set(in_north) == {
        "jane@acme.com",
        "cfo@acme.com",
        "omar.haddad@acme.com",
        "li@initech.example",
        "Anonymous Reader",
    }
    north_companies = companies(attio, north)
    assert set(north_companies) == {"acme.com", "globex.io", "initech.example"}
    assert north_companies["globex.io"] in record_ids(page, "v_125")
    assert in_north["li@initech.example"] in record_ids(page, "v_127")
    assert attio.records("people", workspace=contoso) == []

    # Contoso: no connection, nothing pushed, until it connects its own workspace.
    switch_to(page, hostapp, CONTOSO)
    expect(page.locator("#attio-status")).to_have_text("Not connected.")
    page.get_by_role("link", name="Visitors").click()
    expect(page.get_by_text("Attio is not connected")).to_be_visible()
    expect(page.locator(".pushed")).to_have_count(0)
    page.get_by_role("link", name="Settings → Integrations").click()
    connect(page, attio, contoso)
    page.get_by_role("link", name="Visitors").click()
    for visitor in VISITORS:  # Northwind's markers are not Contoso's
        expect(row(page, visitor).locator(".state")).to_have_text("Not pushed")
    row(page, "v_125").get_by_role("button", name="Push").click()
    expect(row(page, "v_125").locator(".pushed")).to_have_text("Pushed")
    globex = companies(attio, contoso)["globex.io"]
    assert set(companies(attio, contoso)) == {"globex.io"}
    assert globex != north_companies["globex.io"]
    assert globex in record_ids(page, "v_125")
    assert set(companies(attio, north)) == set(north_companies)  # Northwind's untouched

    # Northwind still sees its own connection and pushed states; then disconnects.
    switch_to(page, hostapp, NORTHWIND)
    expect(page.locator("#workspace-name")).to_have_text(north)
    page.get_by_role("link", name="Visitors").click()
    expect(row(page, "v_127").locator(".pushed")).to_have_text("Pushed")
    expect(broken.locator(".reason")).to_contain_text("person.email")
    page.get_by_role("link", name="Settings → Integrations").click()
    page.get_by_role("button", name="Disconnect").click()
    expect(page.get_by_role("status")).to_contain_text("Attio is disconnected.")
    expect(page.get_by_role("status")).to_contain_text("Nothing in Attio was deleted")
    expect(page.locator("#attio-status")).to_have_text("Not connected.")
    assert attio.count("POST", "/oauth/revoke") == 1
    # Nothing was deleted: every record is still in Northwind's workspace.
    assert people(attio, north) == in_north
    assert companies(attio, north) == north_companies
    assert attio.count("DELETE") == 0
    page.get_by_role("link", name="Visitors").click()
    expect(page.get_by_text("Attio is not connected")).to_be_visible()

    # Contoso's connection is its own: still there.
    switch_to(page, hostapp, CONTOSO)
    expect(page.locator("#workspace-name")).to_have_text(contoso)
    assert list(stored_secrets(state_db)) == ["cust_contoso"]


def test_deny_on_the_consent_page_or_a_forged_answer_says_so_and_stores_nothing(
    browser: Any, attio: AttioServer, hostapp: HostApp, state_db: str
) -> None:
    page = browser.new_page()
    sign_in(page, hostapp, CONTOSO)
    open_consent_page(page, attio)
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Attio was not connected: .*denied.*nothing was stored\. Press Connect", re.I)
    )
    expect(page.locator("#attio-status")).to_have_text("Not connected.")
    # An answer this browser's attempt did not start (a forged link): refused, said so.
    page.goto(f"{hostapp.url}/settings/integrations/attio/callback?code=forged&state=forged")
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Attio was not connected: .*nothing was stored\. Press Connect")
    )
    expect(page.locator("#attio-status")).to_have_text("Not connected.")
    assert ConnectionStore(state_db).list() == []
    assert attio.count("POST", "/oauth/token") == 0


def test_a_token_revoked_in_attio_asks_the_customer_to_connect_again(
    browser: Any,
    attio: AttioServer,
    hostapp: HostApp,
    state_db: str,
    secret_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = browser.new_page()
    sign_in(page, hostapp, NORTHWIND)
    connect(page, attio, WORKSPACES[0])
    monkeypatch.setenv("CRM_PUSH_SECRET_KEY", secret_key)
    stored = ConnectionStore(state_db).load("attio", tenant="cust_northwind")
    assert stored is not None and stored.credentials.access_token is not None
    attio.expire_token(stored.credentials.access_token.get_secret_value())  # revoked in Attio

    page.get_by_role("button", name="Test connection").click()
    again = "Connect Attio again in Settings → Integrations."
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^The Attio connection does not work: .+" + re.escape(again) + "$")
    )
    page.get_by_role("link", name="Visitors").click()
    page.get_by_role("button", name="Push all").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Nothing was pushed: .+" + re.escape(again) + "$")
    )
    assert attio.records("people", workspace=WORKSPACES[0]) == []


@pytest.mark.usefixtures("browser")
def test_the_one_command_starts_the_app_and_a_local_attio_with_two_workspaces(
    browser: Any,
) -> None:
    """`python -m hostapp`, as the README says: the consent page offers both workspaces."""
    app = start_hostapp([], {})
    try:
        app.wait()
        page = browser.new_page()
        sign_in(page, app, NORTHWIND)
        page.get_by_role("button", name="Connect").click()
        for workspace in WORKSPACES:
            expect(page.get_by_label(workspace)).to_be_visible()
        page.get_by_label(WORKSPACES[0]).check()
        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#workspace-name")).to_have_text(WORKSPACES[0])
        page.get_by_role("link", name="Visitors").click()
        row(page, "v_125").get_by_role("button", name="Push").click()
        expect(row(page, "v_125").locator(".pushed")).to_have_text("Pushed")
    finally:
        app.stop()
    assert "Local Attio-compatible server on http://127.0.0.1:" in "".join(app.output)
