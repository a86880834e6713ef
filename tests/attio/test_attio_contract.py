"""crm-push's destination contract, run against the Attio plugin and the local Attio server.

The destination is loaded by its entry-point name, as the CLI loads it; one server serves the
module (the contract's `unique` fixture keeps each test's records apart).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from crm_push.destination.discovery import load_destination
from crm_push.destination.facade import Destination
from crm_push.models.crm import ConnectOptions, Credentials
from crm_push.testing import DestinationContract
from pydantic import SecretStr

from crm_push_attio import server


@pytest.fixture(scope="module")
def srv() -> Iterator[Any]:
    with server.AttioServer() as running:
        yield running


class TestAttioContract(DestinationContract):
    @pytest.fixture
    def destination(self) -> Iterator[Destination]:
        dest = load_destination("attio")
        yield dest
        dest.plugin.close()  # type: ignore[attr-defined]

    @pytest.fixture
    def credentials(self) -> Credentials:
        return Credentials(access_token=SecretStr(server.DEFAULT_TOKEN))

    @pytest.fixture
    def connect_options(self, srv: Any) -> ConnectOptions:
        return ConnectOptions(interactive=False, base_url=srv.base_url)

    @pytest.fixture
    def deletes_sent(self, srv: Any) -> Callable[[], int]:
        return lambda: srv.count("DELETE")
