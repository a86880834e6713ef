"""The root command group: the options every command shares, and how commands get a destination."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import click
from crm_push.errors import ConfigurationError, CrmPushError, DestinationNotFound, PluginLoadError

if TYPE_CHECKING:  # imported lazily at run time: `crm-push --help` stays fast
    from crm_push.destination.facade import Destination
    from crm_push.session import Session

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
        from crm_push.destination.discovery import describe_available, load_destination

        if not self.dest_name:
            names = describe_available()
            raise click.UsageError(
                f"choose a destination with --dest NAME (or {DEST_ENV}): {names}"
            )
        try:
            return load_destination(self.dest_name)
        except DestinationNotFound as exc:
            raise click.UsageError(str(exc)) from None
        except PluginLoadError as exc:
            raise click.ClickException(str(exc)) from None

    def session(self, destination: Destination | None = None) -> Session:
        """The destination (loaded now unless given) with its stored connection. The CLI lets
        the destination read its own environment variables: a token in ATTIO_ACCESS_TOKEN
        wins over a stored one."""
        from crm_push.session import Session

        return Session(
            destination or self.destination(),
            workspace=self.workspace,
            db_url=self.db,
            environment=True,
        )


pass_ctx = click.make_pass_decorator(Context)


class BadSetting(click.ClickException):
    """A ConfigurationError as the CLI shows it: one line on stderr, exit 2 like a usage error."""

    exit_code = 2


def _fail(exc: CrmPushError) -> click.ClickException:
    """The error for the user: exit 1, or 2 for a wrong setting (a read-only `--db`, say)."""
    if isinstance(exc, ConfigurationError):
        return BadSetting(str(exc))
    return click.ClickException(str(exc))


class CrmPushGroup(click.Group):
    """The root group; the one place that turns a wrong setting (a bad `--db`) into exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            raise BadSetting(str(exc)) from None


@click.group(
    cls=CrmPushGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
    "dir. Env: CRM_PUSH_DB. Example: sqlite:///state.db or postgresql+psycopg://…",
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


def _need(dest: Any, *hooks: str) -> None:
    """A usage error (exit 2) when the destination lacks an optional hook."""
    for hook in hooks:
        why = dest.cannot(hook)
        if why:
            raise click.UsageError(f"{why}; see `crm-push plugins` for the installed ones")
