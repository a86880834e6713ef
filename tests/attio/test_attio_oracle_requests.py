"""Every request body the plugin sends, validated with the request models of the independent
`attio` client (generated from Attio's current OpenAPI document), beside the 2025-06 schema
the local server checks them against."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from attio_helpers import connect_local
from attio_oracle import validate
from crm_push.destination.facade import Destination
from crm_push.inputs.visitors import read_jsonl
from crm_push.models.actions import UserIdentity, WorkspaceGroup
from crm_push.push.pusher import Pusher
from crm_push.state.markers import MarkerStore

from crm_push_attio import server


@pytest.fixture
def srv() -> Iterator[Any]:
    with server.AttioServer(activated_objects=("people", "companies", "users", "workspaces")) as s:
        yield s


def test_every_body_the_plugin_sends_validates_with_the_sdk_request_models(
    dest: Destination, srv: Any, db_url: str
) -> None:
    conn = connect_local(dest, srv)
    visitors = [
        {
            "id": "v1",
            "person": {"email": "ada@acme.com", "name": "Ada Lovelace", "job_title": "CTO"},
            "company": {"name": "Acme", "domain": "acme.com", "description": "Widgets"},
            "visit": {"visited_at": "2025-03-04T09:30:00Z", "pages": ["/pricing"]},
            "key_contacts": [{"email": "bob@acme.com", "name": "Bob"}],
        },
        {"id": "v2", "person": {"name": "Cher"}, "company": {"name": "Side Project"}},
    ]
    markers = MarkerStore("attio", conn.workspace_id, db_url)
    summary = Pusher(dest, conn, markers).run(read_jsonl([json.dumps(v) for v in visitors]))
    assert summary.failed == 0
    dest.identify_user(
        conn,
        UserIdentity(
            user_id="u_1", email="ada@acme.com", person_values={"phone_numbers": "+15558675309"}
        ),
    )
    dest.group_workspace(
        conn,
        WorkspaceGroup(
            workspace_id="w_1",
            domain="acme.com",
            user_id="u_1",
            company_values={"categories": ["SAAS"]},
        ),
    )
    checked = [
        (log.method, log.path)
        for log in srv.requests
        if log.method in ("POST", "PUT", "PATCH") and validate(log.method, log.path, log.body)
    ]
    kinds = {(m, p.rsplit("/", 1)[-1] if "query" in p else p.count("/")) for m, p in checked}
    assert ("PUT", 4) in kinds and ("POST", "query") in kinds
    assert ("POST", "/v2/notes") in checked
