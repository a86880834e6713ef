"""`HubSpotClient`: one method per HubSpot endpoint the destination uses, on HttpClient.

Paths are the dated ones (`/crm/objects/2026-03/…`), the version given by the connection.
Writes that create go through `once`, an HttpClient that never retries: a create that timed
out may have been applied, and HubSpot creates have no natural key to retry on safely.
Searches go through `searches`, whose budget also holds HubSpot's search limit. Every answer
is shown to `observe` (the portal's budget reads the rate-limit headers from it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from crm_push.errors import Fatal
from crm_push.http import HttpClient

from .limits import KindBudget, forget_prepaid

if TYPE_CHECKING:
    from .batches import Together

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

#: May create the unique company property (the companies' upsert key, see records.py).
SCOPE_COMPANY_SCHEMAS_WRITE = "crm.schemas.companies.write"

#: HUBSPOT_DEFINED association type ids (HubSpot's SDK, crm/association_type.py).
NOTE_TO_CONTACT = 202
CONTACT_TO_COMPANY = 279

#: Most inputs of one object batch ([unverified]: one third-party page says 10 for contacts;
#: a batch refused as a whole is split, see batches.py).
BATCH_MAX = 100
#: Most inputs of one batch associate request: 2,000 by a third party [unverified], batch
#: reads 1,000 by HubSpot's changelog; the smaller is used.
ASSOCIATION_BATCH_MAX = 1000


class HubSpotClient:
    """HubSpot's API for one connection: `http` (retries), `once` (creates, no retry) and
    `searches` (retries, on the search budget too)."""

    def __init__(
        self,
        http: HttpClient,
        once: HttpClient,
        version: str,
        *,
        searches: HttpClient | None = None,
        observe: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.http = http
        self.once = once
        self.searches = searches or http
        self.version = version
        self._observe = observe
        self._together: dict[str, Together] = {}
        self._lock = threading.Lock()

    def together(self, endpoint: str, limit: int = BATCH_MAX, *, search: bool = False) -> Together:
        """How concurrent calls share requests to one batch endpoint (see batches.py): the
        caller that sends waits for its rate slot before it gathers the request."""
        from .batches import Together

        with self._lock:
            found = self._together.get(endpoint)
            if found is None:
                budget = (self.searches if search else self.http).limits
                prepay = budget.prepay if isinstance(budget, KindBudget) else None
                found = self._together[endpoint] = Together(limit, prepay, forget_prepaid)
            return found

    @property
    def clients(self) -> tuple[HttpClient, ...]:
        """Each HttpClient once (connect uses one for all three)."""
        return tuple(dict.fromkeys((self.http, self.once, self.searches)))

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def _objects(self, object_type: str) -> str:
        return f"/crm/objects/{self.version}/{object_type}"

    def _json(self, client: HttpClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = client.request(method, path, **kwargs)
        if self._observe is not None:
            self._observe(response)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise Fatal(
                f"HubSpot answered {response.status_code} to {method} {path} with a body that "
                "is not a JSON object",
                next_step="check HUBSPOT_BASE_URL; it may not point at HubSpot's API",
            )
        return data

    # -- account and token ------------------------------------------------------------------

    def account_details(self) -> dict[str, Any]:
        """GET /account-info/{v}/details: portalId, uiDomain, timeZone…"""
        return self._json(self.http, "GET", f"/account-info/{self.version}/details")

    def private_app_token_info(self, token: str) -> dict[str, Any]:
        """POST /oauth/v2/private-apps/get/access-token-info: the scopes of a private-app token
        ([unverified] for service keys; HubSpot documents no introspection for them)."""
        return self._json(
            self.http,
            "POST",
            "/oauth/v2/private-apps/get/access-token-info",
            json={"tokenKey": token},
            kind="read",
        )

    def property_names(self, object_type: str) -> set[str]:
        """GET /crm/properties/{v}/{objectType}: the names of an object's properties."""
        data = self._json(self.http, "GET", f"/crm/properties/{self.version}/{object_type}")
        return {str(p.get("name")) for p in data.get("results") or []}

    def get_property(self, object_type: str, name: str) -> dict[str, Any]:
        """GET /crm/properties/{v}/{objectType}/{name} (404, OBJECT_NOT_FOUND, when absent)."""
        return self._json(self.http, "GET", f"/crm/properties/{self.version}/{object_type}/{name}")

    def create_property(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        """POST /crm/properties/{v}/{objectType} (crm.schemas.{objectType}.write). Creating
        twice conflicts (409), so a retry is harmless."""
        return self._json(
            self.http, "POST", f"/crm/properties/{self.version}/{object_type}", json=definition
        )

    # -- objects ----------------------------------------------------------------------------

    def batch_upsert(self, object_type: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """POST …/{objectType}/batch/upsert (by `idProperty`; idempotent, so retried)."""
        return self._json(
            self.http, "POST", f"{self._objects(object_type)}/batch/upsert", json={"inputs": inputs}
        )

    def batch_create(self, object_type: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """POST …/{objectType}/batch/create (never retried: see the module docstring)."""
        return self._json(
            self.once, "POST", f"{self._objects(object_type)}/batch/create", json={"inputs": inputs}
        )

    def batch_update(self, object_type: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """POST …/{objectType}/batch/update (by record id; idempotent)."""
        return self._json(
            self.http, "POST", f"{self._objects(object_type)}/batch/update", json={"inputs": inputs}
        )

    def batch_read(
        self, object_type: str, ids: list[str], properties: list[str]
    ) -> list[dict[str, Any]]:
        """POST …/{objectType}/batch/read by record id."""
        data = self._json(
            self.http,
            "POST",
            f"{self._objects(object_type)}/batch/read",
            json={"inputs": [{"id": i} for i in ids], "properties": properties},
            kind="read",
        )
        return list(data.get("results") or [])

    def search_page(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST …/{objectType}/search: one page (`results`, `paging.next.after`). Search lags
        writes (see records.py) and has a limit of its own (the `searches` client)."""
        return self._json(
            self.searches, "POST", f"{self._objects(object_type)}/search", json=body, kind="read"
        )

    def search(self, object_type: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The results of one search page."""
        return list(self.search_page(object_type, body).get("results") or [])

    # -- associations -----------------------------------------------------------------------

    def associate_default(
        self, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> dict[str, Any]:
        """PUT …/{from}/{id}/associations/default/{to}/{id}: the default (unlabeled) link."""
        return self._json(
            self.http,
            "PUT",
            f"{self._objects(from_type)}/{from_id}/associations/default/{to_type}/{to_id}",
        )

    def batch_associate_default(
        self, from_type: str, to_type: str, pairs: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """POST /crm/associations/{v}/{from}/{to}/batch/associate/default: default links,
        (from id, to id) each. Idempotent; answers 200 even with `errors` in it."""
        inputs = [{"from": {"id": f}, "to": {"id": t}} for f, t in pairs]
        return self._json(
            self.http,
            "POST",
            f"/crm/associations/{self.version}/{from_type}/{to_type}/batch/associate/default",
            json={"inputs": inputs},
        )

    def associated_ids(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        """GET …/{from}/{id}/associations/{to}: the ids linked (first page, up to 500)."""
        data = self._json(
            self.http,
            "GET",
            f"{self._objects(from_type)}/{from_id}/associations/{to_type}",
            params={"limit": 500},
        )
        return [str(r.get("toObjectId")) for r in data.get("results") or []]
