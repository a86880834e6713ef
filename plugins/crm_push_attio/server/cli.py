"""CLI: serve a local Attio-compatible API until Ctrl-C.

`python -m crm_push_attio.server`, or `main(argv)` from a console script.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN, TokenInfo
from .server import AttioServer

#: The name `python -m crm_push_attio.server` shows in its help (see __main__.py).
MODULE_PROG = "python -m crm_push_attio.server"


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The options; `prog` None: the name the program was run by (crm-push-attio-server)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local Attio-compatible REST API (in memory) for tests and demos. "
        "Everything is lost when it stops.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=8765, help="port; 0 picks a free one (default: %(default)s)"
    )
    p.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds added to every response (default: %(default)s)",
    )
    p.add_argument(
        "--write-rate",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="writes a second allowed before 429s; Attio's is 25 (default: no limit)",
    )
    p.add_argument(
        "--read-rate",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="reads a second allowed before 429s; Attio's is 100 (default: no limit)",
    )
    p.add_argument(
        "--token", default=DEFAULT_TOKEN, help="the accepted bearer token (default: %(default)s)"
    )
    p.add_argument(
        "--scopes",
        default=" ".join(DEFAULT_SCOPES),
        help="the token's scopes, space or comma separated (default: %(default)s)",
    )
    p.add_argument(
        "--activate",
        default="",
        metavar="OBJECTS",
        help="extra objects to enable, comma separated: users,workspaces,deals "
        "(default: none; people and companies always are)",
    )
    p.add_argument(
        "--oauth-client",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="register an OAuth client; repeatable (default: none)",
    )
    p.add_argument(
        "--refresh-tokens",
        action="store_true",
        help="test-only extension, not Attio: the OAuth token endpoint also issues refresh "
        "tokens and expiring access tokens (default: it does not, as Attio does not)",
    )
    p.add_argument(
        "--workspace-name",
        default="Local workspace",
        metavar="NAME",
        help="the workspace name /v2/self reports (default: %(default)s)",
    )
    p.add_argument(
        "--more-workspace",
        action="append",
        default=[],
        metavar="NAME",
        help="serve a further workspace of that name, which the OAuth consent page offers "
        "(repeatable; default: only the first)",
    )
    p.add_argument(
        "--auto-approve",
        action="store_true",
        help="skip the OAuth consent page: /authorize answers at once with a code for the "
        "first workspace, for scripts without a browser (default: the page asks)",
    )
    p.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="EMAIL",
        help="add a workspace member, for actor-reference values such as a deal's owner "
        "(repeatable; default: none)",
    )
    p.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="OBJECT.SLUG:TYPE[:OPTION,...]",
        help="add a custom attribute, e.g. users.plan:select:free,pro (repeatable; default: none)",
    )
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the server until Ctrl-C (or SIGTERM); `prog` names the program in its help."""
    args = _parser(prog).parse_args(argv)
    scopes = tuple(s for s in args.scopes.replace(",", " ").split() if s)
    extra = [s.strip() for s in args.activate.split(",") if s.strip()]
    clients = {}
    for pair in args.oauth_client:
        client_id, sep, secret = pair.partition(":")
        if not sep:
            print(f"--oauth-client expects ID:SECRET, got {pair!r}", file=sys.stderr)
            return 2
        clients[client_id] = secret
    try:
        srv = AttioServer(
            tokens={args.token: TokenInfo(scopes=scopes)},
            latency=args.latency,
            write_rate=args.write_rate,
            read_rate=args.read_rate,
            activated_objects=("people", "companies", *extra),
            workspace_name=args.workspace_name,
            oauth_clients=clients,
            issue_refresh_tokens=args.refresh_tokens,
            more_workspaces=[name.strip() for name in args.more_workspace if name.strip()],
            auto_approve=args.auto_approve,
            host=args.host,
            port=args.port,
        )
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    for email in args.member:
        srv.add_workspace_member(email.strip())
    for spec in args.attribute:
        where, sep, rest = spec.partition(":")
        object_slug, dot, slug = where.partition(".")
        type_, _, options = rest.partition(":")
        if not (sep and dot and object_slug and slug and type_):
            print(
                f"--attribute expects OBJECT.SLUG:TYPE[:OPTION,...], got {spec!r}", file=sys.stderr
            )
            return 2
        flags = {"options": [o.strip() for o in options.split(",") if o.strip()]} if options else {}
        try:
            srv.add_attribute(object_slug, slug, type_, **flags)
        except (KeyError, ValueError) as exc:
            print(f"error: --attribute {spec!r}: {exc}", file=sys.stderr)
            return 2
    try:
        srv.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    url = srv.base_url
    # A local development token: printing it is the point.
    print(
        f"Attio-compatible server on {url} — "
        f"export ATTIO_BASE_URL={url} ATTIO_ACCESS_TOKEN={args.token}",
        flush=True,
    )
    print("In-memory workspace; everything is lost on exit. Press Ctrl-C to stop.", flush=True)
    if threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) stops it as cleanly as Ctrl-C, e.g. after a backgrounded demo.
        signal.signal(signal.SIGTERM, lambda *_: srv.stop())
    try:
        srv.wait()
    except KeyboardInterrupt:
        print("\nStopping.", flush=True)
    finally:
        srv.stop()
    return 0
