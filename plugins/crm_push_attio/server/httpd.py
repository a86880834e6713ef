"""The socket side: a ThreadingHTTPServer that hands each request to `App.handle`."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .responses import Response


class Handler(Protocol):
    """What answers requests: an App (one workspace) or the server's router over several."""

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes
    ) -> Response: ...


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
        # Quiet: the request log (AttioServer.requests) is the record.
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
