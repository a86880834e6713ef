"""Attio metadata for respx tests, in Attio's output shapes, taken from the local server's catalog.

`Metadata(api)` answers `GET /v2/objects`, each object's attributes (404 for objects that are not
activated), select options, statuses and workspace members, like a workspace holding the
standard objects plus a `deals` object with an attribute of every writable type.
"""

from __future__ import annotations

from typing import Any

import httpx
import respx
from attio_helpers import WORKSPACE

from crm_push_attio.server.validation import load_spec
from crm_push_attio.server.workspace import Workspace

ALL_OBJECTS = ("people", "companies", "users", "workspaces", "deals")
MEMBER = "alice@attio.com"
#: Custom attributes added to deals, so that every type of the typed-values table has one.
DEAL_EXTRAS: dict[str, dict[str, Any]] = {
    "website": {"type": "domain"},
    "contact_email": {"type": "email-address"},
    "contact_name": {"type": "personal-name"},
    "phone": {"type": "phone-number"},
    "hq": {"type": "location"},
    "tags": {"type": "select", "multiselect": True, "options": ["Hot", "Cold", "Partner"]},
    "read_only_score": {"type": "number", "writable": False},
}


def not_found(slug: str) -> httpx.Response:
    message = f'Object with slug/ID "{slug}" not found.'
    body = {"status_code": 404, "type": "invalid_request_error", "code": "not_found"}
    return httpx.Response(404, json={**body, "message": message})


class Metadata:
    """Mocks of the metadata endpoints; the routes count how often each was read."""

    def __init__(self, api: respx.MockRouter, activated: tuple[str, ...] = ALL_OBJECTS) -> None:
        self.ws = Workspace(load_spec(), WORKSPACE, "acme", activated)
        for slug, flags in DEAL_EXTRAS.items():
            self.ws.add_attribute(
                "deals", slug, flags["type"], **{k: v for k, v in flags.items() if k != "type"}
            )
        self.ws.add_member(MEMBER, "Alice", "Attio")
        self.routes: dict[str, respx.Route] = {}
        for slug, obj in self.ws.objects.items():
            path = f"/v2/objects/{slug}/attributes"
            if obj.activated:
                data = [self.ws.attribute_output(a) for a in obj.attributes.values()]
                self.routes[slug] = api.get(path).respond(json={"data": data})
            else:
                self.routes[slug] = api.get(path).mock(return_value=not_found(slug))
            for attr in obj.attributes.values():
                for kind, choices in (("options", attr.options), ("statuses", attr.statuses)):
                    if choices:
                        route = api.get(f"{path}/{attr.slug}/{kind}")
                        self.routes[f"{slug}.{attr.slug}"] = route.respond(
                            json={"data": [dict(c) for c in choices]}
                        )
        self.routes["objects"] = api.get("/v2/objects").respond(
            json={"data": self.ws.list_objects()}
        )
        self.routes["members"] = api.get("/v2/workspace_members").respond(
            json={"data": [dict(m) for m in self.ws.members]}
        )

    def attributes(self, object: str) -> list[dict[str, Any]]:
        return [self.ws.attribute_output(a) for a in self.ws.objects[object].attributes.values()]

    def attribute(self, object: str, slug: str) -> dict[str, Any]:
        return self.ws.attribute_output(self.ws.objects[object].attributes[slug])

    def option_id(self, object: str, slug: str, title: str) -> str:
        attr = self.ws.objects[object].attributes[slug]
        for option in attr.options:
            if option["title"] == title:
                return str(option["id"]["option_id"])
        raise KeyError(title)

    def reads(self) -> int:
        return sum(route.call_count for route in self.routes.values())
