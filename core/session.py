"""Session: a destination, its stored connection and its markers, for one workspace.

What `crm-push --dest NAME` sets up for every command, and what a host app uses::

    with Session("attio", workspace="ws_1") as session:   # the stored connection of ws_1
        pusher = session.pusher(workers=8)
        summary = pusher.run(read_jsonl(lines))
    # leaving the block stored any token the plugin renewed and closed its clients

Credentials: explicit ones passed by the caller win; otherwise the stored connection's; the
destination's own environment variables (e.g. ATTIO_ACCESS_TOKEN) are read only when the caller
asks for it (`environment=True`, as the CLI does), so a stray variable in a host app's process
never sends one tenant's pushes to another workspace.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from crm_push.destination.discovery import load_destination
from crm_push.destination.facade import Destination
from crm_push.errors import AmbiguousConnection, ReconnectRequired
from crm_push.models.crm import Connection, ConnectOptions, Credentials, DisconnectResult
from crm_push.state.connections import ConnectionStore

if TYPE_CHECKING:
    from crm_push.push.pusher import Pusher
    from crm_push.push.runner import ActionRunner
    from crm_push.state.markers import MarkerStore


class Session:
    """One destination and workspace: connect, push, keep renewed tokens, close.

    :param destination: an entry-point name ("attio") or a loaded `Destination`. Sessions
        may share one (threads of a host app): its clients are closed when the last of them
        closes.
    :param workspace: the workspace whose stored connection to use; None: the destination's
        only stored connection (with several, the one the credentials reach, else
        AmbiguousConnection listing them — never a guess).
    :param tenant: the host app's own key for the connection ("cust_42"): load the one stored
        under it, and store it under it (`save()`); one per destination and tenant.
    :param db_url: the state database (markers and connections); None: `CRM_PUSH_DB` or the
        default SQLite file.
    :param credentials: explicit credentials; they win over stored ones and the environment.
    :param environment: let the destination read its own environment variables (a token, a
        base URL), which then win over stored credentials. The CLI sets it; host apps should not.
    """

    def __init__(
        self,
        destination: str | Destination,
        *,
        workspace: str | None = None,
        tenant: str | None = None,
        db_url: str | None = None,
        credentials: Credentials | None = None,
        environment: bool = False,
    ) -> None:
        self.destination = (
            load_destination(destination) if isinstance(destination, str) else destination
        )
        self._closed = False
        self.db_url = db_url
        self.tenant = tenant
        self.environment = environment
        self.store = ConnectionStore(db_url)
        self._budgets: set[str] = set()  # the workspaces whose budget this Session registered
        #: The connection as stored (None: never connected), before any check with the CRM.
        self.stored: Connection | None = None
        #: Set when several connections are stored and no workspace was chosen: raised as soon
        #: as one is needed (a connect with no other credentials, a disconnect).
        self.ambiguous: AmbiguousConnection | None = None
        try:
            self.stored = self.store.load(self.destination.name, workspace, tenant=tenant)
        except AmbiguousConnection as exc:
            self.ambiguous = exc
        self._register_budget(workspace or (self.stored.workspace_id if self.stored else None))
        self._credentials = credentials
        self._connection: Connection | None = None
        self.destination.hold()  # released by close()

    @property
    def name(self) -> str:
        return self.destination.name

    def _register_budget(self, workspace: str | None) -> None:
        """The workspace's rate budget lives in this state database, shared by every process
        pushing to it (`crm_push.http.budget_for`)."""
        if workspace is not None and workspace not in self._budgets:
            from crm_push.state.budget import register

            register(self.name, workspace, self.db_url)
            self._budgets.add(workspace)

    # -- connecting -----------------------------------------------------------------------

    def connect(self, options: ConnectOptions | None = None, *, fresh: bool = False) -> Connection:
        """Check the credentials with the CRM and return the live connection.

        :param options: what to ask of the destination's `connect` hook (the CLI's `connect`
            command passes OAuth and override options); by default a non-interactive check.
        :param fresh: ignore stored credentials (a new OAuth grant, say).
        """
        stored = self.stored
        credentials = self._credentials
        if credentials is None and not fresh and stored is not None:
            credentials = stored.credentials
        base = options or ConnectOptions(interactive=False)
        options = base.model_copy(
            update={
                "stored_base_url": base.stored_base_url or (stored.base_url if stored else None),
                "environment": self.environment and self._credentials is None,
            }
        )
        try:
            live = self.destination.connect(credentials=credentials, options=options)
        except ReconnectRequired:
            if self.ambiguous is not None and credentials is None:
                raise self.ambiguous from None  # which stored token? the caller must say
            raise
        if self.ambiguous is not None:  # the token reached one workspace: its stored connection
            self.stored = self.store.load(self.name, live.workspace_id)
            self.ambiguous = None
        self._connection = live
        self._register_budget(live.workspace_id)
        self.keep_renewed()
        return live

    @property
    def connection(self) -> Connection:
        """The live connection, checked with the CRM on first use."""
        return self._connection if self._connection is not None else self.connect()

    def save(self) -> Connection:
        """Store the live connection (what `crm-push connect` does after checking it), under
        this session's tenant when it has one."""
        connection = self.connection
        tenant = self.tenant if self.tenant is not None else self._stored_tenant(connection)
        if tenant != connection.tenant:
            connection = connection.model_copy(update={"tenant": tenant})
            self._connection = connection
        self.store.save(connection)
        self.stored = connection
        return connection

    def _stored_tenant(self, connection: Connection) -> str | None:
        """The tenant the stored connection of the same workspace has (kept on a re-save)."""
        stored = self.stored
        return stored.tenant if stored and stored.workspace_id == connection.workspace_id else None

    def current_credentials(self) -> Credentials:
        """The credentials as the plugin holds them now: renewed ones after a refresh."""
        return self.destination.current_credentials(self.connection)

    def keep_renewed(self) -> None:
        """Store credentials the plugin renewed (at connect or mid-run): a rotated refresh
        token that is not kept would force a reconnect. Only a stored connection of the same
        workspace is updated; explicit credentials are the caller's to keep."""
        stored, live = self.stored, self._connection
        if stored is None or live is None or live.workspace_id != stored.workspace_id:
            return
        current = self.destination.current_credentials(live)
        if current.refresh_token is None:
            return
        if current.to_storage() != stored.credentials.to_storage():
            renewed = live.model_copy(update={"credentials": current, "tenant": stored.tenant})
            self.store.save(renewed)
            self.stored = renewed

    def disconnect(self) -> DisconnectResult:
        """Revoke the token where the CRM allows it, then forget the stored credentials.

        Nothing in the CRM is deleted. The credentials are forgotten even when the revoke
        fails (its error is raised after forgetting).
        """
        if self.ambiguous is not None:
            raise self.ambiguous
        stored = self.stored
        if stored is None:
            raise ReconnectRequired(
                f"no stored connection for {self.name}; nothing to disconnect",
                next_step=f"`crm-push --dest {self.name} connections` lists what is stored",
            )
        try:
            return self.destination.disconnect(stored)
        finally:
            self.store.forget(self.name, stored.workspace_id)
            self.stored = None

    # -- pushing --------------------------------------------------------------------------

    def markers(self) -> MarkerStore:
        """The push markers of this destination and workspace."""
        from crm_push.state.markers import MarkerStore

        return MarkerStore(self.name, self.connection.workspace_id, self.db_url)

    def pusher(self, *, workers: int = 1) -> Pusher:
        """A `Pusher` for visitors on the live connection, with this workspace's markers (a
        `BatchPusher` when the destination implements the batch hooks)."""
        from crm_push.push.batch import pusher_for

        return pusher_for(self.destination, self.connection, self.markers(), workers=workers)

    def runner(self, *, workers: int = 1) -> ActionRunner:
        """An `ActionRunner` for records and Segment events on the live connection."""
        from crm_push.push.runner import ActionRunner

        return ActionRunner(self.destination, self.connection, workers=workers)

    def request_stats(self) -> dict[str, float]:
        """HTTP figures of the plugin's clients for this connection ({} before connecting)."""
        if self._connection is None:
            return {}
        return self.destination.request_stats(self._connection)

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Keep renewed credentials, then close the plugin's clients, unless other Sessions
        still use this destination (the last one to close does). Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        try:
            self.keep_renewed()
        finally:
            from crm_push.state.budget import unregister

            for workspace in self._budgets:
                unregister(self.name, workspace)
            self._budgets.clear()
            self.destination.release()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:  # never the credentials
        workspace = self._connection.workspace_id if self._connection else None
        return f"Session({self.name!r}, workspace={workspace!r})"
