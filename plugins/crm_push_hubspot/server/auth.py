"""Tokens with scopes: static (private-app tokens, service keys) and OAuth (expiring)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field

DEFAULT_TOKEN = "pat-local-dev-token"
DEFAULT_SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.schemas.contacts.read",
    "oauth",
)
ACCESS_TOKEN_SECONDS = 1800  # HubSpot's OAuth access tokens live 30 minutes


@dataclass(frozen=True)
class TokenInfo:
    """A token's grant. `kind`: "private_app", "service_key" or "oauth"."""

    scopes: tuple[str, ...] = DEFAULT_SCOPES
    kind: str = "private_app"
    expires_at: float | None = None  # monotonic; None: never
    client_id: str | None = None
    user_id: int = 1


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    #: PKCE (RFC 7636): the S256 challenge the consent URL carried, checked at the exchange.
    code_challenge: str | None = None

    def verifies(self, verifier: str | None) -> bool:
        """The code_verifier matches the challenge (or none was sent with the consent)."""
        if self.code_challenge is None:
            return True
        if not verifier:
            return False
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return secrets.compare_digest(expected, self.code_challenge)


@dataclass
class TokenStore:
    tokens: dict[str, TokenInfo]
    clients: dict[str, str] = field(default_factory=dict)  # OAuth client id -> secret
    codes: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)
    access_seconds: float = ACCESS_TOKEN_SECONDS
    lock: threading.Lock = field(default_factory=threading.Lock)

    def info(self, token: str) -> TokenInfo | None:
        with self.lock:
            return self.tokens.get(token)

    def issue_code(self, grant: Grant) -> str:
        code = "code-" + secrets.token_urlsafe(12)
        with self.lock:
            self.codes[code] = grant
        return code

    def issue_tokens(self, grant: Grant) -> tuple[str, str]:
        access = "oauth-" + secrets.token_urlsafe(24)
        refresh = "refresh-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[access] = TokenInfo(
                scopes=grant.scopes,
                kind="oauth",
                expires_at=time.monotonic() + self.access_seconds,
                client_id=grant.client_id,
            )
            self.refresh[refresh] = grant
        return access, refresh
