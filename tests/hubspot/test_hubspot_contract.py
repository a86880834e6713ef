"""crm-push's destination contract, run against the HubSpot plugin and the local HubSpot
server (with its search lag on: the plugin must not rely on a search right after a write)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from crm_push.destination.discovery import load_destination
from crm_push.destination.facade import Destination
from crm_push.models import Company, Person
from crm_push.models.crm import ConnectOptions, Credentials
from crm_push.testing import DestinationContract
from pydantic import SecretStr

from crm_push_hubspot import server


@pytest.fixture(scope="module")
def srv() -> Iterator[Any]:
    with server.HubSpotServer(search_lag=1.0, ten_secondly_limit=None) as running:
        yield running


class TestHubSpotContract(DestinationContract):
    @pytest.fixture
    def destination(self) -> Iterator[Destination]:
        dest = load_destination("hubspot")
        yield dest
        dest.plugin.close()  # type: ignore[attr-defined]

    @pytest.fixture
    def credentials(self) -> Credentials:
        return Credentials(access_token=SecretStr(server.DEFAULT_TOKEN))

    @pytest.fixture
    def connect_options(self, srv: Any) -> ConnectOptions:
        return ConnectOptions(interactive=False, base_url=srv.base_url)

    @pytest.fixture
    def rejected_company(self) -> Company:
        # A text property holds at most 65,536 characters.
        return Company(name="Refused", domain="refused.example", description="x" * 70_000)

    @pytest.fixture
    def rejected_person(self) -> Person:
        return Person(email="refused@example.com", job_title="x" * 70_000)

    @pytest.fixture
    def deletes_sent(self, srv: Any) -> Callable[[], int]:
        return lambda: sum(1 for r in srv.requests if r.method == "DELETE")
