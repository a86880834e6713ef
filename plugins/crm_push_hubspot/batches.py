"""HubSpot's batch calls: inputs sent 100 a call, each answer matched to its input by a key
(the trace id, the email, the record id…), never by position, and errors to the inputs they
name.

- A 207 (or a 200 carrying `errors`, as batch associate answers) fails only the inputs its
  errors name (`context.objectWriteTraceId`, or what `error_keys` reads); an error that names
  no input fails every input left without a result.
- A batch refused whole (a 400/404/409: nothing applied) is split in halves and sent again
  until the refused inputs stand alone: whether upserts and updates answer per input is
  unverified (one report says an upsert by email fails whole), and HubSpot's batch size is
  unverified too (100; a batch refused for its size is split the same way).
- Anything else raised (reconnect, a scope, RetryLater, a create whose answer was lost) is the
  whole call's and propagates: it applies to every input of the hook call.
- With a `Together`, concurrent calls to one endpoint (the pusher's workers run several
  batches at once) share a request while their inputs fit: one request in flight per endpoint,
  and what arrives meanwhile — while it waits for the rate budget, mostly — goes in the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeAlias

from crm_push.errors import CrmPushError, InvalidInput

from .api import BATCH_MAX
from .errors import typed

#: What one input got: HubSpot's result for it, or its typed error.
Answer: TypeAlias = dict[str, Any] | CrmPushError
Call = Callable[[list[dict[str, Any]]], dict[str, Any]]
KeyOfResult = Callable[[dict[str, Any]], str | None]
KeysOfError = Callable[[dict[str, Any]], list[str]]


def size(connection: object) -> int:
    """Inputs a batch hook call takes: HubSpot's object batches take 100, in every portal."""
    return BATCH_MAX


def traced(result: dict[str, Any]) -> str | None:
    """A result's `objectWriteTraceId` (HubSpot echoes it on results of inputs that had one)."""
    trace = result.get("objectWriteTraceId")
    return None if trace is None else str(trace)


def traces_of(error: dict[str, Any]) -> list[str]:
    """The trace ids an error of a 207 names: `context.objectWriteTraceId`."""
    context = error.get("context") or {}
    values = context.get("objectWriteTraceId") if isinstance(context, dict) else None
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values or []]


class _Waiting:
    """One caller's chunk in a `Together`, and what its request answered."""

    def __init__(self, chunk: dict[str, dict[str, Any]]) -> None:
        self.chunk = chunk
        self.done = False
        self.shared = False
        self.data: dict[str, Any] = {}
        self.error: BaseException | None = None


class Together:
    """Concurrent calls to one batch endpoint, sent as one request while they fit (at most
    `limit` inputs, no key twice). One request is in flight at a time; whichever caller finds
    none sends the next, for everyone waiting."""

    def __init__(
        self,
        limit: int = BATCH_MAX,
        before: Callable[[], object] | None = None,
        after: Callable[[], object] | None = None,
    ) -> None:
        """`before`: what the caller that sends runs first (waiting for the rate budget's slot:
        whoever arrives meanwhile joins the request); `after`: once it is sent."""
        self.limit = limit
        self._before = before
        self._after = after
        self._cond = threading.Condition()
        self._queue: list[_Waiting] = []
        self._busy = False

    def call(self, call: Call, chunk: dict[str, dict[str, Any]]) -> _Waiting:
        """Send `chunk` in the next request with room for it; its answer (or error) and
        whether the request carried other callers' inputs too."""
        mine = _Waiting(chunk)
        with self._cond:
            self._queue.append(mine)
        while True:
            with self._cond:
                while self._busy and not mine.done:
                    self._cond.wait()
                if mine.done:
                    return mine
                self._busy = True
            try:
                if self._before is not None:
                    try:
                        self._before()
                    except BaseException:
                        with self._cond:  # this caller gives up: its inputs are not sent
                            if mine in self._queue:
                                self._queue.remove(mine)
                        raise
                with self._cond:
                    group = self._take()
                self._send(call, group)
            finally:
                if self._after is not None:
                    self._after()
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _take(self) -> list[_Waiting]:
        group = [self._queue.pop(0)]
        keys, size = set(group[0].chunk), len(group[0].chunk)
        for waiting in list(self._queue):
            if size + len(waiting.chunk) <= self.limit and keys.isdisjoint(waiting.chunk):
                self._queue.remove(waiting)
                group.append(waiting)
                keys.update(waiting.chunk)
                size += len(waiting.chunk)
        return group

    @staticmethod
    def _send(call: Call, group: list[_Waiting]) -> None:
        error: BaseException | None = None
        data: dict[str, Any] = {}
        try:
            data = call([body for waiting in group for body in waiting.chunk.values()])
        except BaseException as exc:  # every caller of the request hears it
            error = exc
        for waiting in group:
            waiting.data, waiting.error = data, error
            waiting.shared = len(group) > 1
            waiting.done = True
        if error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt and the like: this thread's too


def send(
    call: Call,
    inputs: dict[str, dict[str, Any]],
    object_type: str,
    *,
    key_of: KeyOfResult = traced,
    error_keys: KeysOfError = traces_of,
    size: int = BATCH_MAX,
    together: Together | None = None,
) -> dict[str, Answer]:
    """Send `inputs` (key -> the input's body) through `call`, `size` a call (sharing requests
    with concurrent callers through `together`); answer each key with its result or its typed
    error. A key missing from the answer got none."""
    answers: dict[str, Answer] = {}
    keys = list(inputs)
    for start in range(0, len(keys), size):
        chunk = {k: inputs[k] for k in keys[start : start + size]}
        if together is None:
            answers.update(_send(call, chunk, object_type, key_of, error_keys))
            continue
        sent = together.call(call, chunk)
        if isinstance(sent.error, InvalidInput):
            # Refused whole, so nothing was applied: sent again alone when it shared the
            # request (the fault may be another caller's), else split.
            if sent.shared:
                answers.update(_send(call, chunk, object_type, key_of, error_keys))
            else:
                answers.update(_split(call, chunk, object_type, key_of, error_keys, sent.error))
        elif sent.error is not None:
            raise sent.error
        else:
            answers.update(match(sent.data, chunk, object_type, key_of, error_keys))
    return answers


def _send(
    call: Call,
    chunk: dict[str, dict[str, Any]],
    object_type: str,
    key_of: KeyOfResult,
    error_keys: KeysOfError,
) -> dict[str, Answer]:
    try:
        data = call(list(chunk.values()))
    except InvalidInput as exc:
        return _split(call, chunk, object_type, key_of, error_keys, exc)
    return match(data, chunk, object_type, key_of, error_keys)


#: HubSpot's codes for a refused value of one input (an email, a length, a missing value):
#: the same words from both halves of a chunk can still be two inputs' faults.
VALUE_CODES = frozenset({"INVALID_EMAIL", "INVALID_STRING_LENGTH", "TOO_LONG", "REQUIRED"})


def _split(
    call: Call,
    chunk: dict[str, dict[str, Any]],
    object_type: str,
    key_of: KeyOfResult,
    error_keys: KeysOfError,
    refusal: InvalidInput,
) -> dict[str, Answer]:
    """A chunk refused whole (nothing applied): send its halves. When both halves are refused
    with the same words as the whole, and the refusal is not about a value (`VALUE_CODES`), it
    is every input's problem (a property the portal lacks, say): answered for all at once
    rather than one call per input. A refused value may be in both halves: they are split on
    until each refused input stands alone, so the others are not answered refused."""
    if len(chunk) == 1:
        return {next(iter(chunk)): refusal}
    keys = list(chunk)
    halves = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    answers: dict[str, Answer] = {}
    refused: list[tuple[list[str], InvalidInput]] = []
    for half in halves:
        part = {k: chunk[k] for k in half}
        try:
            data = call(list(part.values()))
        except InvalidInput as exc:
            refused.append((half, exc))
            continue
        answers.update(match(data, part, object_type, key_of, error_keys))
    same = all(why.message == refusal.message for _, why in refused)
    if len(refused) == 2 and same and refusal.code not in VALUE_CODES:
        return {key: refusal for key in keys}
    for half, why in refused:
        part = {k: chunk[k] for k in half}
        answers.update(_split(call, part, object_type, key_of, error_keys, why))
    return answers


def match(
    data: dict[str, Any],
    chunk: dict[str, dict[str, Any]],
    object_type: str,
    key_of: KeyOfResult = traced,
    error_keys: KeysOfError = traces_of,
) -> dict[str, Answer]:
    """One batch answer matched to the inputs of its call."""
    answers: dict[str, Answer] = {}
    results = [r for r in data.get("results") or [] if isinstance(r, dict)]
    for result in results:
        key = key_of(result)
        if key in chunk:
            answers[key] = result
    if len(chunk) == 1 and len(results) == 1 and not answers and not data.get("errors"):
        # One input, one result that names no key (a trace id is not always echoed
        # [unverified]): it can only be that input's.
        answers[next(iter(chunk))] = results[0]
    unnamed: CrmPushError | None = None
    for error in data.get("errors") or []:
        if not isinstance(error, dict):
            continue
        problem = typed(error, object_type, _status(error))
        named = [k for k in error_keys(error) if k in chunk]
        for key in named:
            answers.setdefault(key, problem)
        if not named and unnamed is None:
            unnamed = problem
    if unnamed is not None:
        for key in chunk:
            answers.setdefault(key, unnamed)
    return answers


def _status(error: dict[str, Any]) -> int:
    # A StandardError's `status` is a word ("error"); an HTTP status may come in some answers.
    status = error.get("status")
    if isinstance(status, int):
        return status
    return 400
