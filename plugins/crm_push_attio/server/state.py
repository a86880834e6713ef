"""The in-memory workspace: objects, attributes, records, notes, workspace members.

Every public method takes the workspace lock, validates everything before changing anything
(a failed write leaves no trace), and returns data in Attio's output shape.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Hashable, Iterable
from typing import Any

from .catalog import DEFAULT_ACTIVATED, DEFAULT_WORKSPACE_MEMBERS, STANDARD_OBJECTS
from .errors import (
    ApiError,
    invalid,
    not_found,
    object_not_found,
    record_not_found,
    validation,
)
from .filters import record_matches, sort_records
from .model import AttributeDef, Note, ObjectDef, Record
from .notes import escape_markdown, markdown_to_text, note_created_at, note_output
from .validation import Spec
from .values import now_timestamp, parse_value, value_key

Actor = dict[str, Any]


def _new_id() -> str:
    return str(uuid.uuid4())


class Workspace:
    """One Attio workspace held in memory."""

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
                "id": {"workspace_id": self.workspace_id, "workspace_member_id": _new_id()},
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
        obj = self.get_object(object_slug)
        attr = obj.find(attr_ident)
        if attr is None or not attr.is_unique:
            raise validation(
                f'Cannot reference {object_slug} by "{attr_ident}" at {path}: '
                "it is not a unique attribute of that object."
            )
        parsed = parse_value(attr, raw, path, self)
        return self._unique[obj.slug][attr.slug].get(value_key(attr.type, parsed))

    def member_id(self, email: str | None = None, member_id: str | None = None) -> str | None:
        for member in self.members:
            if email is not None and member["email_address"].lower() == email.lower():
                return str(member["id"]["workspace_member_id"])
            if member_id is not None and member["id"]["workspace_member_id"] == member_id:
                return member_id
        return None

    # -- output shapes --------------------------------------------------------------------

    def object_output(self, obj: ObjectDef) -> dict[str, Any]:
        return {
            "id": {"workspace_id": self.workspace_id, "object_id": obj.object_id},
            "api_slug": obj.slug,
            "singular_noun": obj.singular,
            "plural_noun": obj.plural,
            "created_at": obj.created_at,
        }

    def attribute_output(self, attr: AttributeDef) -> dict[str, Any]:
        obj = self.objects[attr.object_slug]
        relationship = None
        if attr.relationship is not None:
            other_obj = self.objects[attr.relationship[0]]
            other = other_obj.attributes[attr.relationship[1]]
            relationship = {
                "id": {
                    "workspace_id": self.workspace_id,
                    "object_id": other_obj.object_id,
                    "attribute_id": other.attribute_id,
                }
            }
        allowed = [self.objects[t].object_id for t in attr.targets] or None
        return {
            "id": {
                "workspace_id": self.workspace_id,
                "object_id": obj.object_id,
                "attribute_id": attr.attribute_id,
            },
            "title": attr.title,
            "description": None,
            "api_slug": attr.slug,
            "type": attr.type,
            "is_system_attribute": attr.is_system_attribute,
            "is_writable": attr.is_writable,
            "is_required": attr.is_required,
            "is_unique": attr.is_unique,
            "is_multiselect": attr.is_multiselect,
            "is_default_value_enabled": False,
            "is_archived": False,
            "default_value": None,
            "relationship": relationship,
            "created_at": attr.created_at,
            "config": {
                "currency": {
                    "default_currency_code": attr.currency,
                    "display_type": "symbol" if attr.currency else None,
                },
                "record_reference": {"allowed_object_ids": allowed},
            },
        }

    def record_output(self, record: Record) -> dict[str, Any]:
        obj = self.objects[record.object_slug]
        return {
            "id": {
                "workspace_id": self.workspace_id,
                "object_id": obj.object_id,
                "record_id": record.record_id,
            },
            "created_at": record.created_at,
            "web_url": (
                f"https://app.attio.com/{self.workspace_slug}/"
                f"{obj.singular.lower()}/{record.record_id}"
            ),
            "values": {
                slug: [dict(v) for v in record.values.get(slug, [])] for slug in obj.attributes
            },
        }

    # -- record reads ---------------------------------------------------------------------

    def list_objects(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.object_output(o) for o in self.objects.values() if o.activated]

    def all_records(self, object_slug: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self.record_output(r) for r in self._records[object_slug].values()]

    def all_notes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [note_output(n, self.workspace_id) for n in self._notes.values()]

    def _get_record(self, obj: ObjectDef, record_id: str) -> Record:
        record = self._records[obj.slug].get(record_id)
        if record is None:
            raise record_not_found(record_id)
        return record

    def get_record(self, object_ident: str, record_id: str) -> dict[str, Any]:
        with self.lock:
            obj = self.get_object(object_ident)
            return self.record_output(self._get_record(obj, record_id))

    def get_values(self, object_ident: str, record_id: str, attr_ident: str) -> list[Any]:
        with self.lock:
            obj = self.get_object(object_ident)
            record = self._get_record(obj, record_id)
            attr = self.get_attribute(obj, attr_ident)
            return [dict(v) for v in record.values.get(attr.slug, [])]

    def query_records(
        self,
        object_ident: str,
        filter_: dict[str, Any] | None,
        sorts: list[dict[str, Any]] | None,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        with self.lock:
            obj = self.get_object(object_ident)
            records = [
                r
                for r in self._records[obj.slug].values()
                if not filter_ or record_matches(obj, r, filter_)
            ]
            records = sort_records(obj, records, sorts or [])
            return [self.record_output(r) for r in records[offset : offset + limit]]

    # -- record writes --------------------------------------------------------------------

    def assert_record(
        self, object_ident: str, matching: str | None, values: dict[str, Any], actor: Actor
    ) -> dict[str, Any]:
        with self.lock:
            obj = self.get_object(object_ident)
            if not matching:
                raise invalid(
                    "missing_value", 'The query parameter "matching_attribute" is required.'
                )
            match_attr = obj.find(matching)
            if match_attr is None:
                raise invalid(
                    "value_not_found",
                    f'No attribute was found for matching_attribute slug/ID "{matching}".',
                )
            if not match_attr.is_unique:
                # Code taken from public reports (unverified).
                raise invalid(
                    "matching_attribute_definition_not_unique",
                    f'The matching attribute "{match_attr.slug}" is not unique; '
                    "assert needs a unique attribute.",
                )
            parsed = self._parse(obj, values)
            sent = parsed.get(match_attr.slug)
            if not sent:
                raise invalid(
                    "missing_value",
                    "The request body has no value for the matching attribute "
                    f'"{match_attr.slug}".',
                )
            index = self._unique[obj.slug][match_attr.slug]
            found = [index[k] for k in sent if k in index]
            if not found:
                return self._create(obj, parsed, actor)
            record = self._records[obj.slug][found[0]]
            # Matching values are added, never removed; other multiselects are replaced.
            return self._update(obj, record, parsed, actor, append={match_attr.slug})

    def create_record(
        self, object_ident: str, values: dict[str, Any], actor: Actor
    ) -> dict[str, Any]:
        with self.lock:
            obj = self.get_object(object_ident)
            return self._create(obj, self._parse(obj, values), actor)

    def update_record(
        self,
        object_ident: str,
        record_id: str,
        values: dict[str, Any],
        actor: Actor,
        append_multiselect: bool,
    ) -> dict[str, Any]:
        with self.lock:
            obj = self.get_object(object_ident)
            record = self._get_record(obj, record_id)
            parsed = self._parse(obj, values)
            append = set(parsed) if append_multiselect else set()
            return self._update(obj, record, parsed, actor, append=append)

    def _parse(self, obj: ObjectDef, values: dict[str, Any]) -> dict[str, dict[Hashable, Any]]:
        """Input values -> slug -> {value key: parsed value}, in sent order, deduplicated."""
        parsed: dict[str, dict[Hashable, Any]] = {}
        for ident, raw in values.items():
            attr = obj.find(ident)
            if attr is None:
                raise invalid(
                    "value_not_found",
                    f'Cannot find attribute with slug/ID "{ident}" on object "{obj.slug}".',
                )
            if not attr.is_writable:
                raise invalid(
                    "immutable_value",
                    f'Attribute "{attr.slug}" on {obj.slug} is not writable (it is set by Attio).',
                )
            path = f"$.data.values.{ident}"
            items = raw if isinstance(raw, list) else [raw]
            if raw is None:
                raise validation(
                    f'Invalid value for attribute "{attr.slug}" at {path}: null is not a value; '
                    "send [] to clear it."
                )
            if not attr.is_multiselect and len(items) > 1:
                raise validation(
                    f'Attribute "{attr.slug}" at {path} takes a single value, got {len(items)}.'
                )
            out: dict[Hashable, Any] = {}
            for i, item in enumerate(items):
                value = parse_value(
                    attr, item, f"{path}[{i}]" if isinstance(raw, list) else path, self
                )
                out.setdefault(value_key(attr.type, value), value)
            parsed[attr.slug] = out
        return parsed

    def _entry(self, attr: AttributeDef, value: dict[str, Any], actor: Actor) -> dict[str, Any]:
        return {
            "active_from": now_timestamp(),
            "active_until": None,
            "created_by_actor": dict(actor),
            **value,
            "attribute_type": attr.type,
        }

    def _check(
        self, obj: ObjectDef, record_id: str | None, final: dict[str, dict[Hashable, Any]]
    ) -> None:
        for slug, vals in final.items():
            attr = obj.attributes[slug]
            if attr.is_required and not vals:
                raise invalid(
                    "missing_value",
                    f'Required value for attribute "{slug}" (ID "{attr.attribute_id}") '
                    "was not provided.",
                )
            if attr.is_unique:
                index = self._unique[obj.slug][slug]
                for key in vals:
                    owner = index.get(key)
                    if owner is not None and owner != record_id:
                        # Attio's status for this is unverified; 409 with the code from
                        # public reports. Not retriable, unlike 409 concurrent_write_conflict.
                        raise invalid(
                            "uniqueness_conflict",
                            f'The value "{key}" of unique attribute "{slug}" already belongs '
                            f"to another {obj.singular.lower()} record ({owner}).",
                            status=409,
                        )

    def _create(
        self, obj: ObjectDef, parsed: dict[str, dict[Hashable, Any]], actor: Actor
    ) -> dict[str, Any]:
        final: dict[str, dict[Hashable, Any]] = {
            slug: {} for slug, attr in obj.attributes.items() if attr.auto is None
        }
        final.update(parsed)
        self._check(obj, None, final)
        record_id = _new_id()
        created = now_timestamp()
        record = Record(object_slug=obj.slug, record_id=record_id, created_at=created)
        for attr in obj.attributes.values():
            record.values[attr.slug] = []
            auto = {
                "record_id": {"value": record_id},
                "created_at": {"value": created},
                "created_by": {
                    "referenced_actor_type": actor["type"],
                    "referenced_actor_id": actor["id"],
                },
            }.get(attr.auto or "")
            if auto is not None:
                record.values[attr.slug] = [self._entry(attr, auto, actor)]
        self._records[obj.slug][record_id] = record
        self._store(obj, record, parsed, actor)
        return self.record_output(record)

    def _update(
        self,
        obj: ObjectDef,
        record: Record,
        parsed: dict[str, dict[Hashable, Any]],
        actor: Actor,
        append: set[str],
    ) -> dict[str, Any]:
        final: dict[str, dict[Hashable, Any]] = {}
        for slug, new in parsed.items():
            attr = obj.attributes[slug]
            if attr.is_multiselect and slug in append and new:
                current = {value_key(attr.type, v): v for v in record.values.get(slug, [])}
                final[slug] = {**current, **{k: v for k, v in new.items() if k not in current}}
            else:
                # Single values and replaced multiselects; [] clears (unverified in Attio).
                final[slug] = new
        self._check(obj, record.record_id, final)
        self._store(obj, record, final, actor)
        return self.record_output(record)

    def _store(
        self,
        obj: ObjectDef,
        record: Record,
        final: dict[str, dict[Hashable, Any]],
        actor: Actor,
    ) -> None:
        """Write values (all checks done): keep unchanged entries, index, sync relationships."""
        for slug, new in final.items():
            attr = obj.attributes[slug]
            old = {value_key(attr.type, v): v for v in record.values.get(slug, [])}
            record.values[slug] = [
                old[k] if k in old and _same(old[k], v) else self._entry(attr, v, actor)
                for k, v in new.items()
            ]
            if attr.is_unique:
                index = self._unique[obj.slug][slug]
                for key in old.keys() - new.keys():
                    index.pop(key, None)
                for key in new:
                    index[key] = record.record_id
            if attr.relationship is not None:
                self._sync_inverse(record, attr, set(old) - set(new), set(new) - set(old), actor)

    def _sync_inverse(
        self, record: Record, attr: AttributeDef, removed: set[Any], added: set[Any], actor: Actor
    ) -> None:
        """Keep the other side of a relationship (people.company <-> companies.team) in step."""
        assert attr.relationship is not None
        other_obj, other_slug = attr.relationship
        other_attr = self.objects[other_obj].attributes[other_slug]
        for target_id in removed:
            target = self._records[other_obj].get(str(target_id))
            if target is not None:
                target.values[other_slug] = [
                    v
                    for v in target.values.get(other_slug, [])
                    if v["target_record_id"] != record.record_id
                ]
        back = {"target_object": record.object_slug, "target_record_id": record.record_id}
        for target_id in added:
            target = self._records[other_obj].get(str(target_id))
            if target is None:
                continue
            current = target.values.get(other_slug, [])
            if not other_attr.is_multiselect:
                # The target can point back to one record only: unlink it from the previous one.
                for previous in current:
                    prev = self._records[record.object_slug].get(previous["target_record_id"])
                    if prev is not None and prev is not record:
                        prev.values[attr.slug] = [
                            v
                            for v in prev.values.get(attr.slug, [])
                            if v["target_record_id"] != target.record_id
                        ]
                current = []
            if all(v["target_record_id"] != record.record_id for v in current):
                current = [*current, self._entry(other_attr, back, actor)]
            target.values[other_slug] = current

    # -- notes ----------------------------------------------------------------------------

    def create_note(self, data: dict[str, Any], actor: Actor) -> dict[str, Any]:
        with self.lock:
            obj = self.get_object(data["parent_object"])
            parent_id = data["parent_record_id"]
            self._get_record(obj, parent_id)
            created = now_timestamp()
            if data.get("created_at") is not None:
                created = note_created_at(data["created_at"])
            content = data["content"]
            markdown = data["format"] == "markdown"
            note = Note(
                note_id=_new_id(),
                parent_object=obj.slug,
                parent_record_id=parent_id,
                title=data["title"],
                content_plaintext=markdown_to_text(content) if markdown else content,
                content_markdown=content if markdown else escape_markdown(content),
                created_by_actor=dict(actor),
                created_at=created,
            )
            self._notes[note.note_id] = note
            return note_output(note, self.workspace_id)

    def list_notes(
        self, parent_object: str | None, parent_record_id: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        with self.lock:
            slug = self.get_object(parent_object).slug if parent_object else None
            notes = [
                n
                for n in self._notes.values()
                if (slug is None or n.parent_object == slug)
                and (parent_record_id is None or n.parent_record_id == parent_record_id)
            ]
            return [note_output(n, self.workspace_id) for n in notes[offset : offset + limit]]

    def get_note(self, note_id: str) -> dict[str, Any]:
        with self.lock:
            note = self._notes.get(note_id)
            if note is None:
                raise not_found(f'Note with ID "{note_id}" was not found.')
            return note_output(note, self.workspace_id)


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return all(old.get(k) == v for k, v in new.items())
