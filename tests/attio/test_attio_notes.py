"""add_note: one note per visit key, skipped (never failed) without the note scope."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
import respx
from attio_helpers import BASE, NOTE_ID, PERSON_ID, WORKSPACE, error, make_connection
from crm_push.models import parse_visitor
from crm_push.models.crm import Connection, Note, NoteResult, RecordRef
from crm_push.push.notes import visit_note

from crm_push_attio.errors import NOTES_SKIPPED
from crm_push_attio.plugin import AttioDestination

PERSON = RecordRef(object="people", record_id=PERSON_ID, outcome="created")
VISITED = dt.datetime(2025, 3, 4, 9, 30, tzinfo=dt.UTC)


def the_note(**changes: Any) -> Note:
    visitor = parse_visitor(
        {
            "id": "v1",
            "person": {"email": "ada@acme.com"},
            "company": {"name": "Acme", "domain": "acme.com"},
            "visit": {"visited_at": VISITED.isoformat(), "visit_count": 3, "pages": ["/pricing"]},
        }
    )
    return visit_note(visitor).model_copy(update=changes)


def stored_note(note_id: str, content: str) -> dict[str, Any]:
    return {
        "id": {"workspace_id": WORKSPACE, "note_id": note_id},
        "parent_object": "people",
        "parent_record_id": PERSON_ID,
        "title": "Website visit",
        "content_plaintext": content,
        "content_markdown": content,
        "tags": [],
        "created_by_actor": {"type": "api-token", "id": None},
        "created_at": "2025-03-04T09:30:00.000000000Z",
    }


def created(note_id: str = NOTE_ID) -> httpx.Response:
    return httpx.Response(200, json={"data": stored_note(note_id, "…")})


def test_note_is_created_backdated_in_markdown(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.post("/v2/notes").mock(return_value=created())
    note = the_note()
    result = attio.add_note(connection, PERSON, note)
    assert str(route.calls.last.request.url) == f"{BASE}/v2/notes"
    assert json.loads(route.calls.last.request.content) == {
        "data": {
            "parent_object": "people",
            "parent_record_id": PERSON_ID,
            "title": note.title,
            "format": "markdown",
            "content": note.content,
            "created_at": "2025-03-04T09:30:00.000000Z",
        }
    }
    assert f"crm-push visit key: {note.key}" in note.content
    assert result == NoteResult(status="created", note_id=NOTE_ID)


def test_note_without_a_time_is_not_backdated(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    route = api.post("/v2/notes").mock(return_value=created())
    attio.add_note(connection, PERSON, the_note(created_at=None, format="plaintext"))
    sent = json.loads(route.calls.last.request.content)["data"]
    assert "created_at" not in sent and sent["format"] == "plaintext"


def test_may_exist_finds_the_note_on_a_later_page(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    note = the_note(may_exist=True)
    page1 = [stored_note(f"00000000-0000-4000-8000-{i:012d}", "other visit") for i in range(50)]
    page2 = [stored_note(NOTE_ID, f"- Visits: 3\n\ncrm-push visit key: {note.key}")]
    listing = api.get("/v2/notes")
    listing.side_effect = [
        httpx.Response(200, json={"data": page1}),
        httpx.Response(200, json={"data": page2}),
    ]
    create = api.post("/v2/notes")
    result = attio.add_note(connection, PERSON, note)
    queries = [dict(c.request.url.params) for c in listing.calls]
    assert queries == [
        {"parent_object": "people", "parent_record_id": PERSON_ID, "limit": "50", "offset": "0"},
        {"parent_object": "people", "parent_record_id": PERSON_ID, "limit": "50", "offset": "50"},
    ]
    assert not create.called
    assert result == NoteResult(status="existing", note_id=NOTE_ID)


def test_may_exist_creates_when_not_found(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    api.get("/v2/notes").respond(json={"data": [stored_note(NOTE_ID, "another visit")]})
    create = api.post("/v2/notes").mock(
        return_value=created("11111111-1111-4111-8111-111111111111")
    )
    result = attio.add_note(connection, PERSON, the_note(may_exist=True))
    assert create.call_count == 1 and result.status == "created"


def test_without_the_note_capability_nothing_is_sent(
    attio: AttioDestination, api: respx.MockRouter
) -> None:
    connection = make_connection(capabilities=frozenset({"inline_link"}))
    result = attio.add_note(connection, PERSON, the_note())
    assert result == NoteResult(status="skipped", reason=NOTES_SKIPPED)
    assert "note:read-write" in NOTES_SKIPPED
    assert not api.calls


@pytest.mark.parametrize("may_exist", [False, True])
def test_403_on_notes_skips_the_note(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection, may_exist: bool
) -> None:
    forbidden = error(403, "forbidden", "The access token lacks note:read-write.", "auth_error")
    api.get("/v2/notes").mock(return_value=forbidden)
    api.post("/v2/notes").mock(return_value=forbidden)
    result = attio.add_note(connection, PERSON, the_note(may_exist=may_exist))
    assert result.status == "skipped" and result.reason == NOTES_SKIPPED


def test_a_lost_create_answer_does_not_make_a_second_note(
    attio: AttioDestination, api: respx.MockRouter, connection: Connection
) -> None:
    note = the_note()
    create = api.post("/v2/notes").mock(side_effect=httpx.ReadTimeout("answer lost"))
    api.get("/v2/notes").respond(json={"data": [stored_note(NOTE_ID, f"x {note.key}")]})
    result = attio.add_note(connection, PERSON, note)
    assert create.call_count == 1
    assert result == NoteResult(status="created", note_id=NOTE_ID)
