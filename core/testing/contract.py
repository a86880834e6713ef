"""The destination contract: what the pusher relies on, checked through the hooks themselves.

Subclass :class:`DestinationContract` in your plugin's tests and override the fixtures that
reach your test server. Nothing here inspects the CRM directly: a destination passes when its
hooks answer the way the hookspec documents, whatever the CRM behind them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

import pytest
from crm_push.destination.facade import Destination
from crm_push.errors import CapabilityMissing, CrmPushError, ScopeMissing
from crm_push.hookspecs import BATCH_HOOKS, CORE_HOOKS
from crm_push.models import Company, Person, Visit, Visitor
from crm_push.models.batch import CompanyInput, LinkInput, NoteInput, PersonInput
from crm_push.models.crm import (
    Connection,
    ConnectOptions,
    Credentials,
    DisconnectResult,
    Note,
    NoteResult,
    Pending,
    RecordRef,
)
from crm_push.push.notes import visit_note
from crm_push.push.pusher import Pusher, VisitorResult
from crm_push.state.markers import MarkerStore

#: The skip reason of every contract test run against a stub destination.
STUB_REASON = "stub: not implemented yet"


def skip_if_stub(destination: Destination) -> None:
    """Skip the calling test when the destination is a stub: a stub must never pass."""
    if destination.status == "stub":
        pytest.skip(STUB_REASON)


def count_vanished(list_ids: Callable[[], Iterable[Hashable]]) -> Callable[[], int]:
    """A `deletes_sent` for a CRM you can list: how many ids it listed once are gone since.

    `list_ids` returns every record and note id the CRM holds now. Each call of the returned
    function lists them again and counts the ids that disappeared since an earlier call saw
    them (the contract calls it after each step, so it sees what each step created).
    """
    seen: set[Hashable] = set()
    gone: set[Hashable] = set()

    def deletes_sent() -> int:
        now = set(list_ids())
        gone.update(seen - now)
        seen.update(now)
        return len(gone)

    deletes_sent()  # the baseline: what exists before the test
    return deletes_sent


def _ref(value: Any, hook: str) -> RecordRef:
    assert isinstance(value, RecordRef), (
        f"{hook} returned {type(value).__name__}, not crm_push.RecordRef"
    )
    assert value.record_id, f"{hook} returned a RecordRef without a record_id"
    assert value.object, f"{hook} returned a RecordRef without an object"
    return value


def _note(value: Any) -> NoteResult:
    assert isinstance(value, NoteResult), (
        f"add_note returned {type(value).__name__}, not crm_push.NoteResult"
    )
    return value


def _not_failed(result: VisitorResult) -> None:
    assert result.status != "failed", f"visitor {result.visitor_id} failed: {result.reason}"


class DestinationContract:
    """The contract tests. Override `destination`, and `connect_options` or `connection`.

    Fixtures you may override (all function-scoped):

    * ``destination`` (required): a :class:`crm_push.Destination`, e.g.
      ``load_destination("mycrm")`` or ``Destination("mycrm", MyCRM())``.
    * ``credentials`` / ``connect_options``: what the default ``connection`` passes to
      ``connect`` (None and ``ConnectOptions(interactive=False)``); point ``base_url`` at your
      test server here.
    * ``connection``: a fresh Connection for each test (two tests call ``disconnect`` on it).
    * ``connection_without_notes``: a Connection that cannot write notes; by default
      ``connection`` without the "notes" capability. Return None to skip that test.
    * ``rejected_company`` / ``rejected_person``: a value your CRM refuses, to check the error
      is one of crm_push's typed errors. None (the default) skips that check.
    * ``deletes_sent``: a callable returning how many deletes reached the CRM so far (count
      DELETE requests in your test server's log, or use :func:`count_vanished`). None skips.
    * ``unique``: a fresh token per test that the sample emails, domains and names contain, so
      a long-lived test server never matches an earlier run's records.
    * ``company`` / ``person`` / ``visitors``: the sample data, built from ``unique``; override
      them when your CRM needs other values.
    """

    # -- fixtures to override ---------------------------------------------------------------

    @pytest.fixture
    def destination(self) -> Destination:
        pytest.fail("override the `destination` fixture in your DestinationContract subclass")

    @pytest.fixture(autouse=True)
    def _skip_stubs(self, destination: Destination) -> None:
        # Autouse, and depending only on `destination`: a stub is skipped before `connection`
        # (which a stub cannot make) is even requested.
        skip_if_stub(destination)

    @pytest.fixture
    def credentials(self) -> Credentials | None:
        return None

    @pytest.fixture
    def connect_options(self) -> ConnectOptions:
        return ConnectOptions(interactive=False)

    @pytest.fixture
    def connection(
        self,
        destination: Destination,
        credentials: Credentials | None,
        connect_options: ConnectOptions,
    ) -> Connection:
        return destination.connect(credentials, connect_options)

    @pytest.fixture
    def connection_without_notes(self, connection: Connection) -> Connection | None:
        return connection.model_copy(update={"capabilities": connection.capabilities - {"notes"}})

    @pytest.fixture
    def rejected_company(self) -> Company | None:
        return None

    @pytest.fixture
    def rejected_person(self) -> Person | None:
        return None

    @pytest.fixture
    def deletes_sent(self) -> Callable[[], int] | None:
        return None

    @pytest.fixture
    def unique(self) -> str:
        return uuid.uuid4().hex[:10]

    @pytest.fixture
    def markers_db_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'contract-markers.db'}"

    # -- sample data ------------------------------------------------------------------------

    @pytest.fixture
    def company(self, unique: str) -> Company:
        return Company(name=f"Contract {unique}", domain=f"contract-{unique}.example")

    @pytest.fixture
    def person(self, unique: str) -> Person:
        return Person(email=f"ada-{unique}@contract-{unique}.example", name=f"Ada {unique}")

    @pytest.fixture
    def visitors(self, unique: str) -> list[Visitor]:
        """A visitor with everything, a company alone, and a person without email."""
        domain = f"visit-{unique}.example"
        visit = Visit(
            visited_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC),
            visit_count=2,
            pages=("/pricing",),
        )
        return [
            Visitor(
                id=f"contract-{unique}-1",
                person=Person(email=f"jo-{unique}@{domain}", name=f"Jo {unique}"),
                company=Company(name=f"Visit {unique}", domain=domain),
                visit=visit,
                key_contacts=(Person(email=f"cfo-{unique}@{domain}", name=f"Cy {unique}"),),
            ),
            Visitor(
                id=f"contract-{unique}-2",
                company=Company(name=f"Alone {unique}", domain=f"alone-{unique}.example"),
            ),
            Visitor(id=f"contract-{unique}-3", person=Person(name=f"Anon {unique}"), visit=visit),
        ]

    def _note_for(self, person: Person, unique: str) -> Note:
        # The pusher's own note, so its content carries the visit key the way a real push does.
        visit = Visit(visited_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC), pages=("/docs",))
        return visit_note(Visitor(id=f"contract-{unique}-note", person=person, visit=visit))

    # -- the hooks --------------------------------------------------------------------------

    def test_implements_every_hook(self, destination: Destination) -> None:
        missing = [hook for hook in CORE_HOOKS if not destination.implements(hook)]
        assert not missing, f"{destination.name} does not implement {missing}"

    def test_connect_returns_a_connection(
        self, destination: Destination, connection: Connection
    ) -> None:
        assert isinstance(connection, Connection), (
            f"connect returned {type(connection).__name__}, not crm_push.Connection"
        )
        assert connection.workspace_id, "Connection.workspace_id is empty: markers key on it"
        # Stored connections are found again by the destination's (entry-point) name.
        assert connection.destination == destination.name

    def test_assert_company_matches_on_domain(
        self, destination: Destination, connection: Connection, company: Company
    ) -> None:
        first = _ref(destination.assert_company(connection, company), "assert_company")
        assert first.outcome == "created", "a company with a new domain must be created"
        again = _ref(destination.assert_company(connection, company), "assert_company")
        assert again.record_id == first.record_id, "the same domain must match the same record"
        # "unchanged" is allowed for a CRM that can tell nothing changed.
        assert again.outcome in ("updated", "unchanged")

    def test_assert_person_matches_on_email(
        self, destination: Destination, connection: Connection, person: Person
    ) -> None:
        first = _ref(destination.assert_person(connection, person), "assert_person")
        assert first.outcome == "created", "a person with a new email must be created"
        again = _ref(destination.assert_person(connection, person), "assert_person")
        assert again.record_id == first.record_id, "the same email must match the same record"
        assert again.outcome in ("updated", "unchanged")

    def test_company_without_domain_updates_existing(
        self, destination: Destination, connection: Connection, unique: str
    ) -> None:
        company = Company(name=f"No domain {unique}")
        first = _ref(destination.assert_company(connection, company), "assert_company")
        again = _ref(
            destination.assert_company(connection, company, existing=first), "assert_company"
        )
        assert again.record_id == first.record_id, "`existing` must be updated, not duplicated"
        assert again.outcome != "created"

    def test_person_without_email_updates_existing(
        self, destination: Destination, connection: Connection, unique: str
    ) -> None:
        person = Person(name=f"No email {unique}")
        first = _ref(destination.assert_person(connection, person), "assert_person")
        again = _ref(destination.assert_person(connection, person, existing=first), "assert_person")
        assert again.record_id == first.record_id, "`existing` must be updated, not duplicated"
        assert again.outcome != "created"

    @pytest.mark.parametrize("kind", ["company", "person"])
    def test_pending_create_is_found_not_duplicated(
        self, destination: Destination, connection: Connection, unique: str, kind: str
    ) -> None:
        # A push died after the CRM created a keyless record but before its id was recorded:
        # the next push passes `pending` and must find that record.
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        if kind == "company":
            company = Company(name=f"Pending {unique}")
            first = destination.assert_company(connection, company)
            again = destination.assert_company(connection, company, pending=Pending(since=since))
        else:
            person = Person(name=f"Pending {unique}")
            first = destination.assert_person(connection, person)
            again = destination.assert_person(connection, person, pending=Pending(since=since))
        assert _ref(again, f"assert_{kind}").record_id == _ref(first, f"assert_{kind}").record_id

    def test_associate_links(
        self, destination: Destination, connection: Connection, company: Company, person: Person
    ) -> None:
        company_ref = _ref(destination.assert_company(connection, company), "assert_company")
        person_ref = _ref(destination.assert_person(connection, person), "assert_person")
        linked = _ref(destination.associate(connection, person_ref, company_ref), "associate")
        assert linked.record_id == person_ref.record_id, "associate returns the person's record"
        assert company_ref.record_id in linked.linked, "associate must report the company linked"

    def test_assert_person_with_company_links_it(
        self, destination: Destination, connection: Connection, company: Company, person: Person
    ) -> None:
        company_ref = _ref(destination.assert_company(connection, company), "assert_company")
        person_ref = _ref(
            destination.assert_person(connection, person, company=company_ref), "assert_person"
        )
        if company_ref.record_id not in person_ref.linked:
            # Not linked inline: the pusher then calls associate, which must link.
            person_ref = _ref(
                destination.associate(connection, person_ref, company_ref), "associate"
            )
        assert company_ref.record_id in person_ref.linked

    def test_add_note_once_per_key(
        self, destination: Destination, connection: Connection, person: Person, unique: str
    ) -> None:
        parent = _ref(destination.assert_person(connection, person), "assert_person")
        note = self._note_for(person, unique)
        first = _note(destination.add_note(connection, parent, note))
        if first.status == "skipped":
            pytest.fail(
                f"add_note skipped with a connection that has the notes capability: {first.reason}"
            )
        assert first.status == "created"
        # After a crash the pusher cannot know whether the note was written: it asks again.
        again = _note(
            destination.add_note(connection, parent, note.model_copy(update={"may_exist": True}))
        )
        assert again.status == "existing", "a note with the same key must be found, not re-added"
        if first.note_id and again.note_id:
            assert again.note_id == first.note_id

    def test_add_note_without_notes_capability_skips(
        self,
        destination: Destination,
        connection: Connection,
        connection_without_notes: Connection | None,
        person: Person,
        unique: str,
    ) -> None:
        if connection_without_notes is None:
            pytest.skip("no connection_without_notes fixture for this destination")
        parent = _ref(destination.assert_person(connection, person), "assert_person")
        result = _note(
            destination.add_note(connection_without_notes, parent, self._note_for(person, unique))
        )
        assert result.status == "skipped", "without the notes capability, add_note must skip"
        assert result.reason, "a skipped note must say why (the CLI shows it to the user)"

    @pytest.mark.parametrize("kind", ["company", "person"])
    def test_rejected_input_is_a_typed_error(
        self,
        destination: Destination,
        connection: Connection,
        request: pytest.FixtureRequest,
        kind: str,
    ) -> None:
        value = request.getfixturevalue(f"rejected_{kind}")
        if value is None:
            pytest.skip(f"no rejected_{kind} fixture: give a {kind} your CRM refuses")
        call = destination.assert_company if kind == "company" else destination.assert_person
        with pytest.raises(Exception) as info:
            call(connection, value)
        # A bare exception fails the visitor with a traceback-ish reason; a typed one tells the
        # pusher (and the user) what to do next.
        assert isinstance(info.value, CrmPushError), (
            f"assert_{kind} raised {type(info.value).__name__}: {info.value}; raise a "
            "crm_push error instead (InvalidInput for data the CRM refuses)"
        )

    # -- a push, end to end -----------------------------------------------------------------

    def test_push_twice_second_run_unchanged(
        self,
        destination: Destination,
        connection: Connection,
        visitors: list[Visitor],
        markers_db_url: str,
    ) -> None:
        markers = MarkerStore(destination.name, connection.workspace_id, markers_db_url)
        for visitor in visitors:
            first = Pusher(destination, connection, markers).push(visitor)
            _not_failed(first)
            assert first.status == "created", f"visitor {visitor.id}: {first.status}"
        for visitor in visitors:
            again = Pusher(destination, connection, markers).push(visitor)
            _not_failed(again)
            assert again.status == "unchanged", f"visitor {visitor.id} was written again"
            assert again.writes == 0

    def test_push_without_notes_capability_skips_the_note(
        self,
        destination: Destination,
        connection_without_notes: Connection | None,
        visitors: list[Visitor],
        markers_db_url: str,
    ) -> None:
        if connection_without_notes is None:
            pytest.skip("no connection_without_notes fixture for this destination")
        markers = MarkerStore(
            destination.name, connection_without_notes.workspace_id, markers_db_url
        )
        result = Pusher(destination, connection_without_notes, markers).push(visitors[0])
        _not_failed(result)
        assert result.note == "skipped" and result.note_skipped_reason

    def test_disconnect_returns_a_result(
        self, destination: Destination, connection: Connection
    ) -> None:
        result = destination.disconnect(connection)
        assert isinstance(result, DisconnectResult), (
            f"disconnect returned {type(result).__name__}, not crm_push.DisconnectResult"
        )
        assert result.message, "disconnect must tell the user what it did"

    def test_nothing_is_deleted(
        self,
        destination: Destination,
        connection: Connection,
        visitors: list[Visitor],
        markers_db_url: str,
        deletes_sent: Callable[[], int] | None,
    ) -> None:
        if deletes_sent is None:
            pytest.skip("no deletes_sent fixture: give a count of deletes your test CRM received")
        before = deletes_sent()
        markers = MarkerStore(destination.name, connection.workspace_id, markers_db_url)
        for _ in range(2):
            for visitor in visitors:
                _not_failed(Pusher(destination, connection, markers).push(visitor))
        # Asked after each step: a CRM listed by `count_vanished` only sees ids it has listed.
        assert deletes_sent() == before, "a push deleted something: crm-push never deletes"
        markers.remove([v.id for v in visitors])  # forgetting markers must not touch the CRM
        for visitor in visitors:
            _not_failed(Pusher(destination, connection, markers).push(visitor))
        assert deletes_sent() == before, "a re-push deleted something: crm-push never deletes"
        destination.disconnect(connection)
        assert deletes_sent() == before, "disconnect deleted something: crm-push never deletes"

    # -- the batch hooks (checked when the destination implements them) ---------------------

    @pytest.fixture
    def batch(self, destination: Destination) -> Destination:
        """The destination, when it implements the batch hooks; else the test is skipped."""
        if not destination.batch_capable:
            pytest.skip(f"{destination.name} implements no batch hooks ({', '.join(BATCH_HOOKS)})")
        return destination

    def _answers(
        self,
        destination: Destination,
        hook: str,
        argument: str,
        connection: Connection,
        inputs: list[Any],
    ) -> dict[str, Any]:
        """The hook's own answer (not the facade's), checked: a dict naming every input's key,
        each a result or a crm_push error."""
        answers = getattr(destination.pm.hook, hook)(connection=connection, **{argument: inputs})
        assert isinstance(answers, dict), f"{hook} returned {type(answers).__name__}, not a dict"
        missing = [item.key for item in inputs if item.key not in answers]
        assert not missing, f"{hook} left the inputs {missing} unanswered: answer every key"
        for key, answer in answers.items():
            assert not isinstance(answer, Exception) or isinstance(answer, CrmPushError), (
                f"{hook} answered {key!r} with {type(answer).__name__}: use crm_push's errors"
            )
        return answers

    def test_batch_size_is_positive(self, batch: Destination, connection: Connection) -> None:
        size = batch.pm.hook.batch_size(connection=connection)
        assert isinstance(size, int) and size >= 1, f"batch_size returned {size!r}"

    def test_assert_companies_matches_on_domain_by_key(
        self, batch: Destination, connection: Connection, unique: str
    ) -> None:
        inputs = [
            CompanyInput(
                key=f"c{n}",
                company=Company(name=f"Batch {n} {unique}", domain=f"b{n}-{unique}.example"),
            )
            for n in range(3)
        ]
        first = self._answers(batch, "assert_companies", "companies", connection, inputs)
        refs = {key: _ref(answer, "assert_companies") for key, answer in first.items()}
        assert {r.outcome for r in refs.values()} == {"created"}, "new domains must be created"
        assert len({r.record_id for r in refs.values()}) == 3, "three domains, three records"
        # Answers are matched by key, never by position: the same inputs in another order.
        again = self._answers(batch, "assert_companies", "companies", connection, inputs[::-1])
        for key, answer in again.items():
            assert _ref(answer, "assert_companies").record_id == refs[key].record_id, (
                f"input {key!r} was answered with another input's record"
            )

    def test_assert_companies_updates_existing_and_finds_pending(
        self, batch: Destination, connection: Connection, unique: str
    ) -> None:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        keyless = Company(name=f"Batch no domain {unique}")
        pending = Company(name=f"Batch pending {unique}")
        first = self._answers(
            batch,
            "assert_companies",
            "companies",
            connection,
            [CompanyInput(key="a", company=keyless), CompanyInput(key="p", company=pending)],
        )
        made = {key: _ref(answer, "assert_companies") for key, answer in first.items()}
        again = self._answers(
            batch,
            "assert_companies",
            "companies",
            connection,
            [
                CompanyInput(key="a", company=keyless, existing=made["a"]),
                CompanyInput(key="p", company=pending, pending=Pending(since=since)),
            ],
        )
        for key in ("a", "p"):
            ref = _ref(again[key], "assert_companies")
            assert ref.record_id == made[key].record_id, f"{key}: must not be duplicated"

    def test_assert_people_links_inline_or_associate_people_does(
        self, batch: Destination, connection: Connection, company: Company, unique: str
    ) -> None:
        (company_ref,) = self._answers(
            batch,
            "assert_companies",
            "companies",
            connection,
            [CompanyInput(key="c", company=company)],
        ).values()
        company_ref = _ref(company_ref, "assert_companies")
        people = [
            PersonInput(
                key=f"p{n}",
                person=Person(email=f"b{n}-{unique}@{company.domain}"),
                company=company_ref,
            )
            for n in range(2)
        ] + [PersonInput(key="anon", person=Person(name=f"Batch anon {unique}"))]
        first = self._answers(batch, "assert_people", "people", connection, people)
        refs = {key: _ref(answer, "assert_people") for key, answer in first.items()}
        assert len({r.record_id for r in refs.values()}) == 3
        again = self._answers(batch, "assert_people", "people", connection, people[:2][::-1])
        for key, answer in again.items():
            assert _ref(answer, "assert_people").record_id == refs[key].record_id, (
                f"input {key!r} was answered with another input's record"
            )
        links = [
            LinkInput(key=key, person=refs[key], company=company_ref)
            for key in ("p0", "p1")
            if company_ref.record_id not in refs[key].linked
        ]
        if links:
            linked = self._answers(batch, "associate_people", "links", connection, links)
            for link in links:
                ref = _ref(linked[link.key], "associate_people")
                assert ref.record_id == link.person.record_id, "answer with the person's record"
                assert company_ref.record_id in ref.linked, "associate_people must report the link"

    def test_add_notes_once_per_key(
        self, batch: Destination, connection: Connection, person: Person, unique: str
    ) -> None:
        (parent,) = self._answers(
            batch, "assert_people", "people", connection, [PersonInput(key="p", person=person)]
        ).values()
        parent = _ref(parent, "assert_people")
        note = self._note_for(person, unique)
        first = self._answers(
            batch, "add_notes", "notes", connection, [NoteInput(key="n", parent=parent, note=note)]
        )
        created = _note(first["n"])
        assert created.status == "created", f"add_notes gave {created.status}: {created.reason}"
        retry = NoteInput(key="n", parent=parent, note=note.model_copy(update={"may_exist": True}))
        again = _note(self._answers(batch, "add_notes", "notes", connection, [retry])["n"])
        assert again.status == "existing", "a note with the same key must be found, not re-added"

    def test_add_notes_without_notes_capability_skips(
        self,
        batch: Destination,
        connection: Connection,
        connection_without_notes: Connection | None,
        person: Person,
        unique: str,
    ) -> None:
        if connection_without_notes is None:
            pytest.skip("no connection_without_notes fixture for this destination")
        (parent,) = self._answers(
            batch, "assert_people", "people", connection, [PersonInput(key="p", person=person)]
        ).values()
        note = NoteInput(
            key="n", parent=_ref(parent, "assert_people"), note=self._note_for(person, unique)
        )
        answer = self._answers(batch, "add_notes", "notes", connection_without_notes, [note])["n"]
        if isinstance(answer, CrmPushError):  # ScopeMissing / CapabilityMissing skip it too
            assert isinstance(answer, ScopeMissing | CapabilityMissing), answer
            return
        assert _note(answer).status == "skipped" and answer.reason

    @pytest.mark.parametrize("kind", ["company", "person"])
    def test_a_refused_input_fails_alone(
        self,
        batch: Destination,
        connection: Connection,
        request: pytest.FixtureRequest,
        company: Company,
        person: Person,
        kind: str,
    ) -> None:
        value = request.getfixturevalue(f"rejected_{kind}")
        if value is None:
            pytest.skip(f"no rejected_{kind} fixture: give a {kind} your CRM refuses")
        if kind == "company":
            hook, argument = "assert_companies", "companies"
            inputs: list[Any] = [
                CompanyInput(key="bad", company=value),
                CompanyInput(key="good", company=company),
            ]
        else:
            hook, argument = "assert_people", "people"
            inputs = [PersonInput(key="bad", person=value), PersonInput(key="good", person=person)]
        answers = self._answers(batch, hook, argument, connection, inputs)
        assert isinstance(answers["bad"], CrmPushError), (
            f"{hook} answered the refused input with {answers['bad']!r}: answer it with the "
            "crm_push error for that input (InvalidInput naming the field), do not raise"
        )
        _ref(answers["good"], hook)

    def test_batch_push_twice_second_run_unchanged(
        self,
        batch: Destination,
        connection: Connection,
        visitors: list[Visitor],
        markers_db_url: str,
    ) -> None:
        from crm_push.inputs.lines import Line
        from crm_push.push.batch import BatchPusher

        markers = MarkerStore(batch.name, connection.workspace_id, markers_db_url)
        lines = [Line(line=n, raw="", item=v) for n, v in enumerate(visitors, 1)]
        results: list[VisitorResult] = []
        BatchPusher(batch, connection, markers).run(lines, lambda _, r: results.append(r))
        for result in results:
            _not_failed(result)
            assert result.status == "created", f"visitor {result.visitor_id}: {result.status}"
        results.clear()
        BatchPusher(batch, connection, markers).run(lines, lambda _, r: results.append(r))
        for result in results:
            _not_failed(result)
            assert result.status == "unchanged", f"visitor {result.visitor_id} was written again"
            assert result.writes == 0
