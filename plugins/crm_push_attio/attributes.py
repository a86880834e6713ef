"""Attio's attribute metadata: each object's attributes, select options, statuses and members.

Read from `GET /v2/objects/{object}/attributes` and its neighbours, fetched once per
connection (and again after `SCHEMA_TTL` seconds) and shared by every thread; `convert.py`
checks and converts values against it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from crm_push.errors import ScopeMissing

from .api import AttioClient
from .errors import ObjectNotFound

__all__ = ["SCHEMA_TTL", "Attribute", "ObjectSchema", "Schemas"]

#: Seconds attribute metadata stays cached (a long-running host app sees new attributes and
#: options after this long). One CLI run is usually shorter: metadata is fetched once per run.
SCHEMA_TTL = 300.0

_T = TypeVar("_T")


@dataclass(frozen=True)
class Attribute:
    """One attribute of an object, from `GET /v2/objects/{object}/attributes`."""

    attribute_id: str
    slug: str
    title: str
    type: str
    is_writable: bool = True
    is_unique: bool = False
    is_multiselect: bool = False
    is_required: bool = False
    #: Object ids a record-reference may point to (`config.record_reference`).
    allowed_object_ids: tuple[str, ...] = ()
    #: The object id of the other side of a relationship attribute, if any.
    relationship_object_id: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Attribute:
        ident = data.get("id") or {}
        config = data.get("config") or {}
        reference = config.get("record_reference") or {}
        relationship = data.get("relationship") or {}
        return cls(
            attribute_id=str(ident.get("attribute_id") or ""),
            slug=str(data.get("api_slug") or ""),
            title=str(data.get("title") or data.get("api_slug") or ""),
            type=str(data.get("type") or ""),
            is_writable=bool(data.get("is_writable", True)),
            is_unique=bool(data.get("is_unique", False)),
            is_multiselect=bool(data.get("is_multiselect", False)),
            is_required=bool(data.get("is_required", False)),
            allowed_object_ids=tuple(str(i) for i in reference.get("allowed_object_ids") or ()),
            relationship_object_id=((relationship.get("id") or {}).get("object_id") or None),
        )


@dataclass(frozen=True)
class ObjectSchema:
    """The attributes of one object, findable by slug or id."""

    object: str
    attributes: tuple[Attribute, ...]

    def find(self, ident: str) -> Attribute | None:
        for attr in self.attributes:
            if ident in (attr.slug, attr.attribute_id):
                return attr
        return None

    def writable(self) -> list[str]:
        return sorted(a.slug for a in self.attributes if a.is_writable)


class Schemas:
    """Attio metadata of one connection, fetched once and shared by every thread.

    Objects, each object's attributes, select options and statuses, and workspace members are
    each fetched at most once per `ttl` seconds, however many threads ask at the same time. A
    failed fetch is not cached (the next call tries again), except "this object does not exist
    or is not activated", which is.
    """

    def __init__(
        self,
        client: AttioClient,
        ttl: float = SCHEMA_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, ...], tuple[float, Future[Any]]] = {}

    def _once(
        self,
        key: tuple[str, ...],
        fetch: Callable[[], _T],
        keep_error: Callable[[BaseException], bool] = lambda exc: False,
    ) -> _T:
        with self._lock:
            now = self._clock()
            entry = self._cache.get(key)
            if entry is not None and entry[0] > now:
                future, owner = entry[1], False
            else:
                future, owner = Future(), True
                self._cache[key] = (now + self.ttl, future)
        if owner:
            try:
                future.set_result(fetch())
            except BaseException as exc:
                if not keep_error(exc):
                    with self._lock:
                        if self._cache.get(key, (0, None))[1] is future:
                            del self._cache[key]
                future.set_exception(exc)
        result: _T = future.result()
        return result

    def object(self, object: str) -> ObjectSchema:
        """The attributes of `object` (slug or id). Raises ObjectNotFound (cached too)."""

        def fetch() -> ObjectSchema:
            attributes = self.client.list_attributes(object)
            return ObjectSchema(object, tuple(Attribute.from_api(a) for a in attributes))

        return self._once(
            ("attributes", object), fetch, lambda exc: isinstance(exc, ObjectNotFound)
        )

    def objects(self) -> dict[str, str]:
        """The activated objects: object id ⇒ api slug."""

        def fetch() -> dict[str, str]:
            out: dict[str, str] = {}
            for obj in self.client.list_objects():
                object_id = (obj.get("id") or {}).get("object_id")
                if object_id and obj.get("api_slug"):
                    out[str(object_id)] = str(obj["api_slug"])
            return out

        return self._once(("objects",), fetch)

    def choices(self, object: str, attr: Attribute) -> list[tuple[str, str]]:
        """(title, id) of a select attribute's options or a status attribute's statuses."""
        kind, id_key = (
            ("statuses", "status_id") if attr.type == "status" else ("options", "option_id")
        )

        def fetch() -> list[tuple[str, str]]:
            found = self.client.list_choices(object, attr.slug, kind)
            return [
                (str(c.get("title") or ""), str((c.get("id") or {}).get(id_key) or ""))
                for c in found
                if not c.get("is_archived")
            ]

        return self._once(("choices", object, attr.slug), fetch)

    def member_emails(self) -> frozenset[str] | None:
        """Lower-cased emails of the workspace members, or None when the token may not list
        them (no user_management:read scope): actor references are then not checked first."""

        def fetch() -> frozenset[str] | None:
            try:
                members = self.client.list_workspace_members()
            except ScopeMissing:
                return None
            return frozenset(
                str(m["email_address"]).lower() for m in members if m.get("email_address")
            )

        return self._once(("members",), fetch)
