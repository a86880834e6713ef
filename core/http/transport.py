"""LeanTransport: HTTP/1.1 for httpx on plain sockets, answers parsed by llhttp (`httptools`).

`HttpClient` sends through it unless given a transport or proxy variables are set (then httpx
builds its own, proxies included). httpx's default transport (httpcore over h11) runs several
times as much Python a request, and `http.client` parses an answer's headers with the `email`
package: about 26 µs an answer against 2 µs here, and several times that in a worker that wakes
for each answer with cold caches.

    transport = LeanTransport(ssl_context=shared_ssl_context())
    with httpx.Client(base_url="https://api.attio.com", transport=transport) as client:
        client.get("/v2/self")

What it does, and what it leaves to the caller:

* Connections are kept alive, a pool per origin (at most ``max_idle`` idle ones each). One a
  server closed while idle, or that holds bytes nobody asked for, is dropped before reuse.
* It never sends a request twice; `HttpClient` decides what is retried.
* Failures are httpx's exceptions: `ConnectError`/`ConnectTimeout` when nothing was sent,
  `WriteError`/`WriteTimeout` while sending, `ReadError`/`ReadTimeout` while waiting for the
  answer, `RemoteProtocolError` for an answer cut short or not HTTP, and `LocalProtocolError`
  for a header that cannot be sent (a line break in a value).
* Timeouts are the request's (httpx's ``timeout`` extension): ``connect`` to connect (and the
  TLS handshake), ``write`` while sending, ``read`` for each wait for the answer.
* Bodies are read whole (crm-push sends and gets JSON), and httpx decodes gzip and the like.
* No HTTP/2, no proxies (see above), no limit on connections in use at once (a pusher has a
  handful of threads) and so no pool timeout.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
from collections.abc import Iterator

import httptools
import httpx

_Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: An answer's status line and headers may not be longer than this (bytes).
MAX_HEAD_BYTES = 64 * 1024
_RECV_BYTES = 65536
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_VALUE = re.compile(rb"[\r\n\x00]")
_UNSAFE_TARGET = re.compile(rb"[\x00-\x20\x7f]")
#: Answers that never have a body, whatever their headers say.
_NO_BODY = frozenset({204, 304})


class _Stop(Exception):
    """Raised in a parser callback to stop parsing: the answer is whole."""


class _Cut(Exception):
    """The answer was cut short or is not HTTP."""


class _Answer:
    """The parser's callbacks for one answer (interim 1xx answers are skipped)."""

    __slots__ = (
        "body",
        "complete",
        "extra",
        "head",
        "headers",
        "headers_done",
        "keep_alive",
        "parser",
        "reason",
        "size",
    )

    def __init__(self, head: bool) -> None:
        self.head = head  # the request was HEAD: no body follows the headers
        self.parser = httptools.HttpResponseParser(self)
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.size = 0  # of the headers' names and values, bytes
        self.body: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.extra = False  # bytes after the answer: the connection is not reused
        #: Asked before the parser moves on: it forgets after the answer.
        self.keep_alive = False

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True
            raise _Stop

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers_done:  # a chunked body's trailer: not the answer's headers (as h11)
            return
        self.headers.append((name, value.rstrip(b" \t")))  # a value has no trailing blanks
        self.size += len(name) + len(value)

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.head and self.parser.get_status_code() >= 200:
            # Whether a (faulty) body follows is unknown: the connection is not reused.
            self.complete = True
            raise _Stop

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:  # 100 Continue, 103 Early Hints: not the answer
            self.reason, self.headers, self.headers_done, self.size = b"", [], False, 0
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Stop):
                raise
        except httptools.HttpParserUpgrade:
            raise _Cut("the server switched protocols (101): not an answer") from None
        except httptools.HttpParserError:
            if not self.complete:  # not HTTP; bytes after a whole answer only cost the reuse
                raise
            self.extra = True

    def ends_at_close(self) -> bool:
        """The body runs until the server closes: not chunked last, and no length."""
        if self.parser.get_status_code() in _NO_BODY:
            return False
        codings = [v for k, v in self.headers if k.lower() == b"transfer-encoding"]
        if codings:
            return codings[-1].rsplit(b",", 1)[-1].strip().lower() != b"chunked"
        return all(k.lower() != b"content-length" for k, _ in self.headers)


class WholeBody(httpx.SyncByteStream):
    """An answer's body as it came off the wire, whole (not yet decoded)."""

    __slots__ = ("content",)

    def __init__(self, content: bytes) -> None:
        self.content = content

    def __iter__(self) -> Iterator[bytes]:
        yield self.content


class LeanTransport(httpx.BaseTransport):
    """HTTP/1.1 over kept-alive sockets. Thread-safe."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_idle: int = 64) -> None:
        if max_idle < 0:
            raise ValueError("max_idle must be >= 0")
        self._ssl = ssl_context
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[socket.socket]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        # The host as sent (IDNA-encoded by httpx), not its decoded form.
        origin = (url.scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[url.scheme])
        timeouts = request.extensions.get("timeout", {})
        message = _message(request)  # before connecting: a header that cannot go sends nothing
        sock = self._checkout(origin)
        stage = "write"
        try:
            if sock is None:
                stage = "connect"
                sock = self._connect(origin, timeouts.get("connect"))
                stage = "write"
            write, read = timeouts.get("write"), timeouts.get("read")
            if sock.gettimeout() != write:
                sock.settimeout(write)
            sock.sendall(message)
            stage = "read"
            if read != write:
                sock.settimeout(read)
            answer = _receive(sock, request.method == "HEAD")
        except BaseException as exc:
            if sock is not None:
                sock.close()
            if isinstance(exc, Exception):
                raise _httpx_error(exc, request, stage) from exc
            raise
        if answer.extra or not answer.keep_alive:  # (an answer ended by the close has neither)
            sock.close()
        else:
            self._checkin(origin, sock)
        return httpx.Response(
            answer.parser.get_status_code(),
            headers=answer.headers,
            stream=WholeBody(b"".join(answer.body)),
            extensions={
                "http_version": b"HTTP/" + answer.parser.get_http_version().encode("ascii"),
                "reason_phrase": answer.reason,
            },
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for socks in idle.values():
            for sock in socks:
                sock.close()

    @property
    def idle_connections(self) -> int:
        """Connections kept alive for reuse, over all origins."""
        with self._lock:
            return sum(len(socks) for socks in self._idle.values())

    # -- connections ----------------------------------------------------------------------

    def _connect(self, origin: _Origin, timeout: float | None) -> socket.socket:
        scheme, host, port = origin
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a request: one write
            if scheme == "https":
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return sock

    def _checkout(self, origin: _Origin) -> socket.socket | None:
        """A kept connection still open (most recently used first), or None: connect."""
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the transport has been closed")
                socks = self._idle.get(origin)
                sock = socks.pop() if socks else None
            if sock is None or _still_open(sock):
                return sock
            sock.close()

    def _checkin(self, origin: _Origin, sock: socket.socket) -> None:
        with self._lock:
            socks = self._idle.setdefault(origin, [])
            if not self._closed and len(socks) < self._max_idle:
                socks.append(sock)
                return
        sock.close()


def _message(request: httpx.Request) -> bytes:
    """The request as it goes on the wire: request line, headers, body (read whole)."""
    target = request.url.raw_path
    method = request.method.encode("utf-8")
    if _UNSAFE_TARGET.search(target) or not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"illegal request line: {request.method} …", request=request)
    body = request.read()
    lines = [b"%s %s HTTP/1.1" % (method, target)]
    streamed = False
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name) or _UNSAFE_VALUE.search(value):
            # The value is not quoted: it may be a secret.
            raise httpx.LocalProtocolError(
                f"illegal header {name.decode('latin-1')!r}", request=request
            )
        if name.lower() == b"transfer-encoding":
            streamed = True  # a streamed body, read whole above: sent with its length instead
            continue
        lines.append(name + b": " + value)
    if streamed:
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"\r\n")
    return b"\r\n".join(lines) + body


def _receive(sock: socket.socket, head: bool) -> _Answer:
    """Read one whole answer from the socket."""
    answer = _Answer(head)
    received = 0
    while not answer.complete:
        data = sock.recv(_RECV_BYTES)
        if not data:
            if answer.headers_done and answer.ends_at_close():
                answer.complete, answer.keep_alive = True, False
                break
            if received == 0:
                raise _Cut("the server closed the connection without answering")
            raise _Cut("the server closed the connection in the middle of its answer")
        received += len(data)
        answer.feed(data)
        if answer.size > MAX_HEAD_BYTES or (not answer.headers_done and received > MAX_HEAD_BYTES):
            raise _Cut(f"the answer's headers are longer than {MAX_HEAD_BYTES} bytes")
    return answer


def _still_open(sock: socket.socket) -> bool:
    """False if the server closed this idle connection: it reads as ready (EOF, or bytes
    nobody asked for)."""
    try:
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return False
        if hasattr(select, "poll"):  # select() cannot watch descriptors past 1023
            watch = select.poll()
            watch.register(sock, select.POLLIN)
            return not watch.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _httpx_error(exc: Exception, request: httpx.Request, stage: str) -> Exception:
    """httpx's exception for what the socket or the parser raised; `stage`: connect, write or
    read (so whether the request may have been sent)."""
    if isinstance(exc, httpx.HTTPError):
        return exc
    text = str(exc) or type(exc).__name__
    kind: type[httpx.TransportError]
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        kinds: dict[str, type[httpx.TransportError]] = {
            "connect": httpx.ConnectTimeout,
            "write": httpx.WriteTimeout,
            "read": httpx.ReadTimeout,
        }
        kind = kinds[stage]
    elif isinstance(exc, _Cut):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, httptools.HttpParserError):
        kind, text = httpx.RemoteProtocolError, f"the answer is not HTTP/1.1: {text}"
    elif isinstance(exc, OSError):  # refused, no such host, TLS handshake; reset, broken pipe
        errors: dict[str, type[httpx.TransportError]] = {
            "connect": httpx.ConnectError,
            "write": httpx.WriteError,
            "read": httpx.ReadError,
        }
        kind = errors[stage]
    elif isinstance(exc, ValueError) and stage == "connect":  # a host name IDNA refuses
        kind = httpx.ConnectError
    else:
        return exc
    return kind(text, request=request)


__all__ = ["MAX_HEAD_BYTES", "LeanTransport", "WholeBody"]
