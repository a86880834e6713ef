"""The example host app's forms carry a per-session token: a page of another site cannot post
them (Connect, Disconnect, Push all) in the signed-in customer's name."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hostapp_helpers import HOSTAPP


def test_a_form_posted_without_the_session_token_is_refused(tmp_path: Path) -> None:
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
    client = create_app(settings).test_client()
    page = client.get("/").get_data(as_text=True)
    if 'name="customer"' not in page:  # signed out: the sign-in page is one redirect away
        page = client.get("/", follow_redirects=True).get_data(as_text=True)
    (token,) = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    customer = re.findall(r'name="customer" value="([^"]+)"', page)[0]
    action = re.findall(r'<form method="post" action="([^"]+)"', page)[0]

    forged = client.post(action, data={"customer": customer})
    assert forged.status_code == 400 and "reload the page" in forged.get_data(as_text=True)
    wrong = client.post(action, data={"customer": customer, "csrf_token": token + "x"})
    assert wrong.status_code == 400
    signed_in = client.post(action, data={"customer": customer, "csrf_token": token})
    assert signed_in.status_code in (302, 303)
