"""What a push shows while it runs and when it ends: the progress bar, failure lines, the
rejects file, the summary and the JSON summary. One for every --format."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TextIO, cast

import click
from crm_push.inputs.lines import REJECT_KEY

if TYPE_CHECKING:  # pydantic models: imported when a push runs, not for `crm-push --help`
    from crm_push.inputs.lines import Line
    from crm_push.push.results import Result, RunSummary, Totals

#: Failures seen under the progress bar are printed after it, up to this many.
HELD_FAILURES = 20


def reject_line(item: Line[Any], result: Result) -> str:
    """The input line with a `_reject` key saying why; pushable again once fixed. A line that was
    not a JSON object (or not readable at all) is kept as text under `_reject.raw`."""
    reject = {"line": result.line, "reason": result.reason, "field": result.field}
    data = None
    if result.field != "(line)":
        with contextlib.suppress(ValueError):
            data = json.loads(item.raw)
    if isinstance(data, dict):
        return _dumps({**data, REJECT_KEY: reject})
    return _dumps({REJECT_KEY: {**reject, "raw": item.raw}})


def _dumps(data: dict[str, Any]) -> str:
    """One JSON line, as UTF-8 text when it can be; a lone surrogate (half an emoji, as read
    from a `\\ud83d` escape) is written as the same escape, so the line reads back the same."""
    text = json.dumps(data, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data)
    return text


class RejectsFile:
    """The --rejects file. Failed lines go to a temporary file in its directory, renamed into
    place when the run ends: the input (were it the same file) and an earlier rejects file are
    never cut short, and a crash never leaves a half-written one. When nothing failed, an old
    rejects file of that name is removed, so it cannot say that this run failed.

    Made before anything is read: raises ValueError when the path is the input or cannot be
    written. A path that is not a regular file (`/dev/null`, a pipe) is written as it is."""

    def __init__(self, path: str, *, input_path: str) -> None:
        self.name = path
        #: An old rejects file was removed because nothing failed.
        self.removed = False
        self._out: IO[str] | None = None
        self._tmp = ""
        # The mode a file opened for writing gets (not mkstemp's 0600). Read here, before any
        # worker thread runs: reading the umask means setting it for a moment.
        mask = os.umask(0o077)
        os.umask(mask)
        self._mode = 0o666 & ~mask
        target = Path(os.path.realpath(path))
        if _same_file(target, input_path):
            raise ValueError(f"{path} is the input file; write the rejects to another file")
        if target.is_dir():
            raise ValueError(f"{path} is a directory")
        self._direct = target.exists() and not target.is_file()
        self._target = target
        if not self._direct:
            if target.exists() and not os.access(target, os.W_OK):
                raise ValueError(f"cannot write {path}: it is read-only")
            if not target.parent.is_dir():
                raise ValueError(f"cannot write {path}: there is no directory {target.parent}")
            try:
                probe = self._open()  # the directory can be written: know it before connecting
            except OSError as exc:
                raise ValueError(f"cannot write {path}: {exc.strerror}") from None
            probe.close()
            os.unlink(self._tmp)

    def _open(self) -> IO[str]:
        if self._direct:
            return open(self._target, "w", encoding="utf-8")
        fd, self._tmp = tempfile.mkstemp(
            dir=self._target.parent, prefix=f".{self._target.name}.", suffix=".tmp"
        )
        os.fchmod(fd, self._mode)
        return open(fd, "w", encoding="utf-8", newline="\n")

    def write(self, line: str) -> None:
        if self._out is None:
            self._out = self._open()
        self._out.write(line)

    def close(self) -> None:
        """Rename what was written into place; with nothing written, remove an old file."""
        if self._out is not None:
            self._out.close()
            if not self._direct:
                os.replace(self._tmp, self._target)
            self._out = None
        elif not self._direct and self._target.is_file():
            self._target.unlink()
            self.removed = True


def _same_file(target: Path, input_path: str) -> bool:
    """Whether the rejects path is the input: the same path once resolved, or the same inode
    (a hard link, /dev/stdin, stdin redirected from it)."""
    if input_path != "-" and Path(os.path.realpath(input_path)) == target:
        return True
    try:
        info = os.fstat(sys.stdin.fileno()) if input_path == "-" else os.stat(input_path)
        mine = os.stat(target)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False
    if not stat.S_ISREG(mine.st_mode):  # /dev/null for both, say: nothing to cut short
        return False
    return (info.st_dev, info.st_ino) == (mine.st_dev, mine.st_ino)


def failure_line(result: Result) -> str:
    # Input errors already name the visitor and line; CRM errors do not.
    from crm_push.models.fields import quote

    reason = result.reason or ""
    where = f"line {result.line}" if result.line else "input"
    visitor = getattr(result, "visitor_id", None)
    if visitor and quote(visitor) not in reason:
        where += f" visitor {quote(visitor)}"
    prefix = "" if reason.startswith(("line ", "visitor ")) else f"{where}: "
    return f"failed: {prefix}{reason}"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """ "1 visitor", "2 visitors"; `many` for an irregular plural ("retries")."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


def _endless() -> Iterator[None]:
    """What a bar without a total iterates over: nothing, with no length."""
    yield from ()


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class RunReport:
    """Use as a context manager around a run; pass `on_result` to the runner."""

    def __init__(
        self, *, size: int | None, noun: str, as_json: bool, rejects: RejectsFile | None
    ) -> None:
        self.noun = noun
        self.as_json = as_json
        self.rejects = rejects
        self.show_bar = sys.stderr.isatty() and not as_json
        self.started = time.monotonic()
        self.done = 0
        self.held: list[str] = []
        self.failed = 0
        # A file's bar is sized in bytes and advances by the bytes of each line; a pipe's (no
        # size) is a counter with no total.
        self._sized = size is not None
        self._at = 0
        self._bar = click.progressbar(
            iterable=None if self._sized else iter(_endless()),
            length=size,
            label="Pushing",
            file=sys.stderr if self.show_bar else cast(TextIO, _Null()),
            show_percent=self._sized,
            show_eta=self._sized,
            item_show_func=self._rate,
        )

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _rate(self, _: Any) -> str:
        elapsed = self.elapsed
        rate = f", {self.done / elapsed:.1f}/s" if elapsed > 0 and self.done else ""
        return f"{plural(self.done, self.noun)}{rate}"

    def __enter__(self) -> RunReport:
        self._bar.__enter__()
        return self

    def on_result(self, item: Line[Any], result: Result) -> None:
        self.done += 1
        if not self._sized:
            self._bar.update(1, result)
        elif item.end is not None and item.end > self._at:
            self._bar.update(item.end - self._at, result)
            self._at = item.end
        if result.status != "failed":
            return
        self.failed += 1
        if not self.as_json:
            line = failure_line(result)
            if not self.show_bar:
                click.echo(line, err=True)
            elif len(self.held) < HELD_FAILURES:
                self.held.append(line)  # printed after the bar, which a line would break
        if self.rejects is not None:
            self.rejects.write(reject_line(item, result) + "\n")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.__exit__(kind, exc, tb)
        if kind is KeyboardInterrupt:
            click.echo(
                f"\nInterrupted after {plural(self.done, self.noun)}. What was pushed stays "
                "pushed; run the same command again to resume.",
                err=True,
            )
        for line in self.held:
            click.echo(line, err=True)
        if self.failed > len(self.held) and self.show_bar:
            click.echo(f"… and {self.failed - len(self.held)} more failures.", err=True)
        if self.rejects is not None:
            self.rejects.close()

    def rejects_note(self) -> str | None:
        """What the summary says of an old rejects file removed because nothing failed."""
        if self.rejects is not None and self.rejects.removed:
            return f"No failures: removed the old rejects file {self.rejects.name}."
        return None

    def interrupted(self, how: str) -> None:
        """Say that a signal (`how`: "SIGINT", "SIGTERM") stopped the run, and how to resume."""
        click.echo(
            f"Interrupted ({how}) after {plural(self.done, self.noun)}. What was pushed stays "
            "pushed; run the same command again to resume.",
            err=True,
        )

    def failure_hint(self) -> str:
        where = (
            f"see {self.rejects.name}" if self.rejects is not None else "re-run with --rejects FILE"
        )
        return f"{plural(self.failed, self.noun)} failed ({where}); fix and push again."

    def print_json(self, summary: Totals, **extra: Any) -> None:
        out = summary.model_dump()
        out.update(seconds=round(self.elapsed, 3), **extra)
        click.echo(json.dumps(out, indent=2))


def print_summary(summary: Totals, report: RunReport, *, dry_run: bool) -> None:
    """The end of a push, in words: counts, steps, notes and HTTP figures, failures, a stop.

    A dry run says what would be: "would be created", "steps planned", never "created".
    """
    from crm_push.push.results import ActionSummary, RunSummary

    visitors = isinstance(summary, RunSummary)
    would = "would be " if dry_run else ""
    if visitors:
        counts = [f"{summary.created} {would}created", f"{summary.updated} {would}updated"]
        counts.append(f"{summary.unchanged} unchanged")
    elif dry_run:  # the plan cannot know whether the CRM has the record: it would assert it
        counts = [f"{summary.created + summary.updated} would be asserted"]
    else:
        counts = [f"{summary.created} created", f"{summary.updated} updated"]
    counts.append(f"{summary.failed} failed")
    if isinstance(summary, RunSummary) and summary.deferred:
        counts.append(f"{summary.deferred} deferred (another push was writing them)")
    if isinstance(summary, ActionSummary) and summary.skipped:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(summary.skipped_types.items()))
        counts[-1] += f", {summary.skipped} skipped ({kinds})"
    if visitors:
        writes = plural(summary.writes, "step") + (" planned" if dry_run else "")
    else:
        writes = f"{plural(summary.writes, 'action')} {'would be ' if dry_run else ''}sent"
    if dry_run:
        head = f"Dry run — nothing was written. {plural(summary.total, report.noun)}"
    else:
        head = f"{plural(summary.total, report.noun)} in {report.elapsed:.1f}s"
    click.echo(f"{head}: {', '.join(counts)}; {writes}.")
    if isinstance(summary, RunSummary):
        _print_notes(summary, dry_run=dry_run)
    _print_http(summary)
    if summary.failed:
        click.echo(report.failure_hint())
    if note := report.rejects_note():
        click.echo(note)
    if summary.stopped and summary.stopped != "interrupted":  # an interrupt is said on stderr
        again = (
            "run the same command again after fixing this and it resumes where it stopped."
            if visitors
            else "asserts are idempotent, so running the same command again after fixing this "
            "is safe."
        )
        click.echo(f"Stopped early: {summary.stopped}\nWhat was pushed stays pushed; {again}")


def _print_notes(summary: RunSummary, *, dry_run: bool) -> None:
    """What only a visitor push counts: notes, and why visits were not noted."""
    if summary.notes_created or summary.notes_skipped:
        created = "would be added" if dry_run else "created"
        click.echo(f"Notes: {summary.notes_created} {created}, {summary.notes_skipped} skipped.")
    for reason, count in summary.notes_skipped_reasons.items():
        click.echo(f"  {plural(count, 'visit')} not noted: {reason}")


def _print_http(summary: Totals) -> None:
    """The destination's HTTP figures, whenever a request was made."""
    h = {k: int(v) for k, v in summary.http.items()}
    if not h.get("requests"):
        return
    click.echo(
        f"HTTP: {plural(h['requests'], 'request')} ({plural(h.get('writes', 0), 'write')}, "
        f"{plural(h.get('reads', 0), 'read')}); {plural(h.get('retries', 0), 'retry', 'retries')}, "
        f"{h.get('throttled', 0)} rate-limited (429)."
    )
