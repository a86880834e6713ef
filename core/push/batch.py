"""The batch pusher: visitors in batches through a destination's batch hooks, with every guarantee
of the visitor-at-a-time `Pusher`.

A batch is up to `batch_size` lines, sent when it is full or `batch_wait` seconds after its first
line arrived (a slow stream still moves). Its visitors go through the stages of one visitor —
company, person, link, note, key contacts (and their links) — each stage one batch call (or a few:
two inputs matching one CRM record never share a call). Markers are written after each confirmed
call; a write that is not idempotent (a note, a person without email, a company without domain) is
claimed first, exactly as `Pusher` does; a company with a domain is written once per run. An
input the destination refuses fails its visitor only; an exception of the call fails the visitors
of that call; dead credentials stop the run. A batch holds at most one line of a visitor, and a
later line of that visitor waits for the batch of the earlier one.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from crm_push.destination.facade import Destination
from crm_push.errors import (
    CapabilityMissing,
    CrmPushError,
    InvalidInput,
    ReconnectRequired,
    RetryLater,
    RunAborted,
    ScopeMissing,
)
from crm_push.inputs.lines import Line
from crm_push.models import Company, Person, Visitor
from crm_push.models.batch import CompanyInput, LinkInput, NoteInput, PersonInput
from crm_push.models.crm import Connection, NoteResult, Pending, RecordRef
from crm_push.push.notes import visit_note
from crm_push.push.pusher import (
    COMPANY_CACHE_SIZE,
    NO_EMAIL,
    NO_PERSON,
    ClaimWanted,
    Pusher,
    _Visit,
    claim_parts,
    deferral_reason,
    for_person,
)
from crm_push.push.results import VisitorResult, VisitorStatus
from crm_push.push.stream import ordered_results
from crm_push.state.markers import Claim, Marker, MarkerStore, MarkerWrite, payload_hash

__all__ = ["BATCH_WAIT_SECONDS", "BatchPusher", "pusher_for"]

#: How long, in seconds, a batch waits for more lines after its first one before it is sent.
BATCH_WAIT_SECONDS = 0.5


def pusher_for(
    destination: Destination, connection: Connection, markers: MarkerStore, *, workers: int = 1
) -> Pusher:
    """The visitor pusher for a destination: a `BatchPusher` when it implements the batch hooks,
    else the visitor-at-a-time `Pusher`. Every caller (`crm-push push`, `Session.pusher`, jobs)
    chooses here."""
    if getattr(destination, "batch_capable", False):
        return BatchPusher(destination, connection, markers, workers=workers)
    return Pusher(destination, connection, markers, workers=workers)


class _Item:
    """One visitor of a batch while its stages run."""

    def __init__(self, visitor: Visitor, line: int | None, markers: dict[str, Marker]) -> None:
        self.visitor = visitor
        self.line = line
        self.state = _Visit(visitor, markers)
        self.failure: tuple[str, str | None] | None = None
        #: Set when the failure was a transient refusal (see VisitorResult.retry_after).
        self.retry_after: float | None = None
        self.deferral: str | None = None
        self.company: RecordRef | None = None
        #: part ("person", "contact:…") ⇒ the record written (or found unchanged).
        self.people: dict[str, RecordRef] = {}

    @property
    def alive(self) -> bool:
        return self.failure is None and self.deferral is None

    def fail(self, exc: BaseException) -> None:
        """The first failure of a visitor is its reason; later stages skip it."""
        if not self.alive:
            return
        if isinstance(exc, InvalidInput):
            self.failure = (str(exc), exc.field)
        elif isinstance(exc, RetryLater):
            self.failure, self.retry_after = (str(exc), None), exc.retry_after or 0.0
        elif isinstance(exc, CrmPushError):
            self.failure = (str(exc), None)
        else:  # a plugin bug fails the visitor, not the run
            self.failure = (f"{type(exc).__name__}: {exc}", None)

    def defer(self, part: str) -> None:
        if not self.alive:
            return
        self.deferral = deferral_reason(part)

    def unchanged(self, part: str, payload: str) -> RecordRef | None:
        marker = self.state.markers.get(part)
        if marker and marker.state == "done" and marker.payload_hash == payload:
            return marker.ref()
        return None

    def result(self) -> VisitorResult:
        state = self.state
        base: dict[str, Any] = {
            "visitor_id": self.visitor.id,
            "line": self.line,
            "records": state.records,
            "writes": state.writes,
        }
        if self.failure is not None:
            reason, where = self.failure
            return VisitorResult(
                **base, status="failed", reason=reason, field=where, retry_after=self.retry_after
            )
        if self.deferral is not None:
            return VisitorResult(**base, status="deferred", reason=self.deferral)
        status: VisitorStatus = "unchanged"
        if state.outcomes["created"]:
            status = "created"
        elif state.outcomes["updated"]:
            status = "updated"
        return VisitorResult(
            **base, status=status, note=state.note, note_skipped_reason=state.note_reason
        )


@dataclass
class _Entry:
    """One input of a batch call, and what to do with its answer."""

    key: str
    input: Any
    #: What the CRM matches it on (an email, a domain): two entries of one identity never share
    #: a call, so the second sees the first's record.
    identity: str
    #: The visitor that writes it (its write is counted there).
    writer: _Item
    #: Called with the answer; returns the markers to write for it.
    apply: Callable[[Any], list[MarkerWrite]]
    #: Called with the error of this input (or of its call).
    failed: Callable[[BaseException], None]
    #: The claim (visitor id, part) held while the input is in flight, if it needs one.
    claim: tuple[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Ended:
    """The input stream raised: the batcher raises it where the run reads batches."""

    error: BaseException


class BatchPusher(Pusher):
    """Pushes visitors in batches through a destination's batch hooks (see the module doc).

    The same interface as `Pusher` (`push`, `run`, `stop`), the same results and summary.
    `workers` batches run at once.
    """

    thread_name = "crm-push-batch"
    #: How long a batch waits for more lines after its first one.
    batch_wait: float = BATCH_WAIT_SECONDS

    def __init__(
        self,
        destination: Destination,
        connection: Connection,
        markers: MarkerStore,
        *,
        workers: int = 1,
        batch_wait: float | None = None,
    ) -> None:
        super().__init__(destination, connection, markers, workers=workers)
        self.size = destination.batch_size(connection)
        if batch_wait is not None:
            self.batch_wait = batch_wait

    # -- one visitor, and a stream --------------------------------------------------------------

    def push(self, visitor: Visitor, *, line: int | None = None) -> VisitorResult:
        """Push one visitor (a batch of one). Never raises for a visitor's own failure."""
        (result,) = self._push_batch([(line, visitor)])
        return result

    def _results(
        self, lines: Iterable[Line[Visitor]]
    ) -> Generator[tuple[Line[Visitor], VisitorResult], None, None]:
        with self.one_run():  # one run at a time, as Pusher's
            yield from self._batch_results(lines)

    def _batch_results(
        self, lines: Iterable[Line[Visitor]]
    ) -> Generator[tuple[Line[Visitor], VisitorResult], None, None]:
        batches = self._batches(lines)
        done = ordered_results(
            batches,
            self._one_batch,
            workers=self.workers,
            stop=RunAborted,
            # A later batch holding a visitor of an earlier one waits for it: its lines in order.
            keys=lambda batch: tuple(ln.item.id for ln in batch if ln.item is not None),
            name=self.thread_name,
        )
        try:
            for batch, results in done:
                yield from zip(batch, results, strict=True)
        finally:
            done.close()
            batches.close()

    def _one_batch(self, batch: list[Line[Visitor]]) -> list[VisitorResult]:
        pushed = [(ln.line, ln.item) for ln in batch if ln.item is not None]
        results = iter(self._push_batch(pushed) if pushed else [])
        return [VisitorResult.not_pushed(ln) if ln.item is None else next(results) for ln in batch]

    def _batches(
        self, lines: Iterable[Line[Visitor]]
    ) -> Generator[list[Line[Visitor]], None, None]:
        """The lines in batches: at most `size`, none holding two lines of one visitor, each
        sent `batch_wait` seconds after its first line at the latest. A thread reads the input,
        so a stream that blocks (a pipe) cannot hold a started batch back."""
        inbox: queue.Queue[Line[Visitor] | _Ended | None] = queue.Queue(maxsize=self.size * 2)
        gone = threading.Event()  # the run stopped reading

        def put(thing: Line[Visitor] | _Ended | None) -> bool:
            while not gone.is_set():
                try:
                    inbox.put(thing, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for line in lines:
                    if not put(line):
                        return
            except BaseException as exc:  # handed to the run, which raises it
                put(_Ended(exc))
                return
            put(None)

        reader = threading.Thread(target=read, name=f"{self.thread_name}-reader", daemon=True)
        reader.start()
        batch: list[Line[Visitor]] = []
        ids: set[str] = set()
        deadline = 0.0
        try:
            while True:
                try:
                    wait = max(0.0, deadline - time.monotonic()) if batch else None
                    got = inbox.get(timeout=wait)
                except queue.Empty:  # the time bound: send what there is
                    yield batch
                    batch, ids = [], set()
                    continue
                if got is None:
                    break
                if isinstance(got, _Ended):
                    raise got.error
                if got.item is not None and got.item.id in ids:
                    yield batch  # a second line of a visitor goes in the next batch
                    batch, ids = [], set()
                if not batch:
                    deadline = time.monotonic() + self.batch_wait
                batch.append(got)
                if got.item is not None:
                    ids.add(got.item.id)
                if len(batch) >= self.size:
                    yield batch
                    batch, ids = [], set()
            if batch:
                yield batch
        finally:
            gone.set()

    # -- one batch ------------------------------------------------------------------------------

    def _push_batch(self, visitors: list[tuple[int | None, Visitor]]) -> list[VisitorResult]:
        """Push visitors of distinct ids through the stages; their results in the same order.
        Raises RunAborted when the credentials died (the run stops)."""
        if self._stopped:
            raise RunAborted(self._stopped)
        items: list[_Item] = []
        try:
            markers = self.markers.for_visitors(v.id for _, v in visitors)
            items = [_Item(v, line, markers[v.id]) for line, v in visitors]
            self._companies_stage(items)
            self._people_stage(items, contacts=False)
            self._notes_stage(items)
            self._people_stage(items, contacts=True)
        except ReconnectRequired as exc:
            raise self._stop(str(exc)) from exc
        except Exception as exc:  # the state database away, say: this batch fails, not the run
            if not items:
                items = [_Item(v, line, {}) for line, v in visitors]
            for item in items:
                item.fail(exc)
        return [item.result() for item in items]

    def _send(
        self, hook: Callable[[Connection, list[Any]], dict[str, Any]], entries: list[_Entry]
    ) -> None:
        """Send entries through a batch hook: in rounds of distinct identities (the first
        round each fits in), `size` a call."""
        rounds: list[tuple[list[_Entry], set[str]]] = []
        for entry in entries:
            for batch, identities in rounds:
                if entry.identity not in identities:
                    batch.append(entry)
                    identities.add(entry.identity)
                    break
            else:
                rounds.append(([entry], {entry.identity}))
        for batch, _ in rounds:
            for start in range(0, len(batch), self.size):
                self._call(hook, batch[start : start + self.size])

    def _call(
        self, hook: Callable[[Connection, list[Any]], dict[str, Any]], chunk: list[_Entry]
    ) -> None:
        held = [entry.claim for entry in chunk if entry.claim]
        for claim in held:
            self._leases.hold(*claim)
        for entry in chunk:
            entry.writer.state.writes += 1
        try:
            try:
                answers = hook(self.connection, [entry.input for entry in chunk])
            except Exception as exc:  # the whole call failed: each of its inputs did
                self._release(held)  # the writes may have landed: the next push looks first
                for entry in chunk:
                    entry.failed(exc)
                if isinstance(exc, ReconnectRequired):
                    raise
                return
            writes: list[MarkerWrite] = []
            refused: list[tuple[_Entry, CrmPushError]] = []
            stop: ReconnectRequired | None = None
            for entry in chunk:
                answer = answers[entry.key]
                if isinstance(answer, CrmPushError):
                    refused.append((entry, answer))
                    if isinstance(answer, ReconnectRequired):
                        stop = stop or answer
                else:
                    writes.extend(entry.apply(answer))
            self.markers.record_many(writes)
            self._release([entry.claim for entry, _ in refused])
            for entry, error in refused:
                entry.failed(error)
            if stop is not None:
                raise stop
        finally:
            for claim in held:
                self._leases.drop(*claim)

    def _release(self, claims: Iterable[tuple[str, str] | None]) -> None:
        for claim in claims:
            if claim is not None:
                # If the database is away too, the lease simply runs out.
                with contextlib.suppress(Exception):
                    self.markers.release(*claim, owner=self.owner)

    def _claim_all(self, wanted: list[tuple[_Item, str, str, bool]]) -> list[Claim | None]:
        """`claim_parts` for the parts of a batch: a part still held by another live push
        after `claim_wait` defers its visitor (None)."""
        claims = claim_parts(
            self.markers,
            self.owner,
            self.claim_wait,
            [
                ClaimWanted(item.visitor.id, part, payload, replace)
                for item, part, payload, replace in wanted
            ],
            self._leases.holds,
        )
        for (item, part, _, _), claim in zip(wanted, claims, strict=True):
            if claim is None:
                item.defer(part)
        return claims

    def _keyless(
        self,
        wanted: list[tuple[_Item, str, str, Callable[..., Any]]],
        done: Callable[[_Item, str, str, RecordRef], list[MarkerWrite]],
    ) -> list[_Entry]:
        """Entries for records without a matching key, as `Pusher._keyless` writes one: an
        update through its marker, or a create claimed first (with `pending` when the claim was
        taken over from a dead push). A record another push made meanwhile is used as is."""
        entries: list[_Entry] = []
        to_claim: list[tuple[_Item, str, str, Callable[..., Any]]] = []
        for item, part, payload, make in wanted:
            marker = item.state.markers.get(part)
            existing = marker.ref() if marker else None
            if existing is not None:
                entries.append(self._keyless_entry(item, part, payload, make(existing, None), done))
            else:
                to_claim.append((item, part, payload, make))
        claims = self._claim_all([(item, part, "", False) for item, part, _, _ in to_claim])
        for (item, part, payload, make), claim in zip(to_claim, claims, strict=True):
            if claim is None:
                continue  # deferred
            if not item.alive:  # deferred for another part meanwhile: write none of it
                if claim.won:
                    self._release([(item.visitor.id, part)])
                continue
            if not claim.won:
                assert claim.previous is not None
                existing = claim.previous.ref()
                if existing is not None and claim.previous.payload_hash == payload:
                    done(item, part, payload, existing)  # another push wrote it: use it
                    continue
                entries.append(self._keyless_entry(item, part, payload, make(existing, None), done))
                continue
            pending = Pending(since=claim.previous.pushed_at) if claim.previous else None
            entry = self._keyless_entry(item, part, payload, make(None, pending), done)
            entry.claim = (item.visitor.id, part)
            entries.append(entry)
        return entries

    def _keyless_entry(
        self,
        item: _Item,
        part: str,
        payload: str,
        input: Any,
        done: Callable[[_Item, str, str, RecordRef], list[MarkerWrite]],
    ) -> _Entry:
        return _Entry(
            key=input.key,
            input=input,
            identity=input.key,
            writer=item,
            apply=lambda ref: done(item, part, payload, ref),
            failed=item.fail,
        )

    # -- the stages -----------------------------------------------------------------------------

    def _companies_stage(self, items: list[_Item]) -> None:
        def found(item: _Item, part: str, payload: str, ref: RecordRef) -> list[MarkerWrite]:
            assert item.visitor.company is not None
            item.company = for_person(item.visitor.company, ref)
            item.state.outcomes[ref.outcome] += 1
            item.state.records["company"] = ref.record_id
            return [MarkerWrite(item.visitor.id, "company", payload, ref=ref)]

        with_company = [(i, i.visitor.company) for i in items if i.alive and i.visitor.company]
        domains = {company.domain for _, company in with_company if company.domain}
        known = self.markers.companies_for(domains) if domains else {}
        owned: dict[tuple[str, str], _Entry] = {}
        waiting: list[tuple[_Item, str, Future[RecordRef]]] = []
        keyless: list[tuple[_Item, str, str, Callable[..., Any]]] = []
        later: list[MarkerWrite] = []
        try:
            for item, company in with_company:
                payload = payload_hash(company.model_dump(mode="json"))
                ref = item.unchanged("company", payload)
                if ref is not None:
                    found(item, "company", payload, ref)  # its marker stays as it is
                    continue
                if not company.domain:
                    key = f"{item.visitor.id}:company"
                    keyless.append(
                        (
                            item,
                            "company",
                            payload,
                            lambda existing, pending, c=company, k=key: CompanyInput(
                                key=k, company=c, existing=existing, pending=pending
                            ),
                        )
                    )
                    continue
                marker = known.get(company.domain)
                if marker and marker.payload_hash == payload and (ref := marker.ref()):
                    later.extend(found(item, "company", payload, ref))  # an earlier run's
                    continue
                cache = (company.domain, payload)
                if cache in owned:  # another visitor of this batch: one input for both
                    owned[cache].extra["sharers"].append(item)
                    continue
                with self._lock:
                    future = self._companies.get(cache)
                    mine = future is None
                    if future is None:
                        future = self._companies[cache] = Future()
                        if len(self._companies) > COMPANY_CACHE_SIZE:
                            self._companies.popitem(last=False)
                if not mine:  # another batch of this run writes it: share its record
                    waiting.append((item, payload, future))
                    continue
                owned[cache] = self._company_entry(item, company, payload, cache, future, found)
            entries = list(owned.values()) + self._keyless(keyless, found)
            self._send(self.destination.assert_companies, entries)
        finally:
            # Never leave another batch waiting on a company this one did not get to write.
            for entry in owned.values():
                if not entry.extra["future"].done():
                    entry.failed(RuntimeError("the batch writing this company stopped"))
        # Our own futures are all settled now: waiting on other batches' cannot deadlock.
        for item, payload, future in waiting:
            try:
                later.extend(found(item, "company", payload, future.result()))
            except ReconnectRequired:
                raise
            except Exception as exc:
                item.fail(exc)
        self.markers.record_many(later)

    def _company_entry(
        self,
        item: _Item,
        company: Company,
        payload: str,
        cache: tuple[str, str],
        future: Future[RecordRef],
        found: Callable[[_Item, str, str, RecordRef], list[MarkerWrite]],
    ) -> _Entry:
        """The one input of a company with a domain, for every visitor of the batch that has
        it (`sharers`); its record settles `future` for the other batches of the run."""
        assert company.domain
        domain = company.domain
        sharers: list[_Item] = [item]

        def apply(ref: RecordRef) -> list[MarkerWrite]:
            writes = [MarkerWrite("", "", payload, ref=ref, domain=domain)]
            for sharer in sharers:
                writes.extend(found(sharer, "company", payload, ref))
            future.set_result(ref)
            return writes

        def failed(exc: BaseException) -> None:
            with self._lock:
                if self._companies.get(cache) is future:
                    del self._companies[cache]  # a later visitor tries again
            if not future.done():
                future.set_exception(exc)
            for sharer in sharers:
                sharer.fail(exc)

        key = f"company:{domain}"
        return _Entry(
            key=key,
            input=CompanyInput(key=key, company=company),
            identity=f"domain:{domain}",
            writer=item,
            apply=apply,
            failed=failed,
            extra={"sharers": sharers, "future": future},
        )

    def _people_stage(self, items: list[_Item], *, contacts: bool) -> None:
        """The visitors' people (or their key contacts), then their links to the company."""

        def found(item: _Item, part: str, payload: str, ref: RecordRef) -> list[MarkerWrite]:
            item.people[part] = ref
            item.state.outcomes[ref.outcome] += 1
            item.state.records[part] = ref.record_id
            return [MarkerWrite(item.visitor.id, part, payload, ref=ref)]

        entries: list[_Entry] = []
        by_email: dict[tuple[str, str], _Entry] = {}
        keyless: list[tuple[_Item, str, str, Callable[..., Any]]] = []
        unchanged: list[tuple[_Item, str, RecordRef]] = []
        parts: list[tuple[_Item, str]] = []
        for item in items:
            if not item.alive:
                continue
            people: list[tuple[str, Person]] = []
            if contacts:
                # Keyed by email, else by name: reordering the list must not duplicate anyone.
                people = [(f"contact:{c.email or c.name}", c) for c in item.visitor.key_contacts]
            elif item.visitor.person is not None:
                people = [("person", item.visitor.person)]
            company = item.company
            company_id = company.record_id if company else None
            for part, person in people:
                parts.append((item, part))
                payload = payload_hash(
                    {"person": person.model_dump(mode="json"), "company": company_id}
                )
                ref = item.unchanged(part, payload)
                key = f"{item.visitor.id}:{part}"
                if ref is not None:
                    unchanged.append((item, part, ref))
                elif person.email:  # asserted by email: idempotent, no claim
                    same = (person.email, payload)
                    if same in by_email:  # the same write for another visitor: sent once
                        by_email[same].extra["sharers"].append((item, part))
                        continue
                    by_email[same] = self._person_entry(item, part, payload, person, found)
                    entries.append(by_email[same])
                else:
                    keyless.append(
                        (
                            item,
                            part,
                            payload,
                            lambda existing, pending, p=person, c=company, k=key: PersonInput(
                                key=k, person=p, company=c, existing=existing, pending=pending
                            ),
                        )
                    )
        for item, part, ref in unchanged:
            found(item, part, "", ref)  # its marker stays as it is
        entries += self._keyless(keyless, found)
        self._send(self.destination.assert_people, entries)
        self._links_stage(parts)

    def _person_entry(
        self,
        item: _Item,
        part: str,
        payload: str,
        person: Person,
        found: Callable[[_Item, str, str, RecordRef], list[MarkerWrite]],
    ) -> _Entry:
        """The input of a person with an email, for every visitor of the batch that writes the
        same (`sharers`: the same person and company)."""
        sharers: list[tuple[_Item, str]] = [(item, part)]

        def apply(ref: RecordRef) -> list[MarkerWrite]:
            return [w for sharer, own in sharers for w in found(sharer, own, payload, ref)]

        def failed(exc: BaseException) -> None:
            for sharer, _ in sharers:
                sharer.fail(exc)

        key = f"{item.visitor.id}:{part}"
        return _Entry(
            key=key,
            input=PersonInput(key=key, person=person, company=item.company),
            identity=f"email:{person.email}",
            writer=item,
            apply=apply,
            failed=failed,
            extra={"sharers": sharers},
        )

    def _links_stage(self, parts: list[tuple[_Item, str]]) -> None:
        """`associate` for each person the write did not link to its company inline."""
        entries: list[_Entry] = []
        inline: list[MarkerWrite] = []
        for item, part in parts:
            person, company = item.people.get(part), item.company
            if not item.alive or person is None or company is None:
                continue
            link_part = "link" if part == "person" else f"link:{part}"
            payload = company.record_id
            if item.unchanged(link_part, payload) is not None:
                continue
            mark = MarkerWrite(item.visitor.id, link_part, payload, ref=company)
            if company.record_id in person.linked:
                inline.append(mark)
                continue

            def apply(_: RecordRef, i: _Item = item, m: MarkerWrite = mark) -> list[MarkerWrite]:
                i.state.outcomes["updated"] += 1
                return [m]

            key = f"{item.visitor.id}:{link_part}"
            entries.append(
                _Entry(
                    key=key,
                    input=LinkInput(key=key, person=person, company=company),
                    identity=key,
                    writer=item,
                    apply=apply,
                    failed=item.fail,
                )
            )
        self.markers.record_many(inline)
        self._send(self.destination.associate_people, entries)

    def _notes_stage(self, items: list[_Item]) -> None:
        """A note on each visitor's person with an email, claimed before it is sent."""
        wanted: list[tuple[_Item, str, str, bool]] = []
        notes = []
        for item in items:
            visitor, state = item.visitor, item.state
            if not item.alive or not visitor.visit:
                continue
            if not (visitor.person and visitor.person.email):
                # A note goes on a person found by email: say why this visit gets none.
                state.note = "skipped"
                state.note_reason = NO_EMAIL if visitor.person else NO_PERSON
                continue
            if "person" not in item.people:
                continue
            note = visit_note(visitor)
            marker = state.markers.get("note")
            if marker and marker.payload_hash == note.key and marker.state == "done":
                state.note = "unchanged"
                continue
            wanted.append((item, "note", note.key, True))
            notes.append(note)
        entries: list[_Entry] = []
        claims = self._claim_all(wanted)
        for (item, _, _, _), note, claim in zip(wanted, notes, claims, strict=True):
            if claim is None:
                continue  # deferred
            if not claim.won:  # another push wrote this very note meanwhile
                item.state.note = "unchanged"
                continue
            taken = claim.previous
            may_exist = bool(taken and taken.payload_hash == note.key)
            key = f"{item.visitor.id}:note"
            entries.append(
                _Entry(
                    key=key,
                    input=NoteInput(
                        key=key,
                        parent=item.people["person"],
                        note=note.model_copy(update={"may_exist": may_exist}),
                    ),
                    identity=key,
                    writer=item,
                    apply=functools.partial(self._noted, item, note.key),
                    failed=functools.partial(self._note_failed, item),
                    claim=(item.visitor.id, "note"),
                )
            )
        self._send(self.destination.add_notes, entries)

    def _noted(self, item: _Item, note_key: str, result: NoteResult) -> list[MarkerWrite]:
        state = item.state
        if result.status == "skipped":
            state.note, state.note_reason = "skipped", result.reason or "destination skipped it"
            state.writes -= 1
            self._release([(item.visitor.id, "note")])
            return []
        if result.status == "created":
            state.outcomes["created"] += 1
        else:
            state.writes -= 1  # found, not written again
        state.note = result.status
        if result.note_id:
            state.records["note"] = result.note_id
        return [MarkerWrite(item.visitor.id, "note", note_key, record_id=result.note_id)]

    def _note_failed(self, item: _Item, exc: BaseException) -> None:
        item.state.writes -= 1  # as Pusher counts: a note that failed was not written
        if isinstance(exc, ScopeMissing | CapabilityMissing):  # the note is skipped, not failed
            item.state.note, item.state.note_reason = "skipped", exc.message
            return
        item.fail(exc)
