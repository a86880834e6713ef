"""Visit notes: one per visit key on the person, found before created, skipped without scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_push.errors import ScopeMissing
from crm_push.models import Connection, Note, NoteResult, RecordRef

from .api import NOTES_PAGE, AttioClient
from .errors import NOTES_NO_PERMISSION, NOTES_SKIPPED, PermissionDenied
from .records import create_once

if TYPE_CHECKING:
    from .clients import Clients

# Notes of one record are listed at most this many pages deep (50 notes a page).
_MAX_NOTE_PAGES = 200


def find_note(client: AttioClient, parent: RecordRef, key: str) -> str | None:
    """The id of the record's note that carries this visit key, if one exists."""
    for page in range(_MAX_NOTE_PAGES):
        notes = client.list_notes(
            parent.object, parent.record_id, limit=NOTES_PAGE, offset=page * NOTES_PAGE
        )
        for note in notes:
            # The key (24 hex chars) is searched alone: markdown may be re-serialised.
            text = " ".join(
                str(note.get(f) or "") for f in ("content_plaintext", "content_markdown")
            )
            if key in text:
                ident = note.get("id") or {}
                return str(ident.get("note_id") or "") or None
        if len(notes) < NOTES_PAGE:
            return None
    return None


def add_note(clients: Clients, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
    """Create the visit note once per key; skip (never fail) without the note scope."""
    if not connection.can("notes"):
        return NoteResult(status="skipped", reason=NOTES_SKIPPED)
    client = clients.client(connection)

    def create() -> NoteResult:
        data = client.create_note(
            parent.object,
            parent.record_id,
            note.title,
            note.content,
            note.format,
            note.created_at,
        )
        return NoteResult(status="created", note_id=(data.get("id") or {}).get("note_id"))

    def find() -> NoteResult | None:
        found = find_note(client, parent, note.key)
        return NoteResult(status="created", note_id=found) if found else None

    try:
        if note.may_exist:
            found = find_note(client, parent, note.key)
            if found:
                return NoteResult(status="existing", note_id=found)
        return create_once(create, find, clients.sleep)
    except ScopeMissing:
        # The token lacks note:read-write (its scopes, or Attio's message, say so).
        return NoteResult(status="skipped", reason=NOTES_SKIPPED)
    except PermissionDenied:
        # A 403 with the note scope granted: skipped too, never silently, with its own reason.
        return NoteResult(status="skipped", reason=NOTES_NO_PERMISSION)
