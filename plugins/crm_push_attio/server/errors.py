"""Errors in Attio's shape: {"status_code", "type", "code", "message"}."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer; the handler turns it into Attio's JSON error body."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "status_code": self.status,
            "type": self.type,
            "code": self.code,
            "message": self.message,
        }


def invalid(code: str, message: str, status: int = 400) -> ApiError:
    return ApiError(status, "invalid_request_error", code, message)


def validation(message: str) -> ApiError:
    return invalid("validation_type", message)


def not_found(message: str) -> ApiError:
    return invalid("not_found", message, status=404)


def object_not_found(slug: str) -> ApiError:
    # Wording from the spec's 404 example.
    return not_found(f'Object with slug/ID "{slug}" not found.')


def record_not_found(record_id: str) -> ApiError:
    return not_found(f'Record with ID "{record_id}" not found.')


def forbidden(message: str) -> ApiError:
    # Attio's 403: type auth_error, code unauthorized (the code its 401 uses too).
    return ApiError(403, "auth_error", "unauthorized", message)
