"""Typed attribute values: the simple values users give, as Attio's write format — checked first.

Attio's records API takes a value per attribute in a form that depends on the attribute's type
(`{"value": …}`, `{"domain": …}`, `{"option": …}`…). Users know simpler forms (Segment's: an
email for a person reference, `"Last, First"` for a name, a title for a select…). This module
converts every simple value into the object form of the OpenAPI `input-value` schema, using
each object's attribute metadata (`attributes.Schemas`), and refuses a bad value *before*
anything is written, with an `InvalidInput` that names the attribute, the value and the
expected format:

    deals.priority: 7 is not an integer from 0 to 5

Attributes are referenced by slug or id; the request uses the slug. `None` unsets an attribute
(sent as `[]`). Read-only attributes (`is_writable: false`) are refused. A multiselect takes a
list or a single value.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_push.errors import InvalidInput
from crm_push.models import normalize_domain, normalize_email

from .attributes import Attribute, Schemas

__all__ = ["convert_values"]

#: At most this many problems are spelled out in one error; the rest are counted.
_MAX_PROBLEMS = 5
#: At most this many option titles or attribute slugs are listed in a message.
_MAX_LISTED = 25
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NEXT_STEP = "fix the value and try again; nothing was written"


class _Bad(Exception):
    """One value does not fit: `what` completes the sentence "<value> is not …"."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def show(value: Any) -> str:
    """A value as the user wrote it, JSON-like and short: 7, "open", null, ["a", "b"]."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _listing(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(show(i) for i in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unwrap(value: Any, key: str) -> Any:
    """The inner value of an object form {key: …} given as such; else the value itself."""
    if isinstance(value, dict) and set(value) == {key}:
        return value[key]
    if isinstance(value, dict):
        raise _Bad(f'an object with the single key "{key}" or a simple value')
    return value


def _number_of(value: Any) -> int | float | None:
    """A finite number from a number or a numeric string, else None."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number: int | float = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
        value = number
    if not _is_number(value) or not math.isfinite(value):
        return None
    return value  # type: ignore[no-any-return]


def _text(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    value = _unwrap(value, "value")
    if _is_number(value):
        value = str(value)  # 42 for a text attribute is the text "42"
    if not isinstance(value, str):
        raise _Bad("text")
    return {"value": value}


def _number(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    number = _number_of(_unwrap(value, "value"))
    if number is None:
        raise _Bad("a number")
    return {"value": number}


def _checkbox(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    value = _unwrap(value, "value")
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise _Bad("true or false")
    return {"value": value}


def _currency(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    value = _unwrap(value, "currency_value")
    expected = "an amount with at most 4 decimals"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad(expected)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Bad(expected) from None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or (isinstance(exponent, int) and exponent < -4):
        raise _Bad(expected)
    number: int | float = int(amount) if amount == amount.to_integral_value() else float(amount)
    # The currency code is the attribute's (its config), never part of the value.
    return {"currency_value": number}


def _parse_timestamp(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    # No zone: UTC, as Attio assumes.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _date(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    value = _unwrap(value, "value")
    expected = "a date YYYY-MM-DD"
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    elif isinstance(value, dt.date):
        return {"value": value.isoformat()}
    if not isinstance(value, str):
        raise _Bad(expected)
    text = value.strip()
    try:
        if _DATE.match(text):
            return {"value": dt.date.fromisoformat(text).isoformat()}
        # A full timestamp: its calendar date in UTC, as Attio coerces it.
        if "T" in text or " " in text:
            return {"value": _parse_timestamp(text).astimezone(dt.UTC).date().isoformat()}
    except ValueError:
        pass
    raise _Bad(expected)


def _timestamp(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    value = _unwrap(value, "value")
    expected = 'an ISO 8601 timestamp like "2023-09-28T04:39:17Z"'
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    elif isinstance(value, str):
        try:
            when = _parse_timestamp(value)
        except ValueError:
            raise _Bad(expected) from None
    else:
        raise _Bad(expected)
    utc = when.astimezone(dt.UTC)
    return {"value": f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}000Z"}


def _rating(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    number = _number_of(_unwrap(value, "value"))
    if number is None or number != int(number) or not 0 <= number <= 5:
        raise _Bad("an integer from 0 to 5")
    return {"value": int(number)}


def _domain(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    value = _unwrap(value, "domain")
    if not isinstance(value, str):
        raise _Bad('a domain like "app.attio.com"')
    try:
        return {"domain": normalize_domain(value)}
    except ValueError:
        raise _Bad('a domain like "app.attio.com"') from None


def _email(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    value = _unwrap(value, "email_address")
    if not isinstance(value, str):
        raise _Bad("an email address")
    try:
        return {"email_address": normalize_email(value)}
    except ValueError:
        raise _Bad("an email address") from None


_NAME_KEYS = ("first_name", "last_name", "full_name")


def _personal_name(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    expected = 'a name "Last name(s), First name(s)" or {"first_name", "last_name"}'
    if isinstance(value, str):
        # Attio's string form: "Last, First"; without a comma it is all first name.
        last, comma, first = value.partition(",")
        if not comma:
            first, last = value, ""
        first, last, full = first.strip(), last.strip(), ""
    elif isinstance(value, dict) and value and set(value) <= set(_NAME_KEYS):
        parts = [value.get(k) for k in _NAME_KEYS]
        if not all(p is None or isinstance(p, str) for p in parts):
            raise _Bad(expected)
        first, last, full = ((p or "").strip() for p in parts)
    else:
        raise _Bad(expected)
    full = full or " ".join(p for p in (first, last) if p)
    if not full:
        raise _Bad(expected)
    # Attio's docs ask for all three keys.
    return {"first_name": first, "last_name": last, "full_name": full}


def _phone(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    import phonenumbers  # imported when a phone number is converted, not with the plugin

    expected = 'a phone number in E.164 form, like "+15558675309"'
    country: str | None = None
    if (
        isinstance(value, dict)
        and value
        and set(value) <= {"original_phone_number", "country_code"}
    ):
        country = value.get("country_code")
        value = value.get("original_phone_number")
        if country is not None and not isinstance(country, str):
            raise _Bad(expected)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(expected)
    text = value.strip()
    if country is None and not text.startswith("+"):
        raise _Bad(expected)
    try:
        number = phonenumbers.parse(text, country.upper() if country else None)
    except phonenumbers.NumberParseException:
        raise _Bad(expected) from None
    # Possible (the right length for its country); not "valid", which would refuse numbers
    # in unassigned ranges such as the 555 numbers of Attio's own example.
    if not phonenumbers.is_possible_number(number):
        raise _Bad(expected)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if country is None:
        return {"original_phone_number": e164}
    return {"original_phone_number": text, "country_code": country.upper()}


def _choice(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    key, noun, nouns = (
        ("status", "status", "statuses")
        if attr.type == "status"
        else ("option", "option", "options")
    )
    wanted = _unwrap(value, key)
    if not isinstance(wanted, str) or not wanted.strip():
        raise _Bad(f"a {noun} title or id")
    wanted = wanted.strip()
    choices = ctx.schemas.choices(ctx.object, attr)
    for title, choice_id in choices:
        if wanted in (title, choice_id):
            return {key: wanted}
    folded = [title for title, _ in choices if title.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return {key: folded[0]}
    titles = [title for title, _ in choices]
    listed = f"one of its {nouns}: {_listing(titles)}" if titles else f"a {noun} (it has none)"
    raise _Bad(listed)


def _actor(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    expected = "a workspace member's email"
    if isinstance(value, dict):
        if set(value) == {"workspace_member_email_address"}:
            value = value["workspace_member_email_address"]
        elif set(value) == {"referenced_actor_type", "referenced_actor_id"}:
            if value["referenced_actor_type"] != "workspace-member" or not _UUID.match(
                str(value["referenced_actor_id"])
            ):
                raise _Bad(expected)
            return dict(value)
        else:
            raise _Bad(expected)
    if isinstance(value, str) and _UUID.match(value.strip()):
        member_id = value.strip().lower()
        return {"referenced_actor_type": "workspace-member", "referenced_actor_id": member_id}
    if not isinstance(value, str):
        raise _Bad(expected)
    try:
        email = normalize_email(value)
    except ValueError:
        raise _Bad(expected) from None
    members = ctx.schemas.member_emails()
    if members is not None and email not in members:
        raise _Bad("the email of a member of this Attio workspace")
    return {"workspace_member_email_address": email}


# A plain string reference: which attribute of each target object it matches, by the kind of
# string (Segment's convention, extended to users and workspaces). The object form
# {"target_object", <attribute slug>: [value]} may name any attribute of the target: Attio's
# 2026 linking guide asks that the value match exactly one record, not that the attribute be
# unique (Attio refuses a value that matches none or several). People are still linked to
# companies by record id.
_BY_EMAIL = {"people": "email_addresses", "users": "primary_email_address"}
_BY_DOMAIN = {"companies": "domains"}
_BY_ID = {"users": "user_id", "workspaces": "workspace_id"}


def _reference(attr: Attribute, value: Any, ctx: _Context) -> dict[str, Any]:
    targets = ctx.targets(attr)
    names = ", ".join(targets) or "no object"
    expected = f"a record id, an email (people) or a domain (companies) of {names}"
    if isinstance(value, dict):
        target = value.get("target_object")
        target = ctx.slug_of(target) if isinstance(target, str) else None
        if target not in targets:
            raise _Bad(f"a reference to one of: {names}")
        rest = {k: v for k, v in value.items() if k != "target_object"}
        if set(rest) == {"target_record_id"} and _UUID.match(str(rest["target_record_id"])):
            return {"target_object": target, "target_record_id": rest["target_record_id"]}
        if len(rest) == 1:
            slug, match = next(iter(rest.items()))
            items = match if isinstance(match, list) else [match]
            if len(items) == 1:
                return {"target_object": target, slug: items}
        raise _Bad(f"a reference: {{target_object, target_record_id}} to one of: {names}")
    if not isinstance(value, str) or not value.strip():
        raise _Bad(expected)
    text = value.strip()
    if _UUID.match(text):
        if len(targets) != 1:
            raise _Bad(
                f"a record id of one object: {attr.slug} may point to {names}, so give "
                '{"target_object": …, "target_record_id": …}'
            )
        return {"target_object": targets[0], "target_record_id": text.lower()}
    if "@" in text:
        target = next((t for t in targets if t in _BY_EMAIL), None)
        if target is None:
            raise _Bad(f"a reference to {names} (an email references people or users)")
        try:
            email = normalize_email(text)
        except ValueError:
            raise _Bad("an email address") from None
        return {"target_object": target, _BY_EMAIL[target]: [{"email_address": email}]}
    domain_target = next((t for t in targets if t in _BY_DOMAIN), None)
    if domain_target is not None and "." in text and " " not in text:
        try:
            domain = normalize_domain(text)
        except ValueError:
            raise _Bad(expected) from None
        return {"target_object": domain_target, "domains": [{"domain": domain}]}
    id_target = next((t for t in targets if t in _BY_ID), None)
    if id_target is not None:
        return {"target_object": id_target, _BY_ID[id_target]: [{"value": text}]}
    raise _Bad(expected)


_CONVERTERS: dict[str, Callable[[Attribute, Any, _Context], dict[str, Any]]] = {
    "actor-reference": _actor,
    "checkbox": _checkbox,
    "currency": _currency,
    "date": _date,
    "domain": _domain,
    "email-address": _email,
    "number": _number,
    "personal-name": _personal_name,
    "phone-number": _phone,
    "rating": _rating,
    "record-reference": _reference,
    "select": _choice,
    "status": _choice,
    "text": _text,
    "timestamp": _timestamp,
}


class _Context:
    """What converters may look up: the object's name and the cached metadata."""

    def __init__(self, schemas: Schemas, object: str) -> None:
        self.schemas = schemas
        self.object = object

    def slug_of(self, ident: str) -> str:
        if _UUID.match(ident):
            return self.schemas.objects().get(ident, ident)
        return ident

    def targets(self, attr: Attribute) -> list[str]:
        """Slugs of the objects a record-reference attribute may point to."""
        ids = attr.allowed_object_ids or (
            (attr.relationship_object_id,) if attr.relationship_object_id else ()
        )
        objects = self.schemas.objects() if ids else {}
        return [objects[i] for i in ids if i in objects]


def convert_values(
    schemas: Schemas,
    object: str,
    values: dict[str, Any],
    *,
    matching_attribute: str | None = None,
) -> dict[str, list[Any]]:
    """Simple values of `object` ⇒ Attio's `values` body (slug ⇒ list of object forms).

    Every value is checked before anything is returned; all the problems found are raised
    together as one InvalidInput (its `field` is the first attribute at fault).
    """
    schema = schemas.object(object)
    ctx = _Context(schemas, object)
    out: dict[str, list[Any]] = {}
    problems: list[tuple[str, str]] = []

    def problem(ident: str, text: str) -> None:
        problems.append((ident, f"{object}.{ident}: {text}"))

    if matching_attribute is not None:
        match = schema.find(matching_attribute)
        if match is None:
            problem(
                matching_attribute,
                f"no such attribute to match on (unique attributes: "
                f"{_listing(a.slug for a in schema.attributes if a.is_unique) or 'none'})",
            )
        elif not match.is_unique:
            unique = [a.slug for a in schema.attributes if a.is_unique]
            problem(
                match.slug,
                "cannot be matched on: it is not unique "
                f"(unique attributes: {_listing(unique) or 'none'})",
            )
        elif not any(
            (found := schema.find(k)) is not None
            and found.slug == match.slug
            and v not in (None, "", [])
            for k, v in values.items()
        ):
            problem(match.slug, "is the matching attribute but has no value among the values")
    seen: dict[str, str] = {}
    for ident, value in values.items():
        attr = schema.find(ident)
        if attr is None:
            problem(ident, f"no such attribute (writable: {_listing(schema.writable())})")
            continue
        if attr.slug in seen:
            problem(ident, f"given twice (also as {seen[attr.slug]!r})")
            continue
        seen[attr.slug] = ident
        if not attr.is_writable:
            problem(
                ident,
                f"is read-only in Attio (is_writable false: Attio sets it); leave it out "
                f"(got {show(value)})",
            )
            continue
        if value is None or value == []:
            if attr.is_required:
                problem(ident, "is required and cannot be unset")
            else:
                out[attr.slug] = []  # unset (Attio does not document clearing; [] is likely)
            continue
        if attr.type == "location":
            problem(
                ident,
                f"location values are not supported by crm-push (got {show(value)}); "
                "set it in Attio itself",
            )
            continue
        convert = _CONVERTERS.get(attr.type)
        if convert is None:
            problem(ident, f"{attr.type} attributes cannot be written through the API")
            continue
        items = value if isinstance(value, list | tuple) else [value]
        if not attr.is_multiselect and len(items) > 1:
            problem(ident, f"takes a single value, got {len(items)}: {show(value)}")
            continue
        converted: list[Any] = []
        for item in items:
            try:
                converted.append(convert(attr, item, ctx))
            except _Bad as bad:
                problem(ident, f"{show(item)} is not {bad.what}")
                break
        else:
            out[attr.slug] = converted
    if problems:
        first = problems[0][0]
        texts = [text for _, text in problems]
        message = "; ".join(texts[:_MAX_PROBLEMS])
        if len(texts) > _MAX_PROBLEMS:
            message += f" (and {len(texts) - _MAX_PROBLEMS} more)"
        raise InvalidInput(message, field=first, code="invalid_value", next_step=_NEXT_STEP)
    return out
