"""The visit note: one per visit, identified by a key that survives crashes and re-runs."""

from __future__ import annotations

import datetime as dt
import hashlib

from crm_push.models import Visitor
from crm_push.models.crm import Note

KEY_LABEL = "crm-push visit key"


def visit_key(visitor: Visitor) -> str:
    visit = visitor.visit
    assert visit is not None
    # The visit time identifies a visit; without one, what is known of the visit does.
    basis = visit.visited_at.isoformat() if visit.visited_at else visit.model_dump_json()
    return hashlib.sha256(f"{visitor.id}\x00{basis}".encode()).hexdigest()[:24]


def visit_note(visitor: Visitor, *, now: dt.datetime | None = None) -> Note:
    """The note for a visitor's visit, backdated to the visit (never into the future)."""
    visit = visitor.visit
    assert visit is not None
    now = now or dt.datetime.now(dt.UTC)
    when = min(visit.visited_at, now) if visit.visited_at else None
    lines = []
    if visit.visited_at:
        lines.append(
            f"- Visited: {visit.visited_at.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
        )
    if visit.visit_count is not None:
        lines.append(f"- Visits: {visit.visit_count}")
    if visit.quality_score is not None:
        lines.append(f"- Quality score: {visit.quality_score:g}")
    if visit.pages:
        lines.append("- Pages: " + ", ".join(visit.pages))
    key = visit_key(visitor)
    lines += ["", f"{KEY_LABEL}: {key}"]
    title = "Website visit"
    if visitor.company and visitor.company.name:
        title += f" — {visitor.company.name}"
    if visit.visited_at:
        title += f" ({visit.visited_at.date().isoformat()})"
    return Note(key=key, title=title, content="\n".join(lines), created_at=when)
