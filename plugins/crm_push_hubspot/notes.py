"""Visit notes: one per visit key on the contact, found before it is created.

A note is `hs_note_body` (HTML; the key's line is in it) at `hs_timestamp` = the visit time,
associated to the contact (type 202). Notes have no natural key: with `note.may_exist` the
contact's notes are read (through its associations, which do not lag like search) and the
key looked for; the create itself is never retried blindly.
"""

from __future__ import annotations

import datetime as dt
import html

from crm_push.errors import ScopeMissing
from crm_push.models import Connection, Note, NoteResult, RecordRef

from .api import NOTE_TO_CONTACT, HubSpotClient
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


def add_note(clients: Clients, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
    if not connection.can("notes"):
        return NoteResult(status="skipped", reason=NOTES_SKIPPED)
    client = clients.client(connection)
    try:
        if note.may_exist:
            found = find_note(client, parent, note.key)
            if found:
                return NoteResult(status="existing", note_id=found)
        when = note.created_at or dt.datetime.now(dt.UTC)
        timestamp = (
            when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        data = client.batch_create(
            NOTES,
            [
                {
                    "objectWriteTraceId": note.key,
                    "properties": {"hs_timestamp": timestamp, "hs_note_body": body_of(note)},
                    "associations": [
                        {
                            "to": {"id": parent.record_id},
                            "types": [
                                {
                                    "associationCategory": "HUBSPOT_DEFINED",
                                    "associationTypeId": NOTE_TO_CONTACT,
                                }
                            ],
                        }
                    ],
                }
            ],
        )
        error = batch_error(data, NOTES)
        if error is not None:
            raise error
        return NoteResult(status="created", note_id=str(data["results"][0]["id"]))
    except ScopeMissing:
        return NoteResult(status="skipped", reason=NOTES_SKIPPED)
