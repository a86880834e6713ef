"""Attribute values: parse what clients send (object forms and Attio's documented string
shorthands) into Attio's stored/output shape, and compute the key that identifies a value
(for uniqueness, deduplication of multiselects, matching and filters)."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from .catalog import STRING_REFERENCE_MATCH
from .errors import ApiError, invalid, validation
from .model import AttributeDef
from .validation import Spec

Parsed = dict[str, Any]


class ValueContext(Protocol):
    """What parsing needs from the workspace (references and actors)."""

    spec: Spec

    def object_slug(self, ident: str) -> str | None: ...

    def record_exists(self, object_slug: str, record_id: str) -> bool: ...

    def find_by_unique(
        self, object_slug: str, attr_ident: str, raw: Any, path: str
    ) -> str | None: ...

    def member_id(self, email: str | None = None, member_id: str | None = None) -> str | None: ...


def _bad(attr: AttributeDef, path: str, why: str) -> ApiError:
    return validation(f'Invalid value for attribute "{attr.slug}" ({attr.type}) at {path}: {why}')


# -- dates and times ------------------------------------------------------------------

_ISO = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_timestamp(text: str) -> tuple[datetime, str]:
    """Parse ISO 8601 (partial forms allowed, UTC assumed); return (UTC datetime, nanos)."""
    m = _ISO.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    frac = (frac or "").ljust(9, "0")
    tz = UTC
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = timezone(sign * offset)
    dt = datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int(frac[:6]),
        tzinfo=tz,
    )
    return dt.astimezone(UTC), frac[6:]


def format_timestamp(dt: datetime, extra_nanos: str = "000") -> str:
    """Attio's timestamp output: UTC with nanosecond precision."""
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond:06d}{extra_nanos}Z"


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))


# -- per type parsers -----------------------------------------------------------------


def _unwrap(raw: Any, key: str) -> Any:
    return raw[key] if isinstance(raw, dict) else raw


def _text(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = _unwrap(raw, "value")
    if not isinstance(value, str):
        raise _bad(attr, path, f"expected a string, got {type(value).__name__}")
    return {"value": value}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = _unwrap(raw, "value")
    if not _is_number(value):
        raise _bad(attr, path, f"expected a number, got {value!r}")
    return {"value": value}


def _checkbox(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = _unwrap(raw, "value")
    if value in ("true", "false"):
        value = value == "true"
    if not isinstance(value, bool):
        raise _bad(attr, path, f"expected true or false, got {value!r}")
    return {"value": value}


def _currency(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = _unwrap(raw, "currency_value")
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(attr, path, f"expected a number or numeric string, got {value!r}") from None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or (isinstance(exponent, int) and exponent < -4):
        raise _bad(attr, path, f"{value!r} has more than 4 decimal places")
    number: int | float = int(amount) if amount == amount.to_integral_value() else float(amount)
    return {"currency_value": number, "currency_code": attr.currency}


def _date(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = _unwrap(raw, "value")
    if not isinstance(value, str):
        raise _bad(attr, path, f"expected a date string YYYY-MM-DD, got {value!r}")
    try:
        dt, _ = parse_timestamp(value)
    except (ValueError, OverflowError) as exc:
        raise _bad(attr, path, str(exc)) from None
    return {"value": dt.date().isoformat()}


def _timestamp(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = _unwrap(raw, "value")
    if not isinstance(value, str):
        raise _bad(attr, path, f"expected an ISO 8601 timestamp string, got {value!r}")
    try:
        dt, nanos = parse_timestamp(value)
    except (ValueError, OverflowError) as exc:
        raise _bad(attr, path, str(exc)) from None
    return {"value": format_timestamp(dt, nanos)}


def _rating(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = _unwrap(raw, "value")
    if not _is_number(value) or value != int(value) or not 0 <= value <= 5:
        raise _bad(attr, path, f"expected an integer from 0 to 5, got {value!r}")
    return {"value": int(value)}


def _choice(kind: str) -> Callable[[AttributeDef, Any, str, ValueContext], Parsed]:
    """select (options) and status (statuses): by title or id, or {"option"/"status": ...}."""

    def parse(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
        wanted = _unwrap(raw, kind)
        if not isinstance(wanted, str) or not wanted:
            raise _bad(attr, path, f"expected a {kind} title or ID, got {wanted!r}")
        choices = attr.options if kind == "option" else attr.statuses
        id_key = "option_id" if kind == "option" else "status_id"
        for choice in choices:
            if choice["is_archived"]:
                continue
            if choice["title"] == wanted or choice["id"][id_key] == wanted:
                return {kind: choice}
        # Attio creates no option on write: an unknown title is value_not_found.
        label = "select option" if kind == "option" else "status"
        raise invalid(
            "value_not_found",
            f'Cannot find {label} with title or ID "{wanted}" for attribute "{attr.slug}".',
        )

    return parse


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$"
)
# Second-level labels under which registrations happen (acme.co.uk): a small, not exhaustive list.
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc"}


#: Email domains Attio derives no company from (consumer mail). Attio's own list is not
#: published; these are the common ones.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "protonmail.com",
        "proton.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "hey.com",
        "fastmail.com",
        "qq.com",
        "163.com",
    }
)


def root_domain(host: str) -> str:
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _email(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = _unwrap(raw, "email_address") if isinstance(raw, dict) else raw
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise _bad(attr, path, f"{value!r} is not a valid email address")
    original = value.strip()
    local, _, domain = original.lower().rpartition("@")
    return {
        "original_email_address": original,
        "email_address": f"{local}@{domain}",
        "email_domain": domain,
        "email_root_domain": root_domain(domain),
        "email_local_specifier": local,
    }


def normalize_domain(value: str) -> str:
    """Attio trims a scheme, path, query and port: "https://Acme.com/x?y" -> "acme.com"."""
    host = value.strip().lower()
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host)
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")
    return host


def _domain(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    value = raw.get("domain") if isinstance(raw, dict) else raw
    if not isinstance(value, str):
        raise _bad(attr, path, f"expected a domain string, got {value!r}")
    host = normalize_domain(value)
    if not _HOST.match(host):
        raise _bad(attr, path, f"{value!r} is not a valid domain")
    return {"domain": host, "root_domain": root_domain(host)}


def _personal_name(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    if isinstance(raw, str):
        # Documented shorthand: "Last name(s), First name(s)"; no comma => all first name.
        if "," in raw:
            last, first = (part.strip() for part in raw.split(",", 1))
        else:
            first, last = raw.strip(), ""
        full = None
    elif isinstance(raw, dict):
        first = (raw.get("first_name") or "").strip()
        last = (raw.get("last_name") or "").strip()
        full = (raw.get("full_name") or "").strip() or None
    else:
        raise _bad(attr, path, f"expected a name object or string, got {raw!r}")
    full = full or " ".join(p for p in (first, last) if p)
    if not (first or last or full):
        raise _bad(attr, path, "a name needs a first, last or full name")
    return {"first_name": first, "last_name": last, "full_name": full}


# Calling codes of common countries (longest prefix wins); not exhaustive.
_DIAL_CODES = {
    "1": "US", "7": "RU", "20": "EG", "27": "ZA", "30": "GR", "31": "NL", "32": "BE",
    "33": "FR", "34": "ES", "36": "HU", "39": "IT", "40": "RO", "41": "CH", "43": "AT",
    "44": "GB", "45": "DK", "46": "SE", "47": "NO", "48": "PL", "49": "DE", "51": "PE",
    "52": "MX", "54": "AR", "55": "BR", "56": "CL", "57": "CO", "60": "MY", "61": "AU",
    "62": "ID", "63": "PH", "64": "NZ", "65": "SG", "66": "TH", "81": "JP", "82": "KR",
    "84": "VN", "86": "CN", "90": "TR", "91": "IN", "92": "PK", "234": "NG", "254": "KE",
    "351": "PT", "352": "LU", "353": "IE", "354": "IS", "358": "FI", "370": "LT",
    "371": "LV", "372": "EE", "380": "UA", "420": "CZ", "421": "SK", "852": "HK",
    "886": "TW", "971": "AE", "972": "IL", "966": "SA",
}  # fmt: skip
_COUNTRY_DIAL = {country: code for code, country in _DIAL_CODES.items()}
_COUNTRY_DIAL.update({"CA": "1"})
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _phone(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    country = raw.get("country_code") if isinstance(raw, dict) else None
    original = _unwrap(raw, "original_phone_number")
    if not isinstance(original, str):
        raise _bad(attr, path, f"expected a phone number string, got {original!r}")
    compact = re.sub(r"[\s().-]", "", original)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        if not country or country not in _COUNTRY_DIAL:
            raise _bad(attr, path, f"{original!r} needs a +country prefix or a country_code")
        compact = "+" + _COUNTRY_DIAL[country] + compact.lstrip("0")
    if not _E164.match(compact):
        raise _bad(attr, path, f"{original!r} is not a valid phone number")
    if not country:
        digits = compact[1:]
        country = next(
            (_DIAL_CODES[digits[:n]] for n in (3, 2, 1) if digits[:n] in _DIAL_CODES), None
        )
    return {"original_phone_number": original, "country_code": country, "phone_number": compact}


_LOCATION_KEYS = (
    "line_1", "line_2", "line_3", "line_4", "locality", "region", "postcode",
    "country_code", "latitude", "longitude",
)  # fmt: skip


def _location(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    if isinstance(raw, dict):
        return {key: raw.get(key) for key in _LOCATION_KEYS}
    if not isinstance(raw, str) or not raw.strip():
        raise _bad(attr, path, f"expected a location object or address string, got {raw!r}")
    # Attio parses address strings; this is a naive stand-in: "[street, ]city[, region], CC".
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    out: dict[str, Any] = dict.fromkeys(_LOCATION_KEYS)
    if len(parts) > 1 and re.fullmatch(r"[A-Z]{2}", parts[-1]):
        out["country_code"] = parts.pop()
    if len(parts) >= 3:
        out["line_1"] = parts.pop(0)
    if parts:
        out["locality"] = parts.pop(0)
    if parts:
        out["region"] = ", ".join(parts)
    return out


def _actor(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    if not isinstance(raw, dict):
        raise _bad(
            attr, path, 'expected {"workspace_member_email_address": ...} or a referenced actor'
        )
    email = raw.get("workspace_member_email_address")
    member = ctx.member_id(email=email, member_id=raw.get("referenced_actor_id"))
    if member is None:
        who = email or raw.get("referenced_actor_id")
        raise invalid("value_not_found", f'Workspace member "{who}" not found for "{attr.slug}".')
    return {"referenced_actor_type": "workspace-member", "referenced_actor_id": member}


def _reference(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    if isinstance(raw, str):
        if len(attr.targets) != 1 or attr.targets[0] not in STRING_REFERENCE_MATCH:
            raise _bad(
                attr, path, "a plain string can only reference people/companies/users/workspaces"
            )
        target = attr.targets[0]
        if ctx.object_slug(target) is None:
            raise _missing_target(attr, target, f"{STRING_REFERENCE_MATCH[target]} {raw!r}")
        match_slug, match_value = STRING_REFERENCE_MATCH[target], raw
    elif isinstance(raw, dict):
        ident = raw.get("target_object")
        slug = ctx.object_slug(ident) if isinstance(ident, str) else None
        if slug is None or slug not in attr.targets:
            allowed = ", ".join(attr.targets)
            raise _bad(attr, path, f"target_object {ident!r} is not one of: {allowed}")
        target = slug
        if "target_record_id" in raw:
            record_id = raw["target_record_id"]
            if not ctx.record_exists(target, record_id):
                raise _missing_target(attr, target, f'record ID "{record_id}"')
            return {"target_object": target, "target_record_id": record_id}
        others = [key for key in raw if key != "target_object"]
        if len(others) != 1:
            raise _bad(attr, path, "reference by one matching attribute, or by target_record_id")
        match_slug, match_value = others[0], raw[others[0]]
        if isinstance(match_value, list):
            if len(match_value) != 1:
                raise _bad(attr, path, "matching on multiple values is not supported")
            match_value = match_value[0]
    else:
        raise _bad(attr, path, f"expected a record reference, got {raw!r}")
    try:
        record_id = ctx.find_by_unique(target, match_slug, match_value, path)
    except ApiError as err:
        if err.code != "validation_type":
            raise
        # Name the reference attribute the client wrote, not the target's matching one.
        raise _bad(attr, path, f"{target} are matched by {match_slug}: {err.message}") from None
    if record_id is None:
        raise _missing_target(attr, target, f"{match_slug} {match_value!r}")
    return {"target_object": target, "target_record_id": record_id}


def _missing_target(attr: AttributeDef, target: str, what: str) -> ApiError:
    # The status/code Attio uses here is unverified; the point is that it fails.
    return invalid(
        "value_not_found",
        f'Referenced record not found: attribute "{attr.slug}" points to a {target} record '
        f"with {what}, which does not exist. Create the referenced record first.",
    )


_PARSERS: dict[str, Callable[[AttributeDef, Any, str, ValueContext], Parsed]] = {
    "text": _text,
    "number": _number,
    "checkbox": _checkbox,
    "currency": _currency,
    "date": _date,
    "timestamp": _timestamp,
    "rating": _rating,
    "select": _choice("option"),
    "status": _choice("status"),
    "email-address": _email,
    "domain": _domain,
    "personal-name": _personal_name,
    "phone-number": _phone,
    "location": _location,
    "actor-reference": _actor,
    "record-reference": _reference,
}


def parse_value(attr: AttributeDef, raw: Any, path: str, ctx: ValueContext) -> Parsed:
    """One input value -> Attio's output fields (without active_from etc.)."""
    if isinstance(raw, dict):
        ctx.spec.check_value_form(attr.type, raw, path)
    elif not isinstance(raw, (str, int, float, bool)):
        raise _bad(attr, path, f"expected a value or value object, got {type(raw).__name__}")
    parser = _PARSERS.get(attr.type)
    if parser is None:
        raise invalid("immutable_value", f'Attribute "{attr.slug}" ({attr.type}) is not writable.')
    return parser(attr, raw, path, ctx)


_KEY_FIELD = {
    "email-address": "email_address",
    "domain": "domain",
    "phone-number": "phone_number",
    "record-reference": "target_record_id",
    "actor-reference": "referenced_actor_id",
    "currency": "currency_value",
}


def value_key(attr_type: str, value: dict[str, Any]) -> Hashable:
    """What makes two values the same (dedup, uniqueness, matching)."""
    key: Hashable
    if attr_type == "select":
        key = value["option"]["id"]["option_id"]
    elif attr_type == "status":
        key = value["status"]["id"]["status_id"]
    elif attr_type == "personal-name":
        key = (value["first_name"], value["last_name"], value["full_name"])
    elif attr_type == "location":
        key = tuple(value.get(k) for k in _LOCATION_KEYS)
    else:
        key = value.get(_KEY_FIELD.get(attr_type, "value"))
    return key
