"""The shared rate budget: the GCRA statement on SQLite and PostgreSQL, budget_for, Session.

Counts and the database's own send times are asserted, never the wall-clock speed of a run
(only generous bounds that catch a hang).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from crm_push.http import Budget, RateLimits, budget_for, reset_budgets
from crm_push.models.crm import Connection
from crm_push.state import budget as shared
from crm_push.state import database as db
from crm_push.state.budget import BudgetStore, SharedBudget, interval_of

from support.databases import fresh_postgres

PG_URL = os.environ.get("CRM_PUSH_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with fresh_postgres("crm_push_budget") as made:
        yield made


def _wait(store: BudgetStore, *slot: Any) -> float:
    """The seconds a caller sleeps for the slot it takes: its send time less the database's now
    of the same statement."""
    send_at, now = store.take(*slot)
    return max(0.0, send_at - now)


def _together(threads: list[threading.Thread]) -> None:
    """Start the threads and wait for them all (a hang fails the test's later counts)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


class Sleeps:
    """Records the sleeps asked for and really sleeps them (the DB's clock moves on)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self.lock:
            self.total += seconds
        time.sleep(seconds)


def test_slots_are_spaced_by_the_interval(url: str) -> None:
    store = BudgetStore(url)
    interval = interval_of(2)  # long enough that no slot falls idle between two statements
    taken = [store.take("crm", "ws", "write", interval) for _ in range(10)]
    sends = [send_at for send_at, _ in taken]
    # The first goes at once (the database's now); each next one exactly an interval later.
    assert sends[0] == pytest.approx(taken[0][1], abs=0.01)
    for before, after in itertools.pairwise(sends):
        assert after - before == pytest.approx(interval, abs=1e-6)
    # What a caller sleeps: the send time less the database's now of the same statement.
    wait = _wait(store, "crm", "ws", "write", interval)
    assert 10 * interval - 2 < wait <= 10 * interval + 0.01


def test_n_acquisitions_at_rate_r_take_at_least_n_over_r(url: str) -> None:
    sleeps = Sleeps()
    budget = SharedBudget("crm", "ws", url, writes_per_second=40.0, sleep=sleeps)
    started = time.monotonic()
    waited = sum(budget.acquire("write") for _ in range(20))
    elapsed = time.monotonic() - started
    # 20 at 40/s: the last goes 19 intervals after the first, never sooner.
    assert waited == pytest.approx(sleeps.total)
    assert elapsed >= 19 * interval_of(40) - 0.05
    assert elapsed < 30  # a hang, not a speed


def test_unlimited_kinds_use_no_row(url: str) -> None:
    budget = SharedBudget("crm", "ws", url, writes_per_second=None, reads_per_second=0)
    assert budget.acquire("write") == 0.0 and budget.acquire("read") == 0.0
    budget.pause("write", 5)
    with db.engine_for(url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.budget_table)).scalar() == 0
    with pytest.raises(ValueError, match="notes"):
        budget.acquire("notes")


def test_a_pause_holds_every_store_on_the_database(url: str) -> None:
    one, two = BudgetStore(url), BudgetStore(url)  # as two processes would have
    assert one is not two
    two.hold("crm", "ws", "write", 3.0)
    wait = _wait(one, "crm", "ws", "write", interval_of(25))
    assert 2 < wait <= 3.05
    # The next one queues after it; a shorter pause does not shorten the hold.
    one.hold("crm", "ws", "write", 0.5)
    assert _wait(two, "crm", "ws", "write", interval_of(25)) > wait
    # Other kinds and workspaces are not held.
    assert _wait(one, "crm", "ws", "read", interval_of(25)) < 0.05
    assert _wait(one, "crm", "other", "write", interval_of(25)) < 0.05


def test_two_stores_share_one_budget(url: str) -> None:
    one, two = BudgetStore(url), BudgetStore(url)
    interval = interval_of(2)
    sends = []
    for _ in range(5):
        sends.append(one.take("crm", "ws", "write", interval)[0])
        sends.append(two.take("crm", "ws", "write", interval)[0])
    # Ten slots, one interval apart, whichever store took them.
    for before, after in itertools.pairwise(sends):
        assert after - before == pytest.approx(interval, abs=1e-6)


def test_threads_never_share_a_slot(url: str) -> None:
    store = BudgetStore(url)
    interval = interval_of(100)
    sends: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(10):
            send_at, _ = store.take("crm", "ws", "write", interval)
            with lock:
                sends.append(send_at)

    _together([threading.Thread(target=take) for _ in range(4)])
    assert len(sends) == 40
    # Every statement took a slot of its own, at least an interval after the one before.
    ordered = sorted(sends)
    assert all(b - a >= interval - 1e-6 for a, b in itertools.pairwise(ordered))


def test_extra_kinds_are_budgets_of_their_own(url: str) -> None:
    budget = SharedBudget("crm", "ws", url, writes_per_second=1, extra={"notes": 10})
    budget.pause("write", 30)
    assert budget.acquire("notes") < 0.05
    assert isinstance(budget, Budget) and isinstance(RateLimits(), Budget)


def connection(workspace: str = "ws") -> Connection:
    return Connection(destination="crm", workspace_id=workspace)


@pytest.fixture
def clean() -> Iterator[None]:
    reset_budgets()
    shared.forget_registrations()
    yield
    reset_budgets()
    shared.forget_registrations()


def test_budget_for_without_a_session_is_this_process(clean: None) -> None:
    budget = budget_for(connection(), writes_per_second=25, reads_per_second=100)
    assert isinstance(budget, RateLimits)
    assert budget_for(connection(), writes_per_second=25, reads_per_second=100) is budget
    assert budget_for(connection("b"), writes_per_second=25, reads_per_second=100) is not budget


def test_budget_for_a_registered_workspace_is_shared(
    clean: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    shared.register("crm", "ws", url)
    budget = budget_for(
        connection(), writes_per_second=25, reads_per_second=100, extra={"notes": 10}
    )
    assert isinstance(budget, SharedBudget)
    assert (budget.workspace, budget.rates["notes"]) == ("ws", 10.0)
    monkeypatch.setenv("CRM_PUSH_BUDGET", "process")
    assert isinstance(
        budget_for(connection(), writes_per_second=25, reads_per_second=100), RateLimits
    )


def test_an_in_memory_state_database_keeps_the_budget_in_process(clean: None) -> None:
    shared.register("crm", "ws", "sqlite://")
    assert isinstance(budget_for(connection(), writes_per_second=1, reads_per_second=1), RateLimits)


def test_a_session_registers_its_state_database(clean: None, crm_file: Path, db_url: str) -> None:
    import json

    from crm_push import Credentials, Destination, Session
    from pydantic import SecretStr

    from support.filecrm import FileCRM

    crm_file.write_text(json.dumps({"people": {}, "companies": {}, "notes": {}, "tokens": ["t"]}))
    explicit = Credentials(access_token=SecretStr("t"))
    dest = Destination("filecrm", FileCRM(crm_file))
    with Session(dest, db_url=db_url, credentials=explicit) as session:
        live = session.connect()
        session.connect()  # registered once, not twice
        assert shared.registered_url("filecrm", live.workspace_id) == db_url
        budget = budget_for(live, writes_per_second=5, reads_per_second=None)
        assert isinstance(budget, SharedBudget)
    # Closed: a plugin used without a Session has this process's budget again.
    assert shared.registered_url("filecrm", live.workspace_id) is None


def test_sqlite_before_returning_updates_then_selects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite < 3.35 has no UPDATE … RETURNING: the UPDATE takes the write lock, and a SELECT in
    # the same transaction reads the slot it took.
    monkeypatch.setattr(shared, "_SQLITE_RETURNING", False)
    store = BudgetStore(f"sqlite:///{tmp_path / 'old.db'}")
    assert "RETURNING" not in str(store._reserve)
    interval = interval_of(2)
    sends = [store.take("crm", "ws", "write", interval)[0] for _ in range(4)]
    for before, after in itertools.pairwise(sends):
        assert after - before == pytest.approx(interval, abs=1e-6)
    store.hold("crm", "ws", "write", 30)
    assert _wait(store, "crm", "ws", "write", interval) > 25


# -- blocks: a process queued behind its budget takes several slots in one statement ----------


class CountingStore(BudgetStore):
    """A BudgetStore that counts its slot statements and the slots they took."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.statements = 0
        self.slots = 0

    def take_block(
        self, destination: str, workspace: str, kind: str, interval: float, count: int
    ) -> tuple[float, float, float]:
        self.statements += 1
        self.slots += count
        return super().take_block(destination, workspace, kind, interval, count)


def _tat(url: str) -> float:
    with db.engine_for(url).connect() as conn:
        return float(conn.execute(sa.text("SELECT tat FROM rate_budget")).scalar_one())


def test_a_queued_process_takes_blocks_and_keeps_the_rate(url: str) -> None:
    store = CountingStore(url)
    budget = SharedBudget("crm", "ws", url, writes_per_second=40.0, store=store)
    sent: list[float] = []
    lock = threading.Lock()

    def requests() -> None:
        for _ in range(10):
            budget.acquire("write")
            with lock:
                sent.append(time.monotonic())

    _together([threading.Thread(target=requests) for _ in range(4)])
    assert len(sent) == 40
    # Four threads queue behind 40/s: most statements take a block of slots.
    assert store.statements <= 40 // 2
    assert store.statements >= 40 // shared.BLOCK_SLOTS
    # Every request still had a slot of its own: 40 requests span 39 intervals at least.
    assert max(sent) - min(sent) >= 39 * interval_of(40) - 0.05
    assert store.slots - 40 < shared.BLOCK_SLOTS  # at most one block's tail left unused


class BlockStore(BudgetStore):
    """A BudgetStore recording each block it took: (its first send time, slots)."""

    def __init__(self, url: str, blocks: list[tuple[float, int]], lock: threading.Lock) -> None:
        super().__init__(url)
        self.blocks, self.lock = blocks, lock

    def take_block(
        self, destination: str, workspace: str, kind: str, interval: float, count: int
    ) -> tuple[float, float, float]:
        taken = super().take_block(destination, workspace, kind, interval, count)
        with self.lock:
            self.blocks.append((taken[0], count))
        return taken


def test_two_processes_taking_blocks_share_one_rate(url: str) -> None:
    # Two budgets on two stores, as two processes would have, each with queued threads.
    blocks: list[tuple[float, int]] = []
    lock = threading.Lock()
    interval = interval_of(40)
    budgets = [
        SharedBudget("crm", "ws", url, writes_per_second=40.0, store=BlockStore(url, blocks, lock))
        for _ in range(2)
    ]

    def requests(budget: SharedBudget) -> None:
        for _ in range(10):
            budget.acquire("write")

    _together([threading.Thread(target=requests, args=(b,)) for b in budgets for _ in range(2)])
    assert any(count > 1 for _, count in blocks)  # blocks were taken
    # The blocks of both processes never overlap: every slot, the database's, is one
    # interval from the next, whoever took it.
    ordered = sorted(blocks)
    for (first, count), (after, _) in itertools.pairwise(ordered):
        assert after >= first + count * interval - 1e-6
    assert sum(count for _, count in blocks) >= 40


def test_slow_single_threads_lose_few_slots(url: str) -> None:
    # Four processes of one thread each, each request answered 40 ms after its slot: queued
    # behind the budget, yet too slow to use a block; blocks would lose most of their slots.
    stores = [CountingStore(url) for _ in range(4)]
    budgets = [
        SharedBudget("crm", "ws", url, writes_per_second=50.0, store=store) for store in stores
    ]

    def requests(budget: SharedBudget) -> None:
        for _ in range(25):
            budget.acquire("write")
            time.sleep(0.04)

    _together([threading.Thread(target=requests, args=(b,)) for b in budgets])
    taken = sum(store.slots for store in stores)
    assert taken - 100 <= 100 * 0.12, f"{taken - 100} of {taken} slots went unused"


def test_requests_slower_than_the_rate_take_one_slot_each(url: str) -> None:
    store = CountingStore(url)
    budget = SharedBudget("crm", "ws", url, writes_per_second=50.0, store=store)
    for _ in range(8):
        budget.acquire("write")
        time.sleep(2 * interval_of(50))  # never queued: nothing taken ahead
    assert store.statements == store.slots == 8


def _queued_budget(url: str, store: BudgetStore) -> SharedBudget:
    """A budget that has just taken a block of BLOCK_SLOTS and used one slot of it."""
    budget = SharedBudget(
        "crm", "ws", url, writes_per_second=20.0, store=store, sleep=lambda _: None
    )
    budget.pause("write", 30)  # every slot is ahead: the blocks grow 1, 2, 4
    taken = 0
    while budget._banks["write"].block < shared.BLOCK_SLOTS or budget._banks["write"].slots:
        budget.acquire("write")
        taken += 1
        assert taken < 20
    budget.acquire("write")
    assert len(budget._banks["write"].slots) == shared.BLOCK_SLOTS - 1
    return budget


def test_release_gives_the_unused_slots_back(url: str) -> None:
    budget = _queued_budget(url, BudgetStore(url))
    before = _tat(url)
    budget.release()
    assert _tat(url) == pytest.approx(before - (shared.BLOCK_SLOTS - 1) * interval_of(20))
    # The next process's slot follows the one this process used, not its unused ones.
    other = BudgetStore(url)
    send_at, _ = other.take("crm", "ws", "write", interval_of(20))
    assert send_at == pytest.approx(before - (shared.BLOCK_SLOTS - 1) * interval_of(20))


def test_release_keeps_slots_another_process_queued_behind(url: str) -> None:
    budget = _queued_budget(url, BudgetStore(url))
    BudgetStore(url).take("crm", "ws", "write", interval_of(20))  # another process, after them
    before = _tat(url)
    budget.release()
    assert _tat(url) == before  # giving them back would hand out the other's slot twice
    assert not budget._banks["write"].slots


def test_a_pause_drops_the_banked_slots(url: str) -> None:
    store = CountingStore(url)
    budget = _queued_budget(url, store)
    statements = store.statements
    budget.pause("write", 1)
    budget.acquire("write")  # a new statement, after the hold, not a banked slot
    assert store.statements == statements + 1


def test_session_close_releases_its_workspaces_budgets(url: str) -> None:
    budget = _queued_budget(url, BudgetStore(url))
    before = _tat(url)
    shared.register("crm", "ws", url)
    shared.register("crm", "ws", url)
    shared.unregister("crm", "ws")
    assert _tat(url) == before  # another Session still pushes there
    shared.unregister("crm", "ws")
    assert _tat(url) < before
    assert not budget._banks["write"].slots
