"""``PATCH /tasks/{id}/set-overlap-or-min`` and ``PATCH /task-suites/{id}/set-overlap-or-min`` (docs/toloka-api.md M8).

The overlap becomes the requested value or, when fewer answers were asked for than were already issued, the
number issued: ``overlap = max(requested, issued)`` and ``remaining_overlap = overlap - issued``, where issued is
``overlap - remaining_overlap`` before the call (skipped and expired assignments gave theirs back). The answer is
200 with the whole task or suite. Raising the overlap of a finished task makes it issuable again: the crowd
queues it. A CLOSED pool stays closed unless ``open_pool=true`` (both calls accept it; toloka-kit sends it for
suites only), which reopens it as an ``open`` would.

Not modelled: a task with ``infinite_overlap`` is refused (400), and ``infinite_overlap: false`` in the body is
ignored; pool analytics count the new overlap from the call on (``completion`` stays a ratio of the sums).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from toloka_emulator.pools import Pool
from toloka_emulator.wire import ApiError

__all__ = ["Overlaps"]

_MAX_OVERLAP = 30_000


class Overlaps:
    """Changes of one task's or suite's overlap.

    :param get_object: (is a suite, id) -> the stored object, or ``None``.
    :param pools: the account's pools.
    :param requeue: (pool, object, remaining overlap before) -> tells the crowd the object's overlap changed.
    :param recount: (object, is a suite, overlap delta) -> tells the analytics counters.
    :param reopen: (pool) -> opens a CLOSED pool now.
    """

    def __init__(
        self,
        get_object: Callable[[bool, str], dict[str, Any] | None],
        pools: Mapping[str, Pool],
        requeue: Callable[[Pool, dict[str, Any], int], None],
        recount: Callable[[dict[str, Any], bool, int], None],
        reopen: Callable[[Pool], None],
    ) -> None:
        self._get, self._pools = get_object, pools
        self._requeue, self._recount, self._reopen = requeue, recount, reopen

    def set_or_min(self, suite: bool, object_id: str, body: Any, query: Mapping[str, str]) -> dict[str, Any]:
        """Set a task's or suite's overlap to the requested value, or to the smallest still possible.

        :param suite: whether the id is a task suite's.
        :param object_id: the task or suite.
        :param body: ``{"overlap": int}``.
        :param query: ``open_pool``.
        :return: the updated object.
        :raises ApiError: 404 for no such object; 400 for a bad overlap, an infinite-overlap object, or an
            ARCHIVED pool.
        """
        label = "task suite" if suite else "task"
        obj = self._get(suite, object_id)
        if obj is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"{label} {object_id} does not exist")
        wanted = body.get("overlap") if isinstance(body, Mapping) else None
        if isinstance(wanted, bool) or not isinstance(wanted, int) or not 0 <= wanted <= _MAX_OVERLAP:
            raise ApiError(
                400, "VALIDATION_ERROR", f"overlap must be an integer 0..{_MAX_OVERLAP}", {"overlap": wanted}
            )
        if obj.get("infinite_overlap"):
            raise ApiError(400, "VALIDATION_ERROR", f"{label} {object_id} has infinite_overlap")
        pool = self._pools[obj["pool_id"]]
        if pool.status == "ARCHIVED":
            raise ApiError(400, "VALIDATION_ERROR", f"pool {pool.id} is ARCHIVED")
        overlap, remaining = int(obj.get("overlap") or 0), int(obj.get("remaining_overlap") or 0)
        issued = overlap - remaining
        new = max(wanted, issued)
        obj["overlap"], obj["remaining_overlap"] = new, new - issued
        if new != overlap:
            self._recount(obj, suite, new - overlap)
            self._requeue(pool, obj, remaining)
        if query.get("open_pool", "").lower() == "true" and pool.status == "CLOSED":
            self._reopen(pool)
        return obj
