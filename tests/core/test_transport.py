"""LeanTransport, HttpClient's default transport, against a real HTTP/1.1 server on a socket:
what goes on the wire, kept-alive connections, what a server that closes, hangs or refuses
does to a request, TLS, and threads."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from crm_push.errors import RetryLater
from crm_push.http import HttpClient, LeanTransport, default_transport


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    do_PUT = do_PATCH = do_HEAD = do_POST

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path == "/hang":
            time.sleep(1.0)
            return
        if path == "/drop":  # read the request, then close without answering
            self.close_connection = True
            return
        seen = {
            "method": self.command,
            "target": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode(),
            "connection": self.server.connections,
        }
        data = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Twice", "one")
        self.send_header("X-Twice", "two")
        if path == "/gzip":
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        if path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        if path == "/bye":  # keeps no connection, but does not say so
            self.close_connection = True
        if path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for part in (data[:10], data[10:]):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0

    def get_request(self) -> Any:
        request = super().get_request()
        self.connections += 1
        return request


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with httpx.Client(base_url=base, transport=LeanTransport(), timeout=5.0) as c:
        yield c


def test_the_request_goes_on_the_wire_as_httpx_built_it(client: httpx.Client) -> None:
    response = client.put("/v2/records?matching_attribute=email", json={"é": 1})
    seen = response.json()
    assert seen["method"] == "PUT"
    assert seen["target"] == "/v2/records?matching_attribute=email"
    assert json.loads(seen["body"]) == {"é": 1}
    names = [k.lower() for k, _ in seen["headers"]]
    assert names.count("host") == 1 and names.count("accept-encoding") == 1
    assert dict((k.lower(), v) for k, v in seen["headers"])["content-length"] == str(
        len(seen["body"].encode())
    )
    assert response.status_code == 200 and response.reason_phrase == "OK"
    assert response.http_version == "HTTP/1.1"
    assert response.headers.get_list("x-twice") == ["one", "two"]


def test_connections_are_kept_alive_and_reused(server: Server, client: httpx.Client) -> None:
    for _ in range(5):
        assert client.get("/echo").json()["connection"] == 1
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    server: Server, client: httpx.Client
) -> None:
    client.get("/bye")  # the server closes after answering, without "Connection: close"
    time.sleep(0.1)
    assert client.get("/echo").json()["connection"] == 2  # no error: a new connection


def test_connection_close_is_honoured(server: Server, client: httpx.Client) -> None:
    client.get("/close")
    transport = client._transport
    assert isinstance(transport, LeanTransport) and transport.idle_connections == 0
    assert client.get("/echo").json()["connection"] == 2


def test_chunked_and_gzipped_answers_are_decoded(client: httpx.Client) -> None:
    assert client.get("/chunked").json()["method"] == "GET"
    assert client.get("/gzip").json()["method"] == "GET"
    assert client.get("/echo").json()["connection"] == 1  # all on one connection
    head = client.head("/chunked")
    assert head.status_code == 200 and head.content == b""


def test_an_answer_never_sent_is_a_read_timeout(server: Server) -> None:
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with httpx.Client(base_url=base, transport=LeanTransport(), timeout=0.2) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get("/hang")
        assert c.get("/echo").status_code == 200  # the timed-out connection is not reused


def test_a_server_that_closes_without_answering_is_a_protocol_error(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/drop", json={})


def test_nothing_listening_is_a_connect_error_and_httpclient_says_so() -> None:
    with httpx.Client(transport=LeanTransport()) as c, pytest.raises(httpx.ConnectError):
        c.get("http://127.0.0.1:9/")
    client = HttpClient("http://127.0.0.1:9", max_retries=0, sleep=lambda _: None)
    with pytest.raises(RetryLater, match="connection refused") as caught:
        client.request("POST", "/v2/notes", json={})
    assert "may have been applied" not in str(caught.value)  # nothing was sent


def test_a_closed_transport_sends_nothing(client: httpx.Client) -> None:
    transport = client._transport
    transport.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.get("/echo")


def test_threads_share_a_transport_each_request_on_a_connection_of_its_own(
    client: httpx.Client,
) -> None:
    answers: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(20):
            target = client.post(f"/echo?n={n}-{i}", content=f"{n}-{i}").json()
            with lock:
                answers.append(f"{target['target']}:{target['body']}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [f"/echo?n={n}-{i}:{n}-{i}" for n in range(8) for i in range(20)]
    assert sorted(answers) == sorted(sent)


def test_httpclient_sends_through_it_unless_proxies_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(default_transport(), LeanTransport)
    with HttpClient("https://api.example.com") as client:
        assert isinstance(client._client._transport, LeanTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert default_transport() is None  # httpx's own, which honours the proxy
    with HttpClient("https://api.example.com") as client:
        assert isinstance(client._client._transport, httpx.HTTPTransport)


# -- TLS -------------------------------------------------------------------------------------


def _certificate(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_with_a_trusted_certificate_and_a_refused_one(server: Server, tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    base = f"https://127.0.0.1:{server.server_address[1]}"
    trusting = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=base, transport=LeanTransport(ssl_context=trusting)) as c:
        assert c.get("/echo").json()["method"] == "GET"
        assert c.get("/echo").json()["connection"] == server.connections
    refusing = LeanTransport(ssl_context=ssl.create_default_context())
    with (
        httpx.Client(base_url=base, transport=refusing) as c,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        c.get("/echo")


def test_a_streamed_body_is_sent_with_its_length(client: httpx.Client) -> None:
    seen = client.post("/echo", content=iter([b"hello", b"world"])).json()
    assert seen["body"] == "helloworld"
    names = {k.lower(): v for k, v in seen["headers"]}
    assert names["content-length"] == "10" and "transfer-encoding" not in names


def test_connections_are_reused_with_descriptors_past_1023(
    server: Server, client: httpx.Client
) -> None:
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("this process may not open 1,200 files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        for _ in range(3):
            assert client.get("/echo").status_code == 200
        assert server.connections == 1  # select() would have dropped each one
    finally:
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_no_proxy_alone_keeps_the_lean_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost")
    assert isinstance(default_transport(), LeanTransport)


# -- answers as servers really send them ----------------------------------------------------


class RawServer:
    """Answers each request with the bytes `answers` holds for its path, then keeps the
    connection open for the next request unless the answer is marked to close."""

    def __init__(self, answers: dict[str, tuple[bytes, bool]]) -> None:
        import socket

        self.answers = answers
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Any) -> None:
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                path = head.split(b" ")[1].decode().split("?")[0]
                answer, close = self.answers[path]
                conn.sendall(answer)
                if close:
                    return

    def close(self) -> None:
        self.listener.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def raw() -> Iterator[RawServer]:
    srv = RawServer(
        {
            "/ok": (OK, False),
            "/empty": (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", False),
            "/same": (b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", False),
            "/hints": (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK, False),
            "/till-close": (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall of it", True),
            "/old": (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
            "/cut": (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", True),
            "/junk": (b"SSH-2.0-OpenSSH_9.6\r\n", True),
            "/long": (b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n", True),
            "/twice": (OK + OK, False),
            "/head-body": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", False),
            "/upgrade": (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
                True,
            ),
            "/trailers": (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1  \r\n\r\n"
                b"2\r\nok\r\n0\r\nContent-Encoding: gzip\r\n\r\n",
                False,
            ),
            "/identity": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nall", True),
        }
    )
    yield srv
    srv.close()


def _raw_client(raw: RawServer) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{raw.port}", transport=LeanTransport(), timeout=5.0
    )


def test_answers_without_a_body_leave_the_connection_reusable(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        assert (c.get("/empty").status_code, c.get("/empty").content) == (204, b"")
        assert (c.get("/same").status_code, c.get("/same").headers["etag"]) == (304, "x")
        assert c.get("/ok").text == "ok"
    assert raw.connections == 1


def test_an_interim_answer_is_skipped(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        answer = c.get("/hints")
        assert (answer.status_code, answer.text, "link" in answer.headers) == (200, "ok", False)
        assert c.get("/ok").text == "ok"
    assert raw.connections == 1


def test_a_body_that_runs_until_the_server_closes_is_read_whole(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        answer = c.get("/till-close")
        assert (answer.text, answer.headers["x-a"]) == ("all of it", "1")
        assert c.get("/ok").text == "ok"  # on a new connection
    assert raw.connections == 2


def test_an_http_1_0_answer_closes_its_connection(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        answer = c.get("/old")
        assert (answer.text, answer.http_version) == ("ok", "HTTP/1.0")
        c.get("/ok")
    assert raw.connections == 2


def test_bytes_after_the_answer_cost_the_connection_not_the_answer(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        assert c.get("/twice").text == "ok"
        assert c.get("/ok").text == "ok"
    assert raw.connections == 2


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/cut", "in the middle of its answer"),
        ("/junk", "not HTTP"),
        ("/long", "longer than 65536 bytes"),
    ],
)
def test_an_answer_cut_short_or_not_http_is_a_protocol_error(
    raw: RawServer, path: str, words: str
) -> None:
    with _raw_client(raw) as c, pytest.raises(httpx.RemoteProtocolError, match=words):
        c.get(path)


def test_a_line_break_in_a_header_sends_nothing_and_names_the_header(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        with pytest.raises(httpx.LocalProtocolError, match="'X-Token'") as caught:
            c.get("/ok", headers={"X-Token": "secret\r\nX-Evil: 1"})
        assert "secret" not in str(caught.value)
        with pytest.raises(httpx.LocalProtocolError):
            c.get("/ok", headers={"Bad Name": "1"})
    assert raw.connections == 0


def test_httpclient_answers_are_read_as_httpx_reads_them(server: Server) -> None:
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with HttpClient(base, transport=LeanTransport()) as client:
        for path in ("/echo", "/gzip", "/chunked"):  # gzip: through httpx's decoders
            answer = client.request("GET", path)
            assert answer.json()["method"] == "GET" and answer.text.startswith("{")
            assert answer.is_closed and answer.is_stream_consumed
            assert b"".join(answer.iter_bytes()) == answer.content == answer.read()
        assert client.request("GET", "/echo").num_bytes_downloaded > 0


def test_a_head_answer_costs_its_connection_in_case_a_body_follows(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        head = c.head("/head-body")  # a faulty server: a body after the headers of a HEAD
        assert (head.status_code, head.content) == (200, b"")
        assert c.get("/ok").text == "ok"  # not "hello…" read as this answer
    assert raw.connections == 2


def test_trailers_are_not_headers_and_values_lose_their_trailing_blanks(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        answer = c.get("/trailers")
        assert (answer.text, answer.headers["x-a"]) == ("ok", "1")
        assert "content-encoding" not in answer.headers
        assert c.get("/ok").text == "ok"
    assert raw.connections == 1


def test_a_transfer_coding_other_than_chunked_runs_until_close(raw: RawServer) -> None:
    with _raw_client(raw) as c:
        assert c.get("/identity").content == b"all"


def test_a_switch_of_protocols_is_a_protocol_error(raw: RawServer) -> None:
    with _raw_client(raw) as c, pytest.raises(httpx.RemoteProtocolError, match="switched"):
        c.get("/upgrade")


def test_a_host_name_idna_refuses_is_a_connect_error() -> None:
    with httpx.Client(transport=LeanTransport()) as c, pytest.raises(httpx.ConnectError):
        c.get(f"http://{'a' * 64}.example/")  # a label longer than 63: nothing is sent
