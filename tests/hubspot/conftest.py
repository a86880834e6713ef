"""Fixtures for the HubSpot plugin's tests: a fresh rate budget per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import crm_push_hubspot


@pytest.fixture(autouse=True)
def _fresh_hubspot_budgets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HUBSPOT_ACCESS_TOKEN", "HUBSPOT_BASE_URL", "HUBSPOT_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    # Tests are not HubSpot: no client-side throttling unless a test asks for it.
    monkeypatch.setenv("HUBSPOT_REQUESTS_PER_TEN_SECONDS", "0")
    monkeypatch.setenv("HUBSPOT_SEARCHES_PER_SECOND", "0")
    crm_push_hubspot.reset_caches()
    yield
    crm_push_hubspot.reset_caches()
