"""Visitors: the customer's visitors, what was pushed to its Attio, Push and Push all.

A push runs in the web request: the customer's `Session` (found by tenant) gives a `Pusher`
on its workspace's markers, so pushing again skips what is already in Attio. The pushed state
shown is read from those markers (part ⇒ the CRM record id); a failure's reason from the app's
own outcomes table. Every line of the file is shown, a line that cannot be read included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from crm_push import (
    ConnectionStore,
    CrmPushError,
    Line,
    MarkerStore,
    Pusher,
    RunSummary,
    Session,
    Visitor,
    VisitorResult,
    read_jsonl,
)
from flask import Blueprint, abort, flash, redirect, render_template, url_for

from . import customers
from .integrations import DESTINATION, problem
from .outcomes import Outcome, Outcomes
from .settings import current as settings

bp = Blueprint("visitors", __name__, url_prefix="/visitors")


@dataclass
class Row:
    """One line of the visitors file as the page shows it."""

    line: int
    visitor_id: str
    label: str
    company: str
    #: What the markers say was pushed: (part, Attio record id), in push order.
    pushed: list[tuple[str, str]] = field(default_factory=list)
    outcome: Outcome | None = None

    @property
    def failed(self) -> bool:
        return self.outcome is not None and self.outcome.status == "failed"


def _lines() -> Iterator[Line[Visitor]]:
    with settings().visitors.open("rb") as lines:
        yield from read_jsonl(lines)


def _visitor_id(line: Line[Visitor]) -> str:
    if line.item is not None:
        return line.item.id
    record = line.error.record if line.error is not None else None
    return record or f"line {line.line}"


def _row(line: Line[Visitor]) -> Row:
    visitor = line.item
    if visitor is None:
        return Row(line.line, _visitor_id(line), "(invalid input)", "")
    person, label = visitor.person, "(no person)"
    if person is not None:
        email = f"<{person.email}>" if person.email else ""
        label = " ".join(filter(None, (person.name, email))) or "(no name)"
    company = visitor.company
    company_text = (company.name or company.domain or "") if company else ""
    return Row(line.line, visitor.id, label, company_text)


def _shown(part: str) -> str | None:
    """A marker's part as the page names it; None for the links (their id is the company's)."""
    if part.startswith("link"):
        return None
    kind, _, who = part.partition(":")
    return f"key contact {who}" if kind == "contact" else part


def _order(part: str) -> tuple[int, str]:
    return ({"company": 0, "person": 1, "note": 2}.get(part, 3), part)


@bp.get("")
@customers.signed_in
def page() -> str:
    tenant = customers.tenant()
    stored = ConnectionStore(settings().db_url).load(DESTINATION, tenant=tenant)
    rows = [_row(line) for line in _lines()]
    if stored is not None:
        markers = MarkerStore(DESTINATION, stored.workspace_id, settings().db_url)
        outcomes = Outcomes(settings().db_url, tenant, stored.workspace_id).all()
        every = markers.for_visitors(row.visitor_id for row in rows)  # one query, not one a row
        for row in rows:
            found = every[row.visitor_id]
            row.pushed = [
                (shown, m.record_id)
                for part, m in sorted(found.items(), key=lambda item: _order(item[0]))
                if m.state == "done" and m.record_id and (shown := _shown(part))
            ]
            row.outcome = outcomes.get(row.visitor_id)
    return render_template("visitors.html", rows=rows, connection=stored)


@bp.post("/<int:line>/push")
@customers.signed_in
def push_one(line: int) -> Any:
    found = next((each for each in _lines() if each.line == line), None)
    if found is None:
        abort(404, f"the visitors file has no line {line}")
    with _pushing() as push:
        if push is not None:
            pusher, outcomes = push
            if found.item is not None:
                result = pusher.push(found.item, line=found.line)
            else:
                result = VisitorResult.not_pushed(found)
            outcomes.record(_visitor_id(found), result)
            _say(result)
    return redirect(url_for("visitors.page"))


@bp.post("/push-all")
@customers.signed_in
def push_all() -> Any:
    with _pushing() as push:
        if push is not None:
            pusher, outcomes = push
            summary = pusher.run(
                _lines(), on_result=lambda line, result: outcomes.record(_visitor_id(line), result)
            )
            _say_all(summary)
    return redirect(url_for("visitors.page"))


@contextlib.contextmanager
def _pushing() -> Iterator[tuple[Pusher, Outcomes] | None]:
    """The customer's pusher and outcomes for the length of a request, or None (and a message
    saying why) when Attio is not connected or does not answer."""
    tenant = customers.tenant()
    with Session(DESTINATION, tenant=tenant, db_url=settings().db_url) as attio:
        if attio.stored is None:
            flash("Attio is not connected: connect it in Settings → Integrations first.", "error")
            yield None
            return
        try:
            pusher = attio.pusher()
        except CrmPushError as exc:
            flash(f"Nothing was pushed: {problem(exc)}", "error")
            yield None
            return
        try:
            yield pusher, Outcomes(settings().db_url, tenant, attio.connection.workspace_id)
        except CrmPushError as exc:  # the run stopped: the token died mid-push, say
            flash(f"The push stopped: {problem(exc)}", "error")


def _say(result: VisitorResult) -> None:
    if result.status == "failed":
        flash(f"{result.visitor_id or result.where()} was not pushed: {result.reason}", "error")
    else:
        ids = ", ".join(f"{part} {rid}" for part, rid in result.records.items())
        flash(f"{result.visitor_id}: {result.status}" + (f" ({ids})" if ids else ""), "ok")


def _say_all(summary: RunSummary) -> None:
    counts = ", ".join(
        f"{n} {what}"
        for what, n in (
            ("created", summary.created),
            ("updated", summary.updated),
            ("unchanged", summary.unchanged),
            ("failed", summary.failed),
            ("deferred", summary.deferred),
        )
        if n
    )
    flash(f"Pushed {summary.total} visitors: {counts}.", "error" if summary.failed else "ok")
    if summary.stopped:
        flash(f"The push stopped early: {summary.stopped}", "error")
