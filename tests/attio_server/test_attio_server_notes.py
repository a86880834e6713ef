"""Notes: create, list, get, backdating, and parents that must exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_push_attio.server import AttioServer


def _note(parent: str, **extra: Any) -> dict[str, Any]:
    return {
        "data": {
            "parent_object": "people",
            "parent_record_id": parent,
            "title": "Website visit",
            "format": "plaintext",
            "content": "Viewed /pricing twice",
            **extra,
        }
    }


def test_create_list_and_get_notes(api: Any, srv: AttioServer) -> None:
    ada = api.person("ada@x.com")
    bob = api.person("bob@x.com")

    created = api.ok(api.client.post("/v2/notes", json=_note(ada)))
    api.ok(api.client.post("/v2/notes", json=_note(bob)))
    listed = api.ok(
        api.client.get("/v2/notes", params={"parent_object": "people", "parent_record_id": ada})
    )
    fetched = api.ok(api.client.get(f"/v2/notes/{created['id']['note_id']}"))

    assert created["title"] == "Website visit"
    assert created["content_plaintext"] == "Viewed /pricing twice"
    assert created["parent_record_id"] == ada
    assert [n["id"]["note_id"] for n in listed] == [created["id"]["note_id"]]
    assert fetched == created
    assert len(srv.notes()) == 2


def test_markdown_note_has_a_plaintext_rendering(api: Any) -> None:
    ada = api.person("ada@x.com")

    note = api.ok(
        api.client.post(
            "/v2/notes",
            json=_note(
                ada, format="markdown", content="# Visit\n- **Pricing** [page](https://x.io)"
            ),
        )
    )

    assert note["content_markdown"].startswith("# Visit")
    assert note["content_plaintext"] == "Visit\nPricing page"


def test_backdated_note_keeps_its_date_future_is_rejected(api: Any, srv: AttioServer) -> None:
    ada = api.person("ada@x.com")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    old = api.ok(api.client.post("/v2/notes", json=_note(ada, created_at="2024-05-01T10:00:00Z")))
    rejected = api.client.post("/v2/notes", json=_note(ada, created_at=future))

    assert old["created_at"] == "2024-05-01T10:00:00.000000000Z"
    body = api.error(rejected, 400)
    assert "future" in body["message"]
    assert len(srv.notes()) == 1


def test_note_parent_must_exist(api: Any) -> None:
    missing_record = api.client.post(
        "/v2/notes", json=_note("0b0d7d4c-0d5c-4c57-9e0f-000000000000")
    )
    body = _note(api.person("a@x.com"))
    body["data"]["parent_object"] = "users"  # not activated
    missing_object = api.client.post("/v2/notes", json=body)

    assert api.error(missing_record, 404)["code"] == "not_found"
    assert api.error(missing_object, 404)["code"] == "not_found"


def test_notes_list_limit_is_at_most_50(api: Any) -> None:
    response = api.client.get("/v2/notes", params={"limit": 51})

    assert api.error(response, 400)["code"] == "validation_type"
