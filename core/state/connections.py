"""Stored connections: per destination and workspace, the credentials and what the CRM said.

Credentials are secrets: they live only in the `secrets` column — encrypted with
CRM_PUSH_SECRET_KEY when it is set (see `state/secrets.py`) — are rebuilt as SecretStr, and are
never part of any repr, log line or CLI output. A host app may store a connection under its own
key, a *tenant* ("cust_42"), and load it by that key.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from crm_push.errors import AmbiguousConnection, ConfigurationError
from crm_push.models.crm import Connection, Credentials
from crm_push.state.database import connections_table, engine_for
from crm_push.state.secrets import SECRET_KEY_ENV, SecretBox

logger = logging.getLogger(__name__)


class ConnectionStore:
    """Connections in the state database. `secret_keys`: the encryption keys (default: the
    comma-separated keys of CRM_PUSH_SECRET_KEY; none: stored unencrypted)."""

    def __init__(self, db_url: str | None = None, *, secret_keys: list[str] | None = None) -> None:
        self.engine = engine_for(db_url)
        self.box = SecretBox(secret_keys) if secret_keys is not None else SecretBox.from_env()
        self._warned = False

    def save(self, connection: Connection) -> None:
        """Insert or replace the connection of its destination and workspace (under its
        tenant, when it has one)."""
        t = connections_table
        self._warn_unencrypted()
        info = connection.model_dump(mode="json", exclude={"credentials"})
        values = {
            "workspace_name": connection.workspace_name,
            "tenant": connection.tenant,
            "info": info,
            "secrets": self.box.seal(connection.credentials.to_storage()),
            "connected_at": dt.datetime.now(dt.UTC),
        }
        key = sa.and_(
            t.c.destination == connection.destination,
            t.c.workspace_id == connection.workspace_id,
        )
        with self.engine.begin() as conn:
            if connection.tenant is not None:
                # A tenant has one connection per destination: a reconnect to another
                # workspace replaces the old one.
                conn.execute(
                    sa.delete(t).where(
                        t.c.destination == connection.destination,
                        t.c.tenant == connection.tenant,
                        t.c.workspace_id != connection.workspace_id,
                    )
                )
            if conn.execute(sa.update(t).where(key).values(**values)).rowcount == 0:
                conn.execute(
                    sa.insert(t).values(
                        destination=connection.destination,
                        workspace_id=connection.workspace_id,
                        **values,
                    )
                )

    def load(
        self, destination: str, workspace_id: str | None = None, *, tenant: str | None = None
    ) -> Connection | None:
        """The stored connection of that workspace (or tenant); with neither, the destination's
        only one. None when there is none; AmbiguousConnection (listing them) when there are
        several and none was chosen."""
        t = connections_table
        query = sa.select(t).where(t.c.destination == destination)
        if workspace_id:
            query = query.where(t.c.workspace_id == workspace_id)
        if tenant is not None:
            query = query.where(t.c.tenant == tenant)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.workspace_id).limit(20)).mappings().all()
        if not rows:
            return None
        if len(rows) > 1:
            listed = ", ".join(_label(r) for r in rows)
            raise AmbiguousConnection(
                f"{destination} has several stored connections: {listed}",
                workspaces=tuple(r["workspace_id"] for r in rows),
                next_step="choose one with --workspace ID (in Python: "
                "Session(destination, workspace=ID) or tenant=…)",
            )
        return self._connection(rows[0])

    def list(self, destination: str | None = None) -> list[Connection]:
        """Every stored connection (of one destination, or of all), by destination and
        workspace. Their credentials are there, as SecretStr: never print them."""
        t = connections_table
        query = sa.select(t).order_by(t.c.destination, t.c.workspace_id)
        if destination:
            query = query.where(t.c.destination == destination)
        with self.engine.connect() as conn:
            return [self._connection(row) for row in conn.execute(query).mappings()]

    def rekey(self) -> int:
        """Re-encrypt every stored connection with the first key (plain ones too); returns how
        many. Every connection must open with one of the keys, or nothing is changed."""
        if not self.box.encrypts:
            raise ConfigurationError(
                f"{SECRET_KEY_ENV} is not set: there is no key to encrypt with",
                next_step=f"set {SECRET_KEY_ENV} (the new key first, then the old ones)",
            )
        t = connections_table
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(t)).mappings().all()
            sealed = [(r, self.box.seal(self.box.open(r["secrets"], what=_label(r)))) for r in rows]
            for row, secrets in sealed:
                conn.execute(
                    sa.update(t)
                    .where(
                        t.c.destination == row["destination"],
                        t.c.workspace_id == row["workspace_id"],
                    )
                    .values(secrets=secrets)
                )
        return len(sealed)

    def forget(self, destination: str, workspace_id: str | None = None) -> int:
        t = connections_table
        query = sa.delete(t).where(t.c.destination == destination)
        if workspace_id:
            query = query.where(t.c.workspace_id == workspace_id)
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount

    def _connection(self, row: Mapping[str, Any]) -> Connection:
        secrets = self.box.open(row["secrets"], what=_label(row))
        return Connection.model_validate(
            {**row["info"], "tenant": row["tenant"], "credentials": Credentials(**secrets)}
        )

    def _warn_unencrypted(self) -> None:
        if self.box.encrypts or self._warned or self.engine.dialect.name == "sqlite":
            return
        self._warned = True
        logger.warning(
            "storing credentials unencrypted in the %s state database: set %s to encrypt them",
            self.engine.dialect.name,
            SECRET_KEY_ENV,
        )


def _label(row: Mapping[str, Any]) -> str:
    """How messages name a stored connection: workspace (name) [tenant]."""
    label = str(row["workspace_id"])
    if row.get("workspace_name"):
        label += f" ({row['workspace_name']})"
    if row.get("tenant"):
        label += f" [tenant {row['tenant']}]"
    return label
