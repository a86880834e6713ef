"""`HubSpotClient`: one method per HubSpot endpoint the destination uses, on HttpClient.

Paths are the dated ones (`/crm/objects/2026-03/…`), the version given by the connection.
Writes that create go through `once`, an HttpClient that never retries: a create that timed
out may have been applied, and HubSpot creates have no natural key to retry on safely.
"""

from __future__ import annotations

from typing import Any

from crm_push.http import HttpClient

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_API_VERSION = "2026-03"

SCOPE_CONTACTS_READ = "crm.objects.contacts.read"
SCOPE_CONTACTS_WRITE = "crm.objects.contacts.write"
SCOPE_COMPANIES_READ = "crm.objects.companies.read"
SCOPE_COMPANIES_WRITE = "crm.objects.companies.write"
#: What pushing needs; notes need crm.objects.contacts.write, which is among them.
REQUIRED_SCOPES = (
    SCOPE_CONTACTS_READ,
    SCOPE_CONTACTS_WRITE,
    SCOPE_COMPANIES_READ,
    SCOPE_COMPANIES_WRITE,
)

#: HUBSPOT_DEFINED association type ids (HubSpot's SDK, crm/association_type.py).
NOTE_TO_CONTACT = 202


class HubSpotClient:
    """HubSpot's API for one connection: `http` (retries) and `once` (creates, no retry)."""

    def __init__(self, http: HttpClient, once: HttpClient, version: str) -> None:
        self.http = http
        self.once = once
        self.version = version

    def close(self) -> None:
        self.http.close()
        self.once.close()

    def _objects(self, object_type: str) -> str:
        return f"/crm/objects/{self.version}/{object_type}"

    # -- account and token ------------------------------------------------------------------

    def account_details(self) -> dict[str, Any]:
        """GET /account-info/{v}/details: portalId, uiDomain, timeZone…"""
        data: dict[str, Any] = self.http.json("GET", f"/account-info/{self.version}/details")
        return data

    def private_app_token_info(self, token: str) -> dict[str, Any]:
        """POST /oauth/v2/private-apps/get/access-token-info: the scopes of a private-app token
        ([unverified] for service keys; HubSpot documents no introspection for them)."""
        data: dict[str, Any] = self.http.json(
            "POST",
            "/oauth/v2/private-apps/get/access-token-info",
            json={"tokenKey": token},
            kind="read",
        )
        return data

    def property_names(self, object_type: str) -> set[str]:
        """GET /crm/properties/{v}/{objectType}: the names of an object's properties."""
        data = self.http.json("GET", f"/crm/properties/{self.version}/{object_type}")
        return {str(p.get("name")) for p in data.get("results") or []}

    # -- objects ----------------------------------------------------------------------------

    def batch_upsert(self, object_type: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """POST …/{objectType}/batch/upsert (by `idProperty`; idempotent, so retried)."""
        data: dict[str, Any] = self.http.json(
            "POST", f"{self._objects(object_type)}/batch/upsert", json={"inputs": inputs}
        )
        return data

    def batch_create(self, object_type: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """POST …/{objectType}/batch/create (never retried: see the module docstring)."""
        data: dict[str, Any] = self.once.json(
            "POST", f"{self._objects(object_type)}/batch/create", json={"inputs": inputs}
        )
        return data

    def batch_update(self, object_type: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """POST …/{objectType}/batch/update (by record id; idempotent)."""
        data: dict[str, Any] = self.http.json(
            "POST", f"{self._objects(object_type)}/batch/update", json={"inputs": inputs}
        )
        return data

    def batch_read(
        self, object_type: str, ids: list[str], properties: list[str]
    ) -> list[dict[str, Any]]:
        """POST …/{objectType}/batch/read by record id."""
        data = self.http.json(
            "POST",
            f"{self._objects(object_type)}/batch/read",
            json={"inputs": [{"id": i} for i in ids], "properties": properties},
            kind="read",
        )
        return list(data.get("results") or [])

    def search(self, object_type: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """POST …/{objectType}/search: one page. Search lags writes (see records.py)."""
        data = self.http.json(
            "POST", f"{self._objects(object_type)}/search", json=body, kind="read"
        )
        return list(data.get("results") or [])

    # -- associations -----------------------------------------------------------------------

    def associate_default(
        self, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> dict[str, Any]:
        """PUT …/{from}/{id}/associations/default/{to}/{id}: the default (unlabeled) link."""
        data: dict[str, Any] = self.http.json(
            "PUT",
            f"{self._objects(from_type)}/{from_id}/associations/default/{to_type}/{to_id}",
        )
        return data

    def associated_ids(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        """GET …/{from}/{id}/associations/{to}: the ids linked (first page, up to 500)."""
        data = self.http.json(
            "GET",
            f"{self._objects(from_type)}/{from_id}/associations/{to_type}",
            params={"limit": 500},
        )
        return [str(r.get("toObjectId")) for r in data.get("results") or []]
