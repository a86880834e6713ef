"""The rate budget of a workspace in the state database, shared by every process and machine.

A CRM's limit is per workspace, so its budget is one row per (destination, workspace, kind)
("read", "write", or an extra kind a destination declares) in the state database, drawn on by
every process that pushes to that workspace. The row holds a GCRA's theoretical arrival time
(TAT) in seconds since the epoch **by the database's clock**: one atomic statement per request
sets ``tat = max(tat, now) + interval`` and returns the send time (``max(tat, now)`` before the
update) and the database's ``now``; the caller sleeps their difference. No machine's own clock
enters, so clocks that disagree between machines do not matter.

A process whose requests queue behind the budget takes a block of up to `BLOCK_SLOTS` slots in
one statement (``+ k × interval``) and hands them to its next requests; the unused end of a
block goes back (``tat - n × interval``, only if the TAT is still the block's end) when its last
Session on the workspace closes.

A 429's Retry-After holds the budget for every process: ``tat = max(tat, now + retry_after)``.

PostgreSQL serves processes on any number of machines (``UPDATE … RETURNING`` under the row's
lock); SQLite serves the processes of one machine (``UPDATE … RETURNING`` from 3.35, else the
UPDATE and a SELECT in one write transaction).
"""

from __future__ import annotations

import collections
import contextlib
import math
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from crm_push.errors import RetryLater
from crm_push.http.limits import WINDOW_MARGIN
from crm_push.state.database import (
    budget_table,
    driver_cursor,
    driver_sql,
    engine_for,
    on_psycopg,
    resolve_url,
    single_statements,
)

# The database's clock, in seconds since the epoch, by dialect. SQLite 3.40 (Python's bundled
# one here) has no unixepoch('subsec') (3.42); julianday('now') has millisecond resolution.
_NOW = {
    "postgresql": "extract(epoch from clock_timestamp())::double precision",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
_MAX = {"postgresql": "greatest", "sqlite": "max"}
_WHERE = "destination = :destination AND workspace = :workspace AND kind = :kind"
_SQLITE_RETURNING = sqlite3.sqlite_version_info >= (3, 35)


def interval_of(per_second: float) -> float:
    """Seconds between two requests at ``per_second``, with the margin RateLimits keeps: a
    request reaches the server a moment after it is sent, and arrivals jitter."""
    return (1.0 + WINDOW_MARGIN) / per_second


class BudgetStore:
    """The GCRA statements on one state database (any number of budgets)."""

    def __init__(self, db_url: str | None = None) -> None:
        self.db_url = resolve_url(db_url)
        self.engine = engine_for(self.db_url)
        # One statement a request, atomic on its own: no transaction around it on PostgreSQL.
        self._single = single_statements(self.engine)
        dialect = self.engine.dialect.name
        if dialect not in _NOW:
            raise NotImplementedError(f"no shared rate budget on {dialect}")
        now, greatest = _NOW[dialect], _MAX[dialect]
        table = budget_table.name
        self._returning = dialect == "postgresql" or _SQLITE_RETURNING
        # `span`: the slots taken at once times their interval (see SharedBudget's blocks).
        self._reserve = sa.text(
            f"UPDATE {table} SET tat = {greatest}(tat, {now}) + :span WHERE {_WHERE}"
            + (f" RETURNING tat - :span, {now}, tat" if self._returning else "")
        )
        self._after = sa.text(f"SELECT tat - :span, {now}, tat FROM {table} WHERE {_WHERE}")
        self._give_back = sa.text(
            f"UPDATE {table} SET tat = tat - :span WHERE {_WHERE} AND tat = :tat"
        )
        self._hold = sa.text(
            f"UPDATE {table} SET tat = {greatest}(tat, {now} + :seconds) WHERE {_WHERE}"
        )
        self._create = sa.text(
            f"INSERT INTO {table} (destination, workspace, kind, tat) "
            "VALUES (:destination, :workspace, :kind, 0) ON CONFLICT DO NOTHING"
        )
        # PostgreSQL: the one statement a request costs goes straight to the driver, the
        # parameters in psycopg's style. SQLAlchemy's execution around it (result and context
        # objects, events) cost three times the statement's own CPU, on every HTTP request.
        self._driver_sql: str | None = None
        if on_psycopg(self.engine):
            self._driver_sql = driver_sql(self._reserve)

    def _ensure(self, conn: sa.Connection, key: dict[str, str]) -> None:
        conn.execute(self._create, key)

    def take(
        self, destination: str, workspace: str, kind: str, interval: float
    ) -> tuple[float, float]:
        """Take the next slot of a budget: (its send time, the database's now), in seconds since
        the epoch by the database's clock, from the one statement that took it."""
        send_at, now, _ = self.take_block(destination, workspace, kind, interval, 1)
        return send_at, now

    def take_block(
        self, destination: str, workspace: str, kind: str, interval: float, count: int
    ) -> tuple[float, float, float]:
        """Take the next `count` slots of a budget in one statement: (the first one's send time,
        the database's now, the budget's TAT after them, which `give_back` needs); the others
        follow the first an interval apart."""
        key = {"destination": destination, "workspace": workspace, "kind": kind}
        params = {**key, "span": interval * count}
        if self._driver_sql is not None:
            taken = self._take_on_driver(params)
            if taken is not None:
                return taken
        for _ in range(2):
            with self._single.begin() as conn:
                result = conn.execute(self._reserve, params)
                row = result.first() if self._returning else None
                if not self._returning and result.rowcount:
                    row = conn.execute(self._after, params).first()
                if row is not None:
                    return float(row[0]), float(row[1]), float(row[2])
                self._ensure(conn, key)  # a new budget: its row, then the update again
        raise RuntimeError("the rate budget row could not be created")  # pragma: no cover

    def _take_on_driver(self, params: dict[str, object]) -> tuple[float, float, float] | None:
        """The GCRA statement on a pooled psycopg connection (in autocommit); None when the
        budget has no row yet."""
        assert self._driver_sql is not None
        with driver_cursor(self._single) as cursor:
            cursor.execute(self._driver_sql, params)
            row = cursor.fetchone()
        return None if row is None else (float(row[0]), float(row[1]), float(row[2]))

    def give_back(
        self, destination: str, workspace: str, kind: str, seconds: float, tat: float
    ) -> bool:
        """Move a budget's TAT back by `seconds` (the unused slots at the end of a block) if it
        is still `tat`, i.e. nobody took a slot after them; whether it did."""
        key = {"destination": destination, "workspace": workspace, "kind": kind}
        with self._single.begin() as conn:
            result = conn.execute(self._give_back, {**key, "span": seconds, "tat": tat})
            return bool(result.rowcount)

    def hold(self, destination: str, workspace: str, kind: str, seconds: float) -> None:
        """Send nothing of this budget for ``seconds`` from the database's now (never
        shortens an existing hold), for every process."""
        key = {"destination": destination, "workspace": workspace, "kind": kind}
        with self.engine.begin() as conn:
            self._ensure(conn, key)
            conn.execute(self._hold, {**key, "seconds": seconds})

    def reset(self, destination: str, workspace: str) -> None:
        """Forget a workspace's budgets (tests)."""
        with self.engine.begin() as conn:
            conn.execute(
                budget_table.delete().where(
                    budget_table.c.destination == destination,
                    budget_table.c.workspace == workspace,
                )
            )


_stores: dict[str, BudgetStore] = {}
_stores_lock = threading.Lock()


def store_for(db_url: str | None) -> BudgetStore:
    """One BudgetStore per database URL in this process."""
    resolved = resolve_url(db_url)
    with _stores_lock:
        store = _stores.get(resolved)
        if store is None:
            store = _stores[resolved] = BudgetStore(resolved)
        return store


#: The most slots a process takes in one statement. It takes more than one only while its
#: requests queue behind the budget and its banked slots get used in time; a 429's hold, a
#: job's end (`SharedBudget.release`) or a stall lets the rest go. Four cut the statements of
#: a busy worker by about three quarters.
BLOCK_SLOTS = 4
#: How late, in intervals, a banked slot may still be sent; a later one is let go. Sent late,
#: a slot crowds the next one (another process's, maybe) at the server.
LATE_SHARE = 0.25
#: After a banked slot went unused (or a 429), statements of one slot before blocks grow
#: again: a process whose requests come slower than its blocks loses one slot in this many.
COOLING_STATEMENTS = 16


class _Bank:
    """The slots of one kind this process took ahead: send times by `time.monotonic`."""

    __slots__ = ("block", "cooling", "interval", "lock", "slots", "tat")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.lock = threading.Lock()
        self.slots: collections.deque[float] = collections.deque()
        self.block = 1  # slots the next statement takes
        self.cooling = 0  # statements of one slot before blocks may grow again
        self.tat: float | None = None  # the budget's TAT after the last block taken


class SharedBudget:
    """The rate budgets of one workspace of one destination, in the state database.

    Implements what HttpClient calls (`crm_push.http.Budget`): ``acquire(kind)`` blocks until
    this process's request of ``kind`` may be sent and returns the seconds waited;
    ``pause(kind, seconds)`` holds that budget for every process (a 429's Retry-After).
    A rate of None or 0 is unlimited (no row, no statement).
    """

    def __init__(
        self,
        destination: str,
        workspace: str,
        db_url: str | None = None,
        *,
        writes_per_second: float | None = None,
        reads_per_second: float | None = None,
        extra: Mapping[str, float | None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        store: BudgetStore | None = None,
    ) -> None:
        self.destination = destination
        self.workspace = workspace
        self.store = store or store_for(db_url)
        self._sleep = sleep
        rates: dict[str, float | None] = {"write": writes_per_second, "read": reads_per_second}
        rates.update(extra or {})
        self.rates: dict[str, float | None] = {}
        for kind, rate in rates.items():
            if rate is not None and (not math.isfinite(rate) or rate < 0):
                raise ValueError(f"the {kind} rate must be a positive number, 0 or None")
            self.rates[kind] = float(rate) if rate else None
        self._intervals = {k: None if r is None else interval_of(r) for k, r in self.rates.items()}
        self._banks = {k: _Bank(i) for k, i in self._intervals.items() if i is not None}
        with _live_lock:
            _live.setdefault((destination, workspace), weakref.WeakSet()).add(self)

    @property
    def writes_per_second(self) -> float | None:
        return self.rates["write"]

    @property
    def reads_per_second(self) -> float | None:
        return self.rates["read"]

    def _interval(self, kind: str) -> float | None:
        try:
            return self._intervals[kind]
        except KeyError:
            raise ValueError(f"no {kind!r} budget (declared: {sorted(self.rates)})") from None

    def acquire(self, kind: str) -> float:
        """Block until the ``kind`` budget lets this request go; return the seconds waited."""
        interval = self._interval(kind)
        if interval is None:
            return 0.0
        bank = self._banks[kind]
        with bank.lock:
            now = time.monotonic()
            # A slot later than LATE_SHARE of an interval is let go (sent now, it would crowd
            # the next), lost to every process: so this one takes one slot at a time for a
            # while, its requests came slower than its blocks (few threads, slow answers).
            late = now - interval * LATE_SHARE
            if bank.slots and bank.slots[0] < late:
                while bank.slots and bank.slots[0] < late:
                    bank.slots.popleft()
                bank.block, bank.cooling = 1, COOLING_STATEMENTS
            at = bank.slots.popleft() if bank.slots else self._take(kind, bank)
        wait = at - time.monotonic()
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0

    def _take(self, kind: str, bank: _Bank) -> float:
        """Take a block of slots in one statement; the first one's send time (this process's
        clock), the rest banked."""
        count, interval = bank.block, bank.interval
        try:
            send_at, db_now, bank.tat = self.store.take_block(
                self.destination, self.workspace, kind, interval, count
            )
        except sa.exc.SQLAlchemyError as exc:
            raise RetryLater(
                f"the shared rate budget in the state database is unreachable: "
                f"{type(getattr(exc, 'orig', None) or exc).__name__}",
                next_step="check the state database, then push again",
            ) from None
        first = time.monotonic() + (send_at - db_now)
        bank.slots.extend(first + i * interval for i in range(1, count))
        # Queued behind the budget (the slot is ahead) and no slot lost lately: the next block
        # doubles, up to BLOCK_SLOTS; not queued, requests come slower than the rate: one
        # slot at a time.
        if send_at <= db_now:
            bank.block = 1
        elif bank.cooling:
            bank.cooling -= 1
        else:
            bank.block = min(BLOCK_SLOTS, count * 2)
        return first

    def pause(self, kind: str, seconds: float) -> None:
        """Hold every process's ``kind`` requests for ``seconds`` (after a 429)."""
        if self._interval(kind) is None or seconds <= 0:
            return
        bank = self._banks[kind]
        with bank.lock:  # the banked slots would go during the hold
            bank.slots.clear()
            bank.block = 1
            bank.cooling = COOLING_STATEMENTS
        # The request is retried after its own wait anyway: the hold for the others is best
        # effort when the database does not answer.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            self.store.hold(self.destination, self.workspace, kind, seconds)

    def release(self) -> None:
        """Give the banked slots back to the other processes, when nobody took a slot after
        them (this process has no more requests for the workspace, e.g. a job ended)."""
        for kind, bank in self._banks.items():
            with bank.lock:
                now = time.monotonic()
                ahead = sum(at > now for at in bank.slots)  # the block's last slots
                if ahead and bank.tat is not None:
                    # best effort: kept slots are only lost time for the others
                    with contextlib.suppress(sa.exc.SQLAlchemyError):
                        self.store.give_back(
                            self.destination,
                            self.workspace,
                            kind,
                            ahead * bank.interval,
                            bank.tat,
                        )
                bank.slots.clear()
                bank.block = 1
                bank.tat = None

    def __repr__(self) -> str:
        rates = ", ".join(f"{k}={v!r}" for k, v in self.rates.items())
        return f"SharedBudget({self.destination!r}, {self.workspace!r}, {rates})"


# -- which workspaces have a state database (Session registers them) ---------------------------

# (destination, workspace) -> this process's SharedBudgets of it
_live: dict[tuple[str, str], weakref.WeakSet[SharedBudget]] = {}
_live_lock = threading.Lock()
# (destination, workspace) -> [state database URL, how many Sessions registered it]
_registered: dict[tuple[str, str], list[str | int]] = {}
_registered_lock = threading.Lock()


def register(destination: str, workspace: str, db_url: str | None) -> None:
    """Say that this process pushes to ``workspace`` of ``destination`` with the state database
    ``db_url``: its budget is then shared through that database (`crm_push.http.budget_for`).
    Each call is undone by one `unregister` (the last registration's database wins)."""
    with _registered_lock:
        entry = _registered.get((destination, workspace))
        count = int(entry[1]) if entry else 0
        _registered[(destination, workspace)] = [resolve_url(db_url), count + 1]


def unregister(destination: str, workspace: str) -> None:
    """Undo one `register` (a Session closing)."""
    with _registered_lock:
        entry = _registered.get((destination, workspace))
        if entry is None:
            return
        entry[1] = int(entry[1]) - 1
        if int(entry[1]) > 0:
            return
        del _registered[(destination, workspace)]
    release(destination, workspace)


def release(destination: str, workspace: str) -> None:
    """Give back the slots this process's budgets of a workspace took ahead (its last Session
    on it closed)."""
    with _live_lock:
        budgets = list(_live.get((destination, workspace), ()))
    for budget in budgets:
        budget.release()


def registered_url(destination: str, workspace: str) -> str | None:
    """The state database registered for a workspace, or None."""
    with _registered_lock:
        entry = _registered.get((destination, workspace))
        return None if entry is None else str(entry[0])


def forget_registrations() -> None:
    """Forget every registration (tests)."""
    with _registered_lock:
        _registered.clear()
