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
    if workspace is None and session.ambiguous is not None:
        raise session.ambiguous  # several stored connections: which workspace? exit 2
    if workspace is None:
        stored = session.stored
        workspace = stored.workspace_id if stored else ""  # "": every workspace
    return MarkerStore(session.name, workspace, ctx.db)


def _marker_json(marker: Any) -> dict[str, Any]:
    data: dict[str, Any] = marker.model_dump(mode="json")
    return data


def _scope(store: MarkerStore) -> str:
    return f"workspace {store.workspace}" if store.workspace else "every workspace"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Columns as wide as their widest cell (a long contact part or domain never shifts them)."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]


@markers.command("list")
@click.option(
    "--companies",
    is_flag=True,
    help="List company markers (one per domain, shared by every visitor) instead of visitors'.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="At most this many markers, newest first.",
)
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
    scope = _scope(store)
    if not store.workspace:
        scope += " (no stored connection; --workspace ID for one)"
    if not rows:
        click.echo(f"No {kind} markers yet ({scope}).")
        return
    click.echo(f"{kind.capitalize()} markers of {scope}, newest first:")
    headers = ["TIME (UTC)"] + ([] if store.workspace else ["WORKSPACE"])
    if companies:
        headers += ["DOMAIN", "OBJECT", "RECORD"]
    else:
        headers += ["VISITOR", "PART", "RECORD", "STATE"]
    cells = []
    for m in rows:
        line = [f"{m.pushed_at:%Y-%m-%d %H:%M:%S}"]
        if not store.workspace:
            line.append(m.workspace)  # of every workspace: one visitor may be in several
        if companies:
            line += [m.domain, m.object or "-", m.record_id or "-"]
        else:
            line += [m.visitor_id, m.part, m.record_id or "-", m.state]
        cells.append(line)
    for text in _table(headers, cells):
        click.echo(text)
    if len(rows) == limit:
        click.echo(f"(the {limit} newest; --limit N for more)")


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


def _part(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from crm_push.state.markers import PARTS_HELP, is_part

    if value is not None and not is_part(value):
        raise click.BadParameter(f"{value!r} is not a part; the parts are: {PARTS_HELP}")
    return value


def _warn(text: str) -> None:
    click.echo(f"warning: {text}", err=True)


@markers.command("remove")
@click.argument("visitor_ids", nargs=-1)
@click.option(
    "--part",
    callback=_part,
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

    This never touches the CRM: records and notes stay where they are. Ids (or domains) with
    no marker to remove are named in a warning on stderr.
    """
    if domains:
        if visitor_ids or part:
            raise click.UsageError("--company takes no VISITOR_IDS and no --part.")
        normalized = [_domain(d) for d in domains]
        store = _marker_store(ctx)
        counts = {d: store.remove_companies([d]) for d in dict.fromkeys(normalized)}
        removed = sum(counts.values())
        message = f"Removed {removed} company marker(s)."
        if removed:
            message += (
                " Nothing in the CRM was deleted or changed; a new visitor of these companies "
                "(or one whose company data changed) asserts the company again, matched by its "
                "domain."
            )
        click.echo(message)
        for domain in (d for d, n in counts.items() if not n):
            _warn(f"no company marker of {domain} in {_scope(store)}; nothing removed for it")
        return
    if not visitor_ids:
        raise click.UsageError("Give one or more VISITOR_IDS, or --company DOMAIN.")
    store = _marker_store(ctx)
    counts = {vid: store.remove([vid], part) for vid in dict.fromkeys(visitor_ids)}
    removed = sum(counts.values())
    message = f"Removed {removed} marker(s)."
    if removed:
        message += (
            " Nothing in the CRM was deleted or changed; the next push of these visitors "
            "asserts them again (a visitor without email or domain may then be created anew)."
        )
    click.echo(message)
    what = f"no {part!r} marker" if part else "no marker"
    for vid in (v for v, n in counts.items() if not n):
        _warn(f"{what} of visitor {vid!r} in {_scope(store)}; nothing removed for it")
