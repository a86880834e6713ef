"""Notes: output shape, created_at rules, and the plaintext/markdown renderings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .errors import validation
from .model import Note
from .values import format_timestamp, parse_timestamp


def note_output(note: Note, workspace_id: str) -> dict[str, Any]:
    return {
        "id": {"workspace_id": workspace_id, "note_id": note.note_id},
        "parent_object": note.parent_object,
        "parent_record_id": note.parent_record_id,
        "title": note.title,
        "meeting_id": note.meeting_id,
        "content_plaintext": note.content_plaintext,
        "content_markdown": note.content_markdown,
        "tags": [],
        "created_by_actor": dict(note.created_by_actor),
        "created_at": note.created_at,
    }


def note_created_at(text: Any) -> str:
    """A client-given created_at: backdating is allowed, the future and pre-1970 are not."""
    try:
        dt, nanos = parse_timestamp(str(text))
    except (ValueError, OverflowError):
        raise validation(f"created_at {text!r} is not an ISO 8601 timestamp.") from None
    if dt > datetime.now(UTC):
        raise validation(f"created_at {text!r} is in the future; notes may only be backdated.")
    if dt.year < 1970:
        raise validation(f"created_at {text!r} is before 1970.")
    return format_timestamp(dt, nanos)


def markdown_to_text(text: str) -> str:
    """Roughly what Attio shows as content_plaintext for the markdown subset it accepts."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^\s{0,3}#{1,3}\s+", "", text, flags=re.MULTILINE)
    text = re.sub(r"^(\s*)(?:[-*+]|\d+\.)\s+", r"\1", text, flags=re.MULTILINE)
    return re.sub(r"(\*\*|__|~~|==|\*|_)(.+?)\1", r"\2", text)


def escape_markdown(text: str) -> str:
    """content_markdown of a plaintext note: the text with markdown syntax escaped."""
    return re.sub(r"([\\`*_\[\]#~=])", r"\\\1", text)
