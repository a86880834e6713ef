"""The independent `attio` client's request models (generated from Attio's current OpenAPI
document) as a check of every body the plugin sends, beside the 2025-06 schema
(attio_openapi.py). The conftest's `sent` guard runs it on every request of these tests."""

from __future__ import annotations

import json
from typing import Any

import httpx

from attio import models

_RECORD_MODELS: dict[tuple[str, str], Any] = {
    ("PUT", "records"): models.PutV2ObjectsObjectRecordsRequestBody,
    ("POST", "records"): models.PostV2ObjectsObjectRecordsRequestBody,
    ("PATCH", "record"): models.PatchV2ObjectsObjectRecordsRecordIDRequestBody,
    ("PUT", "record"): models.PutV2ObjectsObjectRecordsRecordIDRequestBody,
    ("POST", "query"): models.PostV2ObjectsObjectRecordsQueryRequestBody,
}


def validate(method: str, path: str, body: Any) -> bool:
    """Validate one body with the SDK's model of its endpoint; False when it has none here."""
    if path == "/v2/notes" and method == "POST":
        data = dict(body["data"])
        data["format_"] = data.pop("format")
        models.PostV2NotesData.model_validate(data)
        return True
    parts = path.strip("/").split("/")
    if parts[:2] != ["v2", "objects"] or len(parts) < 4 or parts[3] != "records":
        return False
    which = "records" if len(parts) == 4 else "query" if parts[4] == "query" else "record"
    model = _RECORD_MODELS.get((method, which))
    if model is None:
        return False
    model.model_validate(body)
    return True


def check_request_with_sdk(request: httpx.Request) -> bool:
    """Validate a request's JSON body with the SDK's model of its endpoint, if it has one."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.url.path.startswith("/v2/"):
        return False
    body = json.loads(request.content or b"null")
    return validate(request.method, request.url.path, body)
