"""The workspace's state: objects, attributes, records, notes, members; definitions, lookups.

`reads.py`, `writes.py` and `shapes.py` build on it; `workspace.Workspace` puts them together.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Hashable, Iterable
from typing import Any

from .catalog import DEFAULT_ACTIVATED, DEFAULT_WORKSPACE_MEMBERS, STANDARD_OBJECTS
from .errors import ApiError, not_found, object_not_found, record_not_found, validation
from .model import AttributeDef, Note, ObjectDef, Record
from .validation import Spec
from .values import now_timestamp, parse_value, value_key

Actor = dict[str, Any]


def new_id() -> str:
    return str(uuid.uuid4())


class State:
    """What one Attio workspace holds, how it is defined, and how its parts are found."""

    def __init__(
        self,
        spec: Spec,
        workspace_id: str,
        workspace_slug: str,
        activated_objects: Iterable[str] = DEFAULT_ACTIVATED,
    ) -> None:
        self.spec = spec
        self.workspace_id = workspace_id
        self.workspace_slug = workspace_slug
        self.lock = threading.RLock()
        self.objects: dict[str, ObjectDef] = {}
        self._records: dict[str, dict[str, Record]] = {}
        # object -> unique attribute -> value key -> record id
        self._unique: dict[str, dict[str, dict[Hashable, str]]] = {}
        self._notes: dict[str, Note] = {}
        self.members: list[dict[str, Any]] = []
        created = now_timestamp()
        for slug, definition in STANDARD_OBJECTS.items():
            obj = ObjectDef(
                slug=slug,
                object_id=self.stable_id("object", slug),
                singular=definition["singular"],
                plural=definition["plural"],
                created_at=created,
            )
            self.objects[slug] = obj
            self._records[slug] = {}
            self._unique[slug] = {}
            for attr_slug, flags in definition["attributes"].items():
                self._define_attribute(obj, attr_slug, dict(flags))
        for slug in activated_objects:
            self.activate(slug)
        for member in DEFAULT_WORKSPACE_MEMBERS:
            self.add_member(**member)

    def stable_id(self, *parts: str) -> str:
        # Stable per workspace, so ids are the same every run of the same workspace id.
        name = "/".join(("crm-push-local-attio", self.workspace_id, *parts))
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))

    # -- definitions ----------------------------------------------------------------------

    def _define_attribute(self, obj: ObjectDef, slug: str, flags: dict[str, Any]) -> AttributeDef:
        if slug in obj.attributes:
            raise ValueError(f"attribute {slug!r} already exists on {obj.slug!r}")
        attr_id = self.stable_id("attribute", obj.slug, slug)
        attr = AttributeDef(
            slug=slug,
            type=flags.pop("type"),
            title=flags.pop("title", slug.replace("_", " ").capitalize()),
            attribute_id=attr_id,
            object_slug=obj.slug,
            created_at=now_timestamp(),
            is_unique=flags.pop("unique", False),
            is_multiselect=flags.pop("multiselect", False),
            is_writable=flags.pop("writable", True),
            is_required=flags.pop("required", False),
            is_system_attribute=flags.pop("system", True),
            targets=tuple(flags.pop("targets", ())),
            relationship=flags.pop("relationship", None),
            currency=flags.pop("currency", None),
            auto=flags.pop("auto", None),
        )
        ident = {"workspace_id": self.workspace_id, "object_id": obj.object_id}
        for title in flags.pop("options", ()):
            option_id = self.stable_id("option", obj.slug, slug, title)
            attr.options.append(
                {
                    "id": {**ident, "attribute_id": attr_id, "option_id": option_id},
                    "title": title,
                    "is_archived": False,
                }
            )
        for title in flags.pop("statuses", ()):
            status_id = self.stable_id("status", obj.slug, slug, title)
            attr.statuses.append(
                {
                    "id": {**ident, "attribute_id": attr_id, "status_id": status_id},
                    "title": title,
                    "is_archived": False,
                    "celebration_enabled": False,
                    "target_time_in_status": None,
                }
            )
        if flags:
            raise TypeError(f"unknown attribute flags: {', '.join(sorted(flags))}")
        obj.attributes[slug] = attr
        if attr.is_unique:
            self._unique[obj.slug][slug] = {}
        return attr

    def add_attribute(self, object_slug: str, slug: str, type_: str, **flags: Any) -> AttributeDef:
        with self.lock:
            obj = self.objects[object_slug]
            attr = self._define_attribute(obj, slug, {"type": type_, "system": False, **flags})
            for record in self._records[object_slug].values():
                record.values.setdefault(slug, [])
            return attr

    def activate(self, slug: str) -> None:
        with self.lock:
            if slug not in self.objects:
                raise KeyError(f"unknown object {slug!r}; known: {', '.join(self.objects)}")
            self.objects[slug].activated = True

    def add_member(
        self, email_address: str, first_name: str = "", last_name: str = "", **extra: Any
    ) -> dict[str, Any]:
        with self.lock:
            member = {
                "id": {"workspace_id": self.workspace_id, "workspace_member_id": new_id()},
                "first_name": first_name,
                "last_name": last_name,
                "avatar_url": None,
                "email_address": email_address,
                "created_at": now_timestamp(),
                "access_level": extra.pop("access_level", "member"),
            }
            self.members.append(member)
            return member

    # -- lookups (also the ValueContext used by values.parse_value) -------------------------

    def get_object(self, ident: str) -> ObjectDef:
        obj = self.objects.get(ident)
        if obj is None:
            obj = next((o for o in self.objects.values() if o.object_id == ident), None)
        if obj is None or not obj.activated:
            raise object_not_found(ident)
        return obj

    def object_slug(self, ident: str) -> str | None:
        try:
            return self.get_object(ident).slug
        except ApiError:
            return None

    def get_attribute(self, obj: ObjectDef, ident: str) -> AttributeDef:
        attr = obj.find(ident)
        if attr is None:
            raise not_found(f'Attribute with slug/ID "{ident}" not found.')
        return attr

    def record_exists(self, object_slug: str, record_id: str) -> bool:
        return record_id in self._records.get(object_slug, {})

    def find_by_unique(self, object_slug: str, attr_ident: str, raw: Any, path: str) -> str | None:
        """The one record whose attribute holds this value (Attio's 2026 linking guide: the
        attribute need not be unique, but the value must match exactly one record)."""
        obj = self.get_object(object_slug)
        attr = obj.find(attr_ident)
        if attr is None:
            raise validation(
                f'Cannot reference {object_slug} by "{attr_ident}" at {path}: '
                "that object has no such attribute."
            )
        parsed = parse_value(attr, raw, path, self)
        key = value_key(attr.type, parsed)
        if attr.is_unique:
            return self._unique[obj.slug][attr.slug].get(key)
        matches = [
            record.record_id
            for record in self._records[obj.slug].values()
            if any(value_key(attr.type, v) == key for v in record.values.get(attr.slug, []))
        ]
        if len(matches) > 1:
            raise validation(
                f'Cannot reference {object_slug} by "{attr.slug}" at {path}: the value matches '
                f"{len(matches)} records; a reference must match exactly one."
            )
        return matches[0] if matches else None

    def member_id(self, email: str | None = None, member_id: str | None = None) -> str | None:
        for member in self.members:
            if email is not None and member["email_address"].lower() == email.lower():
                return str(member["id"]["workspace_member_id"])
            if member_id is not None and member["id"]["workspace_member_id"] == member_id:
                return member_id
        return None

    def _get_record(self, obj: ObjectDef, record_id: str) -> Record:
        record = self._records[obj.slug].get(record_id)
        if record is None:
            raise record_not_found(record_id)
        return record
