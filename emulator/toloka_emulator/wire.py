"""What every part of the emulator says to clients: error responses, per-field errors and the two object kinds.

This is the bottom layer: it imports nothing from the emulator, so every other module can import it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_OVERLAP",
    "TASKS",
    "TASK_SUITES",
    "VALUE_REQUIRED",
    "ApiError",
    "Kind",
    "field_error",
    "parse_items",
]

MAX_OVERLAP = 30_000
VALUE_REQUIRED = "Value must be present and not equal to null"


class ApiError(Exception):
    """A Toloka error response: ``{"request_id", "code", "message", "payload"?}`` with an HTTP status.

    :param status: HTTP status of the response.
    :param code: Toloka's error code, e.g. ``VALIDATION_ERROR``.
    :param message: human-readable text.
    :param payload: optional details, e.g. per-field errors; omitted from the body when ``None``.
    :param headers: extra response headers, e.g. ``Retry-After``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.payload = payload
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The response body, with a fresh ``request_id`` each time.

        :return: the JSON-able error object.
        """
        data: dict[str, Any] = {"request_id": str(uuid.uuid4()), "code": self.code, "message": self.message}
        if self.payload is not None:
            data["payload"] = self.payload
        return data


def field_error(code: str, message: str, params: list[Any] | None = None) -> dict[str, Any]:
    """One entry of a validation payload.

    :param code: Toloka's field error code, e.g. ``VALUE_REQUIRED``.
    :param message: human-readable text.
    :param params: the bounds or allowed values the code refers to, if any.
    :return: ``{"code", "message", "params"?}``.
    """
    out: dict[str, Any] = {"code": code, "message": message}
    if params is not None:
        out["params"] = params
    return out


@dataclass(frozen=True)
class Kind:
    """What differs between tasks and task suites on the wire."""

    name: str  # key in stats["objects"]
    path: str
    operation_type: str
    create_step: str
    validate_step: str
    output_key: str
    default_overlap_key: str
    label: str


TASKS = Kind(
    "tasks",
    "/api/v1/tasks",
    "TASK.BATCH_CREATE",
    "TASK_CREATE",
    "TASK_VALIDATE",
    "task_id",
    "default_overlap_for_new_tasks",
    "Task",
)
TASK_SUITES = Kind(
    "task_suites",
    "/api/v1/task-suites",
    "TASK_SUITE.BATCH_CREATE",
    "TASK_SUITE_CREATE",
    "TASK_SUITE_VALIDATE",
    "task_suite_id",
    "default_overlap_for_new_task_suites",
    "Task suite",
)


def parse_items(body: bytes) -> tuple[bool, list[Any]]:
    """The body of a batch create (tasks, task suites, user bonuses): one JSON object or an array of items.

    :param body: the raw request body.
    :return: (whether it is a single object, its items).
    :raises ApiError: 400 ``VALIDATION_ERROR`` for an empty body, bad JSON, or neither an object nor an array.
    """
    if not body.strip():
        raise ApiError(400, "VALIDATION_ERROR", "Request body is required")
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", "Request body is not valid JSON") from None
    if isinstance(data, dict):
        return True, [data]
    if isinstance(data, list):
        return False, data
    raise ApiError(400, "VALIDATION_ERROR", "Request body must be a JSON object or array")
