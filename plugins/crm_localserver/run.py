"""The run loop of a server's command: say where it listens, serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterable
from typing import Protocol


class Server(Protocol):
    def wait(self) -> None: ...
    def stop(self) -> None: ...


def listen_parser(prog: str | None, description: str, port: int) -> argparse.ArgumentParser:
    """A server command's parser with its listening options (`--host`, `--port`)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=port, help="port; 0 picks a free one (default: %(default)s)"
    )
    return p


def serve_until_stopped(server: Server, banner: Iterable[str]) -> int:
    """Print the banner lines, serve until interrupted, stop cleanly; the exit code (0)."""
    if threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) stops it as cleanly as Ctrl-C, e.g. after a backgrounded demo.
        signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:  # the banner too: a Ctrl-C as soon as it shows still stops cleanly
        for line in banner:
            print(line, flush=True)
        server.wait()
    except KeyboardInterrupt:
        print("\nStopping.", flush=True)
    finally:
        server.stop()
    return 0
