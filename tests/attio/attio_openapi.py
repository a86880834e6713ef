"""Validate request bodies against Attio's own OpenAPI schema (the 2025-06 subset).

Every JSON body sent in the Attio tests is checked against its operation's requestBody schema,
$refs resolved through a referencing Registry. Record writes get one more, stricter check: the
spec only says each value is an array, so each object-form item must also fit one of the
``input-value`` forms, and the only bare strings allowed are the documented shorthands this
plugin uses (a single-token personal name). A record reference by a matching attribute
(``{"target_object": "companies", "domains": [{"domain": "acme.com"}]}``) is checked against the
spec's form for it, whose key the spec spells literally ``[slug_or_id_of_matching_attribute]``.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_NAME = "attio-openapi-subset-2025-06.json"
_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = (
    _REPO / "plugins" / "crm_push_attio" / "server" / SPEC_NAME,
    _REPO.parent / "shared" / "attio-openapi" / SPEC_NAME,
)
_URI = "urn:attio-openapi"
_RECORD_WRITES = {
    ("PUT", "/v2/objects/{object}/records"),
    ("POST", "/v2/objects/{object}/records"),
    ("PATCH", "/v2/objects/{object}/records/{record_id}"),
    ("PUT", "/v2/objects/{object}/records/{record_id}"),
}
#: Attributes whose values may be sent as a bare string (Attio's documented shorthands).
_STRING_FORMS = {("people", "name")}
#: The keys of the object form each standard attribute's type takes (from attio-api.md).
_FORM_KEYS = {
    ("people", "name"): {"first_name", "last_name", "full_name"},
    ("companies", "name"): {"value"},
    ("people", "email_addresses"): {"email_address"},
    ("companies", "domains"): {"domain"},
    ("people", "company"): {"target_object", "target_record_id"},
}
_TEXT = {"value"}  # job_title, linkedin, description: text attributes
_MATCH_KEY = "[slug_or_id_of_matching_attribute]"
#: A record reference: by record id, or by one matching attribute of the target.
_REFERENCE_BY_ID = {"target_object", "target_record_id"}


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.registry: Registry[Any] = Registry().with_resource(
            _URI, DRAFT202012.create_resource(document)
        )
        self.format_checker = jsonschema.FormatChecker(formats=("uuid",))
        # Most specific templates first: fewer {params} win.
        self.templates = sorted(document["paths"], key=lambda t: (t.count("{"), -len(t)))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        for template in self.templates:
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path):
                op = self.document["paths"][template].get(method.lower())
                if op is not None:
                    return template, op
        return None

    def validator(self, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        return cls(schema, registry=self.registry, format_checker=self.format_checker)

    def fits_input_value(self, item: dict[str, Any]) -> bool:
        """Whether the item fits an input-value form that declares every key it has.

        (Several forms declare no `required` keys, so anyOf alone would accept any object.)
        """
        for branch in self.document["components"]["schemas"]["input-value"]["anyOf"]:
            props = set(branch.get("properties", {}))
            if item and set(item) <= props and self.validator(branch).is_valid(item):
                return True
        return False

    def fits_reference_by_match(self, item: dict[str, Any]) -> bool:
        """A reference by a matching attribute: target_object plus one key holding an array
        of one value, checked against the spec's form (its key renamed to the spec's)."""
        others = [k for k in item if k != "target_object"]
        if "target_object" not in item or len(others) != 1 or others[0] == "target_record_id":
            return False
        match = item[others[0]]
        if not isinstance(match, list) or len(match) != 1:
            return False
        renamed = {"target_object": item["target_object"], _MATCH_KEY: match}
        for branch in self.document["components"]["schemas"]["input-value"]["anyOf"]:
            if _MATCH_KEY in branch.get("properties", {}):
                # The item forms of the spec declare no required keys: require a known one.
                keys = {
                    k
                    for form in branch["properties"][_MATCH_KEY]["items"]["anyOf"]
                    for k in form.get("properties", {})
                }
                known = isinstance(match[0], dict) and match[0] and set(match[0]) <= keys
                return bool(known) and self.validator(branch).is_valid(renamed)
        return False

    def body_validator(self, method: str, template: str) -> jsonschema.protocols.Validator:
        pointer = "/".join(
            p.replace("~", "~0").replace("/", "~1")
            for p in ("paths", template, method.lower(), "requestBody", "content")
        )
        return self.validator({"$ref": f"{_URI}#/{pointer}/application~1json/schema"})


@functools.cache
def spec() -> Spec:
    for path in _CANDIDATES:
        if path.exists():
            return Spec(json.loads(path.read_text("utf-8")))
    raise FileNotFoundError(f"{SPEC_NAME} not found in {[str(p) for p in _CANDIDATES]}")


def check_request(request: httpx.Request) -> None:
    """Raise AssertionError when a JSON request to /v2 does not fit Attio's schema."""
    path = request.url.path
    if not path.startswith("/v2/"):
        return  # OAuth endpoints and the loopback redirect are form/URL based
    found = spec().operation(request.method, path)
    assert found is not None, f"{request.method} {path} is not an Attio v2 operation"
    template, op = found
    if "requestBody" not in op:
        assert not request.content, f"{request.method} {path} takes no body"
        return
    body = json.loads(request.content or b"null")
    check_body(request.method, template, body, object_of(path))


def object_of(path: str) -> str | None:
    found = re.match(r"^/v2/objects/([^/]+)/", path)
    return found.group(1) if found else None


def check_body(method: str, template: str, body: Any, object: str | None = None) -> None:
    errors = list(spec().body_validator(method, template).iter_errors(body))
    assert not errors, f"{method} {template}: {errors[0].json_path}: {errors[0].message}"
    if (method.upper(), template) not in _RECORD_WRITES:
        return
    for slug, items in body["data"]["values"].items():
        for index, item in enumerate(items):
            where = f"{method} {template} values.{slug}[{index}]"
            if isinstance(item, str | int | float | bool):
                # Object forms everywhere (typed values are converted), but a one-token name.
                assert (object, slug) in _STRING_FORMS, f"{where}: bare {item!r}"
                continue
            assert isinstance(item, dict), f"{where}: {item!r} is not an object form"
            if spec().fits_reference_by_match(item):
                continue
            assert spec().fits_input_value(item), f"{where}: {item!r} fits no input-value form"
            keys = _FORM_KEYS.get((object or "", slug))
            if keys is None and slug in ("job_title", "linkedin", "description"):
                keys = _TEXT
            if keys is not None:
                assert set(item) == keys, f"{where}: {item!r} is not the {sorted(keys)} form"
