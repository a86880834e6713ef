"""Visit notes: one per visit key on the contact, found before it is created.

A note is `hs_note_body` (HTML; the key's line is in it) at `hs_timestamp` = the visit time,
associated to the contact (type 202); the batch hook creates 100 a request. Notes have no
natural key: with `note.may_exist` the
contact's notes are read (through its associations, which do not lag like search) and the
key looked for; the create itself is never retried blindly.
"""

from __future__ import annotations

import datetime as dt
import html
from functools import partial
from typing import Any

from crm_push.errors import CrmPushError, ScopeMissing
from crm_push.models import Connection, Note, NoteInput, NoteResult, RecordRef

from .api import NOTE_TO_CONTACT, HubSpotClient
from .batches import send
from .clients import Clients
from .errors import NOTES_SKIPPED, batch_error

NOTES = "notes"
BODY_MAX = 65_536  # HubSpot's limit on hs_note_body


def body_of(note: Note) -> str:
    """The note as HubSpot's HTML: the title in bold, then one line each."""
    lines = [f"<p><strong>{html.escape(note.title)}</strong></p>"]
    lines += [f"<p>{html.escape(line)}</p>" for line in note.content.splitlines() if line.strip()]
    body = "".join(lines)
    return body[:BODY_MAX]


def find_note(client: HubSpotClient, parent: RecordRef, key: str) -> str | None:
    ids = client.associated_ids(parent.object, parent.record_id, NOTES)
    for start in range(0, len(ids), 100):
        for note in client.batch_read(NOTES, ids[start : start + 100], ["hs_note_body"]):
            if key in str((note.get("properties") or {}).get("hs_note_body") or ""):
                return str(note["id"])
    return None


def note_input(note: Note, parent: RecordRef, trace: str) -> dict[str, Any]:
    """A batch/create input: the body, `hs_timestamp` = the visit time, the contact link."""
    when = note.created_at or dt.datetime.now(dt.UTC)
    timestamp = when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "objectWriteTraceId": trace,
        "properties": {"hs_timestamp": timestamp, "hs_note_body": body_of(note)},
        "associations": [
            {
                "to": {"id": parent.record_id},
                "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}
                ],
            }
        ],
    }


def add_note(clients: Clients, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
    if not connection.can("notes"):
        return NoteResult(status="skipped", reason=NOTES_SKIPPED)
    client = clients.client(connection)
    try:
        if note.may_exist:
            found = find_note(client, parent, note.key)
            if found:
                return NoteResult(status="existing", note_id=found)
        data = client.batch_create(NOTES, [note_input(note, parent, note.key)])
        error = batch_error(data, NOTES)
        if error is not None:
            raise error
        return NoteResult(status="created", note_id=str(data["results"][0]["id"]))
    except ScopeMissing:
        return NoteResult(status="skipped", reason=NOTES_SKIPPED)


def add_notes(
    clients: Clients, connection: Connection, inputs: list[NoteInput]
) -> dict[str, NoteResult | CrmPushError]:
    """Notes 100 a request (`batch/create`, trace id = the input's key); one that may exist
    is looked for on its contact first. Never retried blindly (see api.py)."""
    if not connection.can("notes"):
        return {item.key: NoteResult(status="skipped", reason=NOTES_SKIPPED) for item in inputs}
    client = clients.client(connection)
    answers: dict[str, NoteResult | CrmPushError] = {}
    creates: dict[str, dict[str, Any]] = {}
    try:
        for item in inputs:
            if item.note.may_exist:
                # After a crash: rare, so looked for one by one, as add_note does.
                found = find_note(client, item.parent, item.note.key)
                if found:
                    answers[item.key] = NoteResult(status="existing", note_id=found)
                    continue
            creates[item.key] = note_input(item.note, item.parent, item.key)
        together = client.together(f"{NOTES}/create")
        for key, answer in send(
            partial(client.batch_create, NOTES), creates, NOTES, together=together
        ).items():
            if isinstance(answer, ScopeMissing):
                answers[key] = NoteResult(status="skipped", reason=NOTES_SKIPPED)
            elif isinstance(answer, CrmPushError):
                answers[key] = answer
            else:
                answers[key] = NoteResult(status="created", note_id=str(answer["id"]))
    except ScopeMissing:
        for item in inputs:
            answers.setdefault(item.key, NoteResult(status="skipped", reason=NOTES_SKIPPED))
    return answers
