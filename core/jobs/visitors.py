"""A job's visitors: stored in a row of their own beside the job, not in its arguments.

procrastinate copies a job's arguments into every log record of the job and spells them out in
its log messages ("Starting job crm_push.push_visitors[7](…)"): with the visitors there, each
job's log lines carried a hundred people's emails and names, and building them was a tenth of a
worker's CPU besides the pushes. So a job's arguments are its destination, workspace and how
many visitors it holds; the visitors are written here in the same transaction as the job
(a host's own, when it enqueues in it), so no worker ever sees a job without them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from crm_push.errors import ConfigurationError
from crm_push.jobs.failures import metadata
from crm_push.state.database import driver_cursor, engine_for, single_statements
from sqlalchemy.dialects import postgresql

job_visitors_table = sa.Table(
    "crm_push_job_visitors",
    metadata,
    sa.Column("job_id", sa.BigInteger, primary_key=True),
    # [{"line": 3, "visitor": {…}}, …], as validated by enqueue.
    sa.Column("visitors", postgresql.JSONB, nullable=False),
)

_INSERT = f"INSERT INTO {job_visitors_table.name} (job_id, visitors) VALUES (%s, %s)"
_SELECT = f"SELECT visitors FROM {job_visitors_table.name} WHERE job_id = %s"


def store(cursor: Any, batches: list[tuple[int, list[dict[str, Any]]]]) -> None:
    """Write each job's visitors (job id, entries) on the enqueuer's cursor, in its
    transaction."""
    from psycopg.types.json import Jsonb

    cursor.executemany(_INSERT, [(job_id, Jsonb(entries)) for job_id, entries in batches])


def load(db_url: str | None, job_id: int) -> list[dict[str, Any]]:
    """The visitors of a job; ConfigurationError when its row is missing."""
    with driver_cursor(single_statements(engine_for(db_url))) as cursor:
        cursor.execute(_SELECT, (job_id,))
        row = cursor.fetchone()
    if row is None:
        raise ConfigurationError(
            f"the visitors of job {job_id} are not in {job_visitors_table.name}",
            next_step="enqueue those visitors again (the job was made by other code, or its "
            "row was removed)",
        )
    return list(row[0])
