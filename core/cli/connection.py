"""`crm-push connect`, `status` and `disconnect`: the stored connection of a destination."""

from __future__ import annotations

import sys
from typing import Any

import click
from crm_push.cli.app import Context, _fail, cli, pass_ctx
from crm_push.errors import CrmPushError


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
    from crm_push.models.crm import ConnectOptions
    from pydantic import SecretStr

    pairs = {}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--option")
        pairs[key] = value
    options = ConnectOptions(
        oauth=oauth,
        client_id=client_id,
        client_secret=SecretStr(client_secret) if client_secret else None,
        base_url=base_url,
        interactive=True,
        extra=pairs,
    )
    with ctx.session() as session:
        try:
            # --oauth asks for a new grant: the stored token is not offered to the plugin.
            session.connect(options, fresh=oauth)
            connection = session.save()
        except CrmPushError as exc:
            raise _fail(exc) from None
    click.echo(f"Connected to {session.name}.")
    for line in _connection_lines(connection):
        click.echo(line)


@cli.command()
@pass_ctx
def status(ctx: Context) -> None:
    """Show the stored connection and check it with the CRM.

    Changes nothing, except that a token the CRM rotated during the check is kept.
    """
    with ctx.session() as session:
        stored = session.stored
        if stored:
            click.echo(f"Stored connection (since {stored.connected_at:%Y-%m-%d %H:%M} UTC):")
            for line in _connection_lines(stored):
                click.echo("  " + line)
        else:
            click.echo(f"No stored connection for {session.name}.")
        try:
            live = session.connect()
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
    with ctx.session() as session:
        stored = session.stored
        if stored is None:
            click.echo(f"No stored connection for {session.name}; nothing to forget.")
            return
        try:
            click.echo(session.disconnect().message)
        except CrmPushError as exc:
            click.echo(f"Could not revoke the token in the CRM: {exc}", err=True)
    click.echo(
        f"Forgot the stored credentials for {session.name} ({stored.workspace_id}). "
        "Nothing in the CRM was deleted: records and notes stay."
    )
