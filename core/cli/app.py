"""The root command group: the options every command shares, and how commands get a destination."""

from __future__ import annotations

import logging
import traceback
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


#: The global options that may also come after the command (`crm-push push --dest attio F`).
GLOBAL_WITH_VALUE = ("--dest", "--db")
GLOBAL_FLAGS = ("-v", "--verbose")
#: Exit code of a crash (a bug): never the "some visitors failed" of 1.
CRASH_EXIT = 3
#: Loggers of libraries that stay at WARNING unless -vvv asks for them.
QUIET_LOGGERS = ("httpcore", "stevedore", "urllib3", "sqlalchemy", "hpack")


def _is_flag(arg: str) -> bool:
    return arg in GLOBAL_FLAGS or (len(arg) > 1 and arg[0] == "-" and set(arg[1:]) == {"v"})


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options given after the command to before it, where click expects them.

    Only up to a `--` (after it everything is an argument); `-v` only as a whole word (`-vv`
    too), so a command's own values are never taken for them.
    """
    i = 0
    while i < len(args) and args[i].startswith("-"):  # the global options before the command
        i += 2 if args[i] in GLOBAL_WITH_VALUE else 1
    if i >= len(args):
        return args
    before, command, after = args[:i], args[i], args[i + 1 :]
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(after):
        arg = after[j]
        if arg == "--":
            kept += after[j:]
            break
        if arg.split("=", 1)[0] in GLOBAL_WITH_VALUE:
            if "=" in arg:
                moved.append(arg)
            elif j + 1 < len(after):
                moved += [arg, after[j + 1]]
                j += 1
            else:
                kept.append(arg)  # no value: click says so
        elif _is_flag(arg):
            moved.append(arg)
        else:
            kept.append(arg)
        j += 1
    return [*before, *moved, command, *kept]


class CrmPushGroup(click.Group):
    """The root group: global options anywhere, a wrong setting (a bad `--db`) is exit 2, and
    a crash (a bug) says so with exit 3 instead of a bare traceback with 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            raise BadSetting(str(exc)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            verbose = isinstance(ctx.obj, Context) and ctx.obj.verbose >= 2
            if verbose:
                traceback.print_exc()
            click.echo(
                f"crm-push crashed: {type(exc).__name__}: {exc}\nThis is a bug. What was "
                "pushed stays pushed. Please report it with the output of the same command "
                "run with -vv.",
                err=True,
            )
            ctx.exit(CRASH_EXIT)


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
    "-v",
    "--verbose",
    count=True,
    help="More logging on stderr: -v info, -vv debug, -vvv the libraries' debug too. Never "
    "logs secrets.",
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
    # -vv is crm-push's debug; -vvv adds the libraries' own.
    quiet = logging.WARNING if verbose < 3 else logging.NOTSET
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    ctx.obj = Context(dest, db, verbose)


def _need(dest: Any, *hooks: str) -> None:
    """A usage error (exit 2) when the destination lacks an optional hook."""
    for hook in hooks:
        why = dest.cannot(hook)
        if why:
            raise click.UsageError(f"{why}; see `crm-push plugins` for the installed ones")
