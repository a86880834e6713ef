"""Workspace writes: assert, create and update records, create notes — checked, then applied.

Every write validates everything before changing anything (a failed write leaves no trace).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .errors import invalid, not_found, validation
from .model import AttributeDef, Note, ObjectDef, Record
from .notes import escape_markdown, markdown_to_text, note_created_at, note_output
from .shapes import Shapes
from .state import Actor, new_id
from .values import FREE_MAIL_DOMAINS, now_timestamp, parse_value, root_domain, value_key


class Writes(Shapes):
    """The writes of the API, each under the lock; the answers in Attio's output shapes."""

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
            if attr.is_multiselect and not isinstance(raw, list):
                # Attio's spec: "an array of values (for single or multi-select attributes)";
                # only single-value attributes take a bare value.
                raise validation(
                    f'Attribute "{attr.slug}" at {path} is a multiselect: send an array of values.'
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
                        # Attio documents this as a 400 (on the record-values endpoint; peers
                        # see it on creates). 409 is concurrent_write_conflict only.
                        raise invalid(
                            "uniqueness_conflict",
                            f'The value "{key}" of unique attribute "{slug}" already belongs '
                            f"to another {obj.singular.lower()} record ({owner}).",
                        )

    def _create(
        self, obj: ObjectDef, parsed: dict[str, dict[Hashable, Any]], actor: Actor
    ) -> dict[str, Any]:
        final: dict[str, dict[Hashable, Any]] = {
            slug: {} for slug, attr in obj.attributes.items() if attr.auto is None
        }
        final.update(parsed)
        self._check(obj, None, final)
        record_id = new_id()
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
        if obj.slug == "people":
            self._company_from_email(record, parsed, actor)
        return self.record_output(record)

    def _company_from_email(
        self, person: Record, parsed: dict[str, dict[Hashable, Any]], actor: Actor
    ) -> None:
        """Attio: "When creating a person, a related company record will automatically be
        generated or matched based on the domain of the person's email address." Modelled:
        the first email's domain, unless a free-mail one, is matched to a company by
        `domains`, else a company is created with that domain; the person is linked to it
        only when the write gave no company. Whether Attio still derives a company when the
        write sets `company` is unverified; this server assumes the worst case, that it does.
        """
        emails = list(parsed.get("email_addresses", {}).values())
        companies = self.objects.get("companies")
        if not emails or companies is None or not companies.activated:
            return
        domain = str(emails[0]["email_domain"])
        if domain in FREE_MAIL_DOMAINS or root_domain(domain) in FREE_MAIL_DOMAINS:
            return
        domains_attr = companies.attributes["domains"]
        value = parse_value(domains_attr, domain, "$.derived.domains", self)
        key = value_key(domains_attr.type, value)
        company_id = self._unique["companies"]["domains"].get(key)
        if company_id is None:
            derived = self._create(companies, {"domains": {key: value}}, actor)
            company_id = derived["id"]["record_id"]
        if not parsed.get("company"):
            people = self.objects["people"]
            link = {"target_object": "companies", "target_record_id": company_id}
            self._store(people, person, {"company": {company_id: link}}, actor)

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
            if attr.is_multiselect and slug in append:
                # Appended: existing values stay; [] adds nothing, so changes nothing.
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
                note_id=new_id(),
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

    def update_note(self, note_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """PATCH /v2/notes/{note_id}: title and/or content; the parent never changes."""
        with self.lock:
            note = self._notes.get(note_id)
            if note is None:
                raise not_found(f'Note with ID "{note_id}" was not found.')
            if "content" in data and "format" not in data:
                raise validation('"format" is required when "content" is given.')
            if data.get("title") is not None:
                note.title = data["title"]
            if data.get("content") is not None:
                content = data["content"]
                markdown = data["format"] == "markdown"
                note.content_plaintext = markdown_to_text(content) if markdown else content
                note.content_markdown = content if markdown else escape_markdown(content)
            return note_output(note, self.workspace_id)


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return all(old.get(k) == v for k, v in new.items())
