"""Query-string parameters of the emulated endpoints, parsed strictly: a malformed one is a 400, as in Toloka.

Choice where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md):

- query booleans other than lowercase ``true``/``false`` are a 400 ``VALIDATION_ERROR``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from toloka_emulator.clock import format_datetime
from toloka_emulator.wire import ApiError, field_error

__all__ = [
    "COMPARISONS",
    "bool_param",
    "datetime_param",
    "id_number",
    "id_range",
    "int_param",
    "numeric_id_filters",
    "sort_param",
    "stamp_filters",
]

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


def datetime_param(name: str, raw: str, round_up: bool = False) -> str:
    """A timestamp filter such as ``created_gt``, normalised to the stored ``YYYY-MM-DDTHH:MM:SS.mmm``.

    The normalisation lets the search compare timestamps as plain strings. Stored stamps have milliseconds while
    toloka-kit sends microseconds, so a bound with a sub-millisecond part is cut down for ``_gt``/``_lte`` and
    rounded up for ``_gte``/``_lt``: either way the string comparison agrees with comparing the instants.

    :param name: the parameter, for the error.
    :param raw: its ISO 8601 value (0-6 fraction digits, a bare date); a trailing ``Z`` is accepted.
    :param round_up: round a sub-millisecond remainder up instead of down.
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
    if round_up and value.microsecond % 1000:
        value += timedelta(microseconds=1000 - value.microsecond % 1000)
    return format_datetime(value)


def sort_param(raw: str | None, allowed: tuple[str, ...] = ("id", "created")) -> list[tuple[str, bool]]:
    """The ``sort`` parameter: comma-separated keys, each optionally ``-`` for descending.

    :param raw: its value, or ``None`` when absent.
    :param allowed: the keys the endpoint sorts by.
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
        if name not in allowed:
            raise _invalid(
                "sort",
                f"Cannot sort by {name!r}",
                "UNKNOWN_ENUM_VALUE",
                f"Sort by {', '.join(allowed)}",
                [*allowed],
            )
        keys.append((name, desc))
    return keys


def id_range(ids: list[str], query: Mapping[str, str], field: str = "id") -> tuple[int, int]:
    """The slice of sorted ``ids`` that ``id_gt``/``id_gte``/``id_lt``/``id_lte`` allow, by bisection.

    :param ids: ids sorted as strings.
    :param query: the request's query parameters.
    :param field: the parameters' prefix, e.g. ``task_id`` for ``task_id_gt``.
    :return: ``(lo, hi)`` such that ``ids[lo:hi]`` pass the id filters.
    """
    id_gt, id_gte, id_lt, id_lte = (query.get(f"{field}_{op}") for op in ("gt", "gte", "lt", "lte"))
    lo, hi = 0, len(ids)
    if id_gt is not None:
        lo = max(lo, bisect.bisect_right(ids, id_gt))
    if id_gte is not None:
        lo = max(lo, bisect.bisect_left(ids, id_gte))
    if id_lt is not None:
        hi = min(hi, bisect.bisect_left(ids, id_lt))
    if id_lte is not None:
        hi = min(hi, bisect.bisect_right(ids, id_lte))
    return lo, hi


def stamp_filters(
    query: Mapping[str, str], keys: tuple[str, ...]
) -> list[Callable[[Mapping[str, Any]], bool]]:
    """Range filters on timestamp fields (``created_gt``, ``submitted_lte``...); an absent value never passes.

    :param query: the request's query parameters.
    :param keys: the timestamp fields the endpoint filters on.
    :return: one predicate per filter given.
    :raises ApiError: 400 ``VALIDATION_ERROR`` for a malformed timestamp.
    """
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for key in keys:
        for op_name, test in COMPARISONS.items():
            raw = query.get(f"{key}_{op_name}")
            if raw is not None:
                bound = datetime_param(f"{key}_{op_name}", raw, round_up=op_name in ("gte", "lt"))
                checks.append(lambda o, k=key, t=test, b=bound: o.get(k) is not None and t(o[k], b))  # type: ignore[misc]
    return checks


def numeric_id_filters(query: Mapping[str, str]) -> list[Callable[[str], bool]]:
    """``id_gt``/``id_gte``/``id_lt``/``id_lte`` on decimal ids (projects, pools, trainings), compared as numbers.

    :param query: the request's query parameters.
    :return: one predicate per filter given.
    :raises ApiError: 400 ``VALIDATION_ERROR`` for a bound that is not an integer.
    """
    checks: list[Callable[[str], bool]] = []
    for op_name, test in COMPARISONS.items():
        name = f"id_{op_name}"
        if query.get(name) is not None:
            bound = int_param(query, name, 0, -(2**63), 2**63)
            checks.append(lambda i, t=test, b=bound: t(id_number(i), b))  # type: ignore[misc]
    return checks


def id_number(object_id: str) -> int:
    """A decimal id as a number, for sorting and comparing; other ids sort first.

    :param object_id: the id.
    :return: its value, or -1 when it is not decimal.
    """
    return int(object_id) if object_id.isdigit() else -1
