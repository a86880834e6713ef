"""Fixtures: a started local HubSpot server (no search lag unless a test asks) and an httpx
client authorised against it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from crm_push_hubspot.server import DEFAULT_TOKEN, HubSpotServer

V = "2026-03"


@pytest.fixture
def server() -> Iterator[HubSpotServer]:
    with HubSpotServer(search_lag=0.0, oauth_clients={"app-1": "app-secret"}) as srv:
        yield srv


@pytest.fixture
def http(server: HubSpotServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
        yield client
