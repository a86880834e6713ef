"""The Attio destination's hooks, each delegating to the module of its concern.

People are asserted by email, companies by domain (`records`), linked inline through the
person's standard `company` reference, and a visit note goes on the person (`notes`) —
skipped, never failed, without the note scope. Connecting and disconnecting are `connect`'s;
the clients, one per connection, are `clients`'. Nothing is ever deleted: no code path sends
DELETE.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from crm_push.hookspecs import hookimpl
from crm_push.models import (
    Company,
    Connection,
    ConnectOptions,
    Credentials,
    DisconnectResult,
    GroupResult,
    IdentifyResult,
    Note,
    NoteResult,
    OAuthSettings,
    Pending,
    Person,
    RecordRef,
    UserIdentity,
    WorkspaceGroup,
)

from . import connect, notes, records
from .actions import AttioActions, mode_of
from .api import AttioClient
from .clients import Clients


class AttioDestination:
    """crm-push destination for Attio. One instance per loaded destination.

    The keyword arguments exist for tests and host apps: an httpx transport and the sleep used
    between retries. The OAuth flow is core's (`crm_push.oauth`), on the `oauth_*` hooks.
    """

    crm_name = "Attio"

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clients = Clients(transport, sleep)

    def client(self, connection: Connection) -> AttioClient:
        """The (cached) client of a connection, with its workspace's shared rate budget."""
        return self._clients.client(connection)

    def actions(self, connection: Connection) -> AttioActions:
        """Assert record, identify user and group workspace on this connection, as a library
        API (the hooks call these), cached with the client."""
        return self._clients.actions(connection)

    # -- connection -------------------------------------------------------------------------

    @hookimpl
    def connect(self, credentials: Credentials | None, options: ConnectOptions) -> Connection:
        """Resolve a token, check it with GET /v2/self, and describe the workspace."""
        return connect.connect(self._clients, credentials, options)

    @hookimpl
    def oauth_settings(self, options: ConnectOptions) -> OAuthSettings:
        """Attio's consent page, token and revoke endpoints (a local server's for its base URL)."""
        return connect.oauth_settings(options)

    @hookimpl
    def disconnect(self, connection: Connection) -> DisconnectResult:
        """Revoke an OAuth token; a workspace access token can only be revoked in Attio."""
        return connect.disconnect(self._clients, connection)

    @hookimpl
    def current_credentials(self, connection: Connection) -> Credentials:
        """The connection's credentials as they are now: new ones if a refresh happened."""
        return self._clients.credentials(connection)

    @hookimpl
    def request_stats(self, connection: Connection) -> dict[str, float]:
        """What the HTTP clients of this connection's workspace spent: requests, retries, 429s…"""
        return self._clients.request_stats(connection)

    @hookimpl
    def close(self) -> None:
        """Close every HTTP client this destination opened."""
        self._clients.close()

    # -- records and notes ------------------------------------------------------------------

    @hookimpl
    def assert_company(
        self,
        connection: Connection,
        company: Company,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        """Assert by domain; without one, update the marker's record or create a new one."""
        return records.assert_company(self._clients, connection, company, existing, pending)

    @hookimpl
    def assert_person(
        self,
        connection: Connection,
        person: Person,
        company: RecordRef | None,
        existing: RecordRef | None,
        pending: Pending | None,
    ) -> RecordRef:
        """Assert by email, linking the company inline; without email, update or create."""
        return records.assert_person(self._clients, connection, person, company, existing, pending)

    @hookimpl
    def associate(self, connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
        """Set the person's standard `company` reference (Attio updates the company's team)."""
        return records.associate(self._clients, connection, person, company)

    @hookimpl
    def add_note(self, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
        """Create the visit note once per key; skip (never fail) without the note scope."""
        return notes.add_note(self._clients, connection, parent, note)

    # -- Segment's actions ------------------------------------------------------------------

    @hookimpl
    def assert_record(
        self, connection: Connection, object: str, matching_attribute: str, values: dict[str, Any]
    ) -> RecordRef:
        """Assert a record of any activated object, with typed values checked first;
        multiselects appended unless the connection carries `multiselect:replace`."""
        return self.actions(connection).assert_record(
            object, matching_attribute, values, mode_of(connection)
        )

    @hookimpl
    def identify_user(self, connection: Connection, identity: UserIdentity) -> IdentifyResult:
        """Assert the person by email, then the user linked to it (users must be activated)."""
        return self.actions(connection).identify_user(
            identity, mode_of(connection, identity.multiselect)
        )

    @hookimpl
    def group_workspace(self, connection: Connection, group: WorkspaceGroup) -> GroupResult:
        """Assert the company by domain, then the workspace linked to it, adding the user."""
        return self.actions(connection).group_workspace(
            group, mode_of(connection, group.multiselect)
        )
