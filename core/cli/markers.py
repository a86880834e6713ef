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
    from crm_push.state.markers import MarkerStore

    session = ctx.session()  # nothing is checked with the CRM: markers are local
    workspace = ctx.workspace
    if workspace is None:
        stored = session.stored
        workspace = stored.workspace_id if stored else ""  # "": every workspace
    return MarkerStore(session.name, workspace, ctx.db)


def _marker_json(marker: Any) -> dict[str, Any]:
    data: dict[str, Any] = marker.model_dump(mode="json")
    return data


def _scope(store: MarkerStore) -> str:
    return f"workspace {store.workspace}" if store.workspace else "every workspace"


@markers.command("list")
@click.option(
    "--companies",
    is_flag=True,
    help="List company markers (one per domain, shared by every visitor) instead of visitors'.",
)
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def markers_list(ctx: Context, companies: bool, limit: int, as_json: bool) -> None:
    """The most recent markers of the destination's workspace: visitors', or companies'."""
    store = _marker_store(ctx)
    rows: list[Any] = store.companies(limit=limit) if companies else store.list(limit=limit)
    if as_json:
        click.echo(json.dumps([_marker_json(m) for m in rows], indent=2))
        return
    kind = "company" if companies else "visitor"
    if not rows:
        click.echo(f"No {kind} markers yet ({_scope(store)}).")
        return
    click.echo(f"{kind.capitalize()} markers of {_scope(store)}, newest first:")
    for m in rows:
        head = f"{m.pushed_at:%Y-%m-%d %H:%M:%S}  "
        if not store.workspace:
            head += f"{m.workspace:<24} "  # of every workspace: one domain may be in several
        if companies:
            click.echo(f"{head}{m.domain:<32} {m.object or '-':<16} {m.record_id or '-'}")
        else:
            click.echo(f"{head}{m.visitor_id:<20} {m.part:<24} {m.record_id or '-':<38} {m.state}")


@markers.command("show")
@click.argument("visitor_id")
@pass_ctx
def markers_show(ctx: Context, visitor_id: str) -> None:
    """Every marker of one visitor, as JSON."""
    rows = _marker_store(ctx).list(visitor_id=visitor_id)
    if not rows:
        raise click.ClickException(f"no markers for visitor {visitor_id!r}")
    click.echo(json.dumps([_marker_json(m) for m in rows], indent=2))


def _domain(value: str) -> str:
    # The same spelling as the stored marker's, whatever the operator typed (URL, www., case).
    from crm_push.models.fields import normalize_domain

    try:
        return normalize_domain(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--company") from None


@markers.command("remove")
@click.argument("visitor_ids", nargs=-1)
@click.option(
    "--part",
    help="Only this part: company, person, link, note, contact:<email or name>, link:contact:<…>.",
)
@click.option(
    "--company",
    "domains",
    metavar="DOMAIN",
    multiple=True,
    help="Forget the company marker of DOMAIN instead (repeatable); give no VISITOR_IDS.",
)
@pass_ctx
def markers_remove(
    ctx: Context, visitor_ids: tuple[str, ...], part: str | None, domains: tuple[str, ...]
) -> None:
    """Forget markers of VISITOR_IDS (or of companies) so the next push asserts them again.

    This never touches the CRM: records and notes stay where they are.
    """
    if domains:
        if visitor_ids or part:
            raise click.UsageError("--company takes no VISITOR_IDS and no --part.")
        normalized = [_domain(d) for d in domains]
        removed = _marker_store(ctx).remove_companies(normalized)
        click.echo(
            f"Removed {removed} company marker(s). Nothing in the CRM was deleted or changed; a "
            "new visitor of these companies (or one whose company data changed) asserts the "
            "company again, matched by its domain."
        )
        return
    if not visitor_ids:
        raise click.UsageError("Give one or more VISITOR_IDS, or --company DOMAIN.")
    removed = _marker_store(ctx).remove(visitor_ids, part)
    click.echo(
        f"Removed {removed} marker(s). Nothing in the CRM was deleted or changed; the next push "
        "of these visitors asserts them again (a visitor without email or domain may then be "
        "created anew)."
    )
