"""Pushing a stream of actions (records to assert, Segment identify/group events) to a destination.

The action counterpart of the visitor `Pusher`, on the same run driver (`push.stream.Runner`):
bounded concurrency with results in input order, a bad line failing that line only, a stop when
the credentials die. Asserts are idempotent, so there are no push markers: a re-run asserts again.

Two actions touching the same thing (the same user, workspace, company, person or record) run
one after the other, in input order, whatever `workers` is: an identify event always lands
before the group event of the same user that follows it.
"""

from __future__ import annotations

import json
from collections.abc import Hashable

from crm_push.destination.facade import Destination
from crm_push.errors import CrmPushError, InvalidInput, ReconnectRequired
from crm_push.models.actions import (
    Action,
    GroupResult,
    IdentifyResult,
    RecordAssertion,
    UserIdentity,
    WorkspaceGroup,
)
from crm_push.models.crm import Connection
from crm_push.push.results import ActionResult, ActionSummary, Kind, Status
from crm_push.push.stream import Runner

__all__ = ["ActionResult", "ActionRunner", "ActionSummary", "kind_of"]


def kind_of(action: Action) -> Kind:
    if isinstance(action, UserIdentity):
        return "identify"
    if isinstance(action, WorkspaceGroup):
        return "group"
    return "record"


def reached_crm(exc: BaseException) -> bool:
    """Whether a failed action was sent: the error (or one it was raised from) came out of a
    write request of `crm_push.http` — the CRM refused the write, or it failed on the wire — and
    not from the plugin before it wrote (a value its own checks refuse, a lookup, a bug)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, CrmPushError) and error.write_attempted:
            return True
        error = error.__cause__ or error.__context__
    return False


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


class ActionRunner(Runner[Action, ActionResult, ActionSummary]):
    """Runs actions against one destination and connection (the planner's, for a dry run)."""

    result_type = ActionResult
    summary_type = ActionSummary
    thread_name = "crm-push-actions"
    noun = "action"

    def __init__(
        self, destination: Destination, connection: Connection, *, workers: int = 1
    ) -> None:
        super().__init__(workers=workers)
        self.destination = destination
        self.connection = connection

    # -- one action -------------------------------------------------------------------------

    def perform(self, action: Action, *, line: int | None = None) -> ActionResult:
        """Run one action. Never raises for the action's own failure; see ActionResult.

        Raises ReconnectRequired when the credentials died (the run should stop).
        """
        kind = kind_of(action)
        base = {"line": line, "kind": kind, "subject": action.describe()}
        try:
            records, outcome = self._call(action)
        except ReconnectRequired:
            raise
        except CrmPushError as exc:
            field = exc.field if isinstance(exc, InvalidInput) else None
            reason = f"line {line}: {action.describe()}: {exc}" if line else str(exc)
            sent = int(reached_crm(exc))
            return ActionResult(**base, status="failed", reason=reason, field=field, writes=sent)
        except Exception as exc:  # a plugin bug fails this line, not the run
            reason = f"{type(exc).__name__}: {exc}"
            return ActionResult(
                **base, status="failed", reason=reason, writes=int(reached_crm(exc))
            )
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

    # -- a stream: Runner.run calls these -------------------------------------------------------

    def _push(self, item: Action, line: int) -> ActionResult:
        return self.perform(item, line=line)

    def _keys(self, item: Action) -> tuple[Hashable, ...]:
        return _keys(item)

    def _target(self) -> str:
        return f"to {self.destination.name} (workspace {self.connection.workspace_id})"

    def _counted(self) -> tuple[str, ...]:
        return ("created", "updated", "failed", "skipped")

    def _written(self, writes: int) -> str:
        return f"{writes} action{'' if writes == 1 else 's'} sent"
