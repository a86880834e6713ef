"""The crm-push command line: `crm-push [--dest NAME] [--db URL] [-v] COMMAND`.

Exit codes: 0 every visitor succeeded, 1 some failed (or the run stopped), 2 usage errors.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from crm_push.errors import CrmPushError, DestinationNotFound, PluginLoadError
from crm_push.report import RunReport, plural, read_lines

if TYPE_CHECKING:  # imported lazily at run time: `crm-push --help` stays fast
    from crm_push.destination import Destination
    from crm_push.markers import MarkerStore

DEST_ENV = "CRM_PUSH_DEST"
#: What `push --format` reads.
FORMATS = ("visitors", "records", "segment")


class Context:
    def __init__(self, dest: str | None, db: str | None, verbose: int) -> None:
        self.dest_name = dest
        self.db = db
        self.verbose = verbose
        self.workspace: str | None = None  # `markers --workspace`

    def destination(self) -> Destination:
        from crm_push.loading import available, load_destination

        if not self.dest_name:
            names = ", ".join(available()) or "none installed"
            raise click.UsageError(
                f"choose a destination with --dest NAME (or {DEST_ENV}): {names}"
            )
        try:
            return load_destination(self.dest_name)
        except DestinationNotFound as exc:
            raise click.UsageError(str(exc)) from None
        except PluginLoadError as exc:
            raise click.ClickException(str(exc)) from None


pass_ctx = click.make_pass_decorator(Context)


def _fail(exc: CrmPushError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--dest",
    envvar=DEST_ENV,
    metavar="NAME",
    help=f"Destination CRM, by entry-point name (see `crm-push plugins`). Env: {DEST_ENV}.",
)
@click.option(
    "--db",
    envvar="CRM_PUSH_DB",
    metavar="URL",
    help="State database URL (markers, connections). Default: a SQLite file in the user data "
    "dir. Env: CRM_PUSH_DB. Example: sqlite:///state.db or postgresql://…",
)
@click.option(
    "-v", "--verbose", count=True, help="More logging (-vv for debug). Never logs secrets."
)
@click.version_option(package_name="crm-push")
@click.pass_context
def cli(ctx: click.Context, dest: str | None, db: str | None, verbose: int) -> None:
    """Push website visitors — people, their companies, what they did — into a CRM.

    \b
    Typical session:
      crm-push plugins                          # which destinations are installed
      crm-push --dest attio connect             # check and store the credentials
      crm-push --dest attio push visitors.jsonl # upsert companies, people, links, notes
      crm-push --dest attio push visitors.jsonl # again: unchanged visitors are skipped

    Input is JSON Lines, one visitor a line; `crm-push schema` prints its JSON Schema.
    Nothing is ever deleted in the CRM.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(dest, db, verbose)


# -- push ------------------------------------------------------------------------------------


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
    from crm_push.connections import ConnectionStore
    from crm_push.dryrun import DryRunDestination
    from crm_push.markers import MarkerStore
    from crm_push.pusher import Pusher
    from crm_push.reader import read_jsonl

    if file != "-" and not Path(file).exists():
        raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
    if mapping is not None and input_format != "segment":
        raise click.UsageError("--mapping goes with --format segment")
    if input_format != "visitors":
        _push_actions(ctx, file, input_format, mapping, as_json, rejects, dry_run, workers)
        return
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
        summary.http = dest.request_stats()
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


# -- records and Segment events ---------------------------------------------------------------


def _need(dest: Any, *hooks: str) -> None:
    """A usage error (exit 2) when the destination lacks an optional hook."""
    for hook in hooks:
        why = dest.cannot(hook)
        if why:
            raise click.UsageError(f"{why}; see `crm-push plugins` for the installed ones")


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
    from crm_push.action_runner import ActionRunner
    from crm_push.connections import ConnectionStore
    from crm_push.records import Connection
    from crm_push.records_input import read_records
    from crm_push.segment import SegmentMapping, read_segment

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


def _parse_value(text: str) -> Any:
    """JSON when it parses as JSON (numbers, true, null, lists, objects), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _values(sets: tuple[str, ...], set_jsons: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for option, items, strict in (("--set", sets, False), ("--set-json", set_jsons, True)):
        for item in items:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or not key:
                shape = "KEY=JSON" if strict else "KEY=VALUE"
                raise click.BadParameter(f"{item!r} is not {shape}", param_hint=option)
            if strict:
                try:
                    value = json.loads(raw)
                except ValueError as exc:
                    raise click.BadParameter(
                        f"{key}: {raw!r} is not JSON ({exc})", param_hint=option
                    ) from None
            else:
                value = _parse_value(raw)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] == 1:
                values[key] = value
            elif seen[key] == 2:
                values[key] = [values[key], value]  # a repeated key: several values
            else:
                values[key].append(value)
    return values


@cli.command("assert-record")
@click.option(
    "--object", "object_", required=True, metavar="OBJECT", help="The object's slug or id."
)
@click.option(
    "--match",
    "matching_attribute",
    required=True,
    metavar="ATTRIBUTE",
    help="The unique attribute to match on; give its value with --set.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="An attribute value; repeatable (a repeated KEY gives several values). VALUE is read "
    "as JSON when it parses (42, true, null, [..]), else as text.",
)
@click.option(
    "--set-json",
    "set_jsons",
    multiple=True,
    metavar="KEY=JSON",
    help="An attribute value that must be JSON; repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def assert_record(
    ctx: Context,
    object_: str,
    matching_attribute: str,
    sets: tuple[str, ...],
    set_jsons: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create or update one record of any object, matching on a unique attribute.

    \b
    crm-push --dest attio assert-record --object companies --match domains \\
        --set domains=app.attio.com --set twitter=@attio

    Values are simple values (a domain, an email, a select option's title, "Last, First" for a
    name…): the destination checks each against the object's attributes and writes nothing
    when one is wrong. null unsets an attribute. Prints the record id and whether it was
    created or updated.
    """
    from crm_push.connections import ConnectionStore

    values = _values(sets, set_jsons)
    if values.get(matching_attribute) is None:
        raise click.UsageError(
            f"--match {matching_attribute} needs a value to match on: add "
            f"--set {matching_attribute}=VALUE"
        )
    dest = ctx.destination()
    _need(dest, "assert_record")
    store = ConnectionStore(ctx.db)
    try:
        connection = _check_connection(dest, store, store.load(dest.name))
        ref = dest.assert_record(connection, object_, matching_attribute, values)
    except CrmPushError as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(ref.model_dump(mode="json"), indent=2))
        return
    click.echo(f"{ref.outcome} {ref.object} record {ref.record_id}")
    if ref.web_url:
        click.echo(ref.web_url)


# -- connections -----------------------------------------------------------------------------


def _check_connection(dest: Any, store: Any, stored: Any) -> Any:
    """Connect with the stored credentials (or the destination's env); keep refreshed tokens."""
    from crm_push.records import ConnectOptions

    live = dest.connect(
        credentials=stored.credentials if stored else None,
        options=ConnectOptions(
            interactive=False, stored_base_url=stored.base_url if stored else None
        ),
    )
    _keep_renewed(store, stored, live)
    return live


def _keep_renewed(store: Any, stored: Any, connection: Any) -> None:
    """Store credentials the destination renewed (at connect or mid-run): a rotated refresh
    token that is not kept would force a reconnect."""
    if stored is None or connection.workspace_id != stored.workspace_id:
        return
    if connection.credentials.refresh_token is None:
        return
    if connection.credentials.to_storage() != stored.credentials.to_storage():
        store.save(connection)


def _connection_lines(connection: Any) -> list[str]:
    lines = [
        f"destination: {connection.destination}",
        f"workspace:   {connection.workspace_name or '?'} ({connection.workspace_id})",
        f"scopes:      {' '.join(connection.scopes) or '(none reported)'}",
        f"can:         {', '.join(sorted(connection.capabilities)) or '(nothing optional)'}",
    ]
    lines += [f"warning:     {w}" for w in connection.warnings]
    return lines


@cli.command()
@click.option("--oauth", is_flag=True, help="Run the OAuth authorization-code flow in a browser.")
@click.option("--client-id", envvar="CRM_PUSH_CLIENT_ID", help="OAuth client id.")
@click.option(
    "--client-secret", envvar="CRM_PUSH_CLIENT_SECRET", help="OAuth client secret (not echoed)."
)
@click.option("--base-url", help="Override the CRM's API base URL (a local server, say).")
@click.option(
    "--option",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="A destination-specific option; repeatable.",
)
@pass_ctx
def connect(
    ctx: Context,
    oauth: bool,
    client_id: str | None,
    client_secret: str | None,
    base_url: str | None,
    extra: tuple[str, ...],
) -> None:
    """Check credentials with the CRM and store the connection.

    Tokens come from the destination's environment variable (e.g. ATTIO_ACCESS_TOKEN) or from
    --oauth. The stored token is kept in the state database (file mode 0600) and never printed.
    """
    from crm_push.connections import ConnectionStore
    from crm_push.records import ConnectOptions
    from pydantic import SecretStr

    pairs = {}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--option")
        pairs[key] = value
    dest = ctx.destination()
    store = ConnectionStore(ctx.db)
    stored = store.load(dest.name)
    options = ConnectOptions(
        oauth=oauth,
        client_id=client_id,
        client_secret=SecretStr(client_secret) if client_secret else None,
        base_url=base_url,
        interactive=True,
        extra=pairs,
    )
    try:
        connection = dest.connect(
            credentials=None if oauth else (stored.credentials if stored else None), options=options
        )
    except CrmPushError as exc:
        raise _fail(exc) from None
    store.save(connection)
    click.echo(f"Connected to {dest.name}.")
    for line in _connection_lines(connection):
        click.echo(line)


@cli.command()
@pass_ctx
def status(ctx: Context) -> None:
    """Show the stored connection and check it with the CRM.

    Changes nothing, except that a token the CRM rotated during the check is kept.
    """
    from crm_push.connections import ConnectionStore

    dest = ctx.destination()
    store = ConnectionStore(ctx.db)
    stored = store.load(dest.name)
    if stored:
        click.echo(f"Stored connection (since {stored.connected_at:%Y-%m-%d %H:%M} UTC):")
        for line in _connection_lines(stored):
            click.echo("  " + line)
    else:
        click.echo(f"No stored connection for {dest.name}.")
    try:
        live = _check_connection(dest, store, stored)
    except CrmPushError as exc:
        click.echo(f"Check failed: {exc}")
        sys.exit(1)
    click.echo("Checked now with the CRM:")
    for line in _connection_lines(live):
        click.echo("  " + line)


@cli.command()
@pass_ctx
def disconnect(ctx: Context) -> None:
    """Revoke the token where the CRM allows it and forget stored credentials.

    Nothing in the CRM is deleted: records and notes pushed so far stay.
    """
    from crm_push.connections import ConnectionStore

    dest = ctx.destination()
    store = ConnectionStore(ctx.db)
    stored = store.load(dest.name)
    if stored is None:
        click.echo(f"No stored connection for {dest.name}; nothing to forget.")
        return
    try:
        result = dest.disconnect(stored)
        click.echo(result.message)
    except CrmPushError as exc:
        click.echo(f"Could not revoke the token in the CRM: {exc}", err=True)
    store.forget(dest.name, stored.workspace_id)
    click.echo(
        f"Forgot the stored credentials for {dest.name} ({stored.workspace_id}). "
        "Nothing in the CRM was deleted: records and notes stay."
    )


# -- plugins, schema, markers ----------------------------------------------------------------


@cli.command()
def plugins() -> None:
    """List installed destinations as JSON: name, module, distribution, version, status, error.

    Each plugin is loaded on its own: a broken one shows as "broken" with its error.
    CRM_PUSH_PLUGINS=a,b loads only those; CRM_PUSH_BLOCK_PLUGINS=c hides c.
    """
    from crm_push.loading import list_plugins

    click.echo(json.dumps([p.model_dump() for p in list_plugins()], indent=2))


@cli.command()
def schema() -> None:
    """Print the JSON Schema of one input line (a visitor)."""
    from crm_push.models import REJECT_KEY, Visitor

    schema = Visitor.model_json_schema()
    # push accepts lines of a --rejects file as they are: document the key it ignores.
    schema["properties"][REJECT_KEY] = {
        "type": "object",
        "description": "Added by --rejects: why the line failed. Ignored when pushed again.",
    }
    click.echo(json.dumps(schema, indent=2))


@cli.group()
@click.option(
    "--workspace",
    metavar="ID",
    help="The workspace whose markers to use. Default: the stored connection's; with none "
    "stored, every workspace of the destination.",
)
@pass_ctx
def markers(ctx: Context, workspace: str | None) -> None:
    """Push markers: what was pushed where. Removing one never touches the CRM."""
    ctx.workspace = workspace


def _marker_store(ctx: Context) -> MarkerStore:
    from crm_push.connections import ConnectionStore
    from crm_push.markers import MarkerStore

    dest = ctx.destination()
    workspace = ctx.workspace
    if workspace is None:
        stored = ConnectionStore(ctx.db).load(dest.name)
        workspace = stored.workspace_id if stored else ""  # "": every workspace
    return MarkerStore(dest.name, workspace, ctx.db)


def _marker_json(marker: Any) -> dict[str, Any]:
    data: dict[str, Any] = marker.model_dump(mode="json")
    return data


@markers.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def markers_list(ctx: Context, limit: int, as_json: bool) -> None:
    """The most recent markers of the destination's workspace."""
    store = _marker_store(ctx)
    rows = store.list(limit=limit)
    if as_json:
        click.echo(json.dumps([_marker_json(m) for m in rows], indent=2))
        return
    scope = f"workspace {store.workspace}" if store.workspace else "every workspace"
    if not rows:
        click.echo(f"No markers yet ({scope}).")
    for m in rows:
        click.echo(
            f"{m.pushed_at:%Y-%m-%d %H:%M:%S}  {m.visitor_id:<20} {m.part:<24} "
            f"{m.record_id or '-':<38} {m.state}"
        )


@markers.command("show")
@click.argument("visitor_id")
@pass_ctx
def markers_show(ctx: Context, visitor_id: str) -> None:
    """Every marker of one visitor, as JSON."""
    rows = _marker_store(ctx).list(visitor_id=visitor_id)
    if not rows:
        raise click.ClickException(f"no markers for visitor {visitor_id!r}")
    click.echo(json.dumps([_marker_json(m) for m in rows], indent=2))


@markers.command("remove")
@click.argument("visitor_ids", nargs=-1, required=True)
@click.option(
    "--part",
    help="Only this part: company, person, link, note, contact:<email or name>, link:contact:<…>.",
)
@pass_ctx
def markers_remove(ctx: Context, visitor_ids: tuple[str, ...], part: str | None) -> None:
    """Forget markers of VISITOR_IDS so the next push asserts them again.

    This never touches the CRM: records and notes stay where they are.
    """
    removed = _marker_store(ctx).remove(visitor_ids, part)
    click.echo(
        f"Removed {removed} marker(s). Nothing in the CRM was deleted or changed; the next push "
        "of these visitors asserts them again (a visitor without email or domain may then be "
        "created anew)."
    )


def main() -> None:
    cli(prog_name="crm-push")
