"""Pushing a stream of lines: the run driver shared by the visitor pusher and the action runner,
on bounded, ordered concurrency (memory stays flat, results keep input order)."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Generator, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from crm_push.errors import ReconnectRequired, RunAborted
from crm_push.inputs.lines import Line
from crm_push.push.results import Result, Totals

T = TypeVar("T")
R = TypeVar("R")
Item = TypeVar("Item")
Res = TypeVar("Res", bound=Result)
Sum = TypeVar("Sum", bound=Totals)

#: `summary.stopped` of a run stopped by `Runner.stop()` (Ctrl-C or SIGTERM in the CLI).
INTERRUPTED = "interrupted"

#: crm-push's own steps at INFO (`-v`): a run's start and end, and each line's outcome. Never a
#: secret: lines name visitor ids, statuses, CRM record ids and failure reasons (redacted).
logger = logging.getLogger("crm_push.push")


@dataclass(frozen=True)
class Pushing:
    """The input line a thread is pushing: its number, and where it is in words."""

    line: int
    #: "line 3 visitor 'v_3'", "line 4": how a message about this line starts.
    where: str


#: The line being pushed on this thread, while a runner pushes it (None outside a run): lets a
#: destination that reports per line (the dry-run planner) say which line it is about.
PUSHING: ContextVar[Pushing | None] = ContextVar("crm_push_pushing", default=None)


class Runner(ABC, Generic[Item, Res, Sum]):
    """Runs a stream of Lines: each line's item through `_push`, a bad line failing that line only,
    with `workers` at once in input order; dead credentials stop the run, saying why.

    Subclasses say how one item is pushed (`_push`), what it touches (`_keys`: items sharing a
    key go one after the other, in input order) and which result and summary types they use.
    """

    result_type: type[Res]
    summary_type: type[Sum]
    #: Names the worker threads.
    thread_name = "crm-push"
    #: What a line holds, in the log: "push of visitors … started".
    noun = "line"

    def __init__(self, *, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._stopped: str | None = None
        self._asked_to_stop = False  # by stop(): a KeyboardInterrupt then ends the run, not us
        self._stop_lock = threading.Lock()

    @abstractmethod
    def _push(self, item: Item, line: int) -> Res:
        """Push one item; may raise ReconnectRequired (or RunAborted) to stop the run."""

    def _keys(self, item: Item) -> tuple[Hashable, ...]:
        return ()

    def _where(self, item: Item, line: int) -> str:
        """Where a message about this line starts: "line 3"."""
        return f"line {line}"

    def _target(self) -> str:
        """Where the run pushes, for the log: "to attio (workspace ws_1)"."""
        return ""

    def _log_result(self, result: Res) -> None:
        if not logger.isEnabledFor(logging.INFO):  # the hot path: build no text nobody reads
            return
        where = result.where()
        if result.status in ("failed", "deferred"):
            logger.info("%s: %s: %s", where, result.status, result.reason)
            return
        records = ", ".join(f"{part}={rid}" for part, rid in result.records.items())
        note = getattr(result, "note", None)  # a visitor's
        if note == "skipped":
            note = f"skipped ({getattr(result, 'note_skipped_reason', None)})"
        logger.info(
            "%s: %s%s%s",
            where,
            result.status,
            f" ({records})" if records else "",
            f"; note {note}" if note else "",
        )

    def _log_end(self, summary: Sum, started: float) -> None:
        counts = ", ".join(f"{getattr(summary, s)} {s}" for s in self._counted())
        if deferred := getattr(summary, "deferred", 0):  # a visitor run's, when there are any
            counts += f", {deferred} deferred"
        logger.info(
            "push of %ss ended in %.1fs: %s, %s; %s%s",
            self.noun,
            time.monotonic() - started,
            _plural(summary.total, self.noun),
            counts,
            self._written(summary.writes),
            f"; stopped: {summary.stopped}" if summary.stopped else "",
        )

    def _counted(self) -> tuple[str, ...]:
        return ("created", "updated", "unchanged", "failed")

    def _written(self, writes: int) -> str:
        return _plural(writes, "step")

    def stop(self, why: str = INTERRUPTED) -> None:
        """Ask the running `run` to stop: the lines being pushed finish and are reported, no new
        one starts, and `run` returns the summary with `stopped` set to `why`. Safe to call from
        another thread or a signal handler (it takes no lock).

        After `stop()`, a KeyboardInterrupt in `run` (a second Ctrl-C) stops it at once: the
        queued lines are dropped, the running ones finish unreported, and `run` still returns
        the summary of what was reported.
        """
        self._asked_to_stop = True
        self._stopped = self._stopped or why

    def _stop(self, why: str) -> RunAborted:
        """Stop the run: no line starts after this one. The first reason is the one kept."""
        with self._stop_lock:
            self._stopped = self._stopped or why
        return RunAborted(why)

    def _one(self, line: Line[Item]) -> Res:
        if line.item is None:
            return self.result_type.not_pushed(line)
        if self._stopped:
            raise RunAborted(self._stopped)
        token = PUSHING.set(Pushing(line.line, self._where(line.item, line.line)))
        try:
            return self._push(line.item, line.line)
        except ReconnectRequired as exc:
            raise self._stop(str(exc)) from exc
        finally:
            PUSHING.reset(token)

    def _results(
        self, lines: Iterable[Line[Item]]
    ) -> Generator[tuple[Line[Item], Res], None, None]:
        """Each line with its result, in input order; raises RunAborted once the run stops.
        Closing the generator drops the queued lines (the running ones finish)."""
        return ordered_results(
            lines,
            self._one,
            workers=self.workers,
            stop=RunAborted,
            keys=lambda line: self._keys(line.item) if line.item is not None else (),
            name=self.thread_name,
        )

    def run(
        self,
        lines: Iterable[Line[Item]],
        on_result: Callable[[Line[Item], Res], None] | None = None,
    ) -> Sum:
        """Push a stream of lines with bounded concurrency; results keep input order.

        When the credentials die mid-run, the lines that finished are still reported and
        `summary.stopped` says why the rest were not attempted.
        """
        summary = self.summary_type()
        started = time.monotonic()
        target = self._target()
        where = f" {target}" if target else ""
        logger.info("push of %ss%s started, %s", self.noun, where, _plural(self.workers, "worker"))
        results = self._results(lines)
        try:
            for line, result in results:
                summary.add(result)
                self._log_result(result)
                if on_result:
                    on_result(line, result)
        except RunAborted as exc:
            summary.stopped = str(exc)
        except KeyboardInterrupt:
            if not self._asked_to_stop:  # the caller's own Ctrl-C: theirs to handle
                raise
            results.close()  # queued lines never start; the running ones finish
            summary.stopped = self._stopped
        finally:
            # Also when `on_result` or the caller's Ctrl-C raised: the run ends here, not
            # whenever its traceback is let go.
            results.close()
        self._log_end(summary, started)
        return summary


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


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
) -> Generator[tuple[T, R], None, None]:
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
