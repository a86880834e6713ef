"""What destinations hand back: connections, record references, note results.

These are the results of the hooks. They carry CRM ids, never the visitor data itself, so that
markers can be written from them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Credentials(_Result):
    """Secrets for one connection. Never printed: SecretStr hides them in repr and str."""

    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    expires_at: dt.datetime | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token_type: str = "Bearer"

    def to_storage(self) -> dict[str, Any]:
        """The plain values for the connection store (a 0600 file or a private database)."""
        out: dict[str, Any] = {}
        for key, value in self:
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, dt.datetime):
                value = value.isoformat()
            out[key] = value
        return out


class ConnectOptions(_Result):
    """What the user asked of `connect`: OAuth or a token, and overrides."""

    oauth: bool = False
    client_id: str | None = None
    client_secret: SecretStr | None = None
    base_url: str | None = None
    #: The base URL the stored connection used; an explicit base_url or the destination's own
    #: environment variable wins over it.
    stored_base_url: str | None = None
    interactive: bool = True
    #: The destination may read its own environment variables (a token, a base URL), which
    #: then win over the credentials passed in. `Session` turns it off unless asked, so that
    #: explicit and stored credentials are never overridden by a stray variable.
    environment: bool = True
    extra: dict[str, str] = Field(default_factory=dict)


class Connection(_Result):
    """A checked connection to one workspace of one CRM."""

    destination: str
    workspace_id: str
    workspace_name: str | None = None
    scopes: tuple[str, ...] = ()
    #: Optional abilities the destination has with this token: "notes", "inline_link", …
    capabilities: frozenset[str] = frozenset()
    #: Human-readable warnings the CLI shows after connecting (e.g. notes will be skipped).
    warnings: tuple[str, ...] = ()
    credentials: Credentials = Field(default_factory=Credentials, repr=False)
    base_url: str | None = None
    #: The host app's own key for this connection ("cust_42"), when it stored one.
    tenant: str | None = None
    connected_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


class RecordRef(_Result):
    """A record in the CRM: which object, its id, and what this push did to it."""

    object: str
    record_id: str
    outcome: Literal["created", "updated", "unchanged"] = "updated"
    #: Record ids this write linked the record to inline (e.g. the person's company).
    linked: tuple[str, ...] = ()
    web_url: str | None = None
    #: Set by the pusher on the company it hands to `assert_person` when the visitor's company
    #: has no matching key (no domain): a destination that gives such a company one (Attio:
    #: the person's email domain) knows to, even when another process created the record.
    keyless: bool = False


class Pending(_Result):
    """A create that an earlier push started and may have finished in the CRM before it died.

    Records without a matching key (a person without email, a company without domain) cannot
    be asserted; when this is given, look for a record created since `since` that matches the
    data before creating another.
    """

    since: dt.datetime


class Note(_Result):
    """A visit note to put on a record. `key` identifies the visit: one note per key, ever."""

    key: str
    title: str
    content: str
    format: Literal["plaintext", "markdown"] = "markdown"
    created_at: dt.datetime | None = None
    #: True when an earlier push may have created this note before crashing: check first.
    may_exist: bool = False


class NoteResult(_Result):
    """What add_note did: created it, found it already there, or skipped it (with why)."""

    status: Literal["created", "existing", "skipped"]
    note_id: str | None = None
    reason: str | None = None


class DisconnectResult(_Result):
    """What disconnect did in the CRM. Records and notes are never deleted."""

    revoked: bool
    message: str
