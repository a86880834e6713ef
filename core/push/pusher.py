"""The pusher: the flow of one visitor (company, person, link, note, key contacts) and of a stream.

Markers are written after each confirmed step (in a list run, some wait for the run's next
statement, see `Pusher._hold_done`), so a crash resumes where it stopped. A write that
is not idempotent (a note, a person without email, a company without domain) is claimed first
(a pending marker with an owner and a lease, see `MarkerStore.claim`): of several processes
pushing the same visitor only one writes it; the others wait for its outcome, or defer the
visitor to a later push. A claim left by a dead process is taken over, and the destination is
asked to look for the record or note before writing it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from crm_push.destination.facade import Destination
from crm_push.errors import (
    CapabilityMissing,
    CrmPushError,
    InvalidInput,
    ReconnectRequired,
    RetryLater,
    ScopeMissing,
)
from crm_push.inputs.lines import Line
from crm_push.models import Company, Person, Visitor
from crm_push.models.crm import Connection, Pending, RecordRef
from crm_push.push.notes import visit_key, visit_note
from crm_push.push.results import NoteOutcome, RunSummary, VisitorResult, VisitorStatus
from crm_push.push.stream import Runner
from crm_push.state.markers import (
    LEASE_SECONDS,
    RENEW_AFTER_SECONDS,
    Claim,
    ClaimLeases,
    CompanyMarker,
    Marker,
    MarkerStore,
    MarkerWrite,
    fits,
    new_owner,
    part_writes,
    payload_hash,
)

__all__ = ["Pusher", "RunSummary", "VisitorResult"]

logger = logging.getLogger(__name__)

#: The most done markers a run holds before writing them on their own (see
#: `Pusher._hold_done`): about the markers of the visitors between two claims made ahead.
HELD_DONE = 64
#: In a run over a list, a claim also makes the claims of up to this many next visitors that
#: will need one, among the next `AHEAD_LINES` lines (see `Pusher._claims_ahead`).
AHEAD_CLAIMS = 16
AHEAD_LINES = 64
#: How many distinct companies a run remembers having written.
COMPANY_CACHE_SIZE = 10_000
#: Why a visit gets no note when the visitor has nothing to put it on.
NO_EMAIL = "the person has no email"
NO_PERSON = "the visitor has no person"
#: How long, in seconds, a push waits for another process's claimed write of the same part (a
#: note, a keyless record) before it defers the visitor to a later push.
CLAIM_WAIT_SECONDS = 10.0


def deferral_reason(part: str) -> str:
    """Why a visitor is deferred: another process holds the claim on this part of it."""
    what = part if part in ("note", "person", "company") else None
    what = what or f"key contact {part.partition(':')[2]!r}"
    return (
        f"another push is writing this visitor's {what} right now (it was not written twice); "
        "push it again later to confirm"
    )


@dataclass(frozen=True)
class ClaimWanted:
    """One claim `claim_parts` makes: a part of a visitor, its payload, whether it may replace
    a done marker of another payload (a new visit's note), and confirmed parts of the same
    visitor to record with it (see `MarkerStore.claim`)."""

    visitor_id: str
    part: str
    payload: str
    replace_done: bool = False
    done: dict[str, tuple[str, RecordRef | None]] | None = None
    #: done markers of other visitors to record with it
    also: Sequence[MarkerWrite] = ()


def claim_parts(
    markers: MarkerStore,
    owner: str,
    wait: float,
    wanted: list[ClaimWanted],
    in_flight: Callable[[str, str], bool] | None = None,
) -> list[Claim | None]:
    """Claim each part for `owner`, again after a short, growing, bounded backoff while another
    live process holds it: each the won claim, or the lost one once that process's marker is
    done; None for a part still held after `wait` seconds (its visitor is deferred). `done`
    and `also` parts are recorded with the first attempt. The one claim loop of both pushers."""
    out: list[Claim | None] = [None] * len(wanted)
    todo = list(range(len(wanted)))
    deadline = time.monotonic() + wait
    delay = 0.02
    first = True
    while todo:
        left = []
        for i in todo:
            w = wanted[i]
            claim = markers.claim(
                w.visitor_id,
                w.part,
                payload=w.payload,
                owner=owner,
                replace_done=w.replace_done,
                done=w.done if first else None,
                also=w.also if first else (),
                in_flight=in_flight,
            )
            if claim.won or (claim.previous is not None and claim.previous.state == "done"):
                out[i] = claim
            else:
                left.append(i)
        first = False
        if not left or time.monotonic() + delay > deadline:
            break
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.5)
        todo = left
    return out


#: The parts a claim may be made ahead for (see `Pusher._claims_ahead`).
_AHEAD_PARTS = ("company", "person", "note")


def _wanted(visitor: Visitor, markers: dict[str, Marker]) -> list[tuple[str, str]]:
    """The parts (and payloads) a visitor's push will claim, of those with no marker: a company
    without domain, a person without email, a visit's note (see `Pusher._steps`)."""
    wanted = []
    if visitor.company and not visitor.company.domain and "company" not in markers:
        wanted.append(("company", ""))
    person = visitor.person
    if person and not person.email and "person" not in markers:
        wanted.append(("person", ""))
    if person and person.email and visitor.visit and "note" not in markers:
        wanted.append(("note", visit_key(visitor)))
    return wanted


def for_person(company: Company, ref: RecordRef) -> RecordRef:
    """The company's record as handed to `assert_person`: `keyless` when it has no domain."""
    return ref if company.domain else ref.model_copy(update={"keyless": True})


#: A company marker not read ahead (None means read, and absent).
_UNREAD = CompanyMarker.model_construct()


class _Deferred(Exception):
    """Another process holds the claim on a part of this visitor and did not finish in time."""


class _Ahead:
    """A claim made ahead of its visitor's push (see `Pusher._claims_ahead`): its payload, and
    whether its statement won it, once that statement has answered (False when it failed or
    was interrupted: then the visitor claims at its turn)."""

    __slots__ = ("answer", "at", "payload", "unknown", "until")

    def __init__(self, payload: str) -> None:
        self.payload = payload
        self.answer: Future[bool] = Future()
        self.at = 0.0  # when it was won (monotonic)
        self.until: dt.datetime | None = None  # the lease its statement set
        #: its statement failed: it may have been won (a commit whose answer was lost)
        self.unknown = False

    def won(self) -> bool:
        # Bounded: should a claiming thread die before it answers, the visitor claims itself.
        try:
            return self.answer.result(timeout=LEASE_SECONDS)
        except TimeoutError:
            return False

    def fresh(self) -> bool:
        """Won, and recently enough that its lease stands without a renewal (a renewal that
        failed, the database away, may have let another push take it over)."""
        return self.won() and time.monotonic() - self.at < RENEW_AFTER_SECONDS


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
        #: Markers of confirmed steps not yet written (see `Pusher._record`).
        self.unsaved: dict[str, tuple[str, RecordRef | None]] = {}


class Pusher(Runner[Visitor, VisitorResult, RunSummary]):
    """Pushes visitors to one destination and workspace, recording markers as it goes.

    A dry run is this same flow through the planner destination and read-only markers.
    """

    result_type = VisitorResult
    summary_type = RunSummary
    noun = "visitor"
    #: How long to wait for another process's claimed write before deferring the visitor.
    claim_wait: float = CLAIM_WAIT_SECONDS

    def __init__(
        self,
        destination: Destination,
        connection: Connection,
        markers: MarkerStore,
        *,
        workers: int = 1,
    ) -> None:
        super().__init__(workers=workers)
        self.destination = destination
        self.connection = connection
        self.markers = markers
        # Companies written in this run, by (domain, payload): each written once, and visitors
        # sharing one wait for that write instead of racing it. Bounded, so memory stays flat
        # on a backlog of many distinct companies (an evicted one is asserted again if seen).
        self._companies: OrderedDict[tuple[str, str], Future[RecordRef]] = OrderedDict()
        self._lock = threading.Lock()
        self._one_run = threading.Lock()  # see `_results`
        self._run_thread: int | None = None
        #: Who this pusher's claims belong to: this machine, process and run.
        self.owner = new_owner()
        self._leases = ClaimLeases(markers, self.owner)
        #: Markers read ahead for a run of a list of lines (see `_read_ahead`): visitor id ⇒
        #: its markers, domain ⇒ its company marker (None: none yet). Each is used once.
        self._ahead: dict[str, dict[str, Marker]] = {}
        self._ahead_companies: dict[str, CompanyMarker | None] = {}
        #: In a run over a list, done markers to go with the next marker statement (see
        #: `_hold_done`), by visitor id and part; and whether such a run is going.
        self._held: dict[tuple[str, str], MarkerWrite] = {}
        self._listed = False
        #: In a run over a list: its visitors seen once, in order, and the first one no claim
        #: has looked ahead to yet; the visitors whose push has begun; the claims made ahead,
        #: by visitor id and part (see `_claims_ahead`).
        self._queue: list[Visitor] = []
        self._places: dict[str, int] = {}  # visitor id ⇒ its place in `_queue`
        self._next = 0
        self._begun: set[str] = set()
        self._ahead_claims: dict[tuple[str, str], _Ahead] = {}

    # -- one visitor ------------------------------------------------------------------------

    def push(self, visitor: Visitor, *, line: int | None = None) -> VisitorResult:
        """Push one visitor. Never raises for a visitor's own failure; see VisitorResult."""
        markers = self._ahead.pop(visitor.id, None)
        if markers is None and self._holds(visitor.id):
            self._try_write_held()  # its earlier line's markers, read back as done
        if self._queue:
            with self._lock:
                self._begun.add(visitor.id)
        try:
            state = _Visit(
                visitor, self.markers.for_visitor(visitor.id) if markers is None else markers
            )
            return self._visit(state, visitor, line)
        finally:
            if self._ahead_claims:
                self._end_ahead(visitor.id)

    def _visit(self, state: _Visit, visitor: Visitor, line: int | None) -> VisitorResult:
        try:
            try:
                self._steps(state, visitor)
            except BaseException:
                with contextlib.suppress(Exception):  # the database away too: steps again
                    self._save(state)
                raise
            self._save(state, hold=True)
        except ReconnectRequired as exc:
            raise self._stop(str(exc)) from exc
        except _Deferred as exc:
            return VisitorResult(
                visitor_id=visitor.id,
                line=line,
                status="deferred",
                reason=str(exc),
                records=state.records,
                writes=state.writes,
            )
        except InvalidInput as exc:
            return self._failed(state, line, str(exc), exc.field)
        except RetryLater as exc:
            failed = self._failed(state, line, str(exc), None)
            failed.retry_after = exc.retry_after or 0.0
            return failed
        except CrmPushError as exc:
            return self._failed(state, line, str(exc), None)
        except Exception as exc:  # a plugin bug must fail this visitor, not the run
            return self._failed(state, line, f"{type(exc).__name__}: {exc}", None)
        status: VisitorStatus = "unchanged"
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

    def _steps(self, state: _Visit, visitor: Visitor) -> None:
        company = self._company(state, visitor.company) if visitor.company else None
        if visitor.person:
            person = self._person(state, "person", visitor.person, company)
            if visitor.visit and visitor.person.email:
                self._note(state, person)
        if visitor.visit and not (visitor.person and visitor.person.email):
            # A note goes on a person found by email: say why this visit gets none.
            state.note = "skipped"
            state.note_reason = NO_EMAIL if visitor.person else NO_PERSON
        for contact in visitor.key_contacts:
            # Keyed by email, else by name: reordering the list must not duplicate anyone.
            self._person(state, f"contact:{contact.email or contact.name}", contact, company)

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

    def _record(
        self,
        state: _Visit,
        part: str,
        payload: str,
        ref: RecordRef | None,
        *,
        later: bool = False,
    ) -> None:
        """Record the marker of a confirmed step. `later`: with the visitor's next marker, at the
        latest when its push ends (one statement for a company, person and link; in a run,
        with the run's next statement); only for idempotent steps (by domain, by email), which
        a crash before then simply repeats."""
        state.unsaved[part] = (payload, ref)
        if not later:
            self._save(state)

    def _save(self, state: _Visit, *, hold: bool = False) -> None:
        """Write the visitor's confirmed markers not yet recorded. `hold`: its push ended, so
        in a run they may wait for the run's next statement (see `_hold_done`)."""
        if state.unsaved:
            unsaved, state.unsaved = state.unsaved, {}
            vid = state.visitor.id
            writes = part_writes(vid, unsaved)
            if hold and self._hold_done(writes):
                return
            with self._done_along(vid) as also:
                self.markers.record_many([*writes, *also])

    # -- done markers held for the run's next statement --------------------------------------

    def _hold_done(self, writes: list[MarkerWrite]) -> bool:
        """In a run, hold confirmed markers for the run's next marker statement (a claim or a
        visitor's records, of any of its threads), at the latest for the run's end: a
        statement less per visitor. Whether they were held (else: write them now).

        Only markers a lost write leaves safe: those of idempotent steps (by email, domain, a
        link), which a crash before then simply repeats, and a note's, whose claim stands
        meanwhile: another push waits for it or defers, and if this process dies first, the
        push that takes the claim over looks for the note before writing."""
        if not all(fits(w) for w in writes):
            return False  # one that fails its statement fails alone, not the run's next one
        with self._lock:
            if not self._listed:
                return False
            for w in writes:
                self._held[(w.visitor_id, w.part)] = w
            if len(self._held) < HELD_DONE:
                return True
        self._try_write_held()
        return True

    def _holds(self, visitor_id: str) -> bool:
        with self._lock:
            return any(vid == visitor_id for vid, _ in self._held)

    def _take_held(self, visitor_id: str | None) -> list[MarkerWrite]:
        """The held done markers, except `visitor_id`'s own (its statement has them as `done`
        parts, or they wait for the next one)."""
        with self._lock:
            if not self._held:
                return []
            taken = [w for w in self._held.values() if w.visitor_id != visitor_id]
            self._held = {k: w for k, w in self._held.items() if k[0] == visitor_id}
            return taken

    @contextlib.contextmanager
    def _done_along(self, visitor_id: str | None) -> Iterator[list[MarkerWrite]]:
        """The held done markers for a statement about `visitor_id`; put back when the
        statement fails, so the next one (or the run's end) writes them."""
        taken = self._take_held(visitor_id)
        try:
            yield taken
        except BaseException:
            with self._lock:
                for w in taken:
                    self._held.setdefault((w.visitor_id, w.part), w)
            raise
        self._unlease(taken)

    def _unlease(self, writes: list[MarkerWrite]) -> None:
        """Held notes' markers are written (or given up): their claims' leases need no more
        renewal."""
        for w in writes:
            if w.part == "note":
                self._leases.drop(w.visitor_id, w.part)

    def _try_write_held(self) -> None:
        """Write the held markers now if the database answers; else they stay held for the
        run's next statement or its end (this visitor's own writes did land)."""
        try:
            self._write_held()
        except Exception:
            logger.warning("could not record held markers yet; trying again later", exc_info=True)

    def _write_held(self) -> None:
        with self._done_along(None) as taken:
            if taken:
                self.markers.record_many(taken)

    def _unchanged(self, state: _Visit, part: str, payload: str) -> RecordRef | None:
        marker = state.markers.get(part)
        if marker and marker.state == "done" and marker.payload_hash == payload:
            return marker.ref()
        return None

    def _company(self, state: _Visit, company: Company) -> RecordRef:
        payload = payload_hash(company.model_dump(mode="json"))
        ref = self._unchanged(state, "company", payload)
        if ref is None and company.domain:
            ref = self._shared_company(state, company, payload)
            self._record(state, "company", payload, ref, later=True)
        elif ref is None:
            ref = self._keyless(
                state,
                "company",
                payload,
                lambda existing, pending: self.destination.assert_company(
                    self.connection, company, existing, pending
                ),
            )
        state.outcomes[ref.outcome] += 1
        state.records["company"] = ref.record_id
        return for_person(company, ref)

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
                self.markers.record_company(company.domain, payload=payload, ref=ref)
        except BaseException as exc:
            with self._lock:
                self._companies.pop(key, None)  # let a later visitor try again
            future.set_exception(exc)
            raise
        future.set_result(ref)
        return ref

    def _known_company(self, domain: str, payload: str) -> RecordRef | None:
        """The company as an earlier visitor (of any run) pushed it, if its data is the same."""
        # Company markers are written only once the CRM confirmed: no pending state to check.
        marker = self._ahead_companies.pop(domain, _UNREAD)
        if marker is _UNREAD:
            marker = self.markers.company(domain)
        if marker and marker.payload_hash == payload:
            return marker.ref()
        return None

    def _keyless(
        self,
        state: _Visit,
        part: str,
        payload: str,
        write: Callable[[RecordRef | None, Pending | None], RecordRef],
    ) -> RecordRef:
        """Write a record that has no matching key: update it through its marker, or create it;
        record its marker.

        A create is claimed first. If another process wins the claim, this one waits for its
        record (and updates it only if its data differ). If the claim was taken over from a
        push that died (it may have created the record before recording its id), `pending` is
        passed so the destination finds it rather than create a second one.
        """
        marker = state.markers.get(part)
        existing = marker.ref() if marker else None
        pending = None
        if existing is None:
            claim = self._claim(state, part, "")
            if not claim.won:  # another push made it meanwhile: that record is this one's
                assert claim.previous is not None
                existing = claim.previous.ref()
                if existing is not None and claim.previous.payload_hash == payload:
                    return existing
            elif claim.previous is not None:
                pending = Pending(since=claim.previous.pushed_at)
        state.writes += 1
        if existing is not None:  # an update by record id: idempotent, no claim
            ref = write(existing, None)
            self._record(state, part, payload, ref)
            return ref
        with self._claimed(state, part):
            ref = write(None, pending)
            self._record(state, part, payload, ref)
        return ref

    def _claim(
        self, state: _Visit, part: str, payload: str, *, replace_done: bool = False
    ) -> Claim:
        """Claim a write (see `claim_parts`): the won claim, or the lost one once another
        process's marker is done. Raises _Deferred when the wait runs out. The confirmed
        steps not yet recorded go in the claim's statement.

        In a run over a list, the claim may have been made ahead; or it is made with those of
        the next visitors (see `_claims_ahead`)."""
        vid = state.visitor.id
        with self._lock:
            ahead = self._ahead_claims.pop((vid, part), None)
        if ahead is not None:
            if ahead.fresh() and ahead.payload == payload:
                return Claim(True)  # (its lease is renewed meanwhile: see `_claims_ahead`)
            if ahead.won():
                # `claim` below takes this owner's own back, looking before writing; or finds
                # that another push took it over.
                self._leases.drop(vid, part)
            elif ahead.unknown:
                self._unclaim(vid, part, ahead)
        elif (
            fits(MarkerWrite(vid, part, payload))
            and (batch := self._claims_ahead(vid))
            and self._claim_new(state, part, payload, batch)
        ):
            self._leases.hold(vid, part)
            return Claim(True)
        with self._done_along(vid) as also:
            wanted = ClaimWanted(vid, part, payload, replace_done, state.unsaved or None, also)
            (claim,) = claim_parts(
                self.markers, self.owner, self.claim_wait, [wanted], self._leases.holds
            )
        state.unsaved = {}
        if claim is None:
            raise _Deferred(deferral_reason(part))
        if claim.won:  # in flight from now on, for this pusher's other threads (see `_claimed`)
            self._leases.hold(vid, part)
        return claim

    def _claims_ahead(self, visitor_id: str) -> dict[tuple[str, str], _Ahead]:
        """The claims the visitors after `visitor_id` in a run over a list will make (up to
        `AHEAD_CLAIMS` visitors, not begun, within `AHEAD_LINES` of the run's visitors seen
        once), registered as made ahead: a claim makes them in its own statement, one statement
        for so many visitors. Only where no marker was read ahead for the part (else the claim
        could not win by insert: see `MarkerStore.claim_new`); each visitor is looked at once,
        and at most `AHEAD_CLAIMS` claims made ahead wait at a time."""
        batch: dict[tuple[str, str], _Ahead] = {}
        if self._next >= len(self._queue):
            return batch
        with self._lock:
            at = self._places.get(visitor_id)
            if at is None or len(self._ahead_claims) >= AHEAD_CLAIMS:
                return batch
            self._next = max(self._next, at + 1)
            taken = 0
            end = min(len(self._queue), at + 1 + AHEAD_LINES)
            while self._next < end and taken < AHEAD_CLAIMS:
                visitor = self._queue[self._next]
                self._next += 1
                markers = self._ahead.get(visitor.id)
                if visitor.id in self._begun or markers is None:
                    continue
                wanted = _wanted(visitor, markers)
                for part, payload in wanted:
                    if fits(MarkerWrite(visitor.id, part, payload)):
                        batch[(visitor.id, part)] = _Ahead(payload)
                taken += bool(wanted)
            self._ahead_claims.update(batch)
        return batch

    def _claim_new(
        self, state: _Visit, part: str, payload: str, batch: dict[tuple[str, str], _Ahead]
    ) -> bool:
        """This visitor's claim and the claims made ahead in one statement (`claim_new`), with
        the confirmed markers waiting for it; whether this one was won (else it is claimed as
        usual). The won ones made ahead keep their leases renewed until they are used."""
        vid = state.visitor.id
        wanted = [(vid, part, payload)] + [(v, p, a.payload) for (v, p), a in batch.items()]
        won: set[tuple[str, str]] = set()
        now = dt.datetime.now(dt.UTC)
        until = now + dt.timedelta(seconds=LEASE_SECONDS)
        answered = False
        try:
            with self._done_along(vid) as also:
                done = part_writes(vid, state.unsaved)
                won = self.markers.claim_new(wanted, owner=self.owner, also=[*done, *also], now=now)
            answered = True
            state.unsaved = {}
            at = time.monotonic()
            for key, ahead in batch.items():
                if key in won:
                    ahead.at = at
                    self._leases.hold(*key)
        finally:
            # Every answer is given, whatever happened: a visitor waiting for one claims at
            # its turn when it is False; one that may have been won is undone first.
            for key, ahead in batch.items():
                ahead.until, ahead.unknown = until, not answered
                ahead.answer.set_result(key in won)
        return (vid, part) in won

    def _unclaim(self, visitor_id: str, part: str, ahead: _Ahead) -> None:
        """Undo a claim made ahead that nothing was written under, if its marker is still
        exactly as its statement made it (this owner's, that lease): a marker taken back since
        (its visitor's own claim, or a renewal) is left to its lease."""
        if ahead.until is None:
            return
        with contextlib.suppress(Exception):  # the database away: the lease runs out
            self.markers.unclaim(visitor_id, part, owner=self.owner, lease_until=ahead.until)

    def _end_ahead(self, visitor_id: str) -> None:
        """End the claims made ahead for a visitor whose push ended without them (it failed
        first, say): nothing was written under them, so their markers go, as if never made."""
        for part in _AHEAD_PARTS:
            with self._lock:
                ahead = self._ahead_claims.pop((visitor_id, part), None)
            if ahead is not None and (ahead.won() or ahead.unknown):
                self._leases.drop(visitor_id, part)
                self._unclaim(visitor_id, part, ahead)

    def _claimed(self, state: _Visit, part: str) -> _Held:
        """Around the write of a won claim: its lease renewed while it lasts; released (ended,
        still pending) when the write raises, so the next push takes it over at once."""
        return _Held(self, state.visitor.id, part)

    def _person(
        self, state: _Visit, part: str, person: Person, company: RecordRef | None
    ) -> RecordRef:
        company_id = company.record_id if company else None
        payload = payload_hash({"person": person.model_dump(mode="json"), "company": company_id})
        ref = self._unchanged(state, part, payload)
        if ref is None:
            if person.email:  # asserted by email: idempotent, no claim
                state.writes += 1
                ref = self.destination.assert_person(self.connection, person, company=company)
                self._record(state, part, payload, ref, later=True)
            else:
                ref = self._keyless(
                    state,
                    part,
                    payload,
                    lambda existing, pending: self.destination.assert_person(
                        self.connection, person, company, existing, pending
                    ),
                )
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
        self._record(state, link_part, payload, company, later=True)  # a link is idempotent

    def _note(self, state: _Visit, person: RecordRef) -> None:
        note = visit_note(state.visitor)
        marker = state.markers.get("note")
        if marker and marker.payload_hash == note.key and marker.state == "done":
            state.note = "unchanged"
            return
        # Claimed before the call: if we die after the CRM stored the note but before we hear
        # back, the next push knows to look for it instead of writing it twice; and of several
        # processes pushing this visit at once, only one writes it.
        claim = self._claim(state, "note", note.key, replace_done=True)
        if not claim.won:  # another push wrote this very note meanwhile
            state.note = "unchanged"
            return
        taken = claim.previous
        may_exist = bool(taken and taken.payload_hash == note.key)
        with self._claimed(state, "note") as held:
            try:
                result = self.destination.add_note(
                    self.connection, person, note.model_copy(update={"may_exist": may_exist})
                )
            except (ScopeMissing, CapabilityMissing) as exc:
                state.note, state.note_reason = "skipped", exc.message
                held.release()
                return
            if result.status == "skipped":
                state.note, state.note_reason = "skipped", result.reason or "destination skipped it"
                held.release()
                return
            state.writes += result.status == "created"
            state.note = result.status
            if result.status == "created":
                state.outcomes["created"] += 1
            done = MarkerWrite(state.visitor.id, "note", note.key, record_id=result.note_id)
            held.kept = self._hold_done([done])
            if not held.kept:
                self.markers.record_many([done])
        if result.note_id:
            state.records["note"] = result.note_id

    # -- a stream: Runner.run calls these -------------------------------------------------------

    def _results(
        self, lines: Iterable[Line[Visitor]]
    ) -> Generator[tuple[Line[Visitor], VisitorResult], None, None]:
        # One run at a time: a run's markers read ahead, claims made ahead and held markers
        # are the pusher's, and two runs of one owner pushing the same visitor could each
        # take the other's claim for its own. Runs in parallel take a Pusher each.
        with self.one_run():
            yield from self._run_results(lines)

    @contextlib.contextmanager
    def one_run(self) -> Iterator[None]:
        """Hold the pusher for one run: another run waits for it; a run started from within
        this one (an `on_result` that runs the pusher again) is an error, not a deadlock."""
        if self._run_thread == threading.get_ident():
            raise RuntimeError("this Pusher is running in this thread already: use another one")
        with self._one_run:
            self._run_thread = threading.get_ident()
            try:
                yield
            finally:
                self._run_thread = None

    def _run_results(
        self, lines: Iterable[Line[Visitor]]
    ) -> Generator[tuple[Line[Visitor], VisitorResult], None, None]:
        # Held markers only for a list (a job's): a stream may pause for any time between
        # lines, and they would wait with it.
        listed = False
        if isinstance(lines, Sequence):
            listed = True
            self._read_ahead(lines)
            with self._lock:
                self._listed = True
        try:
            yield from super()._results(lines)
        finally:
            with self._lock:
                self._queue, self._places, self._next, self._begun = [], {}, 0, set()
                unused = list(self._ahead_claims)
            for vid in dict.fromkeys(vid for vid, _ in unused):  # lines that never started
                self._end_ahead(vid)
            self._ahead.clear()
            self._ahead_companies.clear()
            if listed:
                with self._lock:
                    self._listed = False
                self._end_held()

    def _end_held(self) -> None:
        """Write the markers held at a run's end; when the database is away, say whose they
        were and let them go: the next push repeats those idempotent steps, and looks for the
        notes (their claims' leases run out) before writing."""
        try:
            self._write_held()
        except Exception:
            with self._lock:
                lost, self._held = list(self._held.values()), {}
            self._unlease(lost)
            logger.warning(
                "could not record the markers of %s; their next push writes those steps "
                "again (notes: after looking for them)",
                ", ".join(sorted({f"visitor {w.visitor_id!r} {w.part}" for w in lost})),
                exc_info=True,
            )

    def _read_ahead(self, lines: Sequence[Line[Visitor]]) -> None:
        """Read the markers of a list of lines (a job's) in one query per 500 visitors, and their
        companies' in one more, instead of a query or two per visitor. Only for a list: a
        stream (stdin) must not wait for lines that have not come yet. A visitor on several
        lines reads its markers when each is pushed (the earlier line changes them).

        Read before the pushes start, so another process may change them meanwhile, as it may
        between a visitor's read and its writes: claims decide every write that is not
        idempotent, so a stale marker costs at most a repeated idempotent write."""
        seen = Counter(line.item.id for line in lines if line.item is not None)
        once = [vid for vid, n in seen.items() if n == 1]
        domains = {
            line.item.company.domain
            for line in lines
            if line.item is not None and line.item.company and line.item.company.domain
        }
        if once:
            self._ahead = self.markers.for_visitors(once)
            alone = set(once)
            self._queue = [ln.item for ln in lines if ln.item is not None and ln.item.id in alone]
            self._places = {v.id: i for i, v in enumerate(self._queue)}
            self._next = 0
        if domains:
            found = self.markers.companies_for(domains)
            self._ahead_companies = {domain: found.get(domain) for domain in domains}

    def _push(self, item: Visitor, line: int) -> VisitorResult:
        return self.push(item, line=line)

    def _target(self) -> str:
        return f"to {self.destination.name} (workspace {self.connection.workspace_id})"

    def _where(self, item: Visitor, line: int) -> str:
        return f"line {line} visitor {item.id!r}"

    def _keys(self, item: Visitor) -> tuple[Hashable, ...]:
        # Two lines of one visitor go one after the other: they share its markers.
        return (item.id,)


class _Held:
    """A won claim while its write is in flight (see `Pusher._claimed`)."""

    def __init__(self, pusher: Pusher, visitor_id: str, part: str) -> None:
        self.pusher, self.visitor_id, self.part = pusher, visitor_id, part
        #: the done marker is held for the run's next statement: the lease stays renewed
        #: until it is written
        self.kept = False

    def __enter__(self) -> _Held:
        self.pusher._leases.hold(self.visitor_id, self.part)
        return self

    def release(self) -> None:
        """End the claim without a done marker: the write was not made (or may have been)."""
        self.pusher.markers.release(self.visitor_id, self.part, owner=self.pusher.owner)

    def __exit__(self, kind: type[BaseException] | None, exc: object, tb: object) -> None:
        if not self.kept or kind is not None:
            self.pusher._leases.drop(self.visitor_id, self.part)
        if kind is not None:
            # If the database is away too, the lease simply runs out.
            with contextlib.suppress(Exception):
                self.release()
