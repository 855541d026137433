"""Assignments: the store the crowd (and ``/_emulator/fill``) writes to, ``GET /assignments`` (search) and
``GET /assignments/{id}``; reviews (``PATCH``) live in ``review``.

Ids grow in creation order (pool prefix, then the creation second, then a counter), so a pool's id list stays
sorted without sorting and ``id_*`` filters cut it by bisection, as for tasks. A pool's ACTIVE assignments are
also kept apart, so ``status=ACTIVE&limit=1`` (how a "results are final" trigger polls) costs nothing however
many finished assignments the pool holds. Paging a pool with ``sort=id&id_gt=...&limit=1000`` therefore costs the
page, not the pool, even with a million answer rows in it.

Choices where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md L6.2):

- none of ``pool_id``/``task_suite_id``/``task_id`` -> 400 ``VALIDATION_ERROR`` with a ``pool_id``
  ``VALUE_REQUIRED`` payload.
- ``limit`` above ``assignments_max_limit`` (default 100,000) is clamped (not a 400), ``has_more`` stays honest;
  below 1 is a 400.
- default order is by ``id``; a range filter on a time the assignment does not have (``submitted_lt`` on an
  ACTIVE one) excludes it; sorting puts missing times first.
- time filters take 0-6 fraction digits, a ``Z``, or a bare date.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from toloka_emulator.query import id_range, int_param, sort_param, stamp_filters
from toloka_emulator.tally import Tallies
from toloka_emulator.wire import VALUE_REQUIRED, ApiError, field_error

__all__ = ["MAX_LIMIT", "STATUSES", "Assignments"]

STATUSES = ("ACTIVE", "SUBMITTED", "ACCEPTED", "REJECTED", "SKIPPED", "EXPIRED")
_TIMES = ("created", "submitted", "accepted", "rejected", "skipped", "expired")
MAX_LIMIT = 100_000


class Assignments:
    """Every assignment of the account, indexed by pool, suite and task.

    :param max_limit: the live ``assignments_max_limit``, where the search clamps ``limit``.
    :param tallies: the per-pool counters told about every assignment added or moved, if any.
    """

    def __init__(
        self, max_limit: Callable[[], int] = lambda: MAX_LIMIT, tallies: Tallies | None = None
    ) -> None:
        self._max_limit = max_limit
        self._tallies = tallies
        self.by_id: dict[str, dict[str, Any]] = {}
        self._by_pool: dict[str, list[str]] = {}
        self._by_suite: dict[str, list[str]] = {}
        self._by_task: dict[str, list[str]] = {}
        self._active: dict[str, set[str]] = {}
        self.counts: dict[str, Counter[str]] = {}

    def add(self, assignment: dict[str, Any]) -> None:
        """Store a new assignment (the crowd's are ACTIVE; filled ones may be finished already).

        Ids must grow: the per-pool id lists are kept sorted by appending.

        :param assignment: the assignment, with ``id``, ``pool_id``, ``task_suite_id``, ``status`` and ``tasks``.
        """
        self.add_many([assignment])

    def add_many(self, assignments: Iterable[dict[str, Any]]) -> None:
        """Store new assignments, ids growing, in one go.

        :param assignments: the assignments, as for :meth:`add`.
        """
        by_id, by_pool, by_suite, by_task = self.by_id, self._by_pool, self._by_suite, self._by_task
        tallies = self._tallies
        for assignment in assignments:
            aid, pool_id = assignment["id"], assignment["pool_id"]
            by_id[aid] = assignment
            ids = by_pool.get(pool_id)
            if ids is None:
                ids = by_pool[pool_id] = []
            ids.append(aid)
            by_suite.setdefault(assignment["task_suite_id"], []).append(aid)
            for task in assignment["tasks"]:
                task_id = task.get("id")
                if task_id is not None:
                    found = by_task.get(task_id)
                    if found is None:
                        by_task[task_id] = [aid]
                    else:
                        found.append(aid)
            if assignment["status"] == "ACTIVE":
                self._active.setdefault(pool_id, set()).add(aid)
            self.counts.setdefault(pool_id, Counter())[assignment["status"]] += 1
            if tallies is not None:
                tallies.added(assignment)

    def of_pool(self, pool_id: str) -> Iterator[dict[str, Any]]:
        """A pool's assignments in id order.

        :param pool_id: the pool.
        :return: an iterator over the stored assignments.
        """
        by_id = self.by_id
        return (by_id[aid] for aid in self._by_pool.get(pool_id, ()))

    def move(self, assignment: dict[str, Any], status: str, stamp: str, **extra: Any) -> None:
        """Change an assignment's status and record when (``submitted``, ``skipped``...).

        :param assignment: the stored assignment.
        :param status: the new status.
        :param stamp: when it happened; stored under the status's time field.
        :param extra: further fields to set, e.g. ``solutions`` or ``accepted``.
        """
        pool_id = assignment["pool_id"]
        counts = self.counts[pool_id]
        old = assignment["status"]
        counts[old] -= 1
        counts[status] += 1
        assignment["status"] = status
        assignment[status.lower()] = stamp
        assignment.update(extra)
        if status != "ACTIVE":
            self._active.get(pool_id, set()).discard(assignment["id"])
        if self._tallies is not None:
            self._tallies.moved(assignment, old)

    def get(self, assignment_id: str) -> dict[str, Any]:
        """``GET /assignments/{id}``.

        :param assignment_id: its id.
        :return: the assignment.
        :raises ApiError: 404 ``DOES_NOT_EXIST``.
        """
        found = self.by_id.get(assignment_id)
        if found is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Assignment {assignment_id} does not exist")
        return found

    def stats(self) -> dict[str, dict[str, int]]:
        """Assignment counts per pool and status, for ``/_emulator/stats``.

        :return: pool id -> status -> count (zero counts left out).
        """
        return {pool: {s: n for s, n in counts.items() if n} for pool, counts in self.counts.items()}

    def find(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /assignments``: the filters, ``sort`` and ``limit`` of docs/toloka-api.md L6.2.

        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 without a pool/suite/task filter, or for a malformed parameter.
        """
        limit = min(int_param(query, "limit", 50, 1, 2**31), self._max_limit())
        sort_keys = sort_param(query.get("sort"), ("id", *_TIMES))
        statuses = _statuses(query.get("status"))
        checks = stamp_filters(query, _TIMES)
        pool_id, suite_id, task_id = (query.get(k) for k in ("pool_id", "task_suite_id", "task_id"))
        if pool_id is None and suite_id is None and task_id is None:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                "One of pool_id, task_suite_id or task_id is required",
                {"pool_id": field_error("VALUE_REQUIRED", VALUE_REQUIRED)},
            )
        if pool_id is not None and statuses == {"ACTIVE"}:
            ids = sorted(self._active.get(pool_id, ()))
        elif pool_id is not None:
            ids = self._by_pool.get(pool_id, [])
        elif suite_id is not None:
            ids = self._by_suite.get(suite_id, [])
        else:
            ids = self._by_task.get(task_id or "", [])
        lo, hi = id_range(ids, query)
        user_id = query.get("user_id")
        natural = sort_keys in ([], [("id", False)])
        found: list[dict[str, Any]] = []
        for aid in ids[lo:hi]:
            a = self.by_id[aid]
            if (
                (statuses is None or a["status"] in statuses)
                and (pool_id is None or a["pool_id"] == pool_id)
                and (suite_id is None or a["task_suite_id"] == suite_id)
                and (user_id is None or a["user_id"] == user_id)
                and all(check(a) for check in checks)
            ):
                found.append(a)
                if natural and len(found) > limit:
                    break
        for key, desc in reversed(sort_keys):
            found.sort(key=lambda a, k=key: a.get(k) or "", reverse=desc)  # type: ignore[misc]
        return {"items": found[:limit], "has_more": len(found) > limit}


def _statuses(raw: str | None) -> set[str] | None:
    if not raw:
        return None
    wanted = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = sorted(wanted - set(STATUSES))
    if unknown:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Unknown assignment status: {', '.join(unknown)}",
            {"status": field_error("UNKNOWN_ENUM_VALUE", "Unknown status", list(STATUSES))},
        )
    return wanted
