"""What a push shows while it runs and when it ends: the progress bar, failure lines, the
rejects file, the summary and the JSON summary. One for every --format."""

from __future__ import annotations

import json
import sys
import time
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TextIO, cast

import click
from crm_push.inputs.lines import REJECT_KEY

if TYPE_CHECKING:  # pydantic models: imported when a push runs, not for `crm-push --help`
    from crm_push.inputs.lines import Line
    from crm_push.push.results import Result, RunSummary, Totals

#: Failures seen under the progress bar are printed after it, up to this many.
HELD_FAILURES = 20


def count_lines(path: str) -> int | None:
    """Non-blank lines of a file (for the bar's ETA); None for stdin."""
    if path == "-":
        return None
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def reject_line(item: Line[Any], result: Result) -> str:
    """The input line with a `_reject` key saying why; pushable again once fixed."""
    reject = {"line": result.line, "reason": result.reason, "field": result.field}
    try:
        data = json.loads(item.raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return json.dumps({**data, REJECT_KEY: reject}, ensure_ascii=False)
    return json.dumps({REJECT_KEY: {**reject, "raw": item.raw}}, ensure_ascii=False)


def failure_line(result: Result) -> str:
    # Input errors already name the visitor and line; CRM errors do not.
    reason = result.reason or ""
    where = f"line {result.line}" if result.line else "input"
    visitor = getattr(result, "visitor_id", None)
    if visitor and f"{visitor!r}" not in reason:
        where += f" visitor {visitor!r}"
    prefix = "" if reason.startswith(("line ", "visitor ")) else f"{where}: "
    return f"failed: {prefix}{reason}"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class RunReport:
    """Use as a context manager around a run; pass `on_result` to the runner."""

    def __init__(self, *, path: str, noun: str, as_json: bool, rejects: IO[str] | None) -> None:
        self.noun = noun
        self.as_json = as_json
        self.rejects = rejects
        self.show_bar = sys.stderr.isatty() and not as_json
        self.started = time.monotonic()
        self.done = 0
        self.held: list[str] = []
        self.failed = 0
        self._bar = click.progressbar(
            length=count_lines(path) or 0,
            label="Pushing",
            file=sys.stderr if self.show_bar else cast(TextIO, _Null()),
            show_pos=True,
            show_eta=True,
            item_show_func=self._rate,
        )

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _rate(self, _: Any) -> str:
        elapsed = self.elapsed
        return f"{self.done / elapsed:.1f} {self.noun}s/s" if elapsed > 0 else ""

    def __enter__(self) -> RunReport:
        self._bar.__enter__()
        return self

    def on_result(self, item: Line[Any], result: Result) -> None:
        self.done += 1
        self._bar.update(1, result)
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
    """The end of a push, in words: counts, writes, notes and HTTP figures, failures, a stop."""
    from crm_push.push.results import ActionSummary, RunSummary

    visitors = isinstance(summary, RunSummary)
    counts = [f"{summary.created} created", f"{summary.updated} updated"]
    if visitors:
        counts.append(f"{summary.unchanged} unchanged")
    counts.append(f"{summary.failed} failed")
    if isinstance(summary, ActionSummary) and summary.skipped:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(summary.skipped_types.items()))
        counts[-1] += f", {summary.skipped} skipped ({kinds})"
    writes = f"{summary.writes} writes" if visitors else f"{plural(summary.writes, 'action')} sent"
    prefix = "Dry run — nothing was written. " if dry_run else ""
    click.echo(
        f"{prefix}{plural(summary.total, report.noun)} in {report.elapsed:.1f}s: "
        f"{', '.join(counts)}; {writes}."
    )
    if isinstance(summary, RunSummary):
        _print_details(summary)
    if summary.failed:
        click.echo(report.failure_hint())
    if summary.stopped:
        again = (
            "run the same command again after fixing this and it resumes where it stopped."
            if visitors
            else "asserts are idempotent, so running the same command again after fixing this "
            "is safe."
        )
        click.echo(f"Stopped early: {summary.stopped}\nWhat was pushed stays pushed; {again}")


def _print_details(summary: RunSummary) -> None:
    """What only a visitor push counts: notes, and the destination's HTTP figures."""
    if summary.notes_created or summary.notes_skipped:
        click.echo(f"Notes: {summary.notes_created} created, {summary.notes_skipped} skipped.")
    if summary.http.get("requests"):
        h = {k: int(v) for k, v in summary.http.items()}
        click.echo(
            f"HTTP: {h['requests']} requests ({h.get('writes', 0)} writes, "
            f"{h.get('reads', 0)} reads); {h.get('retries', 0)} retries, "
            f"{h.get('throttled', 0)} rate-limited (429)."
        )
    for reason, count in summary.notes_skipped_reasons.items():
        click.echo(f"  {count} notes skipped: {reason}")
