"""Credentials encrypted at rest with CRM_PUSH_SECRET_KEY, rotated keys, and tenants."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from crm_push import ConfigurationError, Connection, Credentials
from crm_push.cli import cli
from crm_push.state.connections import ConnectionStore
from cryptography.fernet import Fernet
from pydantic import SecretStr

TOKEN = "tok-0123456789-very-secret"


def _connection(workspace: str = "ws1", tenant: str | None = None) -> Connection:
    return Connection(
        destination="attio",
        workspace_id=workspace,
        tenant=tenant,
        credentials=Credentials(access_token=SecretStr(TOKEN), refresh_token=SecretStr("r-1x2y3z")),
    )


def test_with_a_key_the_token_is_nowhere_in_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    key = Fernet.generate_key().decode()
    store = ConnectionStore(f"sqlite:///{path}", secret_keys=[key])
    store.save(_connection())
    store.engine.dispose()  # everything on disk, WAL included
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert TOKEN.encode() not in on_disk and b"r-1x2y3z" not in on_disk
    loaded = ConnectionStore(f"sqlite:///{path}", secret_keys=[key]).load("attio")
    assert loaded is not None and loaded.credentials.access_token is not None
    assert loaded.credentials.access_token.get_secret_value() == TOKEN


def test_rotating_keys_keeps_every_connection_readable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ConnectionStore(url, secret_keys=[old]).save(_connection("ws1"))
    ConnectionStore(url, secret_keys=[]).save(_connection("ws2"))  # stored before any key
    both = ConnectionStore(url, secret_keys=[new, old])
    assert both.rekey() == 2
    only_new = ConnectionStore(url, secret_keys=[new])
    assert {c.workspace_id for c in only_new.list()} == {"ws1", "ws2"}
    with pytest.raises(ConfigurationError, match="cannot be decrypted with the keys in"):
        ConnectionStore(url, secret_keys=[old]).load("attio", "ws1")
    with pytest.raises(ConfigurationError, match="encrypted and CRM_PUSH_SECRET_KEY is not set"):
        ConnectionStore(url, secret_keys=[]).load("attio", "ws2")


def test_a_bad_key_is_a_clear_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CRM_PUSH_SECRET_KEY holds a value that is not"):
        ConnectionStore(f"sqlite:///{tmp_path / 's.db'}", secret_keys=["not-a-key"])


def test_rekey_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ConnectionStore(url, secret_keys=[]).save(_connection())
    monkeypatch.setenv("CRM_PUSH_SECRET_KEY", Fernet.generate_key().decode())
    result = CliRunner().invoke(cli, ["--db", url, "connections", "rekey"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 stored connection" in result.output
    monkeypatch.delenv("CRM_PUSH_SECRET_KEY")
    refused = CliRunner().invoke(cli, ["--db", url, "--dest", "attio", "status"])
    assert refused.exit_code == 2 and "CRM_PUSH_SECRET_KEY" in refused.output
    assert TOKEN not in refused.output


def test_tenants_store_and_load_their_own_connection(tmp_path: Path) -> None:
    store = ConnectionStore(f"sqlite:///{tmp_path / 'state.db'}", secret_keys=[])
    store.save(_connection("ws1", tenant="cust_1"))
    store.save(_connection("ws2", tenant="cust_2"))
    one = store.load("attio", tenant="cust_1")
    assert one is not None and (one.workspace_id, one.tenant) == ("ws1", "cust_1")
    assert store.load("attio", tenant="cust_3") is None
    store.save(_connection("ws3", tenant="cust_1"))  # the tenant reconnected elsewhere
    assert {(c.workspace_id, c.tenant) for c in store.list()} == {
        ("ws2", "cust_2"),
        ("ws3", "cust_1"),
    }


def test_an_older_connections_table_gets_the_tenant_column(tmp_path: Path) -> None:
    import sqlalchemy as sa

    path = tmp_path / "old.db"
    old = sa.create_engine(f"sqlite:///{path}")
    with old.begin() as conn:  # connections and push_markers as they were before tenants
        conn.exec_driver_sql(
            "CREATE TABLE connections (destination VARCHAR(64), workspace_id VARCHAR(128), "
            "workspace_name VARCHAR(256), info JSON NOT NULL, secrets JSON NOT NULL, "
            "connected_at DATETIME NOT NULL, PRIMARY KEY (destination, workspace_id))"
        )
        conn.exec_driver_sql(
            "INSERT INTO connections VALUES ('attio', 'ws0', NULL, "
            '\'{"destination": "attio", "workspace_id": "ws0"}\', \'{}\', '
            "'2026-11-20 10:00:00.000000')"
        )
        conn.exec_driver_sql(
            "CREATE TABLE push_markers (destination VARCHAR(64), workspace VARCHAR(128), "
            "visitor_id VARCHAR(256), part VARCHAR(320), object VARCHAR(64), "
            "record_id VARCHAR(128), payload_hash VARCHAR(64) NOT NULL, "
            "state VARCHAR(16) NOT NULL, pushed_at DATETIME NOT NULL, "
            "PRIMARY KEY (destination, workspace, visitor_id, part))"
        )
    old.dispose()
    store = ConnectionStore(f"sqlite:///{path}", secret_keys=[])
    store.save(_connection("ws1", tenant="cust_1"))
    assert {(c.workspace_id, c.tenant) for c in store.list()} == {("ws0", None), ("ws1", "cust_1")}
