"""The batch hooks through the facade: all five or none, every input answered by its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from crm_push import Company, Connection, Credentials, Destination, Person, hookimpl
from crm_push.errors import CapabilityMissing, CrmPushError, InvalidInput, PluginLoadError
from crm_push.hookspecs import BATCH_HOOKS, OPTIONAL_HOOKS
from crm_push.models import CompanyInput, LinkInput, Note, NoteInput, PersonInput

from support.filecrm import NO_ANSWER, BatchFileCRM, FileCRM


def connected(plugin: FileCRM) -> tuple[Destination, Connection]:
    dest = Destination("filecrm", plugin)
    return dest, dest.connect(Credentials(access_token="good-token"))


def test_the_batch_hooks_are_optional_and_named_together() -> None:
    assert BATCH_HOOKS == (
        "batch_size",
        "assert_companies",
        "assert_people",
        "associate_people",
        "add_notes",
    )
    assert set(BATCH_HOOKS) <= set(OPTIONAL_HOOKS)


def test_a_destination_with_some_batch_hooks_fails_to_load_naming_the_missing(
    crm_file: Path,
) -> None:
    class Half(FileCRM):
        @hookimpl
        def batch_size(self, connection: object) -> int:
            return 10

        @hookimpl
        def assert_people(self, connection: object, people: list[PersonInput]) -> dict:
            return {}

    with pytest.raises(PluginLoadError) as caught:
        Destination("half", Half(crm_file))
    message = str(caught.value)
    for missing in ("assert_companies", "associate_people", "add_notes"):
        assert missing in message
    assert "all five batch hooks or none" in message


def test_batch_capable_only_with_all_five(crm_file: Path) -> None:
    assert Destination("filecrm", BatchFileCRM(crm_file)).batch_capable
    plain, connection = connected(FileCRM(crm_file))
    assert not plain.batch_capable
    with pytest.raises(CapabilityMissing, match="cannot push in batches"):
        plain.assert_companies(connection, [CompanyInput(key="k", company=Company(name="A"))])


def test_every_input_is_answered_by_its_key_in_chunks_of_batch_size(crm_file: Path) -> None:
    crm = BatchFileCRM(crm_file, batch_size=2)
    dest, connection = connected(crm)
    assert dest.batch_size(connection) == 2
    inputs = [
        CompanyInput(key="a", company=Company(name="A", domain="a.example")),
        CompanyInput(key="refused", company=Company(name="REJECT ME", domain="r.example")),
        CompanyInput(key="silent", company=Company(name=NO_ANSWER, domain="s.example")),
    ]
    answers = dest.assert_companies(connection, inputs)
    assert crm.batches == [("assert_companies", 2), ("assert_companies", 1)]
    assert set(answers) == {"a", "refused", "silent"}
    a = answers["a"]
    assert not isinstance(a, CrmPushError) and a.outcome == "created"
    refused = answers["refused"]
    assert isinstance(refused, InvalidInput) and refused.field == "company.name"
    assert "gave no answer" in str(answers["silent"])
    people = dest.assert_people(
        connection, [PersonInput(key="p", person=Person(email="p@a.example"), company=a)]
    )
    person = people["p"]
    assert not isinstance(person, CrmPushError) and person.linked == (a.record_id,)
    links = dest.associate_people(connection, [LinkInput(key="l", person=person, company=a)])
    assert not isinstance(links["l"], CrmPushError) and a.record_id in links["l"].linked
    note = Note(key="k", title="Visit", content="key: k")
    notes = dest.add_notes(connection, [NoteInput(key="n", parent=person, note=note)])
    assert not isinstance(notes["n"], CrmPushError) and notes["n"].status == "created"
    assert len(crm.snapshot()["notes"]) == 1


def test_inputs_of_one_call_need_distinct_keys(crm_file: Path) -> None:
    dest, connection = connected(BatchFileCRM(crm_file))
    same = CompanyInput(key="k", company=Company(domain="a.example"))
    with pytest.raises(ValueError, match="distinct keys"):
        dest.assert_companies(connection, [same, same])
