"""The HubSpot destination's hooks, each delegating to the module of its concern.

Contacts are upserted by email, companies found by domain or created (`records`), linked by
the default contact→company association (`associate`), and a visit note goes on the contact
(`notes`). Connecting and disconnecting are `connect`'s; the clients, one per connection, are
`clients'`. The batch hooks do the same 100 records a request (`batch_size`). Nothing is
ever deleted: no code path sends DELETE.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from crm_push.errors import CrmPushError
from crm_push.hookspecs import hookimpl
from crm_push.models import (
    Company,
    CompanyInput,
    Connection,
    ConnectOptions,
    Credentials,
    DisconnectResult,
    LinkInput,
    Note,
    NoteInput,
    NoteResult,
    OAuthSettings,
    Pending,
    Person,
    PersonInput,
    RecordRef,
)

from . import batches, connect, records
from . import notes as notes_module
from .api import HubSpotClient
from .clients import Clients


class HubSpotDestination:
    """crm-push destination for HubSpot. One instance per loaded destination.

    `transport` and `sleep` exist for tests: an httpx transport, the sleep between retries.
    """

    crm_name = "HubSpot"

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clients = Clients(transport, sleep)

    def client(self, connection: Connection) -> HubSpotClient:
        """The (cached) client of a connection."""
        return self._clients.client(connection)

    # -- connection -------------------------------------------------------------------------

    @hookimpl
    def connect(self, credentials: Credentials | None, options: ConnectOptions) -> Connection:
        """Check the token with the account details, its scopes, and describe the portal."""
        return connect.connect(self._clients, credentials, options)

    @hookimpl
    def oauth_settings(self, options: ConnectOptions) -> OAuthSettings:
        """HubSpot's consent page, token, revoke and introspection endpoints, scopes, PKCE."""
        return connect.oauth_settings(options)

    @hookimpl
    def disconnect(self, connection: Connection) -> DisconnectResult:
        """Revoke an OAuth refresh token (a static token is revoked in HubSpot); delete
        nothing."""
        return connect.disconnect(self._clients, connection)

    @hookimpl
    def current_credentials(self, connection: Connection) -> Credentials:
        """The connection's credentials as they are now: renewed ones after an OAuth refresh."""
        return self._clients.credentials(connection)

    @hookimpl
    def request_stats(self, connection: Connection) -> dict[str, float]:
        """What the HTTP clients of this connection's portal spent: requests, retries, 429s…"""
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
        """By domain (searched, then updated or created); without one, update or create."""
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
        """Upsert by email; without one, update the marker's contact or create one."""
        return records.assert_person(self._clients, connection, person, company, existing, pending)

    @hookimpl
    def associate(self, connection: Connection, person: RecordRef, company: RecordRef) -> RecordRef:
        """The default contact→company association."""
        return records.associate(self._clients, connection, person, company)

    @hookimpl
    def add_note(self, connection: Connection, parent: RecordRef, note: Note) -> NoteResult:
        """A note per visit key on the contact, found first when it may exist."""
        return notes_module.add_note(self._clients, connection, parent, note)

    # -- batches (100 records a request) ----------------------------------------------------

    @hookimpl
    def batch_size(self, connection: Connection) -> int:
        """HubSpot's object batches take 100 inputs."""
        return batches.size(connection)

    @hookimpl
    def assert_companies(
        self, connection: Connection, companies: list[CompanyInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        """By domain, each written once (upserted on crmpush_domain where it exists)."""
        return records.assert_companies(self._clients, connection, companies)

    @hookimpl
    def assert_people(
        self, connection: Connection, people: list[PersonInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        """Upserted by email; without one, created once (linked inline) or updated."""
        return records.assert_people(self._clients, connection, people)

    @hookimpl
    def associate_people(
        self, connection: Connection, links: list[LinkInput]
    ) -> dict[str, RecordRef | CrmPushError]:
        """Default contact→company associations, in one batch call."""
        return records.associate_people(self._clients, connection, links)

    @hookimpl
    def add_notes(
        self, connection: Connection, notes: list[NoteInput]
    ) -> dict[str, NoteResult | CrmPushError]:
        """Visit notes on the contacts, in one batch create."""
        return notes_module.add_notes(self._clients, connection, notes)
