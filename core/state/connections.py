"""Stored connections: per destination and workspace, the credentials and what the CRM said.

Credentials are secrets: they live only in the `secrets` column, are rebuilt as SecretStr, and
are never part of any repr, log line or CLI output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from crm_push.errors import AmbiguousConnection
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
        """The stored connection to that workspace; without a workspace, the destination's only
        one. None when there is none; AmbiguousConnection (listing them) when there are several
        and none was chosen."""
        t = connections_table
        query = sa.select(t).where(t.c.destination == destination)
        if workspace_id:
            query = query.where(t.c.workspace_id == workspace_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.workspace_id).limit(20)).mappings().all()
        if not rows:
            return None
        if len(rows) > 1:
            listed = ", ".join(
                f"{r['workspace_id']} ({r['workspace_name']})"
                if r["workspace_name"]
                else r["workspace_id"]
                for r in rows
            )
            raise AmbiguousConnection(
                f"{destination} has several stored connections: {listed}",
                workspaces=tuple(r["workspace_id"] for r in rows),
                next_step="choose one with --workspace ID (in Python: "
                "Session(destination, workspace=ID))",
            )
        return _connection(rows[0])

    def list(self, destination: str | None = None) -> list[Connection]:
        """Every stored connection (of one destination, or of all), by destination and
        workspace. Their credentials are there, as SecretStr: never print them."""
        t = connections_table
        query = sa.select(t).order_by(t.c.destination, t.c.workspace_id)
        if destination:
            query = query.where(t.c.destination == destination)
        with self.engine.connect() as conn:
            return [_connection(row) for row in conn.execute(query).mappings()]

    def forget(self, destination: str, workspace_id: str | None = None) -> int:
        t = connections_table
        query = sa.delete(t).where(t.c.destination == destination)
        if workspace_id:
            query = query.where(t.c.workspace_id == workspace_id)
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount


def _connection(row: Mapping[str, Any]) -> Connection:
    return Connection.model_validate(
        {**row["info"], "credentials": Credentials.model_validate(row["secrets"])}
    )
