"""The subset of Attio's record filters and sorts that the query endpoint supports.

Shorthand {"email_addresses": "a@b.com"}, operators {"attr": {"$eq": v}} ($eq, $in, $contains,
$starts_with, $ends_with, $gt, $gte, $lt, $lte, $not_empty), field filters
{"name": {"first_name": "Ada"}}, and $and / $or / $not. Anything else is a 400 filter_error.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .errors import invalid
from .model import AttributeDef, ObjectDef, Record

# The field a shorthand filter compares, per attribute type ("value" otherwise).
_PRIMARY_FIELD = {
    "email-address": "email_address",
    "domain": "domain",
    "phone-number": "phone_number",
    "record-reference": "target_record_id",
    "actor-reference": "referenced_actor_id",
    "currency": "currency_value",
    "personal-name": "full_name",
    "location": "locality",
}
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _primary(attr: AttributeDef, value: dict[str, Any]) -> Any:
    if attr.type in ("select", "status"):
        return value["option" if attr.type == "select" else "status"]["title"]
    return value.get(_PRIMARY_FIELD.get(attr.type, "value"))


def _operand(attr: AttributeDef | None, operand: Any) -> Any:
    # Emails and domains are stored lower-cased; compare them that way.
    if attr is not None and isinstance(operand, str) and attr.type in ("email-address", "domain"):
        return operand.strip().lower()
    return operand


def _text(actual: Any, operand: Any, test: Callable[[str, str], bool]) -> bool:
    return isinstance(actual, str) and test(actual.lower(), str(operand).lower())


def _compare(actual: Any, cond: Any, attr: AttributeDef | None = None) -> bool:
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    for op, raw in cond.items():
        operand = _operand(attr, raw)
        if op == "$eq":
            ok = actual == operand
        elif op == "$in":
            ok = isinstance(operand, list) and actual in [_operand(attr, o) for o in operand]
        elif op == "$contains":
            ok = _text(actual, operand, lambda a, o: o in a)
        elif op == "$starts_with":
            ok = _text(actual, operand, str.startswith)
        elif op == "$ends_with":
            ok = _text(actual, operand, str.endswith)
        elif op in _ORDER:
            try:
                ok = actual is not None and _ORDER[op](actual, operand)
            except TypeError:
                ok = False
        elif op == "$not_empty":
            ok = (actual is not None) == bool(operand)
        else:
            raise invalid("filter_error", f"Unsupported filter operator {op!r}.")
        if not ok:
            return False
    return True


def _value_matches(attr: AttributeDef, value: dict[str, Any], cond: Any) -> bool:
    if isinstance(cond, dict) and cond and not any(k.startswith("$") for k in cond):
        # Field filters: {"name": {"first_name": {"$eq": "Ada"}}}.
        for field, sub in cond.items():
            actual = value.get(field)
            if field in ("option", "status") and isinstance(actual, dict):
                actual = actual["title"]
            if not _compare(actual, sub, attr):
                return False
        return True
    return _compare(_primary(attr, value), cond, attr)


def record_matches(obj: ObjectDef, record: Record, cond: dict[str, Any]) -> bool:
    if not isinstance(cond, dict):
        raise invalid("filter_error", "A filter must be an object.")
    for key, sub in cond.items():
        if key in ("$and", "$or"):
            if not isinstance(sub, list):
                raise invalid("filter_error", f"{key} expects a list of filters.")
            results = [record_matches(obj, record, c) for c in sub]
            if not (all(results) if key == "$and" else any(results)):
                return False
        elif key == "$not":
            if record_matches(obj, record, sub):
                return False
        elif key == "record_id":
            if not _compare(record.record_id, sub):
                return False
        else:
            attr = obj.find(key)
            if attr is None:
                raise invalid(
                    "filter_error", f'Unknown attribute slug "{key}" in filter on {obj.slug}.'
                )
            if not any(_value_matches(attr, v, sub) for v in record.values.get(attr.slug, [])):
                return False
    return True


def sort_records(
    obj: ObjectDef, records: list[Record], sorts: list[dict[str, Any]]
) -> list[Record]:
    """Sort by attribute (first value; field optional); records without a value go last."""
    for sort in reversed(sorts):
        attr = obj.find(str(sort.get("attribute", "")))
        if attr is None:
            raise invalid("filter_error", f"Unknown sort attribute in {sort!r}.")
        field = sort.get("field")
        present = [r for r in records if r.values.get(attr.slug)]
        absent = [r for r in records if not r.values.get(attr.slug)]

        def key(r: Record, a: AttributeDef = attr, f: Any = field) -> Any:
            first = r.values[a.slug][0]
            actual = first.get(f) if f else _primary(a, first)
            if isinstance(actual, (int, float)) and not isinstance(actual, bool):
                return (0, actual, "")
            return (1, 0, str(actual))

        present.sort(key=key, reverse=sort.get("direction") == "desc")
        records = present + absent
    return records
