"""The pusher: the flow of one visitor (company, person, link, note, key contacts) and of a stream.

Markers are written after each confirmed step, so a crash resumes where it stopped. A note gets a
"pending" marker before it is sent: after a crash the destination is asked to look for it first.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Literal

from crm_push.destination.facade import Destination
from crm_push.errors import (
    CapabilityMissing,
    CrmPushError,
    InvalidInput,
    ReconnectRequired,
    RunAborted,
    ScopeMissing,
)
from crm_push.inputs.lines import Line
from crm_push.models import Company, Person, Visitor
from crm_push.models.crm import Connection, Pending, RecordRef
from crm_push.push.notes import visit_note
from crm_push.push.stream import Totals, ordered_results, summarise
from crm_push.state.markers import Marker, MarkerStore, payload_hash
from pydantic import BaseModel, Field

Status = Literal["created", "updated", "unchanged", "failed"]
NoteOutcome = Literal["created", "existing", "skipped", "unchanged"]

#: How many distinct companies a run remembers having written.
COMPANY_CACHE_SIZE = 10_000
#: The pseudo-visitor whose markers record companies by domain, across visitors and runs: a
#: company pushed for one visitor is not written again for another with the same data.
COMPANIES = "@companies"


class VisitorResult(BaseModel):
    """How one visitor ended, with the reason when it failed."""

    visitor_id: str | None
    line: int | None = None
    status: Status
    reason: str | None = None
    field: str | None = None
    records: dict[str, str] = Field(default_factory=dict)  # part ⇒ CRM record id
    note: NoteOutcome | None = None
    note_skipped_reason: str | None = None
    writes: int = 0  # hook calls that wrote (or tried to write) to the CRM


class RunSummary(Totals):
    """Totals of a run; `crm-push push --json` prints this."""

    notes_created: int = 0
    notes_skipped: int = 0
    notes_skipped_reasons: dict[str, int] = Field(default_factory=dict)
    #: HTTP figures of the destination, when it keeps them (requests, retries, throttled…).
    http: dict[str, float] = Field(default_factory=dict)

    def add(self, result: VisitorResult) -> None:
        super().add(result)
        if result.note == "created":
            self.notes_created += 1
        elif result.note == "skipped":
            self.notes_skipped += 1
            reason = result.note_skipped_reason or "unknown"
            self.notes_skipped_reasons[reason] = self.notes_skipped_reasons.get(reason, 0) + 1


class _Visit:
    """The running state of one visitor's push."""

    def __init__(self, visitor: Visitor, markers: dict[str, Marker]) -> None:
        self.visitor = visitor
        self.markers = markers
        self.outcomes: Counter[str] = Counter()
        self.records: dict[str, str] = {}
        self.writes = 0
        self.note: NoteOutcome | None = None
        self.note_reason: str | None = None


class Pusher:
    """Pushes visitors to one destination and workspace, recording markers as it goes."""

    def __init__(
        self,
        destination: Destination,
        connection: Connection,
        markers: MarkerStore,
        *,
        workers: int = 1,
        dry_run: bool = False,
    ) -> None:
        self.destination = destination
        self.connection = connection
        self.markers = markers
        self.workers = max(1, workers)
        self.dry_run = dry_run
        # Companies written in this run, by (domain, payload): each written once, and visitors
        # sharing one wait for that write instead of racing it. Bounded, so memory stays flat
        # on a backlog of many distinct companies (an evicted one is asserted again if seen).
        self._companies: OrderedDict[tuple[str, str], Future[RecordRef]] = OrderedDict()
        self._lock = threading.Lock()
        self._stopped: str | None = None

    # -- one visitor ------------------------------------------------------------------------

    def push(self, visitor: Visitor, *, line: int | None = None) -> VisitorResult:
        """Push one visitor. Never raises for a visitor's own failure; see VisitorResult."""
        state = _Visit(visitor, self.markers.for_visitor(visitor.id))
        try:
            company = self._company(state, visitor.company) if visitor.company else None
            if visitor.person:
                person = self._person(state, "person", visitor.person, company)
                if visitor.visit and visitor.person.email:
                    self._note(state, person)
            for contact in visitor.key_contacts:
                # Keyed by email, else by name: reordering the list must not duplicate anyone.
                self._person(state, f"contact:{contact.email or contact.name}", contact, company)
        except ReconnectRequired as exc:
            self._stopped = str(exc)
            raise RunAborted(str(exc)) from exc
        except InvalidInput as exc:
            return self._failed(state, line, str(exc), exc.field)
        except CrmPushError as exc:
            return self._failed(state, line, str(exc), None)
        except Exception as exc:  # a plugin bug must fail this visitor, not the run
            return self._failed(state, line, f"{type(exc).__name__}: {exc}", None)
        status: Status = "unchanged"
        if state.outcomes["created"]:
            status = "created"
        elif state.outcomes["updated"]:
            status = "updated"
        return VisitorResult(
            visitor_id=visitor.id,
            line=line,
            status=status,
            records=state.records,
            note=state.note,
            note_skipped_reason=state.note_reason,
            writes=state.writes,
        )

    def _failed(
        self, state: _Visit, line: int | None, reason: str, field: str | None
    ) -> VisitorResult:
        return VisitorResult(
            visitor_id=state.visitor.id,
            line=line,
            status="failed",
            reason=reason,
            field=field,
            records=state.records,
            writes=state.writes,
        )

    def _record(self, state: _Visit, part: str, payload: str, ref: RecordRef | None) -> None:
        if not self.dry_run:
            self.markers.record(state.visitor.id, part, payload=payload, ref=ref)

    def _unchanged(self, state: _Visit, part: str, payload: str) -> RecordRef | None:
        marker = state.markers.get(part)
        if marker and marker.state == "done" and marker.payload_hash == payload:
            return marker.ref()
        return None

    def _company(self, state: _Visit, company: Company) -> RecordRef:
        payload = payload_hash(company.model_dump(mode="json"))
        ref = self._unchanged(state, "company", payload)
        if ref is None:
            if company.domain:
                ref = self._shared_company(state, company, payload)
            else:
                ref = self._keyless(
                    state,
                    "company",
                    lambda existing, pending: self.destination.assert_company(
                        self.connection, company, existing, pending
                    ),
                )
            self._record(state, "company", payload, ref)
        state.outcomes[ref.outcome] += 1
        state.records["company"] = ref.record_id
        return ref

    def _shared_company(self, state: _Visit, company: Company, payload: str) -> RecordRef:
        assert company.domain
        key = (company.domain, payload)
        with self._lock:
            future = self._companies.get(key)
            owner = future is None
            if future is None:
                future = self._companies[key] = Future()
                if len(self._companies) > COMPANY_CACHE_SIZE:
                    self._companies.popitem(last=False)
        if not owner:
            # Another visitor of this run wrote the same company: share its record and outcome
            # (a first push reports "created" for every visitor of a new company).
            return future.result()
        try:
            ref = self._known_company(company.domain, payload)
            if ref is None:
                state.writes += 1
                ref = self.destination.assert_company(self.connection, company)
                if not self.dry_run:
                    self.markers.record(COMPANIES, company.domain, payload=payload, ref=ref)
        except BaseException as exc:
            with self._lock:
                self._companies.pop(key, None)  # let a later visitor try again
            future.set_exception(exc)
            raise
        future.set_result(ref)
        return ref

    def _known_company(self, domain: str, payload: str) -> RecordRef | None:
        """The company as an earlier visitor (of any run) pushed it, if its data is the same."""
        marker = self.markers.get(COMPANIES, domain)
        if marker and marker.state == "done" and marker.payload_hash == payload:
            return marker.ref()
        return None

    def _keyless(
        self,
        state: _Visit,
        part: str,
        write: Callable[[RecordRef | None, Pending | None], RecordRef],
    ) -> RecordRef:
        """Write a record that has no matching key: update it through its marker, or create it.

        Before a create, a "pending" marker is stored; if we die after the CRM made the record
        but before we recorded its id, the next run passes `pending` so the destination can
        find it rather than create a second one.
        """
        marker = state.markers.get(part)
        existing = marker.ref() if marker else None
        pending = None
        if existing is None:
            if marker is not None and marker.state == "pending":
                pending = Pending(since=marker.pushed_at)
            elif not self.dry_run:
                self.markers.record(state.visitor.id, part, payload="", state="pending")
        state.writes += 1
        return write(existing, pending)

    def _person(
        self, state: _Visit, part: str, person: Person, company: RecordRef | None
    ) -> RecordRef:
        company_id = company.record_id if company else None
        payload = payload_hash({"person": person.model_dump(mode="json"), "company": company_id})
        ref = self._unchanged(state, part, payload)
        if ref is None:
            if person.email:
                state.writes += 1
                ref = self.destination.assert_person(self.connection, person, company=company)
            else:
                ref = self._keyless(
                    state,
                    part,
                    lambda existing, pending: self.destination.assert_person(
                        self.connection, person, company, existing, pending
                    ),
                )
            self._record(state, part, payload, ref)
        state.outcomes[ref.outcome] += 1
        state.records[part] = ref.record_id
        if company is not None:
            self._link(state, part, ref, company)
        return ref

    def _link(self, state: _Visit, part: str, person: RecordRef, company: RecordRef) -> None:
        link_part = "link" if part == "person" else f"link:{part}"
        payload = company.record_id
        if self._unchanged(state, link_part, payload) is not None:
            return
        if company.record_id not in person.linked:
            state.writes += 1
            person = self.destination.associate(self.connection, person, company)
            state.outcomes["updated"] += 1
        self._record(state, link_part, payload, company)

    def _note(self, state: _Visit, person: RecordRef) -> None:
        note = visit_note(state.visitor)
        marker = state.markers.get("note")
        if marker and marker.payload_hash == note.key and marker.state == "done":
            state.note = "unchanged"
            return
        may_exist = bool(marker and marker.payload_hash == note.key and marker.state == "pending")
        if not self.dry_run:
            # Written before the call: if we die after the CRM stored the note but before we
            # hear back, the next run knows to look for it instead of writing it twice.
            self.markers.record(state.visitor.id, "note", payload=note.key, state="pending")
        try:
            result = self.destination.add_note(
                self.connection, person, note.model_copy(update={"may_exist": may_exist})
            )
        except (ScopeMissing, CapabilityMissing) as exc:
            state.note, state.note_reason = "skipped", exc.message
            return
        if result.status == "skipped":
            state.note, state.note_reason = "skipped", result.reason or "destination skipped it"
            return
        state.writes += result.status == "created"
        state.note = result.status
        if result.status == "created":
            state.outcomes["created"] += 1
        if not self.dry_run:
            self.markers.record(
                state.visitor.id, "note", payload=note.key, record_id=result.note_id
            )
        if result.note_id:
            state.records["note"] = result.note_id

    # -- a stream ---------------------------------------------------------------------------

    def _one(self, record: Line[Visitor]) -> VisitorResult:
        if record.error is not None or record.item is None:
            err = record.error or InvalidInput(f"line {record.line}: no visitor")
            return VisitorResult(
                visitor_id=err.record,
                line=record.line,
                status="failed",
                reason=str(err),
                field=err.field,
            )
        if self._stopped:
            raise RunAborted(self._stopped)
        return self.push(record.item, line=record.line)

    def run(
        self,
        records: Iterable[Line[Visitor]],
        on_result: Callable[[Line[Visitor], VisitorResult], None] | None = None,
    ) -> RunSummary:
        """Push a stream of input records with bounded concurrency; results keep input order.

        When the credentials die mid-run, the visitors that finished are still reported and
        `summary.stopped` says why the rest were not attempted.
        """
        return summarise(RunSummary(), self._results(records), on_result)

    def _results(
        self, records: Iterable[Line[Visitor]]
    ) -> Iterator[tuple[Line[Visitor], VisitorResult]]:
        # Two lines of one visitor go one after the other: they share its markers.
        return ordered_results(
            records,
            self._one,
            workers=self.workers,
            stop=RunAborted,
            keys=lambda record: (record.item.id,) if record.item else (),
        )
