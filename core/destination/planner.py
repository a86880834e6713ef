"""Dry runs: the pusher's flow against a destination that only says what it would write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from crm_push.models import Company, Person
from crm_push.models.crm import Connection, Note, NoteResult, RecordRef


class DryRunDestination:
    """Stands in for a Destination: records each write it would make and sends nothing."""

    def __init__(self, name: str, on_plan: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.plan: list[str] = []
        self._on_plan = on_plan
        self._lock = threading.Lock()
        self._count = 0

    def connection(self, workspace_id: str = "dry-run") -> Connection:
        return Connection(
            destination=self.name, workspace_id=workspace_id, workspace_name="dry run"
        )

    def _say(self, line: str) -> str:
        with self._lock:
            self.plan.append(line)
            self._count += 1
            placeholder = f"dry-run-{self._count}"
        if self._on_plan:
            self._on_plan(line)
        return placeholder

    def _ref(
        self, obj: str, what: str, data: dict[str, Any], existing: RecordRef | None
    ) -> RecordRef:
        fields = ", ".join(f"{k}={v!r}" for k, v in data.items() if v not in (None, (), []))
        if existing:
            self._say(f"would update {obj} {existing.record_id} ({what}): {fields}")
            return existing.model_copy(update={"outcome": "updated"})
        placeholder = self._say(f"would assert {obj} {what}: {fields}")
        return RecordRef(object=obj, record_id=placeholder, outcome="created")

    def assert_company(
        self,
        connection: Connection,
        company: Company,
        existing: RecordRef | None = None,
        pending: object = None,
    ) -> RecordRef:
        what = f"by domain {company.domain}" if company.domain else "without domain (create)"
        return self._ref("company", what, company.model_dump(), existing)

    def assert_person(
        self,
        connection: Connection,
        person: Person,
        company: RecordRef | None = None,
        existing: RecordRef | None = None,
        pending: object = None,
    ) -> RecordRef:
        what = f"by email {person.email}" if person.email else "without email (create)"
        ref = self._ref("person", what, person.model_dump(), existing)
        return ref.model_copy(update={"linked": (company.record_id,)}) if company else ref

    def associate(self, connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
        self._say(f"would link person {person.record_id} to company {company.record_id}")
        return person.model_copy(update={"linked": (company.record_id,)})

    def add_note(self, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
        self._say(f"would add note {note.title!r} to person {parent.record_id}")
        return NoteResult(status="created")
