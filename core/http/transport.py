"""LeanTransport: HTTP/1.1 for httpx on the standard library's `http.client`.

`HttpClient` sends through it unless given a transport or proxy variables are set (then httpx
builds its own, proxies included). httpx's default transport (httpcore over h11) runs several
times as much Python a request: about 160 µs of CPU here against 95 µs, and more than that in
a worker that wakes for each answer with cold caches.

    transport = LeanTransport(ssl_context=shared_ssl_context())
    with httpx.Client(base_url="https://api.attio.com", transport=transport) as client:
        client.get("/v2/self")

What it does, and what it leaves to the caller:

* Connections are kept alive, a pool per origin (at most ``max_idle`` idle ones each). One a
  server closed while idle is dropped before it is reused.
* It never sends a request twice; `HttpClient` decides what is retried.
* Failures are httpx's exceptions: `ConnectError`/`ConnectTimeout` when nothing was sent,
  `ReadTimeout`, `ReadError` or `RemoteProtocolError` once it may have been.
* Timeouts are the request's (httpx's ``timeout`` extension): ``connect`` to connect,
  ``read`` for each socket operation after.
* Bodies are read whole (crm-push sends and gets JSON), and httpx decodes gzip and the like.
* No HTTP/2, no proxies (see above), no limit on connections in use at once (a pusher has a
  handful of threads) and so no pool timeout; a stalled send ends as a read timeout.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading

import httpx

_Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


class LeanTransport(httpx.BaseTransport):
    """HTTP/1.1 over kept-alive `http.client` connections. Thread-safe."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_idle: int = 64) -> None:
        if max_idle < 0:
            raise ValueError("max_idle must be >= 0")
        self._ssl = ssl_context
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        # The host as sent (IDNA-encoded by httpx), not its decoded form.
        origin = (url.scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[url.scheme])
        timeouts = request.extensions.get("timeout", {})
        body = request.read()
        conn = self._checkout(origin)
        connected = conn.sock is not None
        try:
            if not connected:
                conn.timeout = timeouts.get("connect")
                conn.connect()
                connected = True
            read = timeouts.get("read")
            if conn.sock.gettimeout() != read:  # type: ignore[union-attr]  # (a system call)
                conn.sock.settimeout(read)  # type: ignore[union-attr]
            conn.putrequest(
                request.method,
                url.raw_path.decode("ascii"),
                skip_host=True,  # httpx's headers have Host and Accept-Encoding
                skip_accept_encoding=True,
            )
            chunked = False
            for name, value in request.headers.raw:
                if name.lower() == b"transfer-encoding":
                    chunked = True  # a streamed body, read whole above: sent with its length
                    continue
                conn.putheader(name, value)
            if chunked:
                conn.putheader(b"Content-Length", str(len(body)).encode())
            conn.endheaders(body or None)
            answer = conn.getresponse()
            content = answer.read()
        except Exception as exc:
            conn.close()
            raise _httpx_error(exc, request, connected=connected) from exc
        except BaseException:
            conn.close()
            raise
        if answer.will_close:
            conn.close()
        else:
            self._checkin(origin, conn)
        # http.client decodes header bytes as latin-1: give httpx the bytes back.
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.getheaders()]
        return httpx.Response(
            answer.status,
            headers=headers,
            content=content,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": answer.reason.encode("latin-1", "replace"),
            },
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    @property
    def idle_connections(self) -> int:
        """Connections kept alive for reuse, over all origins."""
        with self._lock:
            return sum(len(conns) for conns in self._idle.values())

    # -- the pool ---------------------------------------------------------------------------

    def _checkout(self, origin: _Origin) -> http.client.HTTPConnection:
        """A kept connection still open (most recently used first), or a new unconnected one."""
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the transport has been closed")
                conns = self._idle.get(origin)
                conn = conns.pop() if conns else None
            if conn is None:
                scheme, host, port = origin
                if scheme == "https":
                    return http.client.HTTPSConnection(host, port, context=self._ssl)
                return http.client.HTTPConnection(host, port)
            if _still_open(conn):
                return conn
            conn.close()

    def _checkin(self, origin: _Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(origin, [])
            if not self._closed and len(conns) < self._max_idle:
                conns.append(conn)
                return
        conn.close()


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """False if the server closed this idle connection: it reads as ready (EOF, or bytes
    nobody asked for)."""
    if conn.sock is None:
        return False
    try:
        if hasattr(select, "poll"):  # select() cannot watch descriptors past 1023
            watch = select.poll()
            watch.register(conn.sock, select.POLLIN)
            return not watch.poll(0)
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _httpx_error(exc: Exception, request: httpx.Request, *, connected: bool) -> Exception:
    """httpx's exception for what `http.client` or the socket raised; `connected`: whether
    the connection was made (so the request may have been sent)."""
    if isinstance(exc, httpx.HTTPError):
        return exc
    text = str(exc) or type(exc).__name__
    kind: type[httpx.TransportError]
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        kind = httpx.ReadTimeout if connected else httpx.ConnectTimeout
    elif isinstance(exc, http.client.HTTPException):  # RemoteDisconnected, BadStatusLine…
        kind = httpx.RemoteProtocolError
    elif not connected and isinstance(exc, OSError):  # refused, no such host, TLS handshake
        kind = httpx.ConnectError
    elif isinstance(exc, OSError):
        kind = httpx.ReadError
    elif isinstance(exc, ValueError):  # an illegal header name or value
        kind = httpx.LocalProtocolError
    else:
        return exc
    return kind(text, request=request)


__all__ = ["LeanTransport"]
