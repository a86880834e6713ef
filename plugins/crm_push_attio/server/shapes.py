"""Attio's output shapes of the workspace's objects, attributes and records."""

from __future__ import annotations

from typing import Any

from .model import AttributeDef, ObjectDef, Record
from .state import State


class Shapes(State):
    """Objects, attributes and records as Attio answers them (notes: `notes.note_output`)."""

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
                },
                "object_slug": other_obj.slug,
                "title": other.title,
                "api_slug": other.slug,
                "is_multiselect": other.is_multiselect,
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
