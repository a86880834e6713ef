"""Workspace reads: objects, records, values, queries and notes, each under the lock."""

from __future__ import annotations

from typing import Any

from .errors import not_found
from .filters import record_matches, sort_records
from .notes import note_output
from .shapes import Shapes


class Reads(Shapes):
    """The reads of the API, in Attio's output shapes."""

    def list_objects(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.object_output(o) for o in self.objects.values() if o.activated]

    def all_records(self, object_slug: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self.record_output(r) for r in self._records[object_slug].values()]

    def all_notes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [note_output(n, self.workspace_id) for n in self._notes.values()]

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
