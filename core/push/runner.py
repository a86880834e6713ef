"""Pushing a stream of actions (records to assert, Segment identify/group events) to a destination.

The action counterpart of the visitor `Pusher`: the same bounded concurrency with results in
input order, the same rule that a bad line fails that line only, the same stop when the
credentials die. Asserts are idempotent, so there are no push markers: a re-run asserts again.

Two actions touching the same thing (the same user, workspace, company, person or record) run
one after the other, in input order, whatever `workers` is: an identify event always lands
before the group event of the same user that follows it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from crm_push.destination.facade import Destination
from crm_push.errors import CrmPushError, InvalidInput, ReconnectRequired, RunAborted
from crm_push.inputs.lines import Line
from crm_push.models.actions import (
    Action,
    GroupResult,
    IdentifyResult,
    RecordAssertion,
    UserIdentity,
    WorkspaceGroup,
)
from crm_push.models.crm import Connection
from crm_push.push.stream import Totals, ordered_results, summarise
from pydantic import BaseModel, Field

Status = Literal["created", "updated", "unchanged", "failed", "skipped"]
Kind = Literal["record", "identify", "group"]


def kind_of(action: Action) -> Kind:
    if isinstance(action, UserIdentity):
        return "identify"
    if isinstance(action, WorkspaceGroup):
        return "group"
    return "record"


class ActionResult(BaseModel):
    """How one line ended, with the reason when it failed."""

    line: int | None = None
    kind: Kind | None = None
    #: What the action was about, in words: "user 'u_1' (ada@acme.com)".
    subject: str | None = None
    status: Status
    reason: str | None = None
    field: str | None = None
    #: part ⇒ CRM record id: "record"; "person", "user"; "company", "workspace".
    records: dict[str, str] = Field(default_factory=dict)
    #: The event type of a skipped line.
    skipped_type: str | None = None
    writes: int = 0


class ActionSummary(Totals):
    """Totals of an action run; `crm-push push --format records|segment --json` prints this."""

    skipped: int = 0
    #: Skipped lines by event type: {"track": 12, "page": 3}.
    skipped_types: dict[str, int] = Field(default_factory=dict)

    def add(self, result: ActionResult) -> None:
        super().add(result)
        if result.status == "skipped":
            kind = result.skipped_type or "unknown"
            self.skipped_types[kind] = self.skipped_types.get(kind, 0) + 1


def _keys(action: Action) -> tuple[str, ...]:
    """What an action touches: actions sharing a key run in input order."""
    if isinstance(action, UserIdentity):
        return (f"user:{action.user_id}", f"person:{action.email}")
    if isinstance(action, WorkspaceGroup):
        keys = [f"workspace:{action.workspace_id}", f"company:{action.domain}"]
        if action.user_id:
            keys.append(f"user:{action.user_id}")
        return tuple(keys)
    match = json.dumps(action.values.get(action.matching_attribute), sort_keys=True, default=str)
    return (f"record:{action.object}:{action.matching_attribute}:{match}",)


class ActionRunner:
    """Runs actions against one destination and connection."""

    def __init__(
        self,
        destination: Destination,
        connection: Connection,
        *,
        workers: int = 1,
        dry_run: bool = False,
        on_plan: Callable[[str], None] | None = None,
    ) -> None:
        self.destination = destination
        self.connection = connection
        self.workers = max(1, workers)
        self.dry_run = dry_run
        self.on_plan = on_plan
        self._stopped: str | None = None
        self._lock = threading.Lock()

    # -- one action -------------------------------------------------------------------------

    def perform(self, action: Action, *, line: int | None = None) -> ActionResult:
        """Run one action. Never raises for the action's own failure; see ActionResult.

        Raises ReconnectRequired when the credentials died (the run should stop).
        """
        kind = kind_of(action)
        base = {"line": line, "kind": kind, "subject": action.describe()}
        if self.dry_run:
            if self.on_plan:
                self.on_plan(f"would {_verb(kind)} {action.describe()}")
            return ActionResult(**base, status="created")
        try:
            records, outcome = self._call(action)
        except ReconnectRequired:
            raise
        except CrmPushError as exc:
            field = exc.field if isinstance(exc, InvalidInput) else None
            reason = f"line {line}: {action.describe()}: {exc}" if line else str(exc)
            return ActionResult(**base, status="failed", reason=reason, field=field, writes=1)
        except Exception as exc:  # a plugin bug fails this line, not the run
            reason = f"{type(exc).__name__}: {exc}"
            return ActionResult(**base, status="failed", reason=reason, writes=1)
        return ActionResult(**base, status=outcome, records=records, writes=1)

    def _call(self, action: Action) -> tuple[dict[str, str], Status]:
        dest, conn = self.destination, self.connection
        if isinstance(action, UserIdentity):
            identified: IdentifyResult = dest.identify_user(conn, action)
            records = {"person": identified.person.record_id, "user": identified.user.record_id}
            return records, identified.outcome
        if isinstance(action, WorkspaceGroup):
            grouped: GroupResult = dest.group_workspace(conn, action)
            records = {"company": grouped.company.record_id}
            records["workspace"] = grouped.workspace.record_id
            return records, grouped.outcome
        assert isinstance(action, RecordAssertion)
        ref = dest.assert_record(conn, action.object, action.matching_attribute, action.values)
        return {"record": ref.record_id}, ref.outcome

    # -- a stream ---------------------------------------------------------------------------

    def _one(self, item: Line[Action]) -> ActionResult:
        if item.skipped is not None:
            return ActionResult(line=item.line, status="skipped", skipped_type=item.skipped)
        if item.error is not None or item.item is None:
            err = item.error or InvalidInput(f"line {item.line}: nothing to push")
            return ActionResult(line=item.line, status="failed", reason=str(err), field=err.field)
        if self._stopped:
            raise RunAborted(self._stopped)
        try:
            return self.perform(item.item, line=item.line)
        except ReconnectRequired as exc:
            with self._lock:
                self._stopped = self._stopped or str(exc)
            raise RunAborted(str(exc)) from exc

    def run(
        self,
        items: Iterable[Line[Action]],
        on_result: Callable[[Line[Action], ActionResult], None] | None = None,
    ) -> ActionSummary:
        """Push a stream with bounded concurrency; results keep input order.

        When the credentials die mid-run, the lines that finished are still reported and
        `summary.stopped` says why the rest were not attempted.
        """
        return summarise(ActionSummary(), self._results(items), on_result)

    def _results(
        self, items: Iterable[Line[Action]]
    ) -> Iterator[tuple[Line[Action], ActionResult]]:
        return ordered_results(
            items,
            self._one,
            workers=self.workers,
            stop=RunAborted,
            keys=lambda item: _keys(item.item) if item.item is not None else (),
            name="crm-push-actions",
        )


def _verb(kind: Kind) -> str:
    return {"record": "assert", "identify": "identify", "group": "group"}[kind]
