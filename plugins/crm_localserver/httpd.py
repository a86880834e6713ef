"""The socket side: a ThreadingHTTPServer that hands each request to a handler's `handle`, and
the `Listener` that serves it in a background thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class Answer(Protocol):
    """What a handler answers: a status, headers and the body's bytes."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def body(self) -> bytes: ...


class Handler(Protocol):
    """What answers requests: a server's app (or its router over several workspaces)."""

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes, /
    ) -> Answer: ...


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive: clients reuse connections, which the benchmark relies on.
    protocol_version = "HTTP/1.1"
    server: HTTPServer
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 60
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus delayed ACKs
    # add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        body = self._read_body()
        # Title-cased names, so the app can look up "Authorization" however the client spelt it.
        headers = {name.title(): value for name, value in self.headers.items()}
        response = self.server.app.handle(self.command, self.path, headers, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: each server keeps its own request log, which is the record.
        pass


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Handler) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop idle keep-alive connections so stop() leaves no thread waiting on a client."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Listener:
    """A handler served on (host, port) in a daemon thread: `start`, `wait`, `stop`."""

    def __init__(self, handler: Handler, host: str, port: int, *, name: str) -> None:
        self.handler, self.host, self.port, self.name = handler, host, port, name
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> None:
        """Listen (port 0 picks a free one, then `port` says which) and serve; idempotent."""
        if self._httpd is not None:
            return
        self._httpd = HTTPServer((self.host, self.port), self.handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def wait(self) -> None:
        """Block until `stop()` is called from another thread (or Ctrl-C in a command)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
