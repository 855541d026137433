"""Operations: Toloka's asynchronous jobs (async uploads, pool/training/project actions), their JSON, logs, search.

Operations advance lazily: every request first advances the timeline, which calls :meth:`Operations.advance`
to complete the operations whose scheduled finish time has passed (PENDING for ``pending_seconds``, then RUNNING at ``rate`` items/s). Objects
of an async upload are created, and become visible to ``GET /tasks``, only when their operation completes.

Choices where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md):

- async, ``skip_invalid_items=true`` with every item invalid -> FAIL (like the sync error); a FAIL log holds only
  the ``*_VALIDATE`` entries of the invalid items (valid ones were not created, so they have no entry).
- the log of an unfinished operation is ``[]``: all entries appear when it completes, in a shuffled order
  (seeded by the operation id) with ``POOL_OPEN`` steps last.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from toloka_emulator.clock import Clock
from toloka_emulator.pools import pools_of
from toloka_emulator.query import COMPARISONS, datetime_param, int_param, sort_param
from toloka_emulator.wire import ApiError, Kind

__all__ = ["Entry", "ObjectSink", "Operation", "Operations", "Pace"]

# one item of an upload: (raw item, normalised item or None, errors or None)
Entry = tuple[Any, dict[str, Any] | None, dict[str, Any] | None]


class Pace(Protocol):
    """The settings that schedule operations; read live, so a runtime config change applies to the next one."""

    rate: float  # items per second
    pending_seconds: float


class ObjectSink(Protocol):
    """Where a finished upload puts its objects: the account's store."""

    def store(self, kind: Kind, norms: list[dict[str, Any]], mono: float) -> list[dict[str, Any]]:
        """Create objects sharing one creation time.

        :param kind: tasks or task suites.
        :param norms: normalised items.
        :param mono: the creation time, on the emulator's clock.
        :return: the stored objects, in the order of ``norms``.
        """
        ...

    def open_pools(self, pool_ids: list[str], stamp: str) -> list[dict[str, Any]]:
        """Open the CLOSED pools among ``pool_ids``, as ``open_pool=true`` asks.

        :param pool_ids: pools that got objects.
        :param stamp: their new ``last_started``.
        :return: one ``POOL_OPEN`` log step per pool opened.
        """
        ...


@dataclass(eq=False)
class Operation:
    """One operation: its schedule, what it shows, and for uploads the items it will create when it completes."""

    id: str
    type: str
    parameters: dict[str, Any]
    submitted: float  # monotonic
    start_at: float
    finish_at: float
    details: dict[str, Any] | None = None
    on_complete: Callable[[Operation], None] | None = None
    final_status: str = "SUCCESS"
    done: bool = False
    items: int = 0
    # progress is linear from (anchor_at, anchor_fraction) to (finish_at, 1); a rate change moves the anchor
    anchor_at: float = 0.0
    anchor_fraction: float = 0.0
    log: list[dict[str, Any]] | None = None
    fixed: bool = False  # runs for a set time (aggregation), which a rate change does not touch
    log_json: bytes | None = None
    kind: Kind | None = None
    entries: list[Entry] = field(default_factory=list)

    def fraction(self, now: float) -> float:
        """How much of the work is done.

        :param now: a monotonic time.
        :return: the done fraction at ``now``, 0..1.
        """
        if now <= self.anchor_at:
            return self.anchor_fraction
        span = self.finish_at - self.anchor_at
        if span <= 0:
            return 1.0
        return self.anchor_fraction + (1 - self.anchor_fraction) * min(1.0, (now - self.anchor_at) / span)

    def status(self, now: float) -> str:
        """The status Toloka would show.

        :param now: a monotonic time.
        :return: ``PENDING``, ``RUNNING`` or, once done, ``SUCCESS``/``FAIL``.
        """
        if self.done:
            return self.final_status
        return "PENDING" if now < self.start_at else "RUNNING"


class Operations:
    """The account's operations by id, and the schedule of the unfinished ones.

    :param clock: the emulator's clock.
    :param pace: the live config (``rate``, ``pending_seconds``).
    """

    def __init__(self, clock: Clock, pace: Pace) -> None:
        self._clock = clock
        self._pace = pace
        self._by_id: dict[str, Operation] = {}
        self._running: list[Operation] = []
        # the earliest finish_at in _running, so that advance() on every request costs one comparison
        self._next_finish = float("inf")

    def __contains__(self, op_id: object) -> bool:
        return op_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def refuse_reused(self, async_mode: bool, operation_id: str | None) -> None:
        """Refuse an async POST whose client-chosen ``operation_id`` is taken (docs/toloka-api.md U4.6).

        Sync mode ignores the key, so a sync POST is never refused here.

        :param async_mode: the request's ``async_mode``.
        :param operation_id: the request's ``operation_id``, or None.
        :raises ApiError: 409 ``OPERATION_ALREADY_EXISTS``, nothing done.
        """
        if async_mode and operation_id is not None and operation_id in self._by_id:
            raise ApiError(
                409,
                "OPERATION_ALREADY_EXISTS",
                f"Operation with id {operation_id} already exists",
                {"operation_id": operation_id},
            )

    def submit(
        self,
        op_id: str,
        op_type: str,
        parameters: dict[str, Any],
        *,
        items: int,
        details: dict[str, Any] | None = None,
        on_complete: Callable[[Operation], None] | None = None,
        duration: float | None = None,
    ) -> Operation:
        """Start an operation: PENDING for ``pending_seconds``, then RUNNING for ``items / rate`` seconds.

        :param op_id: its id (the client's ``operation_id`` or a fresh UUID).
        :param op_type: e.g. ``TASK.BATCH_CREATE``.
        :param parameters: shown as is.
        :param items: how much work it is; 0 finishes as soon as it starts.
        :param details: shown as is, and may be updated by ``on_complete``.
        :param on_complete: called once, by :meth:`advance`, when it finishes.
        :param duration: RUNNING this long instead, whatever ``rate`` is or becomes.
        :return: the operation.
        """
        now = self._clock.now()
        start = now + self._pace.pending_seconds
        running = items / self._pace.rate if duration is None else duration
        op = Operation(
            id=op_id,
            type=op_type,
            parameters=parameters,
            submitted=now,
            start_at=start,
            finish_at=start + running,
            details=details,
            on_complete=on_complete,
            items=items,
            anchor_at=start,
            fixed=duration is not None,
        )
        self._by_id[op_id] = op
        self._running.append(op)
        self._next_finish = min(self._next_finish, op.finish_at)
        return op

    def submit_upload(
        self,
        kind: Kind,
        entries: list[Entry],
        operation_id: str | None,
        parameters: dict[str, Any],
        sink: ObjectSink,
    ) -> Operation:
        """Start an async upload; its valid items are stored in ``sink`` when it completes.

        :param kind: tasks or task suites.
        :param entries: every item of the request, checked.
        :param operation_id: the client's ``operation_id``, or ``None`` for a fresh UUID.
        :param parameters: ``skip_invalid_items``, ``allow_defaults`` and ``open_pool``.
        :param sink: where the objects go.
        :return: the operation.
        """
        total = len(entries)
        invalid = sum(1 for _, norm, _ in entries if norm is None)
        fails = invalid > 0 and (not parameters["skip_invalid_items"] or invalid == total)
        details = {
            "total_count": total,
            "valid_count": total - invalid,
            "not_valid_count": invalid,
            "success_count": 0,
            "failed_count": 0,
            "items_count": total,
        }
        op = self.submit(
            operation_id or str(uuid.uuid4()),
            kind.operation_type,
            parameters,
            items=total,
            details=details,
            on_complete=lambda done: self._complete_upload(done, sink),
        )
        op.kind, op.entries = kind, entries
        op.final_status = "FAIL" if fails else "SUCCESS"
        return op

    @property
    def next_finish(self) -> float:
        """When the next unfinished operation is due.

        :return: an instant of the clock, ``inf`` when none is running.
        """
        return self._next_finish

    def advance(self, until: float | None = None) -> None:
        """Complete, in finish-time order, every operation whose time has come.

        :param until: complete those due by this instant of the clock (default: now).
        """
        now = self._clock.now() if until is None else until
        if now < self._next_finish:
            return
        due = sorted((op for op in self._running if op.finish_at <= now), key=lambda op: op.finish_at)
        for op in due:
            op.done = True
            if op.on_complete is not None:
                op.on_complete(op)
        self._running = [op for op in self._running if not op.done]
        self._next_finish = min((op.finish_at for op in self._running), default=float("inf"))

    def retime(self) -> None:
        """Reschedule the unfinished operations after ``rate`` has changed.

        Only ever earlier: a higher rate speeds up the unfinished part of each, so a test can make everything
        finish now, while a lower one leaves them be, so work already accepted is never held back by a later change.
        """
        now, rate = self._clock.now(), self._pace.rate
        for op in self._running:
            if op.fixed:
                continue
            if now < op.start_at:
                op.finish_at = min(op.finish_at, op.start_at + op.items / rate)
                continue
            frac = op.fraction(now)
            finish = now + (1 - frac) * op.items / rate
            if finish < op.finish_at:
                op.anchor_at, op.anchor_fraction, op.finish_at = now, frac, finish
        self._next_finish = min((op.finish_at for op in self._running), default=float("inf"))

    def to_json(self, op: Operation) -> dict[str, Any]:
        """An operation as ``GET /operations/{id}`` shows it now.

        :param op: the operation.
        :return: the JSON-able operation.
        """
        now = self._clock.now()
        status = op.status(now)
        data: dict[str, Any] = {
            "id": op.id,
            "type": op.type,
            "status": status,
            "submitted": self._clock.stamp(op.submitted),
        }
        if status != "PENDING":
            data["started"] = self._clock.stamp(op.start_at)
        if op.done:
            data["finished"] = self._clock.stamp(op.finish_at)
            progress = 100
        elif status == "PENDING":
            progress = 0
        else:
            progress = min(99, max(0, int(100 * op.fraction(now))))
        data["progress"] = progress
        data["parameters"] = op.parameters
        if op.details is not None:
            data["details"] = op.details
        return data

    def get_json(self, op_id: str) -> dict[str, Any]:
        """``GET /operations/{id}``.

        :param op_id: the operation id.
        :return: the JSON-able operation.
        :raises ApiError: 404 when there is no such operation.
        """
        return self.to_json(self._get(op_id))

    def log_json(self, op_id: str) -> bytes:
        """``GET /operations/{id}/log``: ``[]`` until the operation has finished (the emulator logs all at once).

        The bytes are built once and kept, so a client that reads the log again (after a dropped response, say)
        does not pay for encoding a 10k-entry log twice.

        :param op_id: the operation id.
        :return: the log as JSON.
        :raises ApiError: 404 when there is no such operation.
        """
        op = self._get(op_id)
        if not op.done or op.log is None:
            return b"[]"
        if op.log_json is None:
            op.log_json = json.dumps(op.log, separators=(",", ":")).encode()
        return op.log_json

    def find(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /operations``: filters ``type``, ``status``, ``id_*``, ``submitted_*``, ``finished_*``; ``sort``.

        :param query: the request's query parameters; ``limit`` defaults to 50, at most 500; ``sort`` takes
            ``id``, ``submitted``, ``finished`` (``-`` for descending, comma for several), default ``id``.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a bad ``limit``, ``sort`` or timestamp.
        """
        limit = int_param(query, "limit", 50, 1, 500)
        sort_keys = sort_param(query.get("sort"), ("id", "submitted", "finished")) or [("id", False)]
        wanted_type, wanted_status = query.get("type"), query.get("status")
        stamp_checks = [
            (key, COMPARISONS[op_name], datetime_param(f"{key}_{op_name}", raw))
            for key in ("submitted", "finished")
            for op_name in COMPARISONS
            if (raw := query.get(f"{key}_{op_name}")) is not None
        ]
        id_checks = [
            (COMPARISONS[op_name], raw)
            for op_name in COMPARISONS
            if (raw := query.get(f"id_{op_name}")) is not None
        ]
        now = self._clock.now()
        rows: list[dict[str, Any]] = []
        for op in self._by_id.values():
            if wanted_type and op.type != wanted_type:
                continue
            if wanted_status and op.status(now) != wanted_status:
                continue
            if not all(test(op.id, bound) for test, bound in id_checks):
                continue
            data = self.to_json(op)
            # a range filter on a time the operation does not have yet excludes it
            if all(key in data and test(data[key], bound) for key, test, bound in stamp_checks):
                rows.append(data)
        for key, desc in reversed(sort_keys):
            rows.sort(key=lambda row, k=key: row.get(k) or "", reverse=desc)  # type: ignore[misc]
        return {"items": rows[:limit], "has_more": len(rows) > limit}

    def _get(self, op_id: str) -> Operation:
        op = self._by_id.get(op_id)
        if op is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Operation {op_id} does not exist")
        return op

    def _complete_upload(self, op: Operation, sink: ObjectSink) -> None:
        """Create the valid objects of a finished upload and write its log (not in input order, on purpose)."""
        kind = op.kind
        assert kind is not None
        success = op.final_status == "SUCCESS"
        log: list[dict[str, Any]] = [
            {"type": kind.validate_step, "success": False, "input": raw, "output": errs}
            for raw, norm, errs in op.entries
            if norm is None
        ]
        created: list[dict[str, Any]] = []
        if success:
            valid = [(raw, norm) for raw, norm, _ in op.entries if norm is not None]
            created = sink.store(kind, [norm for _, norm in valid], op.finish_at)
            step, key = kind.create_step, kind.output_key
            log.extend(
                {"type": step, "success": True, "input": raw, "output": {key: obj["id"]}}
                for (raw, _), obj in zip(valid, created, strict=True)
            )
        # Toloka does not promise log order; clients must map entries back through ``__item_idx``.
        random.Random(op.id).shuffle(log)
        if success and op.parameters["open_pool"]:
            log.extend(sink.open_pools(pools_of(created), self._clock.stamp(op.finish_at)))
        assert op.details is not None
        op.details["success_count"] = len(created)
        op.details["failed_count"] = len(op.entries) - len(created)
        op.log, op.entries = log, []
