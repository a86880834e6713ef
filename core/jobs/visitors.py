"""A job's visitors: stored in a row of their own beside the job, not in its arguments.

procrastinate copies a job's arguments into every log record of the job and spells them out in
its log messages ("Starting job crm_push.push_visitors[7](…)"): with the visitors there, each
job's log lines carried a hundred people's emails and names, and building them was a tenth of a
worker's CPU besides the pushes. So a job's arguments are its destination, workspace and how
many visitors it holds; the visitors are written here in the same transaction as the job
(a host's own, when it enqueues in it), so no worker ever sees a job without them; they go
with the job's row (ON DELETE CASCADE), so they are kept exactly as long as the job is.
"""

from __future__ import annotations

from typing import Any

from crm_push.errors import ConfigurationError
from crm_push.state.database import driver_cursor, engine_for, single_statements

TABLE = "crm_push_job_visitors"
#: `visitors`: [{"line": 3, "visitor": {…}}, …], as validated by enqueue. Written as DDL: its
#: key refers to procrastinate's table, which crm-push's SQLAlchemy metadata does not hold.
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (job_id BIGINT PRIMARY KEY "
    "REFERENCES procrastinate_jobs (id) ON DELETE CASCADE, visitors JSONB NOT NULL)"
)
_INSERT = f"INSERT INTO {TABLE} (job_id, visitors) VALUES (%s, %s)"
_SELECT = f"SELECT visitors FROM {TABLE} WHERE job_id = %s"


def create_table(cursor: Any) -> None:
    """CREATE TABLE IF NOT EXISTS on a psycopg cursor (inside the schema lock)."""
    cursor.execute(_CREATE)


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
            f"the visitors of job {job_id} are not in {TABLE}",
            next_step="enqueue those visitors again (the job was made by other code, or its "
            "row was removed)",
        )
    return list(row[0])
