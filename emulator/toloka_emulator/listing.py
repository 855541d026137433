"""One search helper for the small stores of this API area (skills, user skills, restrictions): exact filters,
``id_*`` on fixed-width ids, timestamp ranges, ``sort``, ``limit`` and ``has_more`` (docs/toloka-api.md M3-M5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toloka_emulator.query import id_range, int_param, sort_param, stamp_filters

__all__ = ["search"]


def search(
    by_id: Mapping[str, dict[str, Any]],
    ids: list[str],
    query: Mapping[str, str],
    exact: tuple[str, ...],
    stamps: tuple[str, ...],
    max_limit: int,
) -> dict[str, Any]:
    """A ``GET`` list over objects whose ids grow as strings.

    :param by_id: id -> stored object.
    :param ids: the stored ids, sorted as strings.
    :param query: the request's query parameters.
    :param exact: fields filtered by equality.
    :param stamps: timestamp fields filtered with ``_gt``/``_gte``/``_lt``/``_lte`` and sortable.
    :param max_limit: the largest ``limit``; the default is 50.
    :return: ``{"items", "has_more"}``.
    :raises ApiError: 400 for a malformed parameter.
    """
    limit = int_param(query, "limit", 50, 1, max_limit)
    sort_keys = sort_param(query.get("sort"), ("id", *stamps))
    checks = stamp_filters(query, stamps)
    wanted = [(name, query[name]) for name in exact if name in query]
    lo, hi = id_range(ids, query)
    natural = sort_keys in ([], [("id", False)])
    found: list[dict[str, Any]] = []
    for object_id in ids[lo:hi]:
        obj = by_id[object_id]
        if all(str(obj.get(k)) == v for k, v in wanted) and all(check(obj) for check in checks):
            found.append(obj)
            # in id order the first limit + 1 matches settle both the page and has_more
            if natural and len(found) > limit:
                break
    for key, desc in reversed(sort_keys):
        found.sort(key=lambda o, k=key: o.get(k) or "", reverse=desc)  # type: ignore[misc]
    return {"items": found[:limit], "has_more": len(found) > limit}
