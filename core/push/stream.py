"""Bounded, ordered concurrency for pushing a stream: memory stays flat, results keep input order.

Shared by the visitor pusher and the records/events runner.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from crm_push.errors import RunAborted
from pydantic import BaseModel

T = TypeVar("T")
R = TypeVar("R")


class Totals(BaseModel):
    """What every run counts: lines by how they ended, writes, and why it stopped early."""

    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    writes: int = 0
    stopped: str | None = None

    def add(self, result: Any) -> None:
        """Count one result (it has a `status` naming a counter, and `writes`)."""
        self.total += 1
        setattr(self, result.status, getattr(self, result.status) + 1)
        self.writes += result.writes


R_in = TypeVar("R_in", contravariant=True)


class Summary(Protocol[R_in]):
    stopped: str | None

    def add(self, result: R_in) -> None: ...


S = TypeVar("S", bound=Summary)  # type: ignore[type-arg]


def summarise(
    summary: S,
    results: Iterable[tuple[T, R]],
    on_result: Callable[[T, R], None] | None = None,
) -> S:
    """Add each result to `summary` (and report it); a RunAborted ends the run, saying why."""
    try:
        for item, result in results:
            summary.add(result)
            if on_result:
                on_result(item, result)
    except RunAborted as exc:
        summary.stopped = str(exc)
    return summary


def _no_keys(_: object) -> tuple[Hashable, ...]:
    return ()


def _after(earlier: list[Future[Any]], work: Callable[[T], R], item: T) -> R:
    if earlier:
        wait(earlier)  # earlier items touching the same things go first
    return work(item)


def ordered_results(
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    workers: int,
    stop: type[BaseException],
    keys: Callable[[T], tuple[Hashable, ...]] = _no_keys,
    name: str = "crm-push",
) -> Iterator[tuple[T, R]]:
    """Run `work(item)` on up to `workers` threads; yield (item, result) in input order.

    An item waits for the earlier items that share one of its `keys(item)`, so items touching the
    same thing are pushed in input order. At most `workers * 4` items
    are in flight. When `work` raises `stop`, the items already started still report, no new
    one starts, and the `stop` exception is raised once they have.
    """
    if workers <= 1:
        for item in items:
            yield item, work(item)
        return
    window: deque[tuple[T, Future[R], tuple[Hashable, ...]]] = deque()
    last: dict[Hashable, Future[R]] = {}  # key ⇒ the latest item touching it
    stopped: BaseException | None = None
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)

    def settle() -> tuple[T, R] | None:
        nonlocal stopped
        item, future, item_keys = window.popleft()
        for key in item_keys:  # done, and in order: forget it unless a later one took over
            if last.get(key) is future:
                del last[key]
        try:
            return item, future.result()
        except stop as exc:
            stopped = stopped or exc
            return None

    try:
        for item in items:
            if stopped:
                break
            item_keys = keys(item)
            # The executor starts tasks in submission order, so waiting on earlier ones never
            # deadlocks: they are running or done when a later one starts.
            earlier = [last[k] for k in item_keys if k in last]
            future = pool.submit(_after, earlier, work, item)
            for key in item_keys:
                last[key] = future
            window.append((item, future, item_keys))
            if len(window) >= workers * 4 and (done := settle()):
                yield done
        while window:
            if done := settle():
                yield done
    finally:
        # On Ctrl-C (or a consumer that stops early) queued items must not start: only those
        # already running finish, and their markers keep a re-run from repeating them.
        pool.shutdown(wait=True, cancel_futures=True)
    if stopped:
        raise stopped
