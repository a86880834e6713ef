"""`crm-push markers`: what was pushed where; removing one never touches the CRM."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from crm_push.cli.app import Context, cli, pass_ctx

if TYPE_CHECKING:
    from crm_push.state.markers import MarkerStore


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
    from crm_push.state.connections import ConnectionStore
    from crm_push.state.markers import MarkerStore

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
