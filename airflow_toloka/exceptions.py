"""Errors raised by the Toloka provider.

Toloka's JSON ``code`` decides the class (as toloka-kit does), the HTTP status is the fallback. Every API error
carries ``http_status``, ``code``, ``message``, ``payload`` and ``request_id`` so a failed task log says exactly
what Toloka said and which request support should look up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowException

__all__ = [
    "GOES_ON",
    "TRANSIENT_ERRORS",
    "TolokaAccessDeniedError",
    "TolokaApiError",
    "TolokaAuthenticationError",
    "TolokaConflictError",
    "TolokaCostError",
    "TolokaDoesNotExistError",
    "TolokaEntityConflictError",
    "TolokaError",
    "TolokaInputError",
    "TolokaOperationFailedError",
    "TolokaRemoteUnavailableError",
    "TolokaTimeoutError",
    "TolokaTooManyRequestsError",
    "TolokaUnexpectedResponseError",
    "TolokaValidationError",
    "error_from_response",
    "json_body",
]


class TolokaError(AirflowException):
    """Base class of every error this provider raises."""


class TolokaInputError(TolokaError, ValueError):
    """Input rejected locally, before any request was sent.

    ``index`` is the position of the offending item in the caller's input (or the row number of a file),
    ``field`` the dotted path of the offending field.
    """

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None) -> None:
        self.index = index
        self.field = field
        self.reason = message  # without the location, for callers that name it their own way (a file row)
        where = []
        if index is not None:
            where.append(f"item {index}")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class TolokaApiError(TolokaError):
    """An error response from the Toloka API.

    ``http_status`` is the HTTP status (``AirflowException.status_code`` means something else in Airflow).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        http_status: int | None = None,
        code: str | None = None,
        payload: Any = None,
        request_id: str | None = None,
    ) -> None:
        self.http_status = http_status
        self.code = code
        self.message = message
        self.payload = payload
        self.request_id = request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"Toloka API error {self.http_status or ''} {self.code or ''}".replace("  ", " ").strip()]
        if self.message:
            parts.append(f": {self.message}")
        if self.payload:
            text = json.dumps(self.payload, default=str, sort_keys=True)
            parts.append(f"; payload={text[:2000]}{'…' if len(text) > 2000 else ''}")
        if self.request_id:
            parts.append(f" (request_id={self.request_id})")
        return "".join(parts)


class TolokaValidationError(TolokaApiError):
    """Toloka rejected the request content (``VALIDATION_ERROR``); ``payload`` maps fields to errors."""


class TolokaAuthenticationError(TolokaApiError):
    """The token is missing, malformed, expired or unknown (HTTP 401)."""


class TolokaAccessDeniedError(TolokaApiError):
    """The token is valid but lacks permission for this object (HTTP 403)."""


class TolokaDoesNotExistError(TolokaApiError):
    """The object (pool, operation, task …) does not exist (HTTP 404)."""


class TolokaConflictError(TolokaApiError):
    """The object is in a state that forbids the action, or the operation id is taken (HTTP 409)."""


class TolokaEntityConflictError(TolokaConflictError):
    """Toloka refused a request because an item conflicts with another (a field-level ``ENTITY_CONFLICT``, HTTP
    409), e.g. two bonuses for one Toloker with the same amount, title, message and comment in one request; the
    request created nothing. ``payload`` maps the field to Toloka's code and message, whether Toloka sent the map
    bare or wrapped in ``{code, message, payload}``."""

    def _describe(self) -> str:
        return (
            f"{super()._describe()}. Toloka refused the whole request (nothing of it was created or paid): an item "
            "conflicts with another of the same request, e.g. two identical bonuses (amount, title, message, "
            "comment) for one Toloker; make them differ, or send them in separate calls"
        )


class TolokaTooManyRequestsError(TolokaApiError):
    """Rate or quota limit hit (HTTP 429). ``retry_after`` is in seconds when Toloka said how long to wait."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class TolokaRemoteUnavailableError(TolokaApiError):
    """Toloka failed on its side (HTTP 5xx); safe to retry idempotent requests."""


class TolokaUnexpectedResponseError(TolokaError):
    """Toloka answered with a body of another shape than its API defines; not retried, since it would come again.

    ``what`` is the request (``GET /api/v1/operations/x``), ``body`` the start of what came.
    """

    def __init__(self, what: str, expected: str, body: Any, problem: str | None = None) -> None:
        self.what = what
        text = json.dumps(body, default=str, ensure_ascii=False)
        self.body = text if len(text) <= 300 else text[:300] + "…"
        because = f" ({problem})" if problem else ""
        super().__init__(f"Toloka answered {what} with {self.body} where {expected} was expected{because}")


class TolokaCostError(TolokaError):
    """Money: what an action would cost is over the limit given or the account's balance, or cannot be bounded
    (a task with infinite overlap); nothing was done."""


class TolokaOperationFailedError(TolokaError):
    """An operation finished with status FAIL."""

    def __init__(self, message: str, *, operation_ids: list[str], details: Any = None) -> None:
        self.operation_ids = operation_ids
        self.details = details
        super().__init__(message)


# What a timeout means for the work: said in every timeout message, because it is the question a user asks next.
GOES_ON = (
    "Toloka goes on processing them; a retry of the same upload (same idempotency key and input) re-attaches to "
    "these operations instead of creating anything twice"
)


class TolokaTimeoutError(TolokaError, TimeoutError):
    """Operations did not finish in time; ``operation_ids`` are the ones still running."""

    def __init__(self, message: str, *, operation_ids: list[str]) -> None:
        self.operation_ids = operation_ids
        super().__init__(message)


# Errors that waiting may cure: a rate limit, Toloka failing on its side, Toloka out of reach. A wait for
# operations polls on through them until its deadline.
TRANSIENT_ERRORS: tuple[type[TolokaApiError], ...] = (
    TolokaTooManyRequestsError,
    TolokaRemoteUnavailableError,
)

_BY_CODE: dict[str, type[TolokaApiError]] = {
    "VALIDATION_ERROR": TolokaValidationError,
    "AUTHENTICATION_ERROR": TolokaAuthenticationError,
    "OAUTH_AUTHENTICATION_ERROR": TolokaAuthenticationError,
    "ACCESS_DENIED": TolokaAccessDeniedError,
    "DOES_NOT_EXIST": TolokaDoesNotExistError,
    "NOT_FOUND": TolokaDoesNotExistError,
    "CONFLICT_STATE": TolokaConflictError,
    "TOO_MANY_REQUESTS": TolokaTooManyRequestsError,
    "INTERNAL_ERROR": TolokaRemoteUnavailableError,
    "REMOTE_SERVICE_UNAVAILABLE": TolokaRemoteUnavailableError,
}

_BY_STATUS: dict[int, type[TolokaApiError]] = {
    400: TolokaValidationError,
    401: TolokaAuthenticationError,
    403: TolokaAccessDeniedError,
    404: TolokaDoesNotExistError,
    409: TolokaConflictError,
    429: TolokaTooManyRequestsError,
}

_QUOTA_INTERVAL_SECONDS = {"MIN": 60.0, "HOUR": 3600.0, "DAY": 86400.0}


def _retry_after(headers: Mapping[str, str], payload: Any) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    if isinstance(payload, dict) and payload.get("interval") in _QUOTA_INTERVAL_SECONDS:
        return _QUOTA_INTERVAL_SECONDS[payload["interval"]]
    return None


def _field_map(data: Any) -> bool:
    """Whether a body is a bare map of fields to Toloka errors (``{"user_id": {"code": …, "message": …}}``)."""
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(err, Mapping) and isinstance(err.get("code"), str) for err in data.values())
    )


def _field_codes(payload: Any) -> set[str]:
    return {err["code"] for err in payload.values()} if _field_map(payload) else set()


def error_from_response(status_code: int, body: bytes | str, headers: Mapping[str, str]) -> TolokaApiError:
    """Map an HTTP error response to the matching exception; shared by the sync and async clients.

    :param status_code: the HTTP status.
    :param body: the response body.
    :param headers: the response headers (``Retry-After``).
    :return: the typed error, carrying Toloka's code, message, payload and request id.
    """
    parsed: Any = None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), str):
        code: str | None = parsed["code"]
        message = parsed.get("message")
        payload = parsed.get("payload")
        request_id = parsed.get("request_id")
    elif _field_map(parsed):
        # Toloka documents some errors (a duplicate bonus) as the bare field map, without the usual wrapper.
        code, payload, request_id = None, parsed, None
        message = "; ".join(f"{field}: {err['code']}" for field, err in parsed.items())
    else:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        code, message, payload, request_id = None, (text[:500] or f"HTTP {status_code}"), None, None
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status_code)
    if status_code == 409 and "ENTITY_CONFLICT" in _field_codes(payload):
        cls = TolokaEntityConflictError
    if cls is None:
        cls = (
            TolokaRemoteUnavailableError
            if status_code >= 500
            else TolokaConflictError
            if code
            else TolokaApiError
        )
    kwargs: dict[str, Any] = {
        "http_status": status_code,
        "code": code,
        "payload": payload,
        "request_id": request_id,
    }
    if cls is TolokaTooManyRequestsError:
        kwargs["retry_after"] = _retry_after(headers, payload)
    return cls(message, **kwargs)


def json_body(status_code: int, content: bytes) -> Any:
    """Parse a successful response body; shared by the sync and async clients.

    :param status_code: the HTTP status, for the message.
    :param content: the body bytes.
    :return: the parsed JSON, or None for an empty body.
    :raises TolokaRemoteUnavailableError: when the body is not JSON (a proxy's HTML page with a 200 is treated
        like an outage, so idempotent calls retry it).
    """
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        raise TolokaRemoteUnavailableError(
            f"Toloka answered HTTP {status_code} with a body that is not JSON: {content[:200]!r}",
            http_status=status_code,
        ) from None
