"""`AttioServer`: a local Attio-compatible server for tests, demos and benchmarks."""

from __future__ import annotations

import collections
import threading
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from .app import NOTES_LIST_RATE, App, RequestLog
from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN, TokenInfo, TokenStore
from .catalog import DEFAULT_ACTIVATED
from .httpd import HTTPServer
from .ratelimit import FailureInjector, SlidingWindow
from .responses import Response
from .validation import load_spec
from .workspace import Workspace

# Requests kept in the log, so a long-running dev server does not grow without end.
_LOG_LIMIT = 100_000


class _Router:
    """Sends each request to the App of the workspace its bearer token reaches (the first
    workspace's for OAuth endpoints, workspace API keys and unknown tokens)."""

    def __init__(self, apps: dict[str, App], first: App, tokens: TokenStore) -> None:
        self.apps, self.first, self.tokens = apps, first, tokens

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes
    ) -> Response:
        header = (headers.get("Authorization") or "").strip()
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        info = self.tokens.get(token) if token else None
        app = self.apps.get(info.workspace_id or "") if info is not None else None
        return (app or self.first).handle(method, target, headers, raw_body)


class AttioServer:
    """Attio's REST API (records, notes, objects, /v2/self, OAuth) over in-memory workspaces.

    The first workspace is `workspace` (named `workspace_name`); `more_workspaces` names
    further ones, which the OAuth consent page offers: a token reaches the workspace it was
    granted for. Start it with `start()` or as a context manager; `base_url` is then where it
    listens.
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
        more_workspaces: Iterable[str] = (),
        auto_approve: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if tokens is None:
            tokens = {DEFAULT_TOKEN: TokenInfo(scopes=DEFAULT_SCOPES)}
        self.workspace_id = str(uuid.uuid4())
        self.workspace_name = workspace_name
        self.spec = load_spec()
        self.tokens = TokenStore(tokens, oauth_clients or {}, issue_refresh_tokens)
        self.faults = FailureInjector()
        self._log: collections.deque[RequestLog] = collections.deque(maxlen=_LOG_LIMIT)
        self._log_lock = threading.Lock()
        names = [workspace_name, *more_workspaces]
        ids = [self.workspace_id, *(str(uuid.uuid4()) for _ in names[1:])]
        self._workspaces: dict[str, Workspace] = {}
        self._apps: dict[str, App] = {}
        for index, (workspace_id, name) in enumerate(zip(ids, names, strict=True)):
            slug = "local" if index == 0 else f"local-{index + 1}"
            ws = Workspace(self.spec, workspace_id, slug, activated_objects)
            self._workspaces[workspace_id] = ws
            self._apps[workspace_id] = App(
                workspace=ws,
                tokens=self.tokens,
                spec=self.spec,
                # Attio's limits are per workspace: so are these.
                write_limit=SlidingWindow(write_rate),
                read_limit=SlidingWindow(read_rate),
                faults=self.faults,
                latency=latency,
                workspace_name=name,
                on_request=self._record,
                notes_list_limit=SlidingWindow(notes_list_rate),
            )
        directory = list(zip(ids, names, strict=True))
        for app in self._apps.values():
            app.directory, app.auto_approve = directory, auto_approve
        self.workspace = self._workspaces[self.workspace_id]
        self.app = self._apps[self.workspace_id]
        self._router = _Router(self._apps, self.app, self.tokens)
        self.host = host
        self.port = port
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> AttioServer:
        """Listen and serve in a background thread; returns self."""
        if self._httpd is not None:
            return self
        self._httpd = HTTPServer((self.host, self.port), self._router)
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

    @property
    def workspaces(self) -> list[tuple[str, str]]:
        """(id, name) of every workspace, the first one first."""
        return [(wid, app.workspace_name) for wid, app in self._apps.items()]

    def workspace_named(self, name: str) -> Workspace:
        """The workspace of that name (KeyError naming the ones there are)."""
        for wid, app in self._apps.items():
            if app.workspace_name == name:
                return self._workspaces[wid]
        raise KeyError(f"no workspace {name!r}; there are {[n for _, n in self.workspaces]}")

    def records(self, object_slug: str, workspace: str | None = None) -> list[dict[str, Any]]:
        """Stored records of an object in Attio's output shape (id, created_at, values), in the
        first workspace or the one named."""
        ws = self.workspace if workspace is None else self.workspace_named(workspace)
        return ws.all_records(object_slug)

    def notes(self, workspace: str | None = None) -> list[dict[str, Any]]:
        ws = self.workspace if workspace is None else self.workspace_named(workspace)
        return ws.all_notes()

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

    def add_token(
        self, token: str, scopes: Iterable[str] = DEFAULT_SCOPES, workspace: str | None = None
    ) -> None:
        """Accept a workspace access token (for the first workspace, or the one named)."""
        wid = None if workspace is None else self.workspace_named(workspace).workspace_id
        self.tokens.set(token, TokenInfo(scopes=tuple(scopes), workspace_id=wid))

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
