"""Query-string parameters of the emulated endpoints, parsed strictly: a malformed one is a 400, as in Toloka.

Choice where Toloka's real behaviour is unconfirmed (see shared/toloka-api.md):

- query booleans other than lowercase ``true``/``false`` are a 400 ``VALIDATION_ERROR``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from airflow_toloka.emulator.wire import ApiError, field_error
from airflow_toloka.models import format_datetime

__all__ = ["COMPARISONS", "bool_param", "datetime_param", "int_param", "sort_param"]

# the suffixes of range filters (``id_gt``, ``created_lte``, ``overlap_lt``...) and what they test
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _invalid(name: str, message: str, code: str, detail: str, params: list[Any] | None = None) -> ApiError:
    """A 400 for one bad parameter, its field error in the payload as Toloka reports bad fields."""
    return ApiError(400, "VALIDATION_ERROR", message, {name: field_error(code, detail, params)})


def bool_param(query: Mapping[str, str], name: str) -> bool:
    """A boolean flag such as ``async_mode``; absent means false.

    Toloka's query booleans are lowercase ``true``/``false``; anything else is a client bug worth a 400.

    :param query: the request's query parameters.
    :param name: the parameter.
    :return: its value.
    :raises ApiError: 400 ``VALIDATION_ERROR`` for any other spelling.
    """
    value = query.get(name)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise _invalid(
        name,
        f"Query parameter {name} must be 'true' or 'false'",
        "BOOLEAN_EXPECTED",
        "Value must be 'true' or 'false'",
    )


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer parameter such as ``limit``.

    :param query: the request's query parameters.
    :param name: the parameter.
    :param default: its value when absent.
    :param low: the smallest value accepted.
    :param high: the largest value accepted.
    :return: its value.
    :raises ApiError: 400 ``VALIDATION_ERROR`` when it is not an integer or out of ``[low, high]``.
    """
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"{name} must be an integer", "INTEGER_EXPECTED", "Not an integer") from None
    if value < low:
        raise _invalid(name, f"{name} is too small", "VALUE_LESS_THAN_MIN", f"Min {low}", [low])
    if value > high:
        raise _invalid(name, f"{name} is too large", "VALUE_GREATER_THAN_MAX", f"Max {high}", [high])
    return value


def datetime_param(name: str, raw: str) -> str:
    """A timestamp filter such as ``created_gt``, normalised to the stored ``YYYY-MM-DDTHH:MM:SS.mmm``.

    The normalisation lets the search compare timestamps as plain strings.

    :param name: the parameter, for the error.
    :param raw: its ISO 8601 value; a trailing ``Z`` is accepted.
    :return: the normalised timestamp.
    :raises ApiError: 400 ``VALIDATION_ERROR`` when it is not a date-time.
    """
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(
            name,
            f"{name} must be a date-time",
            "INVALID_DATE_TIME_SYNTAX",
            "Expected YYYY-MM-DDThh:mm:ss[.sss]",
        ) from None
    return format_datetime(value)


def sort_param(raw: str | None) -> list[tuple[str, bool]]:
    """The ``sort`` parameter: comma-separated ``id``/``created``, each optionally ``-`` for descending.

    :param raw: its value, or ``None`` when absent.
    :return: ``(key, descending)`` pairs, most significant first; empty when absent.
    :raises ApiError: 400 ``VALIDATION_ERROR`` for any other key.
    """
    if not raw:
        return []
    keys: list[tuple[str, bool]] = []
    for part in raw.split(","):
        part = part.strip()
        desc = part.startswith("-")
        name = part.lstrip("-")
        if name not in ("id", "created"):
            raise _invalid("sort", f"Cannot sort by {name!r}", "UNKNOWN_ENUM_VALUE", "Sort by id or created")
        keys.append((name, desc))
    return keys
