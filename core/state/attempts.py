"""OAuth attempts already answered: one row per attempt, so a consent answer is used once.

`crm_push.oauth.complete` records an attempt's nonce here before it exchanges the code; a
second answer to the same attempt (a replay, a double submit, a second worker) finds the row
and stores nothing. Rows older than an attempt can live are dropped as new ones come in.
"""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa
from crm_push.state.database import engine_for

_metadata = sa.MetaData()
attempts_table = sa.Table(
    "oauth_attempts",
    _metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("destination", sa.String(64), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
)

#: Kept this long: far longer than an attempt may live (crm_push.oauth.ATTEMPT_SECONDS).
KEEP = dt.timedelta(days=1)

_ready: set[int] = set()
_ready_lock = threading.Lock()


def _table_ready(engine: sa.Engine) -> None:
    """Create the table once per engine; another process creating it at the same time is fine."""
    with _ready_lock:
        if id(engine) in _ready:
            return
        try:
            attempts_table.create(engine, checkfirst=True)
        except sa.exc.SQLAlchemyError:
            if not sa.inspect(engine).has_table(attempts_table.name):
                raise
        _ready.add(id(engine))


def mark_answered(nonce: str, destination: str, db_url: str | None = None) -> bool:
    """Record that this attempt was answered; False when it already was (a replay)."""
    engine = engine_for(db_url)
    _table_ready(engine)
    t = attempts_table
    now = dt.datetime.now(dt.UTC)
    try:
        with engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.answered_at < now - KEEP))
            conn.execute(sa.insert(t).values(nonce=nonce, destination=destination, answered_at=now))
    except sa.exc.IntegrityError:
        return False
    return True
