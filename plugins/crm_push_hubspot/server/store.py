"""The in-memory portal: objects, properties, associations, and the lagging search index.

All methods take the store's lock, so a batch is applied whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, conflict, not_found, validation

#: Canonical type names, and what HubSpot also accepts in a path (singular, object type id).
TYPES = {"contacts": "0-1", "companies": "0-2", "notes": "0-46"}
ALIASES = {
    **{t: t for t in TYPES},
    **{t[:-1]: t for t in ("contacts", "notes")},
    "company": "companies",
    **{v: k for k, v in TYPES.items()},
}

#: HUBSPOT_DEFINED association type ids (PySDK `hubspot/crm/association_type.py`):
#: (from, to) -> (default type id, every accepted id).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, frozenset[int]]] = {
    ("contacts", "companies"): (279, frozenset({1, 279})),
    ("companies", "contacts"): (280, frozenset({2, 280})),
    ("notes", "contacts"): (202, frozenset({202})),
    ("contacts", "notes"): (201, frozenset({201})),
    ("notes", "companies"): (190, frozenset({190})),
    ("companies", "notes"): (189, frozenset({189})),
}
REVERSE = {1: 2, 2: 1, 279: 280, 280: 279, 202: 201, 201: 202, 190: 189, 189: 190}
LABELS = {1: "Primary", 2: "Primary"}

READ_ONLY = {
    "hs_object_id",
    "createdate",
    "lastmodifieddate",
    "hs_createdate",
    "hs_lastmodifieddate",
}
NOTE_BODY_MAX = 65_536
#: The longest value a text property holds (HubSpot: 65,536 characters).
VALUE_MAX = 65_536


def _prop(name: str, label: str, group: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": extra.pop("type", "string"),
        "fieldType": extra.pop("fieldType", "text"),
        "groupName": group,
        "description": "",
        "options": [],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": extra.pop("hasUniqueValue", False),
        "hidden": False,
        "formField": True,
        "modificationMetadata": {
            "archivable": False,
            "readOnlyDefinition": True,
            "readOnlyValue": name in READ_ONLY,
        },
        "createdAt": "2020-01-01T00:00:00Z",
        "updatedAt": "2020-01-01T00:00:00Z",
        "archived": False,
    }


def _defaults() -> dict[str, dict[str, dict[str, Any]]]:
    common = ["hs_object_id", "createdate", "lastmodifieddate"]
    contacts = [
        *common,
        "email",
        "firstname",
        "lastname",
        "jobtitle",
        "hs_linkedin_url",
        "company",
        "phone",
        "website",
        "hubspot_owner_id",
        "lifecyclestage",
        "hs_additional_emails",
    ]
    companies = [
        *common,
        "name",
        "domain",
        "hs_additional_domains",
        "website",
        "description",
        "linkedin_company_page",
        "industry",
        "numberofemployees",
        "city",
        "country",
    ]
    notes = [
        "hs_object_id",
        "hs_createdate",
        "hs_lastmodifieddate",
        "hs_timestamp",
        "hs_note_body",
        "hubspot_owner_id",
        "hs_attachment_ids",
    ]
    groups = {
        "contacts": "contactinformation",
        "companies": "companyinformation",
        "notes": "engagement",
    }
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for type_, names in (("contacts", contacts), ("companies", companies), ("notes", notes)):
        out[type_] = {}
        for name in names:
            extra: dict[str, Any] = {}
            if name == "email":
                extra["hasUniqueValue"] = True
            if name in (
                "hs_timestamp",
                "createdate",
                "lastmodifieddate",
                "hs_createdate",
                "hs_lastmodifieddate",
            ):
                extra.update(type="datetime", fieldType="date")
            if name == "hs_note_body":
                extra["fieldType"] = "html"
            out[type_][name] = _prop(name, name.replace("_", " ").title(), groups[type_], **extra)
    return out


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Obj:
    id: str
    type: str
    properties: dict[str, str]
    created_at: str
    updated_at: str
    # (visible from, properties): what search sees, newest last (search lags writes).
    index: list[tuple[float, dict[str, str]]] = field(default_factory=list)

    def view(self, wanted: list[str] | None) -> dict[str, Any]:
        names = wanted if wanted is not None else _DEFAULT_PROPS[self.type]
        props = {n: self.properties.get(n) for n in names if n in self.properties or wanted}
        return {
            "id": self.id,
            "properties": props,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": False,
        }

    def searchable(self, at: float) -> dict[str, str] | None:
        seen = None
        for visible, props in self.index:
            if visible <= at:
                seen = props
        return seen


_DEFAULT_PROPS = {
    "contacts": [
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "notes": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}


def _string(value: Any) -> str:
    # HubSpot stores every property value as a string; booleans lower-cased.
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class Store:
    """One portal's CRM data."""

    def __init__(self, search_lag: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.search_lag = search_lag
        self.clock = clock
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, Obj]] = {t: {} for t in TYPES}
        self.properties = _defaults()
        # (from type, from id, to type, to id) -> type ids
        self.links: dict[tuple[str, str, str, str], set[int]] = {}
        self.next_id = 1001
        # While a batch runs: how to undo each change, newest last (None: not recording).
        self.journal: list[Callable[[], None]] | None = None

    # -- properties -------------------------------------------------------------------------

    def property_defs(self, type_: str) -> list[dict[str, Any]]:
        return list(self.properties[type_].values())

    def property_def(self, type_: str, name: str) -> dict[str, Any]:
        found = self.properties[type_].get(name)
        if found is None:
            raise not_found(f"Unable to find property {name} for object type {TYPES[type_]}")
        return found

    def create_property(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            raise validation(f"Missing required fields: {', '.join(missing)}", code="REQUIRED")
        name = str(body["name"])
        with self.lock:
            if name in self.properties[type_]:
                raise conflict(f"A property named '{name}' already exists.")
            prop = _prop(
                name,
                str(body["label"]),
                str(body["groupName"]),
                type=body["type"],
                fieldType=body["fieldType"],
                hasUniqueValue=bool(body.get("hasUniqueValue", False)),
            )
            prop["modificationMetadata"] = {
                "archivable": True,
                "readOnlyDefinition": False,
                "readOnlyValue": False,
            }
            prop["createdAt"] = prop["updatedAt"] = now_iso()
            prop["description"] = str(body.get("description", ""))
            self.properties[type_][name] = prop
            return prop

    def unique(self, type_: str, name: str) -> bool:
        prop = self.properties[type_].get(name)
        return bool(prop and prop["hasUniqueValue"])

    # -- objects ----------------------------------------------------------------------------

    def get(self, type_: str, id_: str) -> Obj:
        found = self.objects[type_].get(str(id_))
        if found is None:
            raise not_found()
        return found

    def find(self, type_: str, name: str, value: str) -> Obj | None:
        if name == "hs_object_id":
            return self.objects[type_].get(value)
        for obj in self.objects[type_].values():
            if obj.properties.get(name) == value:
                return obj
        return None

    def check_properties(
        self, type_: str, props: Any, *, creating: bool, current: Obj | None = None
    ) -> dict[str, str]:
        if not isinstance(props, dict):
            raise validation("properties must be an object", code="INVALID_INPUT")
        out: dict[str, str] = {}
        for name, value in props.items():
            if name not in self.properties[type_]:
                raise validation(
                    f'Property "{name}" does not exist', code="PROPERTY_DOESNT_EXIST", name=name
                )
            if name in READ_ONLY:
                raise validation(
                    f'"{name}" is a read only property; its value cannot be set.',
                    code="READ_ONLY_VALUE",
                    name=name,
                )
            if value is not None and not isinstance(value, str | int | float | bool):
                raise validation(f"{value!r} is not a valid value for {name}", name=name)
            out[name] = _string(value)
            if len(out[name]) > VALUE_MAX:
                raise validation(
                    f"{name} is {len(out[name])} characters long; the limit is {VALUE_MAX}",
                    code="INVALID_STRING_LENGTH",
                    name=name,
                )
        if type_ == "notes":
            timestamp = out.get("hs_timestamp") or (
                current and current.properties.get("hs_timestamp")
            )
            if creating and not timestamp:
                raise validation("hs_timestamp is required", code="REQUIRED", name="hs_timestamp")
            if len(out.get("hs_note_body", "")) > NOTE_BODY_MAX:
                raise validation(
                    f"hs_note_body is longer than {NOTE_BODY_MAX} characters",
                    code="TOO_LONG",
                    name="hs_note_body",
                )
        if type_ == "contacts" and out.get("email"):
            email = out["email"]
            if "@" not in email or email.strip() != email:
                raise validation(
                    f"Email address {email} is invalid", code="INVALID_EMAIL", name="email"
                )
        for name, value in out.items():
            if value and self.unique(type_, name):
                other = self._unique_owner(type_, name, value)
                if other is not None and (current is None or other.id != current.id):
                    label = "Contact" if type_ == "contacts" else "Object"
                    raise conflict(f"{label} already exists. Existing ID: {other.id}", other.id)
        return out

    def _unique_owner(self, type_: str, name: str, value: str) -> Obj | None:
        # Emails are unique whatever their case [unverified: HubSpot lower-cases stored emails].
        fold = name == "email"
        for obj in self.objects[type_].values():
            have = obj.properties.get(name)
            if have is not None and (have.lower() == value.lower() if fold else have == value):
                return obj
        return None

    def insert(self, type_: str, props: dict[str, str]) -> Obj:
        id_ = str(self.next_id)
        self.next_id += 1
        stamp = now_iso()
        if type_ == "contacts" and props.get("email"):
            props = {**props, "email": props["email"].lower()}
        meta = (
            {"hs_createdate": stamp, "hs_lastmodifieddate": stamp}
            if type_ == "notes"
            else {"createdate": stamp, "lastmodifieddate": stamp}
        )
        obj = Obj(id_, type_, {**props, **meta, "hs_object_id": id_}, stamp, stamp)
        self.objects[type_][id_] = obj

        def undo() -> None:
            self.objects[type_].pop(id_, None)

        self._undo(undo)
        self._reindex(obj)
        return obj

    def update(self, obj: Obj, props: dict[str, str]) -> Obj:
        if obj.type == "contacts" and props.get("email"):
            props = {**props, "email": props["email"].lower()}
        stamp = now_iso()
        before = (dict(obj.properties), obj.updated_at, list(obj.index))

        def undo() -> None:
            obj.properties, obj.updated_at, obj.index = before

        self._undo(undo)
        obj.properties.update(props)
        obj.properties["hs_lastmodifieddate" if obj.type == "notes" else "lastmodifieddate"] = stamp
        obj.updated_at = stamp
        self._reindex(obj)
        return obj

    def _reindex(self, obj: Obj) -> None:
        obj.index.append((self.clock() + self.search_lag, dict(obj.properties)))

    # -- associations -----------------------------------------------------------------------

    def check_association(self, from_t: str, to_t: str, spec: Any) -> int:
        known = ASSOCIATION_TYPES.get((from_t, to_t))
        if not isinstance(spec, dict) or known is None:
            raise validation(f"No association from {from_t} to {to_t}", code="INVALID_ASSOCIATION")
        category = spec.get("associationCategory")
        type_id = spec.get("associationTypeId")
        if category not in ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED", "WORK"):
            raise validation(
                f"associationCategory {category!r} is not valid",
                code="INVALID_ASSOCIATION_CATEGORY",
            )
        if category != "HUBSPOT_DEFINED" or type_id not in known[1]:
            raise validation(
                f"{category} {type_id} is not a valid association type between {from_t} and {to_t}",
                code="INVALID_ASSOCIATION_TYPE",
            )
        return int(type_id)

    def link(self, from_t: str, from_id: str, to_t: str, to_id: str, type_id: int) -> None:
        self.get(from_t, from_id)
        self.get(to_t, to_id)
        for key, tid in (
            ((from_t, from_id, to_t, to_id), type_id),
            ((to_t, to_id, from_t, from_id), REVERSE[type_id]),
        ):
            ids = self.links.setdefault(key, set())
            if tid not in ids:
                ids.add(tid)
                self._undo(lambda ids=ids, tid=tid: ids.discard(tid))  # type: ignore[misc]

    def _undo(self, step: Callable[[], None]) -> None:
        if self.journal is not None:
            self.journal.append(step)

    def rollback(self, journal: list[Callable[[], None]]) -> None:
        """Undo a failed all-or-nothing batch (ids stay used, as in any database)."""
        for step in reversed(journal):
            step()

    def linked(self, from_t: str, from_id: str, to_t: str) -> list[tuple[str, set[int]]]:
        return sorted(
            (
                (k[3], ids)
                for k, ids in self.links.items()
                if k[:3] == (from_t, from_id, to_t) and ids
            ),
            key=lambda pair: int(pair[0]),
        )

    # -- search -----------------------------------------------------------------------------

    def search(self, type_: str, groups: list[list[dict[str, Any]]]) -> list[Obj]:
        at = self.clock()
        found = []
        for obj in self.objects[type_].values():
            props = obj.searchable(at)
            if props is None:
                continue
            if not groups or any(all(_match(f, props) for f in g) for g in groups):
                found.append(obj)
        return sorted(found, key=lambda o: int(o.id))


def _match(filter_: dict[str, Any], props: dict[str, str]) -> bool:
    op = filter_["operator"]
    have = props.get(filter_["propertyName"])
    if op == "HAS_PROPERTY":
        return bool(have)
    if op == "NOT_HAS_PROPERTY":
        return not have
    if have is None or have == "":
        return op in ("NEQ", "NOT_IN")
    if op in ("IN", "NOT_IN"):
        # [unverified] IN string values must be lower-case to match: stored values are folded,
        # the given ones are not, so "Acme.com" never matches.
        hit = have.lower() in [str(v) for v in filter_["values"]]
        return hit if op == "IN" else not hit
    value = str(filter_.get("value", ""))
    if op == "EQ":  # [unverified] EQ on strings is case-insensitive
        return have.lower() == value.lower()
    if op == "NEQ":
        return have.lower() != value.lower()
    if op == "CONTAINS_TOKEN":
        return value.lower().strip("*") in have.lower()
    if op == "NOT_CONTAINS_TOKEN":
        return value.lower().strip("*") not in have.lower()
    if op in ("LT", "LTE", "GT", "GTE"):
        try:
            a, b = float(have), float(value)
        except ValueError:
            a, b = have, value  # type: ignore[assignment]
        return {"LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}[op]
    if op == "BETWEEN":
        return str(filter_.get("value")) <= have <= str(filter_.get("highValue"))
    raise ApiError(400, "VALIDATION_ERROR", f"Unknown operator {op}")
