"""Plain data held by the workspace: object and attribute definitions, records, notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AttributeDef:
    slug: str
    type: str
    title: str
    attribute_id: str
    object_slug: str
    created_at: str
    is_unique: bool = False
    is_multiselect: bool = False
    is_writable: bool = True
    is_required: bool = False
    is_system_attribute: bool = True
    targets: tuple[str, ...] = ()
    relationship: tuple[str, str] | None = None
    # Select options / statuses in Attio's output shape, in display order.
    options: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    currency: str | None = None
    auto: str | None = None


@dataclass
class ObjectDef:
    slug: str
    object_id: str
    singular: str
    plural: str
    created_at: str
    attributes: dict[str, AttributeDef] = field(default_factory=dict)
    activated: bool = False

    def find(self, ident: str) -> AttributeDef | None:
        """An attribute by api_slug or attribute_id (Attio accepts either)."""
        attr = self.attributes.get(ident)
        if attr is None:
            attr = next((a for a in self.attributes.values() if a.attribute_id == ident), None)
        return attr


@dataclass
class Record:
    object_slug: str
    record_id: str
    created_at: str
    # slug -> active values in Attio's output shape (with active_from, created_by_actor...)
    values: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Note:
    note_id: str
    parent_object: str
    parent_record_id: str
    title: str
    content_plaintext: str
    content_markdown: str
    created_by_actor: dict[str, Any]
    created_at: str
    meeting_id: str | None = None
