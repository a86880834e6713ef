"""HubSpot's error bodies: `Error` for a failed request, `StandardError` inside a 207."""

from __future__ import annotations

import uuid
from typing import Any


class ApiError(Exception):
    """An answer other than 2xx, in HubSpot's `Error` shape."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context
        self.errors = errors
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.context is not None:
            body["context"] = self.context
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body

    def standard(self) -> dict[str, Any]:
        """This error as one entry of a batch answer's `errors[]` (`StandardError`)."""
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context or {},
            "errors": self.errors or [],
            "links": {},
        }


def validation(message: str, *, code: str = "INVALID_INPUT", name: str | None = None) -> ApiError:
    detail: dict[str, Any] = {"message": message, "code": code}
    if name is not None:
        detail["context"] = {"propertyName": [name]}
    return ApiError(
        400,
        "VALIDATION_ERROR",
        message,
        errors=[detail],
        context={"propertyName": [name]} if name else None,
    )


def not_found(message: str = "Object not found.") -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", message)


def conflict(message: str, existing_id: str | None = None) -> ApiError:
    context = {"existingId": [existing_id]} if existing_id else None
    return ApiError(409, "CONFLICT", message, context=context)
