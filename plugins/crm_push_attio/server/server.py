"""`AttioServer`: a local Attio-compatible server for tests, demos and benchmarks."""

from __future__ import annotations

import collections
import threading
import uuid
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from .app import NOTES_LIST_RATE, App, RequestLog
from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN, TokenInfo, TokenStore
from .catalog import DEFAULT_ACTIVATED
from .httpd import HTTPServer
from .ratelimit import FailureInjector, SlidingWindow
from .validation import load_spec
from .workspace import Workspace

# Requests kept in the log, so a long-running dev server does not grow without end.
_LOG_LIMIT = 100_000


class AttioServer:
    """Attio's REST API (records, notes, objects, /v2/self, OAuth) over an in-memory workspace.

    Start it with `start()` or as a context manager; `base_url` is then where it listens.
    """

    def __init__(
        self,
        *,
        tokens: dict[str, TokenInfo] | None = None,
        latency: float = 0.0,
        write_rate: float | None = None,
        read_rate: float | None = None,
        notes_list_rate: float | None = NOTES_LIST_RATE,
        activated_objects: Iterable[str] = DEFAULT_ACTIVATED,
        workspace_name: str = "Local workspace",
        oauth_clients: dict[str, str] | None = None,
        issue_refresh_tokens: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if tokens is None:
            tokens = {DEFAULT_TOKEN: TokenInfo(scopes=DEFAULT_SCOPES)}
        self.workspace_id = str(uuid.uuid4())
        self.workspace_name = workspace_name
        self.spec = load_spec()
        self.workspace = Workspace(self.spec, self.workspace_id, "local", activated_objects)
        self.tokens = TokenStore(tokens, oauth_clients or {}, issue_refresh_tokens)
        self.faults = FailureInjector()
        self._log: collections.deque[RequestLog] = collections.deque(maxlen=_LOG_LIMIT)
        self._log_lock = threading.Lock()
        self.app = App(
            workspace=self.workspace,
            tokens=self.tokens,
            spec=self.spec,
            write_limit=SlidingWindow(write_rate),
            read_limit=SlidingWindow(read_rate),
            faults=self.faults,
            latency=latency,
            workspace_name=workspace_name,
            on_request=self._record,
            notes_list_limit=SlidingWindow(notes_list_rate),
        )
        self.host = host
        self.port = port
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> AttioServer:
        """Listen and serve in a background thread; returns self."""
        if self._httpd is not None:
            return self
        self._httpd = HTTPServer((self.host, self.port), self.app)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"attio-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until stop() is called from another thread (or Ctrl-C in the CLI)."""
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

    def __enter__(self) -> AttioServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- state, for assertions ------------------------------------------------------------

    def records(self, object_slug: str) -> list[dict[str, Any]]:
        """Stored records of an object in Attio's output shape (id, created_at, values)."""
        return self.workspace.all_records(object_slug)

    def notes(self) -> list[dict[str, Any]]:
        return self.workspace.all_notes()

    # -- request log ----------------------------------------------------------------------

    def _record(self, entry: RequestLog) -> None:
        with self._log_lock:
            self._log.append(entry)

    @property
    def requests(self) -> list[RequestLog]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path_prefix is None or r.path.startswith(path_prefix))
        )

    def reset_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    # -- configuration at run time --------------------------------------------------------

    def add_token(self, token: str, scopes: Iterable[str] = DEFAULT_SCOPES) -> None:
        self.tokens.set(token, TokenInfo(scopes=tuple(scopes)))

    def set_scopes(self, token: str, scopes: Iterable[str]) -> None:
        """Change a token's scopes (the token is created if unknown)."""
        self.tokens.set_scopes(token, tuple(scopes))

    def expire_token(self, token: str) -> None:
        """The token is dead from now on: /v2/self says active false, other calls 401."""
        self.tokens.expire(token)

    def activate_object(self, slug: str) -> None:
        """Enable a standard object (users, workspaces, deals), as a workspace admin would."""
        self.workspace.activate(slug)

    def add_attribute(self, object_slug: str, slug: str, type: str, **flags: Any) -> dict[str, Any]:
        """Add a custom attribute; flags as in catalog.py (unique, multiselect, options, ...).

        Returns the attribute in Attio's output shape.
        """
        attr = self.workspace.add_attribute(object_slug, slug, type, **flags)
        with self.workspace.lock:
            return self.workspace.attribute_output(attr)

    def add_workspace_member(
        self, email_address: str, first_name: str = "", last_name: str = ""
    ) -> dict[str, Any]:
        return self.workspace.add_member(email_address, first_name, last_name)

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        path_prefix: str | None = None,
        retry_after_seconds: float | None = None,
        method: str | None = None,
    ) -> None:
        """Make the next n matching requests fail unprocessed.

        409 answers code concurrent_write_conflict; 429 carries Retry-After, in seconds when
        retry_after_seconds is given, else as an HTTP date (Attio's form).
        """
        self.faults.add(n, status, path_prefix, method, retry_after_seconds)
