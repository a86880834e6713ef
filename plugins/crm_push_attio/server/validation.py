"""Request validation against Attio's own OpenAPI schema (the copy shipped in this package).

Bodies are checked with jsonschema (Draft 2020-12), $refs resolved inside the spec. Validators
are compiled once per operation and cached: the benchmark sends thousands of requests.

Deliberate relaxations, because the spec is stricter than Attio:
- record ``values``: the spec says every value is an array, and ``input-value`` lists only the
  object forms. Attio also takes a bare single value and documented string shorthands
  ("acme.com", "Smith, John"). So the envelope is validated with ``values`` left open, and each
  object-form value is then validated against the ``input-value`` branches of its attribute's
  type (`check_value_form`); scalar shorthands are checked by `values.py`.
- record-reference by matching attribute: the spec names the key literally
  "[slug_or_id_of_matching_attribute]"; any key is accepted here.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import threading
from typing import Any

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from .errors import ApiError, validation

SPEC_FILE = "attio-openapi-subset-2025-06.json"
_SPEC_URI = "urn:crm-push:attio-openapi"
_MATCH_KEY = "[slug_or_id_of_matching_attribute]"
_RECORD_WRITES = {
    ("put", "/v2/objects/{object}/records"),
    ("post", "/v2/objects/{object}/records"),
    ("patch", "/v2/objects/{object}/records/{record_id}"),
    ("put", "/v2/objects/{object}/records/{record_id}"),
}
# The input-value branches that belong to each attribute type, by their property names
# (and, for {"value": ...} forms, the JSON type of "value").
_TYPE_KEYS: dict[str, tuple[set[str], str | None]] = {
    "actor-reference": ({"referenced_actor_type", "workspace_member_email_address"}, None),
    "checkbox": ({"value"}, "boolean"),
    "currency": ({"currency_value"}, None),
    "date": ({"value"}, "string"),
    "domain": ({"domain"}, None),
    "email-address": ({"email_address"}, None),
    "interaction": ({"interaction_type"}, None),
    "location": ({"line_1"}, None),
    "number": ({"value"}, "number"),
    "personal-name": ({"first_name", "last_name", "full_name"}, None),
    "phone-number": ({"original_phone_number"}, None),
    "rating": ({"value"}, "number"),
    "record-reference": ({"target_record_id"}, None),
    "select": ({"option"}, None),
    "status": ({"status"}, None),
    "text": ({"value"}, "string"),
    "timestamp": ({"value"}, "string"),
}


def _load_document() -> dict[str, Any]:
    text = importlib.resources.files(__package__).joinpath(SPEC_FILE).read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


# Operations Attio documented after the 2025-06 schema this server carries (shapes from
# Attio's current API reference, as the PyPI `attio` client generates them).
_NEWER_OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v2/notes/{note_id}"): {
        "security": [{"oauth2": ["note:read-write"]}],
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "data": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "title": {"type": "string"},
                                    "format": {"enum": ["plaintext", "markdown"]},
                                    "content": {"type": "string"},
                                },
                            }
                        },
                    }
                }
            }
        },
    },
}


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class Spec:
    """The OpenAPI document plus cached validators derived from it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._registry: Registry[Any] = Registry().with_resource(
            _SPEC_URI, DRAFT202012.create_resource(document)
        )
        self._format_checker = jsonschema.FormatChecker(formats=("uuid",))
        self._lock = threading.Lock()
        self._body_validators: dict[tuple[str, str], jsonschema.protocols.Validator | None] = {}
        self._value_validators: dict[str, jsonschema.protocols.Validator | None] = {}

    def operation(self, method: str, template: str) -> dict[str, Any]:
        newer = _NEWER_OPERATIONS.get((method.upper(), template))
        if newer is not None:
            return newer
        op: dict[str, Any] = self.document["paths"][template][method.lower()]
        return op

    def required_scopes(self, method: str, template: str) -> tuple[str, ...]:
        """Scopes the spec's `security` block lists for the operation."""
        scopes: list[str] = []
        for requirement in self.operation(method, template).get("security", []):
            scopes.extend(requirement.get("oauth2", []))
        return tuple(scopes)

    # -- bodies --------------------------------------------------------------------------

    def _compile(self, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        return cls(schema, registry=self._registry, format_checker=self._format_checker)

    def _body_validator(self, method: str, template: str) -> jsonschema.protocols.Validator | None:
        key = (method.lower(), template)
        with self._lock:
            if key in self._body_validators:
                return self._body_validators[key]
        body = self.operation(method, template).get("requestBody")
        validator = None
        if body is not None:
            schema = body["content"]["application/json"]["schema"]
            if key in _RECORD_WRITES:
                schema = copy.deepcopy(schema)
                # Leave each value open here; check_value_form validates it by attribute type.
                schema["properties"]["data"]["properties"]["values"]["additionalProperties"] = {}
                schema = {"$id": _SPEC_URI + "#relaxed", **schema}
            elif (method.upper(), template) in _NEWER_OPERATIONS:
                pass  # self-contained: not in the 2025-06 document the $refs point into
            else:
                ptr = _pointer(
                    "paths", template, key[0], "requestBody", "content", "application/json"
                )
                schema = {"$ref": f"{_SPEC_URI}#/{ptr}/schema"}
            validator = self._compile(schema)
        with self._lock:
            self._body_validators[key] = validator
        return validator

    def validate_body(self, method: str, template: str, body: Any) -> None:
        """Raise 400 validation_type naming the JSON path of the first mismatch."""
        validator = self._body_validator(method, template)
        if validator is None:
            return
        error = jsonschema.exceptions.best_match(validator.iter_errors(body))
        if error is not None:
            raise _schema_error(error, "$")

    def response_errors(
        self, method: str, template: str, body: Any, status: int = 200
    ) -> list[str]:
        """Where a response body departs from the spec's schema (empty list: it conforms).

        For tests that keep this server's answers faithful to Attio's documented shapes.
        A null where the schema says type [string, null] but its enum forgets null is
        accepted: the spec's own examples carry such nulls (a nullable-enum conversion quirk).
        """
        ptr = _pointer("paths", template, method.lower(), "responses", str(status), "content")
        validator = self._compile({"$ref": f"{_SPEC_URI}#/{ptr}/application~1json/schema"})
        return [
            f"{e.json_path}: {e.message[:300]}"
            for e in validator.iter_errors(body)
            if not _nullable_enum_quirk(e)
        ]

    # -- values ---------------------------------------------------------------------------

    def _value_validator(self, attr_type: str) -> jsonschema.protocols.Validator | None:
        with self._lock:
            if attr_type in self._value_validators:
                return self._value_validators[attr_type]
        branches = self._branches_for(attr_type)
        validator = None
        if branches:
            # A lone branch is used as is: its errors are more telling than anyOf's.
            validator = self._compile(branches[0] if len(branches) == 1 else {"anyOf": branches})
        with self._lock:
            self._value_validators[attr_type] = validator
        return validator

    def _branches_for(self, attr_type: str) -> list[dict[str, Any]]:
        keys, value_type = _TYPE_KEYS.get(attr_type, (set(), None))
        found: list[dict[str, Any]] = []
        for branch in self.document["components"]["schemas"]["input-value"]["anyOf"]:
            props = branch.get("properties", {})
            if not keys & set(props):
                continue
            if value_type is not None and props["value"].get("type") != value_type:
                continue
            found.append(branch)
        if attr_type == "checkbox":
            # Documented in the branch's description, not in its schema.
            found.append(
                {
                    "type": "object",
                    "properties": {"value": {"enum": ["true", "false"]}},
                    "required": ["value"],
                    "additionalProperties": False,
                }
            )
        if attr_type == "record-reference":
            found.append(self._reference_by_matching_attribute())
        return found

    def _reference_by_matching_attribute(self) -> dict[str, Any]:
        for branch in self.document["components"]["schemas"]["input-value"]["anyOf"]:
            if _MATCH_KEY in branch.get("properties", {}):
                array = copy.deepcopy(branch["properties"][_MATCH_KEY])
                item_forms = array["items"]["anyOf"]
                shorthand = {"type": ["string", "number"]}
                array["items"]["anyOf"] = [*item_forms, shorthand]
                return {
                    "type": "object",
                    "properties": {"target_object": branch["properties"]["target_object"]},
                    "required": ["target_object"],
                    "minProperties": 2,
                    "additionalProperties": {"anyOf": [array, shorthand, *item_forms]},
                }
        raise LookupError("input-value has no record-reference-by-matching-attribute form")

    def check_value_form(self, attr_type: str, value: dict[str, Any], path: str) -> None:
        """Validate an object-form value against the spec's forms for its attribute type."""
        validator = self._value_validator(attr_type)
        if validator is None:
            return
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            raise _schema_error(error, path, f"not a valid {attr_type} value")


def _nullable_enum_quirk(error: jsonschema.exceptions.ValidationError) -> bool:
    schema = error.schema if isinstance(error.schema, dict) else {}
    types = schema.get("type")
    return (
        error.validator == "enum"
        and error.instance is None
        and isinstance(types, list)
        and "null" in types
    )


def _schema_error(
    error: jsonschema.exceptions.ValidationError, root: str, context: str | None = None
) -> ApiError:
    where = root + error.json_path[1:]
    if error.validator == "required" and isinstance(error.instance, dict):
        # Point at the missing property itself, so clients can name the field.
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            where = f"{where}.{missing[0]}"
    detail = error.message if len(error.message) <= 300 else error.message[:300] + "…"
    prefix = f"{context} at {where}" if context else f"Body payload validation error at {where}"
    return validation(f"{prefix}: {detail}")


@functools.cache
def load_spec() -> Spec:
    """The spec shipped in this package, parsed once."""
    return Spec(_load_document())
