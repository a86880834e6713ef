"""`crm-push push`: visitors, records or Segment events from a JSON Lines file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from crm_push.cli.app import FORMATS, Context, _fail, _need, cli, pass_ctx
from crm_push.cli.connection import _check_connection, _keep_renewed
from crm_push.cli.report import RunReport, print_summary
from crm_push.errors import CrmPushError

if TYPE_CHECKING:  # imported when a push runs: `crm-push --help` stays fast
    from crm_push.inputs.lines import Line

#: What a line of each --format is called in the summary.
NOUNS = {"visitors": "visitor", "records": "record", "segment": "event"}
#: The optional hooks each --format needs of the destination.
NEEDS = {
    "visitors": (),
    "records": ("assert_record",),
    "segment": ("identify_user", "group_workspace"),
}


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option(
    "--rejects",
    type=click.File("w", encoding="utf-8", lazy=True),
    help="Write each failed visitor here (JSONL, with a `_reject` reason); fix and push it again.",
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
@pass_ctx
def push(
    ctx: Context,
    file: str,
    as_json: bool,
    rejects: IO[str] | None,
    dry_run: bool,
    workers: int,
    input_format: str,
    mapping: str | None,
) -> None:
    """Push visitors (or records, or Segment events) from FILE (JSON Lines; - for stdin).

    Each visitor's company is asserted by domain, then the person by email (linked to the
    company), then a note with the visit. Markers make re-runs skip unchanged visitors and let a
    killed run resume with no duplicates. Bad lines are reported with their line number and the
    run goes on.

    --format records asserts one record a line; --format segment turns identify events into
    identify user and group events into group workspace, and counts other events as skipped.
    """
    from crm_push.destination.facade import Destination
    from crm_push.destination.planner import PlannerPlugin
    from crm_push.push.pusher import Pusher
    from crm_push.push.results import RunSummary
    from crm_push.push.runner import ActionRunner
    from crm_push.state.connections import ConnectionStore
    from crm_push.state.database import exists
    from crm_push.state.markers import MarkerStore, ReadOnlyMarkers

    if file != "-" and not Path(file).exists():
        raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
    if mapping is not None and input_format != "segment":
        raise click.UsageError("--mapping goes with --format segment")
    lines = _lines(file, input_format, mapping)
    dest = ctx.destination()
    _need(dest, *NEEDS[input_format])
    # A dry run reads the stored connection, if any, for the workspace whose markers say what a
    # real push would skip; it connects to nothing and creates no state database.
    store = ConnectionStore(ctx.db) if not dry_run or exists(ctx.db) else None
    stored = store.load(dest.name) if store else None
    if dry_run:
        workspace = stored.workspace_id if stored else "dry-run"
        plugin = PlannerPlugin(dest.name, workspace_id=workspace, on_plan=_echo_plan)
        target = Destination(dest.name, plugin)
        connection = target.connect()
    else:
        assert store is not None
        try:
            connection = _check_connection(dest, store, stored)
        except CrmPushError as exc:
            raise _fail(exc) from None
        target = dest
    runner: Pusher | ActionRunner
    if input_format == "visitors":
        markers_type = ReadOnlyMarkers if dry_run else MarkerStore
        markers = markers_type(dest.name, connection.workspace_id, ctx.db)
        runner = Pusher(target, connection, markers, workers=workers)
    else:
        runner = ActionRunner(target, connection, workers=workers)

    noun = NOUNS[input_format]
    with RunReport(path=file, noun=noun, as_json=as_json, rejects=rejects) as report:
        summary = runner.run(lines, on_result=report.on_result)
    if not dry_run:
        assert store is not None
        if isinstance(summary, RunSummary):
            summary.http = dest.request_stats(connection)
        renewed = dest.current_credentials(connection)
        _keep_renewed(store, stored, connection.model_copy(update={"credentials": renewed}))
    if as_json:
        extra = {} if input_format == "visitors" else {"format": input_format}
        report.print_json(
            summary,
            dry_run=dry_run,
            destination=dest.name,
            workspace=connection.workspace_id,
            **extra,
        )
    else:
        print_summary(summary, report, dry_run=dry_run)
    if summary.failed or summary.stopped:
        sys.exit(1)


def _echo_plan(line: str) -> None:
    click.echo(line, err=True)


def _lines(file: str, input_format: str, mapping_file: str | None) -> Iterator[Line[Any]]:
    """The input, read lazily as Lines of the format's items."""
    from crm_push.inputs.lines import open_lines

    if input_format == "visitors":
        from crm_push.inputs.visitors import read_jsonl

        return read_jsonl(open_lines(file))
    if input_format == "records":
        from crm_push.inputs.records import read_records

        return read_records(open_lines(file))
    from crm_push.inputs.segment import SegmentMapping, read_segment

    try:
        mapping = SegmentMapping.load(mapping_file) if mapping_file else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mapping") from None
    return read_segment(open_lines(file), mapping)
