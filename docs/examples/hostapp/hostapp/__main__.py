"""`python -m hostapp`: the example host app and, unless told to use another, a local
Attio-compatible server with two workspaces to connect — everything on 127.0.0.1.

The local server runs as its own process through its documented command
(`python -m crm_push_attio.server`), so this app talks to it only as it would to Attio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from cryptography.fernet import Fernet
from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .settings import EXAMPLE_VISITORS, Settings

#: The workspaces of the local server: one for each customer to connect (the consent page
#: offers both; each customer picks its own).
WORKSPACES = ("Northwind CRM", "Contoso CRM")
CLIENT_ID = "hostapp-example"
_SERVER_LINE = re.compile(r"server on (http://\S+)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hostapp",
        description="Serve the example host app. Without --attio-url it also starts a local "
        "Attio-compatible server (in memory) with two workspaces, and keeps its state in a "
        "temporary SQLite file, since the local server forgets everything when it stops.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    p.add_argument("--port", type=int, default=5000, help="0 picks a free one (%(default)s)")
    p.add_argument(
        "--attio-url",
        metavar="URL",
        help="an Attio API (or a running local server) to connect to instead of starting one; "
        "the OAuth app then comes from ATTIO_CLIENT_ID and ATTIO_CLIENT_SECRET",
    )
    p.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get("CRM_PUSH_DB"),
        help="the state database (default: CRM_PUSH_DB, else a SQLite file for this run)",
    )
    p.add_argument(
        "--visitors",
        type=Path,
        default=EXAMPLE_VISITORS,
        metavar="FILE",
        help="a JSON Lines file of visitors (default: the example visitors)",
    )
    return p


def _drain(stream: IO[str]) -> None:
    for line in stream:
        print(f"[attio] {line}", end="", flush=True)


@contextlib.contextmanager
def local_attio(client_secret: str) -> Iterator[str]:
    """A local Attio-compatible server with the two workspaces and this app's OAuth client;
    yields its URL, stops it on the way out."""
    command = [
        sys.executable,
        "-m",
        "crm_push_attio.server",
        "--port",
        "0",
        "--workspace-name",
        WORKSPACES[0],
        *(arg for name in WORKSPACES[1:] for arg in ("--more-workspace", name)),
        "--oauth-client",
        f"{CLIENT_ID}:{client_secret}",
    ]
    # The secret is passed on the command line: acceptable for a throwaway local server only.
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        found = _SERVER_LINE.search(first)
        if found is None:
            raise SystemExit(f"the local Attio server did not start: {first.strip()!r}")
        # Keep reading what it prints, so a full pipe never blocks it.
        threading.Thread(target=_drain, args=(server.stdout,), daemon=True).start()
        yield found.group(1)
    finally:
        server.terminate()
        server.wait(10)


class _RequestLog(WSGIRequestHandler):
    """The request log without query strings: the OAuth callback's holds the code."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.partition("?")[0]
        self.log("info", '"%s %s" %s %s', self.command, path, code, size)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not os.environ.get("CRM_PUSH_SECRET_KEY"):
        # crm-push encrypts stored tokens with this key; a key for this run only is enough
        # for a demo whose CRM forgets everything when it stops.
        os.environ["CRM_PUSH_SECRET_KEY"] = Fernet.generate_key().decode()
        print("CRM_PUSH_SECRET_KEY is not set: tokens are encrypted with a key for this run.")
    with contextlib.ExitStack() as stack:
        if args.attio_url:
            attio_url = args.attio_url
            client_id = os.environ.get("ATTIO_CLIENT_ID", "")
            client_secret = os.environ.get("ATTIO_CLIENT_SECRET", "")
            if not (client_id and client_secret):
                print("error: --attio-url needs ATTIO_CLIENT_ID and ATTIO_CLIENT_SECRET set")
                return 2
        else:
            client_id, client_secret = CLIENT_ID, secrets.token_urlsafe(24)
            attio_url = stack.enter_context(local_attio(client_secret))
            print(
                f"Local Attio-compatible server on {attio_url}, workspaces: "
                + ", ".join(WORKSPACES)
            )
        db_url = args.db
        if not db_url:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="hostapp-"))
            db_url = f"sqlite:///{Path(folder) / 'state.db'}"
        settings = Settings(
            attio_url=attio_url,
            client_id=client_id,
            client_secret=client_secret,
            db_url=db_url,
            session_key=os.environ.get("HOSTAPP_SESSION_KEY") or secrets.token_hex(32),
            visitors=args.visitors,
        )
        web = make_server(
            args.host, args.port, create_app(settings), threaded=True, request_handler=_RequestLog
        )
        print(f"State database: {db_url}")
        print(
            f"Host app on http://{args.host}:{web.port}/ — open it in a browser. Ctrl-C stops.",
            flush=True,
        )
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
        try:
            web.serve_forever()
        except KeyboardInterrupt:
            print("\nStopping.")
        finally:
            web.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
