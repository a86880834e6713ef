"""`crm-push push`: visitors, records or Segment events from a JSON Lines file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click
from crm_push.cli.app import FORMATS, Context, _fail, _need, cli, pass_ctx
from crm_push.cli.connection import _check_connection, _keep_renewed
from crm_push.cli.report import RunReport, plural, read_lines
from crm_push.errors import CrmPushError


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
    from crm_push.destination.planner import DryRunDestination
    from crm_push.inputs.visitors import read_jsonl
    from crm_push.push.pusher import Pusher
    from crm_push.state.connections import ConnectionStore
    from crm_push.state.database import check_for_push
    from crm_push.state.markers import MarkerStore

    if file != "-" and not Path(file).exists():
        raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
    if mapping is not None and input_format != "segment":
        raise click.UsageError("--mapping goes with --format segment")
    if input_format != "visitors":
        _push_actions(ctx, file, input_format, mapping, as_json, rejects, dry_run, workers)
        return
    if not dry_run:  # markers in memory or read-only would be lost: the next push duplicates
        check_for_push(ctx.db)
    dest = ctx.destination()
    store = ConnectionStore(ctx.db)
    stored = store.load(dest.name)
    if dry_run:
        # No network: the stored connection (if any) names the workspace whose markers say
        # what a real push would skip.
        planner = DryRunDestination(dest.name, on_plan=lambda line: click.echo(line, err=True))
        connection = planner.connection(stored.workspace_id if stored else "dry-run")
        target: Any = planner
    else:
        try:
            connection = _check_connection(dest, store, stored)
        except CrmPushError as exc:
            raise _fail(exc) from None
        target = dest
    markers = MarkerStore(dest.name, connection.workspace_id, ctx.db)
    pusher = Pusher(target, connection, markers, workers=workers, dry_run=dry_run)

    with RunReport(path=file, noun="visitor", as_json=as_json, rejects=rejects) as report:
        summary = pusher.run(read_jsonl(read_lines(file)), on_result=report.on_result)
    if not dry_run:
        summary.http = dest.request_stats(connection)
        renewed = dest.current_credentials(connection)
        _keep_renewed(store, stored, connection.model_copy(update={"credentials": renewed}))
    if as_json:
        report.print_json(
            summary, dry_run=dry_run, destination=dest.name, workspace=connection.workspace_id
        )
    else:
        _print_summary(summary, report, dry_run)
    if summary.failed or summary.stopped:
        sys.exit(1)


def _print_summary(summary: Any, report: RunReport, dry_run: bool) -> None:
    prefix = "Dry run — nothing was written. " if dry_run else ""
    click.echo(
        f"{prefix}{plural(summary.total, 'visitor')} in {report.elapsed:.1f}s: "
        f"{summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.failed} failed; {summary.writes} writes."
    )
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
    if summary.failed:
        click.echo(report.failure_hint())
    if summary.stopped:
        click.echo(
            f"Stopped early: {summary.stopped}\nWhat was pushed stays pushed; run the same "
            "command again after fixing this and it resumes where it stopped."
        )


def _push_actions(
    ctx: Context,
    file: str,
    input_format: str,
    mapping_file: str | None,
    as_json: bool,
    rejects: IO[str] | None,
    dry_run: bool,
    workers: int,
) -> None:
    from crm_push.inputs.records import read_records
    from crm_push.inputs.segment import SegmentMapping, read_segment
    from crm_push.models.crm import Connection
    from crm_push.push.runner import ActionRunner
    from crm_push.state.connections import ConnectionStore

    items: Any
    if input_format == "segment":
        try:
            mapping = SegmentMapping.load(mapping_file) if mapping_file else None
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--mapping") from None
        items = read_segment(read_lines(file), mapping)
    else:
        items = read_records(read_lines(file))
    dest = ctx.destination()
    if input_format == "segment":
        _need(dest, "identify_user", "group_workspace")
    else:
        _need(dest, "assert_record")
    store = ConnectionStore(ctx.db)
    stored = store.load(dest.name)
    if dry_run:
        connection = Connection(destination=dest.name, workspace_id="dry-run")
    else:
        try:
            connection = _check_connection(dest, store, stored)
        except CrmPushError as exc:
            raise _fail(exc) from None
    runner = ActionRunner(
        dest,
        connection,
        workers=workers,
        dry_run=dry_run,
        on_plan=lambda line: click.echo(line, err=True),
    )
    noun = "event" if input_format == "segment" else "record"
    with RunReport(path=file, noun=noun, as_json=as_json, rejects=rejects) as report:
        summary = runner.run(items, on_result=report.on_result)
    if not dry_run:
        renewed = dest.current_credentials(connection)
        _keep_renewed(store, stored, connection.model_copy(update={"credentials": renewed}))
    if as_json:
        report.print_json(
            summary,
            dry_run=dry_run,
            destination=dest.name,
            workspace=connection.workspace_id,
            format=input_format,
        )
    else:
        _print_action_summary(summary, report, dry_run)
    if summary.failed or summary.stopped:
        sys.exit(1)


def _print_action_summary(summary: Any, report: RunReport, dry_run: bool) -> None:
    prefix = "Dry run — nothing was written. " if dry_run else ""
    skipped = ""
    if summary.skipped:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(summary.skipped_types.items()))
        skipped = f", {summary.skipped} skipped ({kinds})"
    click.echo(
        f"{prefix}{plural(summary.total, report.noun)} in {report.elapsed:.1f}s: "
        f"{summary.created} created, "
        f"{summary.updated} updated, {summary.failed} failed{skipped}; "
        f"{plural(summary.writes, 'action')} sent."
    )
    if summary.failed:
        click.echo(report.failure_hint())
    if summary.stopped:
        click.echo(
            f"Stopped early: {summary.stopped}\nWhat was pushed stays pushed; asserts are "
            "idempotent, so running the same command again after fixing this is safe."
        )
