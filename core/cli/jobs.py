"""`crm-push enqueue`, `crm-push worker`, `crm-push jobs`: pushes as jobs on procrastinate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from crm_push.cli.app import Context, cli, pass_ctx
from crm_push.cli.push import _lines, _open, _rejects
from crm_push.cli.report import failure_line, plural, reject_line


def _jobs_ready(ctx: Context) -> None:
    """The worker extra installed and the state database PostgreSQL (else exit 2)."""
    from crm_push.jobs.engine import conninfo, need_procrastinate

    need_procrastinate()
    conninfo(ctx.db)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--workspace",
    metavar="ID",
    help="Enqueue for the stored connection of this workspace (needed when several are stored; "
    "see `crm-push connections`).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Visitors per job.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    help="Write each bad line here (JSONL, with a `_reject` reason), as `push --rejects` does.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@pass_ctx
def enqueue(
    ctx: Context,
    file: str,
    workspace: str | None,
    batch_size: int,
    rejects: str | None,
    as_json: bool,
) -> None:
    """Validate the visitors of FILE (JSON Lines; - for stdin) and enqueue them as push jobs.

    Every line is checked now: bad lines are reported (and written to --rejects) and make the
    exit code 1; the good visitors become jobs of --batch-size visitors for the stored
    connection of the workspace, run by `crm-push worker`. Needs a PostgreSQL --db.
    """
    from crm_push.jobs import enqueue as enqueue_visitors
    from crm_push.push.results import VisitorResult
    from crm_push.state.connections import ConnectionStore

    if file != "-" and not Path(file).exists():
        raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
    dest = ctx.destination()
    _jobs_ready(ctx)
    stored = ConnectionStore(ctx.db).load(dest.name, workspace)  # AmbiguousConnection: exit 2
    if stored is None:
        where = f" workspace {workspace}" if workspace else ""
        raise click.UsageError(
            f"no stored connection to {dest.name}{where}: run `crm-push --dest {dest.name} "
            "connect` first (jobs never use an environment token)"
        )
    rejects_file = _rejects(rejects, file)
    source = _open(file, ctx.dest_name or dest.name)
    good = []
    bad = 0
    try:
        for line in _lines(source, "visitors", None):
            if line.item is not None:
                good.append(line)
            elif line.error is not None:
                bad += 1
                result = VisitorResult.not_pushed(line)
                if not as_json:
                    click.echo(failure_line(result), err=True)
                if rejects_file is not None:
                    rejects_file.write(reject_line(line, result) + "\n")
    finally:
        source.close()
        if rejects_file is not None:
            rejects_file.close()
    done = enqueue_visitors(
        dest.name, stored.workspace_id, good, db_url=ctx.db, batch_size=batch_size
    )
    if as_json:
        out: dict[str, Any] = {
            "destination": dest.name,
            "workspace": done.workspace,
            "visitors": done.visitors,
            "jobs": done.jobs,
            "rejected": bad,
            "job_ids": done.job_ids,
        }
        click.echo(json.dumps(out))
    else:
        click.echo(
            f"Enqueued {plural(done.visitors, 'visitor')} in {plural(done.jobs, 'job')} for "
            f"{dest.name} workspace {done.workspace}"
            + (f"; {plural(bad, 'line')} rejected" if bad else "")
            + (f" (see {rejects})" if bad and rejects else "")
            + "."
        )
    if bad:
        sys.exit(1)


@cli.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Jobs run at once by this worker (each pushes a few visitors at once).",
)
@click.option(
    "--burst",
    is_flag=True,
    help="Exit 0 once no job is waiting, running or scheduled for a retry (jobs enqueued "
    "meanwhile are found within a second).",
)
@click.option(
    "--stall-seconds",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    help="A job whose worker sent no heartbeat for this long (killed, machine gone) is run "
    "again by another worker; it must be the same on every worker.",
)
@pass_ctx
def worker(ctx: Context, concurrency: int, burst: bool, stall_seconds: float) -> None:
    """Run push jobs of every destination and workspace (from `crm-push enqueue` or
    `crm_push.jobs.enqueue`). SIGTERM or Ctrl-C: the current jobs finish, then it stops."""
    from crm_push.jobs.worker import run_worker

    _jobs_ready(ctx)
    click.echo(
        f"worker: running push jobs ({plural(concurrency, 'at a time', 'at a time')}"
        f"{', until none is left' if burst else ''}); stop with Ctrl-C or SIGTERM.",
        err=True,
    )
    run_worker(ctx.db, concurrency=concurrency, burst=burst, stall_seconds=stall_seconds)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON on stdout.")
@click.pass_context
def jobs(click_ctx: click.Context, as_json: bool) -> None:
    """Push jobs by state per destination and workspace; `jobs failed` lists failed visitors."""
    if click_ctx.invoked_subcommand is not None:
        return
    from crm_push.jobs.engine import ensure_schema
    from crm_push.jobs.status import job_counts, totals

    ctx: Context = click_ctx.obj
    _jobs_ready(ctx)
    ensure_schema(ctx.db)
    entries = job_counts(ctx.db)
    if ctx.dest_name:
        entries = [e for e in entries if e.destination == ctx.dest_name]
    total = totals(entries)
    if as_json:
        click.echo(json.dumps({**total, "workspaces": [e.as_dict() for e in entries]}))
        return
    if not entries:
        click.echo("No push jobs.")
        return
    for e in entries:
        s = e.states
        line = (
            f"{e.destination} {e.workspace}: {s['todo']} todo ({e.scheduled} scheduled), "
            f"{s['doing']} doing, {s['succeeded']} succeeded, {s['failed']} failed"
        )
        if e.stopped:
            line += f" — stopped, reconnect: {e.stopped}"
        click.echo(line)
    click.echo(
        f"total: {total['todo']} todo, {total['doing']} doing, {total['succeeded']} succeeded, "
        f"{total['failed']} failed"
    )


@jobs.command("failed")
@click.option("--workspace", metavar="ID", help="Only the visitors of this workspace.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a failed visitor (JSONL).")
@pass_ctx
def jobs_failed(ctx: Context, workspace: str | None, as_json: bool) -> None:
    """The visitors that failed in jobs: destination, workspace, job, line, visitor id, reason."""
    from crm_push.jobs.engine import ensure_schema
    from crm_push.jobs.failures import list_failures

    _jobs_ready(ctx)
    ensure_schema(ctx.db)
    failures = list_failures(ctx.db, ctx.dest_name, workspace)
    for f in failures:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "destination": f.destination,
                        "workspace": f.workspace,
                        "job_id": f.job_id,
                        "line": f.line,
                        "visitor_id": f.visitor_id,
                        "reason": f.reason,
                        "field": f.field,
                        "failed_at": f.failed_at.isoformat(),
                    }
                )
            )
        else:
            field = f" (field {f.field})" if f.field else ""
            click.echo(
                f"{f.destination} {f.workspace} job {f.job_id} line {f.line} visitor "
                f"{f.visitor_id!r}: {f.reason}{field}"
            )
    if not failures and not as_json:
        click.echo("No failed visitors.")
