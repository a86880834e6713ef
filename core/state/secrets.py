"""Credentials at rest: authenticated encryption with the keys in CRM_PUSH_SECRET_KEY.

One key, or several separated by commas: the first encrypts, every one decrypts, so a key is
rotated by putting the new one first, running `crm-push connections rekey`, then dropping the
old one. Keys are Fernet keys (cryptography's `Fernet.generate_key()`: 32 url-safe base64 bytes).
Without a key, credentials are stored as they are (the default SQLite file is private to its
owner; any other database is only as private as its access rules, and a warning says so).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from crm_push.errors import ConfigurationError

SECRET_KEY_ENV = "CRM_PUSH_SECRET_KEY"
#: How an encrypted value is stored in the `secrets` column: {"fernet": "<token>"}.
SEALED = "fernet"
_GENERATE = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class SecretBox:
    """Seals and opens stored credentials; never shows them or the keys in a message."""

    def __init__(self, keys: Sequence[str] = ()) -> None:
        self._fernet: Any = None
        if keys:
            from cryptography.fernet import Fernet, MultiFernet

            try:
                self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])
            except ValueError:
                raise ConfigurationError(
                    f"{SECRET_KEY_ENV} holds a value that is not a Fernet key (32 url-safe "
                    "base64-encoded bytes; several keys are separated by commas)",
                    next_step=f"make one with {_GENERATE}",
                ) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecretBox:
        raw = (os.environ if environ is None else environ).get(SECRET_KEY_ENV, "")
        return cls([k for k in raw.split(",") if k.strip()])

    @property
    def encrypts(self) -> bool:
        return self._fernet is not None

    def seal(self, plain: dict[str, Any]) -> dict[str, Any]:
        """What the `secrets` column holds: encrypted with the first key, or plain without one."""
        if self._fernet is None:
            return plain
        token = self._fernet.encrypt(json.dumps(plain, sort_keys=True).encode())
        return {SEALED: token.decode()}

    def open(self, stored: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """The plain credentials of a stored value; ConfigurationError when they cannot be read."""
        if SEALED not in stored:
            return dict(stored)
        if self._fernet is None:
            raise ConfigurationError(
                f"the stored credentials of {what} are encrypted and {SECRET_KEY_ENV} is not set",
                next_step=f"set {SECRET_KEY_ENV} to the key they were encrypted with",
            )
        from cryptography.fernet import InvalidToken

        try:
            plain = self._fernet.decrypt(str(stored[SEALED]).encode())
        except InvalidToken:
            raise ConfigurationError(
                f"the stored credentials of {what} cannot be decrypted with the keys in "
                f"{SECRET_KEY_ENV}",
                next_step=f"add the key they were encrypted with to {SECRET_KEY_ENV} (keys are "
                "separated by commas; the first encrypts, all decrypt)",
            ) from None
        data: dict[str, Any] = json.loads(plain)
        return data
