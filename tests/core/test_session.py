"""Session: a destination, its stored connection and its markers, for one workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from crm_push import (
    Connection,
    Credentials,
    Destination,
    ReconnectRequired,
    Session,
    hookimpl,
    parse_visitor,
)
from crm_push.state.connections import ConnectionStore
from pydantic import SecretStr

from support.filecrm import FileCRM

VISITOR = {"id": "v1", "person": {"email": "ada@acme.com"}, "company": {"domain": "acme.com"}}


class RenewingCRM(FileCRM):
    """A FileCRM whose token is renewed mid-run, with a rotated refresh token."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.renewed: Credentials | None = None
        self.closed = 0

    @hookimpl
    def connect(self, credentials: Credentials | None, options: object) -> Connection:
        connection = super().connect(credentials, options)
        refresh = credentials.refresh_token if credentials else None
        creds = connection.credentials.model_copy(update={"refresh_token": refresh})
        return connection.model_copy(update={"credentials": creds})

    @hookimpl
    def current_credentials(self, connection: Connection) -> Credentials:
        return self.renewed or connection.credentials

    @hookimpl
    def request_stats(self, connection: Connection) -> dict[str, float]:
        return {"requests": float(len(self.calls))}

    @hookimpl
    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def crm(crm_file: Path) -> Path:
    tables = {"people": {}, "companies": {}, "notes": {}}
    crm_file.write_text(json.dumps({**tables, "tokens": ["good-token", "tenant-token", "renewed"]}))
    return crm_file


def test_explicit_credentials_are_checked_saved_and_loaded_by_workspace(
    crm: Path, db_url: str
) -> None:
    explicit = Credentials(access_token=SecretStr("tenant-token"))
    with Session(Destination("filecrm", FileCRM(crm)), db_url=db_url, credentials=explicit) as s:
        saved = s.save()
    stored = ConnectionStore(db_url).load("filecrm", saved.workspace_id)
    assert stored is not None and stored.credentials.access_token is not None
    assert stored.credentials.access_token.get_secret_value() == "tenant-token"

    with Session(
        Destination("filecrm", FileCRM(crm)), workspace=saved.workspace_id, db_url=db_url
    ) as session:
        result = session.pusher().push(parse_visitor(VISITOR))
        assert result.status == "created"
        assert session.markers().for_visitor("v1")["person"].record_id == result.records["person"]


def test_the_environment_is_read_only_when_asked(
    crm: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FILECRM_TOKEN=good-token is in the environment (the crm_file fixture).
    tenant = Credentials(access_token=SecretStr("tenant-token"))
    session = Session(Destination("filecrm", FileCRM(crm)), db_url=db_url, credentials=tenant)
    token = session.connect().credentials.access_token
    assert token is not None and token.get_secret_value() == "tenant-token"  # explicit wins

    # With neither credentials nor a stored connection, a host app's session has no token...
    with pytest.raises(ReconnectRequired):
        Session(Destination("filecrm", FileCRM(crm)), db_url=db_url).connect()
    # ...and the CLI's (environment=True) takes the one in the environment.
    cli = Session(Destination("filecrm", FileCRM(crm)), db_url=db_url, environment=True)
    token = cli.connect().credentials.access_token
    assert token is not None and token.get_secret_value() == "good-token"


def test_renewed_credentials_are_stored_when_the_session_closes(crm: Path, db_url: str) -> None:
    first = Credentials(access_token=SecretStr("good-token"), refresh_token=SecretStr("r1"))
    with Session(Destination("filecrm", FileCRM(crm)), db_url=db_url, credentials=first) as s:
        workspace = s.save().workspace_id

    plugin = RenewingCRM(crm)
    with Session(Destination("filecrm", plugin), workspace=workspace, db_url=db_url) as session:
        session.pusher().push(parse_visitor(VISITOR))
        assert session.request_stats()["requests"] >= 1
        plugin.renewed = Credentials(
            access_token=SecretStr("renewed"), refresh_token=SecretStr("r2")
        )
    assert plugin.closed == 1
    stored = ConnectionStore(db_url).load("filecrm", workspace)
    assert stored is not None and stored.credentials.refresh_token is not None
    assert stored.credentials.refresh_token.get_secret_value() == "r2"


def test_disconnect_forgets_the_stored_connection_and_says_nothing_was_deleted(
    crm: Path, db_url: str
) -> None:
    with Session(Destination("filecrm", FileCRM(crm)), db_url=db_url, environment=True) as s:
        workspace = s.save().workspace_id
    session = Session(Destination("filecrm", FileCRM(crm)), workspace=workspace, db_url=db_url)
    result = session.disconnect()
    assert not result.revoked
    assert ConnectionStore(db_url).load("filecrm", workspace) is None
    with pytest.raises(ReconnectRequired, match="nothing to disconnect"):
        session.disconnect()


def test_repr_shows_no_secret(crm: Path, db_url: str) -> None:
    creds = Credentials(access_token=SecretStr("tenant-token"))
    session = Session(Destination("filecrm", FileCRM(crm)), db_url=db_url, credentials=creds)
    session.connect()
    assert "tenant-token" not in repr(session)


def test_a_tenant_stores_and_loads_its_connection(crm: Path, db_url: str) -> None:
    tenant_token = Credentials(access_token=SecretStr("tenant-token"))
    dest = Destination("filecrm", FileCRM(crm))
    with Session(dest, tenant="cust_42", db_url=db_url, credentials=tenant_token) as session:
        assert session.save().tenant == "cust_42"
    with Session(Destination("filecrm", FileCRM(crm)), tenant="cust_42", db_url=db_url) as again:
        assert again.stored is not None and again.stored.tenant == "cust_42"
        assert again.pusher().push(parse_visitor(VISITOR)).status == "created"
    assert (
        Session(Destination("filecrm", FileCRM(crm)), tenant="other", db_url=db_url).stored is None
    )


def test_sessions_sharing_a_destination_close_its_clients_only_when_the_last_closes(
    crm: Path, db_url: str
) -> None:
    first = Credentials(access_token=SecretStr("good-token"), refresh_token=SecretStr("r1"))
    with Session(Destination("filecrm", FileCRM(crm)), db_url=db_url, credentials=first) as s:
        workspace = s.save().workspace_id
    plugin = RenewingCRM(crm)
    shared = Destination("filecrm", plugin)
    one = Session(shared, workspace=workspace, db_url=db_url)
    two = Session(shared, workspace=workspace, db_url=db_url)
    one.close()
    assert plugin.closed == 0  # the other Session still pushes through its clients
    assert two.pusher().push(parse_visitor(VISITOR)).status != "failed"
    one.close()  # twice is harmless, and does not count twice
    assert plugin.closed == 0
    two.close()
    assert plugin.closed == 1
