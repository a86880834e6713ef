"""Stored connections: per destination and workspace, the credentials and what the CRM said.

Credentials are secrets: they live only in the `secrets` column, are rebuilt as SecretStr, and
are never part of any repr, log line or CLI output.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from crm_push.models.crm import Connection, Credentials
from crm_push.state.database import connections_table, engine_for


class ConnectionStore:
    def __init__(self, db_url: str | None = None) -> None:
        self.engine = engine_for(db_url)

    def save(self, connection: Connection) -> None:
        t = connections_table
        info = connection.model_dump(mode="json", exclude={"credentials"})
        values = {
            "workspace_name": connection.workspace_name,
            "info": info,
            "secrets": connection.credentials.to_storage(),
            "connected_at": dt.datetime.now(dt.UTC),
        }
        key = sa.and_(
            t.c.destination == connection.destination,
            t.c.workspace_id == connection.workspace_id,
        )
        with self.engine.begin() as conn:
            if conn.execute(sa.update(t).where(key).values(**values)).rowcount == 0:
                conn.execute(
                    sa.insert(t).values(
                        destination=connection.destination,
                        workspace_id=connection.workspace_id,
                        **values,
                    )
                )

    def load(self, destination: str, workspace_id: str | None = None) -> Connection | None:
        """The connection to that workspace, or the most recent one of the destination."""
        t = connections_table
        query = sa.select(t).where(t.c.destination == destination)
        if workspace_id:
            query = query.where(t.c.workspace_id == workspace_id)
        query = query.order_by(t.c.connected_at.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return Connection.model_validate(
            {**row["info"], "credentials": Credentials.model_validate(row["secrets"])}
        )

    def forget(self, destination: str, workspace_id: str | None = None) -> int:
        t = connections_table
        query = sa.delete(t).where(t.c.destination == destination)
        if workspace_id:
            query = query.where(t.c.workspace_id == workspace_id)
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount
