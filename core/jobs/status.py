"""What `crm-push jobs` shows: push jobs by state per destination and workspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from crm_push.jobs.tasks import TASK_NAME
from crm_push.state.database import engine_for

#: The states of procrastinate's jobs; "todo" includes the jobs scheduled for a retry.
STATES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")

_QUERY = sa.text(
    """
    SELECT args->>'destination' AS destination, args->>'workspace' AS workspace,
           status::text AS status, count(*) AS n,
           count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()) AS scheduled,
           -- "count" since the visitors moved out of the arguments; earlier jobs carry them
           coalesce(sum(coalesce((args->>'count')::int, jsonb_array_length(args->'visitors'))),
                    0) AS visitors
      FROM procrastinate_jobs
     WHERE task_name = :task
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    """
)


@dataclass
class WorkspaceJobs:
    destination: str
    workspace: str
    states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES[:4], 0))
    visitors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES[:4], 0))
    scheduled: int = 0
    stopped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "workspace": self.workspace,
            **self.states,
            "scheduled": self.scheduled,
            "visitors": self.visitors,
            "stopped": self.stopped,
        }


def job_counts(db_url: str | None) -> list[WorkspaceJobs]:
    from crm_push.jobs.failures import list_stops

    found: dict[tuple[str, str], WorkspaceJobs] = {}
    with engine_for(db_url).connect() as conn:
        rows = conn.execute(_QUERY, {"task": TASK_NAME}).all()
    for r in rows:
        key = (r.destination, r.workspace)
        entry = found.setdefault(key, WorkspaceJobs(r.destination, r.workspace))
        entry.states[r.status] = entry.states.get(r.status, 0) + r.n
        entry.visitors[r.status] = entry.visitors.get(r.status, 0) + int(r.visitors)
        entry.scheduled += r.scheduled
    for stop in list_stops(db_url):  # those lifted by a reconnect are left out
        key = (stop.destination, stop.workspace)
        entry = found.setdefault(key, WorkspaceJobs(stop.destination, stop.workspace))
        entry.stopped = stop.reason
    return [found[k] for k in sorted(found)]


def totals(entries: list[WorkspaceJobs]) -> dict[str, int]:
    out = dict.fromkeys(STATES[:4], 0)
    for entry in entries:
        for state, n in entry.states.items():
            out[state] = out.get(state, 0) + n
    out["scheduled"] = sum(e.scheduled for e in entries)
    return out
