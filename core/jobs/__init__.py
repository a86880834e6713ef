"""Pushes as jobs on procrastinate (the `worker` extra), on the PostgreSQL state database.

    from crm_push.jobs import enqueue
    enqueue("attio", "ws_1", visitors)                    # jobs of 100 visitors
    enqueue("attio", "ws_1", visitors, connection=conn)   # inside the host's transaction

`crm-push worker` (or `procrastinate --app=crm_push.jobs.app worker`) runs them. See
docs/architecture.md ("Jobs") for retries, stalled workers and fairness between workspaces.
"""

from crm_push.jobs.engine import app
from crm_push.jobs.enqueue import BATCH_SIZE, Enqueued, enqueue
from crm_push.jobs.tasks import QUEUE, TASK_NAME

__all__ = ["BATCH_SIZE", "QUEUE", "TASK_NAME", "Enqueued", "app", "enqueue"]
