"""Fixtures: a started local Attio server, an httpx client authorised against it, and `api`,
a few shortcuts for the calls the tests make most."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crm_push_attio.server import AttioServer

TOKEN = "local-dev-token"


class Api:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def upsert(self, obj: str, matching: str, values: dict[str, Any]) -> httpx.Response:
        return self.client.put(
            f"/v2/objects/{obj}/records",
            params={"matching_attribute": matching},
            json={"data": {"values": values}},
        )

    def create(self, obj: str, values: dict[str, Any]) -> httpx.Response:
        return self.client.post(f"/v2/objects/{obj}/records", json={"data": {"values": values}})

    def ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def company(self, domain: str, **values: Any) -> str:
        data = self.ok(self.upsert("companies", "domains", {"domains": [domain], **values}))
        return str(data["id"]["record_id"])

    def person(self, email: str, **values: Any) -> str:
        data = self.ok(
            self.upsert("people", "email_addresses", {"email_addresses": [email], **values})
        )
        return str(data["id"]["record_id"])

    def get(self, obj: str, rid: str) -> dict[str, Any]:
        return self.ok(self.client.get(f"/v2/objects/{obj}/records/{rid}"))

    @staticmethod
    def field(record: dict[str, Any], slug: str, name: str = "value") -> list[Any]:
        """The values of one attribute of a record, one field of each."""
        return [v[name] for v in record["values"][slug]]

    @staticmethod
    def error(response: httpx.Response, status: int) -> dict[str, Any]:
        """Assert an error in Attio's shape and return its body."""
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        assert set(body) == {"status_code", "type", "code", "message"}
        assert body["status_code"] == status
        return body


@pytest.fixture
def srv() -> Iterator[AttioServer]:
    with AttioServer(activated_objects=("people", "companies", "deals")) as server:
        yield server


@pytest.fixture
def client(srv: AttioServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=srv.base_url, headers=headers, timeout=5) as c:
        yield c


@pytest.fixture
def api(client: httpx.Client) -> Api:
    return Api(client)
