"""Access tokens, their scopes, and the OAuth 2.0 authorization-code flow."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from dataclasses import dataclass, field

DEFAULT_TOKEN = "local-dev-token"
DEFAULT_SCOPES: tuple[str, ...] = (
    "record_permission:read-write",
    "object_configuration:read",
    "note:read-write",
    "user_management:read",
)
_CODE_TTL = 600.0
# Seconds an OAuth access token lives when refresh tokens are issued.
_ACCESS_TOKEN_TTL = 3600.0


@dataclass(frozen=True)
class TokenInfo:
    """What the server knows about one bearer token."""

    scopes: tuple[str, ...] = DEFAULT_SCOPES
    active: bool = True
    client_id: str | None = None
    # Seconds since the epoch; None = never expires (Attio's workspace API keys).
    expires_at: float | None = None
    issued_at: float = field(default_factory=time.time)
    # What /v2/self says as token_level: "workspace" or "user" (a member's own token).
    token_level: str = "workspace"
    # The workspace the token reaches; None: the server's first workspace.
    workspace_id: str | None = None

    def is_live(self, now: float | None = None) -> bool:
        if not self.active:
            return False
        return self.expires_at is None or (now or time.time()) < self.expires_at


def has_scope(granted: tuple[str, ...], needed: str) -> bool:
    # A read-write scope includes the read scope of the same name.
    if needed in granted:
        return True
    return needed.endswith(":read") and needed[: -len(":read")] + ":read-write" in granted


def missing_scopes(granted: tuple[str, ...], needed: tuple[str, ...]) -> list[str]:
    return [scope for scope in needed if not has_scope(granted, scope)]


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    expires_at: float
    workspace_id: str | None = None


@dataclass
class _Ticket:
    """A consent page shown: what its form may approve or deny, once."""

    client_id: str
    redirect_uri: str
    state: str | None
    expires_at: float


class OAuthError(Exception):
    """An OAuth endpoint error: RFC 6749 body {"error": ...}."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class TokenStore:
    """Tokens, authorization codes and refresh tokens; thread-safe."""

    def __init__(
        self,
        tokens: dict[str, TokenInfo],
        oauth_clients: dict[str, str],
        issue_refresh_tokens: bool,
    ) -> None:
        self._lock = threading.Lock()
        self._tokens = dict(tokens)
        self._clients = dict(oauth_clients)
        self._codes: dict[str, _Code] = {}
        self._tickets: dict[str, _Ticket] = {}
        self._refresh: dict[str, tuple[str, str]] = {}  # refresh token -> (client, access)
        self.issue_refresh_tokens = issue_refresh_tokens

    def get(self, token: str) -> TokenInfo | None:
        with self._lock:
            return self._tokens.get(token)

    def set(self, token: str, info: TokenInfo) -> None:
        with self._lock:
            self._tokens[token] = info

    def set_scopes(self, token: str, scopes: tuple[str, ...]) -> None:
        with self._lock:
            info = self._tokens.get(token) or TokenInfo()
            self._tokens[token] = dataclasses.replace(info, scopes=tuple(scopes))

    def expire(self, token: str) -> None:
        with self._lock:
            info = self._tokens.get(token)
            if info is not None:
                self._tokens[token] = dataclasses.replace(info, expires_at=time.time() - 1)

    def revoke(self, token: str) -> None:
        with self._lock:
            info = self._tokens.get(token)
            if info is not None:
                self._tokens[token] = dataclasses.replace(info, active=False)
            pair = self._refresh.pop(token, None)
            if pair is not None:
                access = self._tokens.get(pair[1])
                if access is not None:
                    self._tokens[pair[1]] = dataclasses.replace(access, active=False)

    # -- OAuth ----------------------------------------------------------------------------

    def known_client(self, client_id: str) -> bool:
        return client_id in self._clients

    def check_client(self, client_id: str | None, secret: str | None) -> None:
        if not client_id or self._clients.get(client_id) != secret:
            raise OAuthError(401, "invalid_client", "Unknown client or wrong client secret.")

    def issue_code(self, client_id: str, redirect_uri: str, workspace_id: str | None = None) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                client_id, redirect_uri, time.time() + _CODE_TTL, workspace_id
            )
        return code

    def issue_ticket(self, client_id: str, redirect_uri: str, state: str | None) -> str:
        """The consent form's one-time ticket: a decision is only taken from a page shown."""
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self._tickets[ticket] = _Ticket(client_id, redirect_uri, state, time.time() + _CODE_TTL)
        return ticket

    def take_ticket(self, ticket: str) -> _Ticket | None:
        """The ticket's consent request, once; None when unknown, used or expired."""
        with self._lock:
            found = self._tickets.pop(ticket, None)
        return found if found is not None and found.expires_at >= time.time() else None

    def exchange_code(
        self, client_id: str, code: str, redirect_uri: str | None
    ) -> dict[str, object]:
        with self._lock:
            grant = self._codes.pop(code, None)  # single use, even when the exchange fails
        if grant is None or grant.expires_at < time.time() or grant.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "The authorization code is invalid or used.")
        if redirect_uri is not None and redirect_uri != grant.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization.")
        return self._issue(client_id, grant.workspace_id)

    def refresh(self, client_id: str, refresh_token: str) -> dict[str, object]:
        with self._lock:
            pair = self._refresh.pop(refresh_token, None)  # rotated on every use
            old = self._tokens.get(pair[1]) if pair is not None else None
        if pair is None or pair[0] != client_id:
            raise OAuthError(400, "invalid_grant", "The refresh token is invalid or used.")
        return self._issue(client_id, old.workspace_id if old is not None else None)

    def _issue(self, client_id: str, workspace_id: str | None) -> dict[str, object]:
        access = secrets.token_urlsafe(32)
        now = time.time()
        answer: dict[str, object] = {"access_token": access, "token_type": "Bearer"}
        expires_at = None
        if self.issue_refresh_tokens:
            refresh = secrets.token_urlsafe(32)
            expires_at = now + _ACCESS_TOKEN_TTL
            answer["refresh_token"] = refresh
            answer["expires_in"] = int(_ACCESS_TOKEN_TTL)
            with self._lock:
                self._refresh[refresh] = (client_id, access)
        info = TokenInfo(
            scopes=DEFAULT_SCOPES,
            client_id=client_id,
            expires_at=expires_at,
            issued_at=now,
            workspace_id=workspace_id,
        )
        self.set(access, info)
        return answer
