"""Segment events as input: `identify` ⇒ identify user, `group` ⇒ group workspace.

One Segment event per line (JSON Lines, as Segment's archives and most exports write them).
The fields come from where Segment's own Attio destination takes them by default:

| action | field | taken from |
|---|---|---|
| identify user | email | `traits.email`, else `email` |
| identify user | user id | `userId` |
| group workspace | domain | `traits.website`, else `website` |
| group workspace | workspace id | `groupId`, else `context.group_id` |
| group workspace | user id | `userId` (optional: the user is added to the workspace) |

Every other event type (`track`, `page`, `screen`, `alias`…) is skipped and counted by type.
A mapping (`SegmentMapping`, from a YAML or JSON file) adds attributes per record, like
Segment's "Additional attributes": for each of `person`, `user`, `company` and `workspace`,
attribute ⇒ an event path (`traits.plan`) or a literal (`{literal: "trial"}`). CRM-neutral:
this produces UserIdentity and WorkspaceGroup; the destination maps them onto its objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from crm_push.errors import InvalidInput
from crm_push.inputs.lines import (
    FIX_LINE,
    Line,
    RawLine,
    Skip,
    invalid_input,
    json_object,
    read_lines,
)
from crm_push.models.actions import Action, UserIdentity, WorkspaceGroup
from crm_push.models.fields import quote
from pydantic import ValidationError

#: The records a mapping may add attributes to: identify ⇒ person, user; group ⇒ company,
#: workspace.
MAPPED_OBJECTS = ("person", "user", "company", "workspace")
#: Top-level fields of a Segment event (the spec's common fields and per-type ones): an event
#: path starts with one of these.
EVENT_FIELDS = frozenset(
    {
        "anonymousId",
        "category",
        "channel",
        "context",
        "email",
        "event",
        "groupId",
        "integrations",
        "messageId",
        "name",
        "originalTimestamp",
        "previousId",
        "properties",
        "receivedAt",
        "sentAt",
        "timestamp",
        "traits",
        "type",
        "userId",
        "version",
        "website",
    }
)
_MISSING = object()
#: The keys that make a mapping entry a source rather than an object built field by field.
_SOURCE_KEYS = frozenset({"path", "@path", "default", "literal"})


def get_path(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path of an event; a number indexes a list. Missing ⇒ _MISSING."""
    value: Any = event
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _first(event: Mapping[str, Any], *paths: str) -> Any:
    """The first of the paths holding a value that is not null or blank."""
    for path in paths:
        value = get_path(event, tuple(path.split(".")))
        if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
            continue
        return value
    return None


@dataclass(frozen=True)
class Source:
    """Where one mapped attribute comes from: an event path (with a default), a literal, or an
    object whose fields come from sources of their own."""

    path: tuple[str, ...] | None = None
    literal: Any = None
    default: Any = _MISSING
    fields: Mapping[str, Source] | None = None

    def value(self, event: Mapping[str, Any]) -> Any:
        """The value for this event, or _MISSING: a missing or null path sets nothing."""
        if self.fields is not None:
            built = {k: v for k, s in self.fields.items() if (v := s.value(event)) is not _MISSING}
            return built or _MISSING
        if self.path is None:
            return self.literal
        found = get_path(event, self.path)
        if found is _MISSING or found is None:
            return self.default
        return found

    @classmethod
    def parse(cls, spec: Any, where: str) -> Source:
        if isinstance(spec, str):
            return cls(path=_path(spec, where))
        if isinstance(spec, dict):
            keys = set(spec)
            if keys == {"literal"}:
                return cls(literal=spec["literal"])
            if not keys & _SOURCE_KEYS:
                # An object value built field by field: {first_name: traits.first, …}.
                return cls(fields={str(k): cls.parse(v, f"{where}.{k}") for k, v in spec.items()})
            path = spec.get("path", spec.get("@path"))
            if (
                isinstance(path, str)
                and keys <= {"path", "@path", "default"}
                and len(keys - {"default"}) == 1
            ):
                return cls(path=_path(path, where), default=spec.get("default", _MISSING))
            raise ValueError(
                f"{where}: expected an event path like traits.plan, {{path: …, default: …}}, "
                f"{{literal: …}} or an object of those, got {json.dumps(spec, default=str)}"
            )
        # Numbers, booleans, null and lists cannot be paths: they are literals.
        return cls(literal=spec)


def _path(text: str, where: str) -> tuple[str, ...]:
    path = text.strip()
    path = path.removeprefix("$.")
    parts = tuple(path.split("."))
    if not path or any(not p for p in parts) or parts[0] not in EVENT_FIELDS:
        raise ValueError(
            f"{where}: {quote(text)} is not an event path (paths start with one of the event's "
            "fields: traits., properties., context., userId, groupId, …); for a fixed value "
            f"write {{literal: {json.dumps(text)}}}"
        )
    return parts


@dataclass(frozen=True)
class SegmentMapping:
    """Extra attributes per record, from event paths or literals (Segment's "Additional
    attributes"). Attribute names are the destination's (Attio: slugs or ids)."""

    person: Mapping[str, Source] = field(default_factory=dict)
    user: Mapping[str, Source] = field(default_factory=dict)
    company: Mapping[str, Source] = field(default_factory=dict)
    workspace: Mapping[str, Source] = field(default_factory=dict)
    #: Multiselect values: "append" (the default: a record's other values stay) or "replace".
    multiselect: Literal["append", "replace"] = "append"

    @classmethod
    def from_data(cls, data: Any, name: str = "mapping") -> SegmentMapping:
        """A mapping from its parsed file; ValueError says what is wrong and where."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"{name}: expected an object with {', '.join(MAPPED_OBJECTS)}")
        unknown = sorted(set(data) - set(MAPPED_OBJECTS) - {"multiselect"})
        if unknown:
            raise ValueError(
                f"{name}: unknown key(s) {', '.join(map(repr, unknown))}; a mapping has "
                f"{', '.join(MAPPED_OBJECTS)} (and multiselect)"
            )
        multiselect = data.get("multiselect", "append")
        if multiselect not in ("append", "replace"):
            raise ValueError(
                f"{name}: multiselect: expected append or replace, not {multiselect!r}"
            )
        parsed: dict[str, dict[str, Source]] = {}
        for obj in MAPPED_OBJECTS:
            attrs = data.get(obj) or {}
            if not isinstance(attrs, dict):
                raise ValueError(f"{name}: {obj}: expected attribute: source pairs")
            parsed[obj] = {
                str(attr): Source.parse(spec, f"{name}: {obj}.{attr}")
                for attr, spec in attrs.items()
            }
        return cls(**parsed, multiselect=multiselect)

    @classmethod
    def load(cls, path: str | Path) -> SegmentMapping:
        """Read a YAML or JSON mapping file (JSON is YAML too)."""
        import yaml

        file = Path(path)
        text = file.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise ValueError(
                f"{file}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}"
            ) from None
        return cls.from_data(data, str(file))

    def values(self, obj: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """The mapped attributes of one record for this event (missing paths set nothing)."""
        sources: Mapping[str, Source] = getattr(self, obj)
        out: dict[str, Any] = {}
        for attr, source in sources.items():
            value = source.value(event)
            if value is not _MISSING:
                out[attr] = value
        return out


#: Segment's names of the fields an action takes from an event.
_EVENT_NAMES = {"email": "traits.email", "domain": "traits.website"}


def _invalid(line: int, event_type: str, exc: ValidationError) -> InvalidInput:
    return invalid_input(
        exc, f"line {line}: {event_type} event", whole="(event)", fields=_EVENT_NAMES
    )


def parse_event(data: Mapping[str, Any], mapping: SegmentMapping, *, line: int) -> Action | str:
    """One event as an action, or its type (a string) when it is not one we push.

    Raises InvalidInput naming the line and the field for an identify or group event that
    lacks what it needs.
    """
    event_type = data.get("type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise InvalidInput(
            f'line {line}: not a Segment event: no "type"', field="type", next_step=FIX_LINE
        )
    event_type = event_type.strip().lower()
    if event_type == "identify":
        user_id = _first(data, "userId")
        if user_id is None:
            raise InvalidInput(
                f"line {line}: identify event without userId (an anonymous visitor cannot "
                "be identified as a user)",
                field="userId",
                next_step=FIX_LINE,
            )
        email = _first(data, "traits.email", "email")
        if email is None:
            raise InvalidInput(
                f"line {line}: identify event of user {quote(str(user_id))} has no email "
                "(traits.email or email)",
                field="traits.email",
                next_step=FIX_LINE,
            )
        try:
            return UserIdentity(
                user_id=user_id,
                email=email,
                person_values=mapping.values("person", data),
                user_values=mapping.values("user", data),
                multiselect=mapping.multiselect,
            )
        except ValidationError as exc:
            raise _invalid(line, event_type, exc) from None
    if event_type == "group":
        workspace_id = _first(data, "groupId", "context.group_id")
        if workspace_id is None:
            raise InvalidInput(
                f"line {line}: group event without groupId (or context.group_id)",
                field="groupId",
                next_step=FIX_LINE,
            )
        domain = _first(data, "traits.website", "website")
        if domain is None:
            raise InvalidInput(
                f"line {line}: group event of workspace {quote(str(workspace_id))} has no website "
                "(traits.website or website) to find its company by",
                field="traits.website",
                next_step=FIX_LINE,
            )
        try:
            return WorkspaceGroup(
                workspace_id=workspace_id,
                domain=domain,
                user_id=_first(data, "userId"),
                company_values=mapping.values("company", data),
                workspace_values=mapping.values("workspace", data),
                multiselect=mapping.multiselect,
            )
        except ValidationError as exc:
            raise _invalid(line, event_type, exc) from None
    return event_type


def parse_segment_line(
    text: str, *, line: int, mapping: SegmentMapping | None = None
) -> Action | Skip:
    """One line as an action, or a Skip naming the event type we do not push."""
    data = json_object(text, line=line, what="a Segment event")
    parsed = parse_event(data, mapping or SegmentMapping(), line=line)
    return Skip(parsed) if isinstance(parsed, str) else parsed


def read_segment(
    lines: Iterable[str | bytes | RawLine], mapping: SegmentMapping | None = None
) -> Iterator[Line[Action]]:
    """Yield each non-blank line as a Line: an action, a rejection or a skip."""
    mapping = mapping or SegmentMapping()
    return read_lines(lines, partial(parse_segment_line, mapping=mapping))
