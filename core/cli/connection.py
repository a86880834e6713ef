"""`crm-push connect`, `status`, `disconnect` and `connections`: stored connections."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from crm_push.cli.app import Context, _fail, cli, pass_ctx
from crm_push.errors import ConfigurationError, CrmPushError


def _token_kind(connection: Any) -> str:
    """What kind of credentials, in words; never any part of them."""
    creds = connection.credentials
    if creds.access_token is None:
        return "none"
    if creds.refresh_token is not None or creds.client_id:
        return "OAuth access token (renewed with its refresh token)"
    return "access token"


def _expiry(connection: Any) -> str:
    when = connection.credentials.expires_at
    return f"{when:%Y-%m-%d %H:%M} UTC" if when else "never (or not reported)"


def _connection_facts(connection: Any) -> dict[str, Any]:
    """What `status --json` prints of a connection: no secret."""
    return {
        "destination": connection.destination,
        "workspace_id": connection.workspace_id,
        "workspace_name": connection.workspace_name,
        "base_url": connection.base_url,
        "scopes": list(connection.scopes),
        "capabilities": sorted(connection.capabilities),
        "token": _token_kind(connection),
        "expires_at": (
            connection.credentials.expires_at.isoformat()
            if connection.credentials.expires_at
            else None
        ),
        "warnings": list(connection.warnings),
        "connected_at": connection.connected_at.isoformat(),
    }


def _connection_lines(connection: Any) -> list[str]:
    lines = [
        f"destination: {connection.destination}",
        f"workspace:   {connection.workspace_name or '?'} ({connection.workspace_id})",
        f"base URL:    {connection.base_url or '(the destination default)'}",
        f"token:       {_token_kind(connection)}, expires {_expiry(connection)}",
        f"scopes:      {' '.join(connection.scopes) or '(none reported)'}",
        f"can:         {', '.join(sorted(connection.capabilities)) or '(nothing optional)'}",
    ]
    lines += [f"warning:     {w}" for w in connection.warnings]
    return lines


@cli.command()
@click.option(
    "--workspace",
    metavar="ID",
    help="The workspace whose stored connection to use (needed when several are stored; see "
    "`crm-push connections`).",
)
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
    workspace: str | None,
    oauth: bool,
    client_id: str | None,
    client_secret: str | None,
    base_url: str | None,
    extra: tuple[str, ...],
) -> None:
    """Check credentials with the CRM and store the connection.

    Tokens come from the destination's environment variable (e.g. ATTIO_ACCESS_TOKEN) or from
    --oauth. The token is stored in the state database (the default SQLite file is readable
    by its owner only; protect any other database) and never printed.
    """
    from crm_push.models.crm import ConnectOptions
    from pydantic import SecretStr

    ctx.workspace = workspace
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
            if oauth and session.destination.implements("oauth_settings"):
                connection = _connect_in_browser(ctx, session, options)
            else:
                # --oauth asks for a new grant: the stored token is not offered to the plugin.
                session.connect(options, fresh=oauth)
                connection = session.save()
        except CrmPushError as exc:
            raise _fail(exc) from None
    click.echo(f"Connected to {session.name}.")
    for line in _connection_lines(connection):
        click.echo(line)


def _connect_in_browser(ctx: Context, session: Any, options: Any) -> Any:
    """`connect --oauth`: the loopback flow of `crm_push.oauth` (begin, the browser, complete),
    which stores the connection; the stored connection's tenant is kept."""
    import os

    from crm_push import oauth

    settings = session.destination.oauth_settings(options)
    extra = dict(options.extra)
    redirect_uri = extra.pop("redirect_uri", None) or (
        os.environ.get(settings.redirect_uri_env) if settings.redirect_uri_env else None
    )
    timeout = oauth.timeout_option(extra)
    extra.pop("oauth_timeout", None)
    if options.base_url:
        extra["base_url"] = options.base_url
    stored = session.stored
    return oauth.loopback(
        session.destination,
        client_id=options.client_id,
        client_secret=options.client_secret,
        options=extra,
        redirect_uri=redirect_uri or None,
        db_url=ctx.db,
        tenant=stored.tenant if stored is not None else None,
        timeout=timeout,
    )


@cli.command()
@click.option(
    "--workspace",
    metavar="ID",
    help="The workspace whose stored connection to use (needed when several are stored; see "
    "`crm-push connections`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stored and live facts as JSON.")
@pass_ctx
def status(ctx: Context, workspace: str | None, as_json: bool) -> None:
    """Show the stored connection and check it with the CRM.

    Shows the workspace, base URL, kind of token and its expiry, scopes and what the destination
    can do. Stores nothing new, except a token the destination renewed during the check (a
    rotated refresh token that was not kept would force a reconnect). Exit 1 when the check
    fails, with the reason on stderr.
    """
    ctx.workspace = workspace
    with ctx.session() as session:
        if session.ambiguous is not None:
            raise session.ambiguous  # which one to show? exit 2, listing them
        stored = session.stored
        try:
            live = session.connect()
            problem = None
        except ConfigurationError:
            raise  # a wrong setting (a read-only --db): exit 2, like every command
        except CrmPushError as exc:
            live, problem = None, str(exc)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "destination": session.name,
                    "stored": _connection_facts(stored) if stored else None,
                    "live": _connection_facts(live) if live else None,
                    "error": problem,
                },
                indent=2,
            )
        )
    else:
        if stored:
            click.echo(f"Stored connection (since {stored.connected_at:%Y-%m-%d %H:%M} UTC):")
            for line in _connection_lines(stored):
                click.echo("  " + line)
        else:
            click.echo(f"No stored connection for {session.name}.")
        if live:
            click.echo("Checked now with the CRM:")
            for line in _connection_lines(live):
                click.echo("  " + line)
    if problem:
        click.echo(f"Check failed: {problem}", err=True)
        sys.exit(1)


@cli.command()
@click.option(
    "--workspace",
    metavar="ID",
    help="The workspace whose stored connection to use (needed when several are stored; see "
    "`crm-push connections`).",
)
@pass_ctx
def disconnect(ctx: Context, workspace: str | None) -> None:
    """Revoke the token where the CRM allows it and forget stored credentials.

    Nothing in the CRM is deleted: records and notes pushed so far stay.
    """
    ctx.workspace = workspace
    with ctx.session() as session:
        if session.ambiguous is not None:
            raise session.ambiguous  # which one to forget? exit 2, listing them
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


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print them as a JSON list.")
@click.pass_context
def connections(click_ctx: click.Context, as_json: bool) -> None:
    """List the stored connections (of --dest, or of every destination); never a secret.

    Each is addressed by its workspace: `--workspace ID` on connect, status, disconnect, push
    and markers. `connections rekey` re-encrypts them with the first key of
    CRM_PUSH_SECRET_KEY.
    """
    if click_ctx.invoked_subcommand is not None:
        return
    from crm_push.state.connections import ConnectionStore

    ctx = click_ctx.find_object(Context)
    assert ctx is not None
    rows = ConnectionStore(ctx.db).list(ctx.dest_name)
    facts = [
        {
            "destination": c.destination,
            "workspace_id": c.workspace_id,
            "workspace_name": c.workspace_name,
            "tenant": c.tenant,
            "scopes": list(c.scopes),
            "base_url": c.base_url,
            "connected_at": c.connected_at.isoformat(),
        }
        for c in rows
    ]
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    if not rows:
        where = f" for {ctx.dest_name}" if ctx.dest_name else ""
        click.echo(f"No stored connections{where}. `crm-push --dest NAME connect` stores one.")
        return
    head = ("DESTINATION", "WORKSPACE", "NAME", "TENANT", "CONNECTED (UTC)", "BASE URL")
    table = [
        (
            c.destination,
            c.workspace_id,
            c.workspace_name or "-",
            c.tenant or "-",
            f"{c.connected_at:%Y-%m-%d %H:%M}",
            c.base_url or "(default)",
        )
        for c in rows
    ]
    widths = [max(len(r[i]) for r in (head, *table)) for i in range(len(head) - 1)]
    for row in (head, *table):
        cells = [v.ljust(w) for v, w in zip(row[:-1], widths, strict=True)]
        click.echo("  ".join([*cells, row[-1]]))


@connections.command("rekey")
@pass_ctx
def connections_rekey(ctx: Context) -> None:
    """Re-encrypt every stored connection with the first key of CRM_PUSH_SECRET_KEY.

    To rotate keys: put the new key first (CRM_PUSH_SECRET_KEY=new,old), run this, then drop
    the old key. Connections stored unencrypted are encrypted too. Nothing changes unless every
    one can be read with the keys given.
    """
    from crm_push.state.connections import ConnectionStore

    count = ConnectionStore(ctx.db).rekey()
    click.echo(
        f"Re-encrypted {count} stored connection{'' if count == 1 else 's'} with the first key "
        "of CRM_PUSH_SECRET_KEY."
    )
