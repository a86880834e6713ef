"""How pushed lines end: the result of one line (visitor or action) and the totals of a run."""

from __future__ import annotations

from typing import Any, Literal, Self

from crm_push.inputs.lines import Line
from pydantic import BaseModel, Field

Status = Literal["created", "updated", "unchanged", "failed", "skipped", "deferred"]
#: "deferred": another process was writing a claimed part of this visitor (its note, a keyless
#: record) and had not finished within the wait; nothing was written twice, a later push
#: confirms it. Not a failure.
VisitorStatus = Literal["created", "updated", "unchanged", "failed", "deferred"]
NoteOutcome = Literal["created", "existing", "skipped", "unchanged"]
Kind = Literal["record", "identify", "group"]


class Result(BaseModel):
    """How one line ended, with the reason when it failed."""

    line: int | None = None
    status: Status
    reason: str | None = None
    field: str | None = None
    #: part ⇒ CRM record id ("company", "person", "note"…; "record"; "user", "workspace").
    records: dict[str, str] = Field(default_factory=dict)
    #: Hook calls that wrote (or tried to write) to the CRM.
    writes: int = 0

    def where(self) -> str:
        """Where a message about this result starts: "line 3"."""
        return f"line {self.line}" if self.line is not None else "input"

    @classmethod
    def not_pushed(cls, line: Line[Any]) -> Self:
        """The result of a line that holds nothing to push: it is rejected (or skipped)."""
        if line.error is None:
            raise ValueError(f"line {line.line} is skipped ({line.skipped}): nothing rejects it")
        return cls(line=line.line, status="failed", reason=str(line.error), field=line.error.field)


class VisitorResult(Result):
    """How one visitor ended, with the reason when it failed."""

    visitor_id: str | None = None
    status: VisitorStatus
    note: NoteOutcome | None = None
    note_skipped_reason: str | None = None
    #: Set when it failed on a transient refusal (RetryLater: throttled, the CRM unavailable):
    #: seconds until it may be pushed again (0: as soon as you like). A job reschedules on it.
    retry_after: float | None = None

    def where(self) -> str:
        where = super().where()
        return f"{where} visitor {self.visitor_id!r}" if self.visitor_id else where

    @classmethod
    def not_pushed(cls, line: Line[Any]) -> Self:
        result = super().not_pushed(line)
        result.visitor_id = line.error.record if line.error else None  # as the error names it
        return result


class ActionResult(Result):
    """How one action line (a record to assert, a Segment event) ended."""

    kind: Kind | None = None
    #: What the action was about, in words: "user 'u_1' (ada@acme.com)".
    subject: str | None = None
    #: The event type of a skipped line.
    skipped_type: str | None = None

    def where(self) -> str:
        where = super().where()
        if self.status == "skipped":
            return f"{where} ({self.skipped_type or 'unknown'} event)"
        return f"{where} {self.kind} {self.subject}" if self.subject else where

    @classmethod
    def not_pushed(cls, line: Line[Any]) -> Self:
        if line.skipped is not None:
            return cls(line=line.line, status="skipped", skipped_type=line.skipped)
        return super().not_pushed(line)


#: The HTTP figures every summary has (zero when none were made, or the destination keeps none).
HTTP_KEYS = ("requests", "reads", "writes", "retries", "throttled")


def http_figures(stats: dict[str, float] | None = None) -> dict[str, float]:
    """A destination's request statistics with every key of `HTTP_KEYS` (0 when missing)."""
    return {**dict.fromkeys(HTTP_KEYS, 0), **(stats or {})}


class Totals(BaseModel):
    """What every run counts: lines by how they ended, steps written, and why it stopped early."""

    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    #: Steps: hook calls that wrote (or tried to write) to the CRM — not HTTP requests, which
    #: `http` counts (reads and retries included).
    writes: int = 0
    stopped: str | None = None
    #: HTTP figures of the destination, when it keeps them (requests, reads, writes, retries,
    #: throttled…; each 0 when it keeps none).
    http: dict[str, float] = Field(default_factory=http_figures)

    def add(self, result: Result) -> None:
        """Count one result under its status."""
        self.total += 1
        setattr(self, result.status, getattr(self, result.status) + 1)
        self.writes += result.writes


class RunSummary(Totals):
    """Totals of a visitor run; `crm-push push --json` prints this."""

    #: Visitors left to a later push because another process was writing them (see
    #: `VisitorStatus`).
    deferred: int = 0
    notes_created: int = 0
    notes_skipped: int = 0
    notes_skipped_reasons: dict[str, int] = Field(default_factory=dict)

    def add(self, result: Result) -> None:
        super().add(result)
        if not isinstance(result, VisitorResult):
            return
        if result.note == "created":
            self.notes_created += 1
        elif result.note == "skipped":
            self.notes_skipped += 1
            reason = result.note_skipped_reason or "unknown"
            self.notes_skipped_reasons[reason] = self.notes_skipped_reasons.get(reason, 0) + 1


class ActionSummary(Totals):
    """Totals of an action run; `crm-push push --format records|segment --json` prints this."""

    skipped: int = 0
    #: Skipped lines by event type: {"track": 12, "page": 3}.
    skipped_types: dict[str, int] = Field(default_factory=dict)

    def add(self, result: Result) -> None:
        super().add(result)
        if result.status == "skipped":
            kind = getattr(result, "skipped_type", None) or "unknown"
            self.skipped_types[kind] = self.skipped_types.get(kind, 0) + 1
