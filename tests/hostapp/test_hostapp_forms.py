"""The example host app's forms carry a per-session token: a page of another site cannot post
them (Connect, Disconnect, Push all) in the signed-in customer's name."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from hostapp_helpers import HOSTAPP

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM = re.compile(r'<form[^>]*method="post" action="([^"]+)"')


def app(tmp_path: Path) -> Any:
    sys.path.insert(0, str(HOSTAPP))
    try:
        from hostapp.app import create_app
        from hostapp.settings import Settings
    finally:
        sys.path.remove(str(HOSTAPP))
    settings = Settings(
        attio_url="http://127.0.0.1:9",
        client_id="id",
        client_secret="secret",
        db_url=f"sqlite:///{tmp_path / 'state.db'}",
        session_key="test-session-key",
    )
    return create_app(settings)


def test_every_form_is_refused_without_this_sessions_token(tmp_path: Path) -> None:
    flask_app = app(tmp_path)
    client = flask_app.test_client()
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    (token,) = set(TOKEN.findall(page))
    customer = re.findall(r'name="customer" value="([^"]+)"', page)[0]
    signed_in = client.post(FORM.findall(page)[0], data={"customer": customer, "csrf_token": token})
    assert signed_in.status_code in (302, 303)
    pages = [client.get(p).get_data(as_text=True) for p in ("/settings/integrations", "/visitors")]
    # Signing in starts a new session, with a new token, the same in every form.
    (token,) = set(TOKEN.findall("".join(pages)))
    # Every POST the app routes (sign-in, sign-out, connect, test, disconnect, push, push all).
    actions = {
        rule.rule.replace("<int:line>", "1")
        for rule in flask_app.url_map.iter_rules()
        if "POST" in (rule.methods or ())
    }
    assert len(actions) == 7 and set(FORM.findall("".join(pages))) <= actions

    other = flask_app.test_client()  # another browser: a session of its own
    other_page = other.get("/", follow_redirects=True).get_data(as_text=True)
    (other_token,) = set(TOKEN.findall(other_page))
    assert other_token != token
    for action in actions:
        for sent in ({}, {"csrf_token": other_token}, {"csrf_token": token + "x"}):
            refused = client.post(action, data=sent)
            assert refused.status_code == 400, (action, sent)
            assert "reload the page" in refused.get_data(as_text=True)
