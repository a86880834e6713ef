"""`crm-push push`: visitors, records or Segment events from a JSON Lines file."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import click
from crm_push.cli.app import FORMATS, Context, _fail, _need, cli, pass_ctx
from crm_push.cli.report import RejectsFile, RunReport, print_summary
from crm_push.errors import CrmPushError

if TYPE_CHECKING:  # imported when a push runs: `crm-push --help` stays fast
    from crm_push.destination.facade import Destination
    from crm_push.inputs.lines import InputFile, Line
    from crm_push.models import Connection
    from crm_push.push.pusher import Pusher
    from crm_push.push.results import Result, Totals
    from crm_push.push.runner import ActionRunner
    from crm_push.session import Session
    from crm_push.state.markers import MarkerStore

#: What a line of each --format is called in the summary.
NOUNS = {"visitors": "visitor", "records": "record", "segment": "event"}
#: The optional hooks each --format needs of the destination.
NEEDS = {
    "visitors": (),
    "records": ("assert_record",),
    "segment": ("identify_user", "group_workspace"),
}


#: The signals that stop a push cleanly; the exit code is 128 + the signal's number.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: The exit code of a push that deferred visitors another process was writing, and failed none
#: (EX_TEMPFAIL: try again later).
DEFERRED_EXIT = 75
#: `summary.stopped` of an interrupted run (crm_push.push.stream.INTERRUPTED).
INTERRUPTED = "interrupted"


class StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM while a push runs: the first asks the runner to stop (the
    lines being pushed finish and are counted, queued ones never start), a second stops at once.
    Before the runner is set, a signal interrupts like Ctrl-C. Handlers are restored on exit."""

    def __init__(self) -> None:
        self.runner: Pusher | ActionRunner | None = None
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return signal.Signals(self.received or signal.SIGINT).name

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # only there can they be set
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = self.received or signum
        if not first or self.runner is None:
            raise KeyboardInterrupt
        self.runner.stop(INTERRUPTED)
        # os.write, not click.echo: the main thread may be half-way through writing to stderr.
        message = (
            f"\n{signal.Signals(signum).name}: stopping — what is being pushed finishes, nothing "
            "new starts (Ctrl-C again to stop at once).\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, message.encode())


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    help="Write each failed visitor here (JSONL, with a `_reject` reason); fix and push it again. "
    "Replaced when the run ends; removed when nothing failed.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Visitors pushed at once (the destination's rate limit still applies).",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(FORMATS),
    default="visitors",
    show_default=True,
    help="What FILE holds: visitors; records to assert ({object, matching_attribute, values} "
    "a line); or Segment events (identify ⇒ identify user, group ⇒ group workspace).",
)
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False),
    help="With --format segment: a YAML or JSON file of extra attributes per record (person, "
    "user, company, workspace) from event paths or literals.",
)
@click.option(
    "--workspace",
    metavar="ID",
    help="Push with the stored connection of this workspace (needed when several are stored; "
    "see `crm-push connections`).",
)
@click.option(
    "--multiselect",
    type=click.Choice(["append", "replace"]),
    default="append",
    show_default=True,
    help="With --format records/segment: append keeps a record's other multiselect values; "
    "replace makes them exactly those sent.",
)
@pass_ctx
def push(
    ctx: Context,
    file: str,
    as_json: bool,
    rejects: str | None,
    dry_run: bool,
    workers: int,
    input_format: str,
    mapping: str | None,
    workspace: str | None,
    multiselect: str,
) -> None:
    """Push visitors (or records, or Segment events) from FILE (JSON Lines; - for stdin).

    Each visitor's company is asserted by domain, then the person by email (linked to the
    company), then a note with the visit. Markers make re-runs skip unchanged visitors and let a
    killed run resume with no duplicates. Bad lines are reported with their line number and the
    run goes on.

    --format records asserts one record a line; --format segment turns identify events into
    identify user and group events into group workspace, and counts other events as skipped.
    """
    from crm_push.cli.record import with_multiselect
    from crm_push.push.results import http_figures
    from crm_push.state.database import check_for_push

    ctx.workspace = workspace

    if file != "-" and not Path(file).exists():
        raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
    if mapping is not None and input_format != "segment":
        raise click.UsageError("--mapping goes with --format segment")
    dest = ctx.destination()
    _need(dest, *NEEDS[input_format])
    if not dry_run:  # markers in memory or read-only would be lost: the next push duplicates
        check_for_push(ctx.db)
    # Before anything is read or connected: a rejects file that is the input, or cannot be
    # written, and an input that is clearly not JSON Lines text, are usage errors.
    rejects_file = _rejects(rejects, file)
    source = _open(file, ctx.dest_name or dest.name)
    lines = _lines(source, input_format, mapping)
    # Made when the run starts, so its clock and progress bar leave the connect check out.
    report = functools.partial(
        RunReport,
        size=source.size,
        noun=NOUNS[input_format],
        as_json=as_json,
        rejects=rejects_file,
    )
    with StopSignals() as signals:
        try:
            if dry_run:
                connection, summary, run = _plan(
                    ctx, dest, lines, input_format, workers, report, signals
                )
            else:
                with ctx.session(dest) as session:
                    try:
                        connection = with_multiselect(session.connect(), multiselect)
                    except CrmPushError as exc:
                        raise _fail(exc) from None
                    runner = _runner(
                        input_format, workers, session.destination, connection, session
                    )
                    signals.runner = runner
                    with report() as run:
                        summary = runner.run(lines, on_result=run.on_result)
                    summary.http = http_figures(session.request_stats())
        except KeyboardInterrupt:
            if signals.received is None:
                raise
            click.echo(f"\nInterrupted ({signals.name}) before the push started.", err=True)
            sys.exit(128 + signals.received)
    interrupted = summary.stopped == INTERRUPTED and signals.received is not None
    if interrupted:
        run.interrupted(signals.name)
    if as_json:
        extra: dict[str, Any] = {} if input_format == "visitors" else {"format": input_format}
        if dry_run:
            extra["destination_status"] = dest.status
        run.print_json(
            summary,
            dry_run=dry_run,
            destination=dest.name,
            workspace=connection.workspace_id,
            **extra,
        )
    else:
        print_summary(summary, run, dry_run=dry_run)
        if dry_run:
            for warning in connection.warnings:  # the planner's: a stub destination, say
                click.echo(f"warning: {warning}")
    if interrupted:
        assert signals.received is not None
        sys.exit(128 + signals.received)
    if summary.failed or summary.stopped:
        sys.exit(1)
    if getattr(summary, "deferred", 0):  # nothing failed; run again later to confirm them
        sys.exit(DEFERRED_EXIT)


def _runner(
    input_format: str,
    workers: int,
    destination: Destination,
    connection: Connection,
    session: Session | None = None,
    markers: MarkerStore | None = None,
) -> Pusher | ActionRunner:
    """The runner of a format: visitors go through the Pusher (with markers; in batches when the
    destination has batch hooks), the rest through the ActionRunner."""
    from crm_push.push.batch import pusher_for
    from crm_push.push.runner import ActionRunner

    if input_format != "visitors":
        return ActionRunner(destination, connection, workers=workers)
    if markers is None:
        assert session is not None
        markers = session.markers()
    return pusher_for(destination, connection, markers, workers=workers)


def _plan(
    ctx: Context,
    dest: Destination,
    lines: Iterator[Line[Any]],
    input_format: str,
    workers: int,
    report: Callable[[], RunReport],
    signals: StopSignals,
) -> tuple[Connection, Totals, RunReport]:
    """A dry run: the same runner against the planner destination, with the stored workspace's
    markers read (never written). It connects to nothing and creates no state database."""
    from crm_push.destination.facade import Destination
    from crm_push.destination.planner import PlannerPlugin
    from crm_push.state.connections import ConnectionStore
    from crm_push.state.database import exists
    from crm_push.state.markers import ReadOnlyMarkers

    stored = ConnectionStore(ctx.db).load(dest.name, ctx.workspace) if exists(ctx.db) else None
    workspace = stored.workspace_id if stored else "dry-run"
    plugin = PlannerPlugin(dest.name, workspace_id=workspace, status=dest.status)
    planner = Destination(dest.name, plugin)
    connection = planner.connect()
    markers = ReadOnlyMarkers(dest.name, connection.workspace_id, ctx.db)
    runner = _runner(input_format, workers, planner, connection, markers=markers)
    signals.runner = runner
    with report() as run:

        def on_result(line: Line[Any], result: Result) -> None:
            # Each line's plan as its result arrives: in input order, whatever --workers is.
            for text in plugin.take(line.line):
                click.echo(text, err=True)
            run.on_result(line, result)

        summary = runner.run(lines, on_result=on_result)
    return connection, summary, run


def _rejects(path: str | None, input_path: str) -> RejectsFile | None:
    """The --rejects file, checked before anything is read (exit 2)."""
    if path is None:
        return None
    try:
        return RejectsFile(path, input_path=input_path)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--rejects") from None


def _open(file: str, dest_name: str) -> InputFile:
    """The input, opened and looked at (exit 2 when it is clearly not JSON Lines text)."""
    from crm_push.inputs.lines import InputFile, NotJsonLines

    try:
        return InputFile(file)
    except NotJsonLines as exc:
        raise click.BadParameter(
            exc.advice(f"crm-push --dest {dest_name} push"), param_hint="FILE"
        ) from None
    except OSError as exc:
        raise click.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="FILE") from None


def _lines(source: InputFile, input_format: str, mapping_file: str | None) -> Iterator[Line[Any]]:
    """The input, read lazily as Lines of the format's items."""
    if input_format == "visitors":
        from crm_push.inputs.visitors import read_jsonl

        return read_jsonl(source)
    if input_format == "records":
        from crm_push.inputs.records import read_records

        return read_records(source)
    from crm_push.inputs.segment import SegmentMapping, read_segment

    try:
        mapping = SegmentMapping.load(mapping_file) if mapping_file else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mapping") from None
    return read_segment(source, mapping)
