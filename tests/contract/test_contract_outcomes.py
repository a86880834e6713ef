"""The contract suite as a plugin author sees it: run by pytest in a folder of its own.

Stubs must come out as skipped ("stub: not implemented yet"), never as passes, and a
destination that breaks the contract must fail the test that covers the broken rule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from crm_push.testing import STUB_REASON, DestinationContract

from contract.helpers import EXAMPLE, Outcome, run_pytest

CONTRACT_TESTS = 27  # test functions and parametrized cases of DestinationContract


def _by_class(outcomes: dict[str, Outcome]) -> dict[str, dict[str, Outcome]]:
    grouped: dict[str, dict[str, Outcome]] = {}
    for name, outcome in outcomes.items():
        cls, _, test = name.partition("::")
        grouped.setdefault(cls, {})[test] = outcome
    return grouped


def _write(folder: Path, source: str) -> Path:
    folder.mkdir()
    (folder / "test_generated.py").write_text(textwrap.dedent(source))
    return folder


def test_contract_has_the_expected_checks() -> None:
    # Keeps CONTRACT_TESTS honest: three tests are parametrized over company/person.
    names = [n for n in dir(DestinationContract) if n.startswith("test_")]
    assert len(names) + 3 == CONTRACT_TESTS


def _installed_stubs() -> list[str]:
    # Asked of `crm-push plugins` in a subprocess: loading destinations in this process would
    # fill stevedore's process-wide entry-point cache before other tests add theirs.
    listed = subprocess.run(
        [sys.executable, "-m", "crm_push", "plugins"], capture_output=True, text=True, check=True
    )
    return [p["name"] for p in json.loads(listed.stdout) if p["status"] == "stub"]


def test_stub_destinations_are_skipped_as_stubs_never_passed(tmp_path: Path) -> None:
    stubs = _installed_stubs()
    assert "salesforce" in stubs  # a built-in stub, loaded through its entry point
    classes = "".join(
        f"""
        class Test_{name}(DestinationContract):
            @pytest.fixture
            def destination(self):
                return load_destination({name!r})
        """
        for name in stubs
    )
    folder = _write(
        tmp_path / "stubs",
        """
        import pytest
        from crm_push import Destination, load_destination
        from crm_push.destination.stub import StubDestination
        from crm_push.testing import DestinationContract

        class Unwritten(StubDestination):
            crm_name = "Unwritten CRM"

        class Test_unwritten(DestinationContract):
            @pytest.fixture
            def destination(self):
                return Destination("unwritten", Unwritten())
        """
        + classes,
    )
    proc, outcomes = run_pytest(folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grouped = _by_class(outcomes)
    assert set(grouped) == {f"Test_{name}" for name in ["unwritten", *stubs]}
    for cls, tests in grouped.items():
        assert len(tests) == CONTRACT_TESTS, cls
        for test, outcome in tests.items():
            assert outcome == Outcome("skipped", STUB_REASON), f"{cls}::{test}"
    assert f"{CONTRACT_TESTS * len(grouped)} skipped" in proc.stdout


BROKEN = """
import uuid
from pathlib import Path

import pytest
from crm_push import ConnectOptions, CrmPushError, Destination, NoteResult, RecordRef, hookimpl
from crm_push.testing import DestinationContract, count_vanished
from crm_push_jsoncrm import JsonCRM


class Base(DestinationContract):
    plugin = JsonCRM

    @pytest.fixture
    def destination(self):
        return Destination("jsoncrm", self.plugin())

    @pytest.fixture
    def connect_options(self, tmp_path):
        return ConnectOptions(extra={"path": str(tmp_path / "crm.json")})

    @pytest.fixture
    def deletes_sent(self, tmp_path):
        import json

        path = tmp_path / "crm.json"
        return count_vanished(
            lambda: [
                f"{t}/{i}"
                for t, rows in (json.loads(path.read_text()) if path.exists() else {}).items()
                for i in rows
            ]
        )


class DuplicatesCompanies(JsonCRM):
    @hookimpl
    def assert_company(self, connection, company, existing, pending):
        # Ignores the domain, `existing` and `pending`: every call creates a record.
        anonymous = company.model_copy(update={"domain": None})
        return super().assert_company(connection, anonymous, None, None)


class IgnoresNoteKeys(JsonCRM):
    @hookimpl
    def add_note(self, connection, parent, note):
        return NoteResult(status="created", note_id=uuid.uuid4().hex)


class BareErrors(JsonCRM):
    @hookimpl
    def assert_person(self, connection, person, company, existing, pending):
        raise ValueError("name too long")


class ReturnsDicts(JsonCRM):
    @hookimpl
    def associate(self, connection, person, company):
        return {"record_id": person.record_id}


class DeletesOnDisconnect(JsonCRM):
    @hookimpl
    def disconnect(self, connection):
        Path(connection.workspace_id).unlink(missing_ok=True)
        return super().disconnect(connection)


class Batches(JsonCRM):
    # JsonCRM with the batch hooks, each delegating to the per-record hook per input.

    def _each(self, inputs, write):
        answers = {}
        for item in inputs:
            try:
                answers[item.key] = write(item)
            except CrmPushError as exc:
                answers[item.key] = exc
        return self._answer(inputs, answers)

    def _answer(self, inputs, answers):
        return answers

    @hookimpl
    def batch_size(self, connection):
        return 10

    @hookimpl
    def assert_companies(self, connection, companies):
        return self._each(companies, lambda c: self.assert_company(
            connection, c.company, c.existing, c.pending))

    @hookimpl
    def assert_people(self, connection, people):
        return self._each(people, lambda p: self.assert_person(
            connection, p.person, p.company, p.existing, p.pending))

    @hookimpl
    def associate_people(self, connection, links):
        return self._each(links, lambda l: self.associate(connection, l.person, l.company))

    @hookimpl
    def add_notes(self, connection, notes):
        return self._each(notes, lambda n: self.add_note(connection, n.parent, n.note))


class AnswersByPosition(Batches):
    def _answer(self, inputs, answers):
        # The CRM's results taken in the order the inputs were sorted: by position, not key.
        ordered = sorted(inputs, key=lambda item: item.key)
        return {item.key: answers[o.key] for item, o in zip(inputs, ordered)}


class ForgetsAnInput(Batches):
    def _answer(self, inputs, answers):
        return {k: v for k, v in answers.items() if k != inputs[-1].key}


class RaisesForARefusal(Batches):
    def _each(self, inputs, write):
        return {item.key: write(item) for item in inputs}  # one refusal raises for the call


class TestDuplicatesCompanies(Base):
    plugin = DuplicatesCompanies


class TestIgnoresNoteKeys(Base):
    plugin = IgnoresNoteKeys


class TestBareErrors(Base):
    plugin = BareErrors

    @pytest.fixture
    def rejected_person(self):
        from crm_push import Person

        return Person(name="x" * 101)


class TestReturnsDicts(Base):
    plugin = ReturnsDicts


class TestDeletesOnDisconnect(Base):
    plugin = DeletesOnDisconnect


class TestBatches(Base):
    plugin = Batches


class TestAnswersByPosition(Base):
    plugin = AnswersByPosition


class TestForgetsAnInput(Base):
    plugin = ForgetsAnInput


class TestRaisesForARefusal(Base):
    plugin = RaisesForARefusal

    @pytest.fixture
    def rejected_person(self):
        from crm_push import Person

        return Person(name="x" * 101)
"""

# Each broken rule, the tests that must catch it, and words its failure message must contain.
EXPECTED_FAILURES = {
    "TestDuplicatesCompanies": {
        "test_assert_company_matches_on_domain": "same domain must match the same record",
        "test_company_without_domain_updates_existing": "must be updated, not duplicated",
        "test_pending_create_is_found_not_duplicated[company]": "assert",
    },
    "TestIgnoresNoteKeys": {
        "test_add_note_once_per_key": "must be found, not re-added",
        "test_add_note_without_notes_capability_skips": "add_note must skip",
        "test_push_without_notes_capability_skips_the_note": "skipped",
    },
    "TestBareErrors": {
        "test_rejected_input_is_a_typed_error[person]": "raised ValueError",
        "test_assert_person_matches_on_email": "ValueError",
        "test_person_without_email_updates_existing": "ValueError",
        "test_pending_create_is_found_not_duplicated[person]": "ValueError",
        "test_associate_links": "ValueError",
        "test_assert_person_with_company_links_it": "ValueError",
        "test_add_note_once_per_key": "ValueError",
        "test_add_note_without_notes_capability_skips": "ValueError",
        "test_push_twice_second_run_unchanged": "failed: ValueError",
        "test_push_without_notes_capability_skips_the_note": "failed: ValueError",
        "test_nothing_is_deleted": "failed: ValueError",
    },
    "TestReturnsDicts": {
        "test_associate_links": "associate returned dict, not crm_push.RecordRef",
    },
    "TestDeletesOnDisconnect": {
        "test_nothing_is_deleted": "disconnect deleted something",
    },
    "TestBatches": {},  # the batch hooks done right: every test passes
    "TestAnswersByPosition": {
        "test_assert_companies_matches_on_domain_by_key": "answered with another input's record",
        "test_assert_people_links_inline_or_associate_people_does": "another input's record",
    },
    "TestForgetsAnInput": {
        "test_assert_companies_matches_on_domain_by_key": "unanswered: answer every key",
        "test_assert_companies_updates_existing_and_finds_pending": "unanswered",
        "test_assert_people_links_inline_or_associate_people_does": "unanswered",
        "test_add_notes_once_per_key": "unanswered",
        "test_add_notes_without_notes_capability_skips": "unanswered",
        "test_batch_push_twice_second_run_unchanged": "the destination gave no answer for it",
    },
    "TestRaisesForARefusal": {
        "test_a_refused_input_fails_alone[person]": "InvalidInput",
    },
}


def test_broken_destinations_fail_the_rule_they_break(tmp_path: Path) -> None:
    folder = _write(tmp_path / "broken", BROKEN)
    proc, outcomes = run_pytest(folder, env={**os.environ, "PYTHONPATH": str(EXAMPLE)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for cls, tests in _by_class(outcomes).items():
        failed = {t: o.message for t, o in tests.items() if o.status == "failed"}
        assert set(failed) == set(EXPECTED_FAILURES[cls]), cls
        for test, words in EXPECTED_FAILURES[cls].items():
            assert words in failed[test], f"{cls}::{test}: {failed[test]}"
