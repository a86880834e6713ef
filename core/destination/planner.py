"""The dry-run destination: a plugin whose hooks say what they would write and send nothing.

Registered in its own `Destination` like any other, so a dry run is the real push flow (markers
read, unchanged parts skipped) with every write answered by a placeholder:

    planner = Destination(name, PlannerPlugin(name, on_plan=print))

Under a runner, each plan line starts with the input line it is about ("line 3 visitor 'v_3':
would assert …"); `take(line)` hands them out per line, so a caller printing them from the
runner's `on_result` prints them in input order whatever the number of workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from crm_push.hookspecs import hookimpl
from crm_push.models import Company, Person
from crm_push.models.actions import (
    GroupResult,
    IdentifyResult,
    RecordAssertion,
    UserIdentity,
    WorkspaceGroup,
)
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
from crm_push.push.stream import PUSHING


class PlannerPlugin:
    """Says each write it would make (in `plan`, and to `on_plan`); connects to nothing.

    `workspace_id` is the workspace whose markers the dry run reads (the stored connection's);
    `status` is the real destination's (`Destination.status`): a plan for a stub says so in its
    connection's warnings, since a real push to it would fail.
    """

    def __init__(
        self,
        name: str,
        *,
        workspace_id: str = "dry-run",
        on_plan: Callable[[str], None] | None = None,
        status: str = "ok",
    ) -> None:
        self.name = name
        self.workspace_id = workspace_id
        self.status = status
        self.plan: list[str] = []
        self._on_plan = on_plan
        self._lock = threading.Lock()  # the pusher's workers plan at the same time
        self._count = 0
        self._by_line: dict[int, list[str]] = {}

    def take(self, line: int) -> list[str]:
        """The plan lines of one input line not taken yet, in the order they were planned."""
        with self._lock:
            return self._by_line.pop(line, [])

    def _placeholder(self) -> str:
        with self._lock:
            self._count += 1
            return f"dry-run-{self._count}"

    def _say(self, text: str) -> str:
        """Record one planned write; returns a placeholder record id for it."""
        pushing = PUSHING.get()
        if pushing is not None:
            text = f"{pushing.where}: {text}"
        with self._lock:
            self.plan.append(text)
            if pushing is not None:
                self._by_line.setdefault(pushing.line, []).append(text)
        if self._on_plan:
            self._on_plan(text)
        return self._placeholder()

    def _ref(
        self, obj: str, what: str, data: dict[str, Any], existing: RecordRef | None
    ) -> RecordRef:
        fields = ", ".join(f"{k}={v!r}" for k, v in data.items() if v not in (None, (), []))
        if existing:
            self._say(f"would update {obj} {existing.record_id} ({what}): {fields}")
            return existing.model_copy(update={"outcome": "updated"})
        placeholder = self._say(f"would assert {obj} {what}: {fields}")
        return RecordRef(object=obj, record_id=placeholder, outcome="created")

    def _created(self, obj: str, line: str) -> RecordRef:
        return RecordRef(object=obj, record_id=self._say(line), outcome="created")

    @hookimpl
    def connect(self, credentials: Credentials | None, options: ConnectOptions) -> Connection:
        warnings: tuple[str, ...] = ()
        if self.status == "stub":
            warnings = (
                f"{self.name} is a stub destination: a real push would fail, nothing is "
                "implemented yet; this plan only shows what crm-push would ask of it",
            )
        return Connection(
            destination=self.name,
            workspace_id=self.workspace_id,
            workspace_name="dry run",
            warnings=warnings,
        )

    @hookimpl
    def assert_company(
        self,
        connection: Connection,
        company: Company,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        what = f"by domain {company.domain}" if company.domain else "without domain (create)"
        return self._ref("company", what, company.model_dump(), existing)

    @hookimpl
    def assert_person(
        self,
        connection: Connection,
        person: Person,
        company: RecordRef | None,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        what = f"by email {person.email}" if person.email else "without email (create)"
        ref = self._ref("person", what, person.model_dump(), existing)
        return ref.model_copy(update={"linked": (company.record_id,)}) if company else ref

    @hookimpl
    def associate(self, connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
        self._say(f"would link person {person.record_id} to company {company.record_id}")
        return person.model_copy(update={"linked": (company.record_id,)})

    @hookimpl
    def add_note(self, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
        self._say(f"would add note {note.title!r} to person {parent.record_id}")
        return NoteResult(status="created")

    @hookimpl
    def disconnect(self, connection: Connection) -> DisconnectResult:
        return DisconnectResult(revoked=False, message="A dry run has nothing to disconnect.")

    @hookimpl
    def assert_record(
        self,
        connection: Connection,
        object: str,
        matching_attribute: str,
        values: dict[str, Any],
    ) -> RecordRef:
        # Only to describe it: the input was validated when it was read.
        action = RecordAssertion.model_construct(
            object=object, matching_attribute=matching_attribute, values=values
        )
        return self._created(object, f"would assert {action.describe()}")

    @hookimpl
    def identify_user(self, connection: Connection, identity: UserIdentity) -> IdentifyResult:
        user = self._created("users", f"would identify {identity.describe()}")
        person = RecordRef(object="people", record_id=self._placeholder(), outcome="created")
        return IdentifyResult(person=person, user=user)

    @hookimpl
    def group_workspace(self, connection: Connection, group: WorkspaceGroup) -> GroupResult:
        workspace = self._created("workspaces", f"would group {group.describe()}")
        company = RecordRef(object="companies", record_id=self._placeholder(), outcome="created")
        return GroupResult(company=company, workspace=workspace)
