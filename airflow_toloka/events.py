"""The one contract between a trigger and the task it resumes: what a Toloka trigger event holds.

A trigger builds an :class:`OperationEvent` and yields its :meth:`~OperationEvent.to_payload`; the operator's
and the sensor's ``execute_complete`` read it back with :meth:`~OperationEvent.parse`, which refuses anything
malformed with a clear error, and :meth:`~OperationEvent.error` gives the exception a failure means. A pool wait
does the same with :class:`PoolEvent`, which also carries the pool's :class:`PoolProgress` (what the crowd did and
what it cost, read from Toloka's analytics by :func:`progress_from_analytics`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow_toloka.exceptions import GOES_ON, TolokaError, TolokaOperationFailedError, TolokaTimeoutError

if TYPE_CHECKING:  # the triggerer imports this module on its event loop: keep it light
    from airflow_toloka.models import Operation, Pool

__all__ = [
    "CLOSE_REASON_HINTS",
    "EVENT_STATUSES",
    "PROGRESS_METRICS",
    "FailedOperation",
    "OperationEvent",
    "PoolEvent",
    "PoolProgress",
    "describe_failed",
    "json_safe_details",
    "pool_state",
    "progress_from_analytics",
    "success_reasons_of",
]

EventStatus = Literal["success", "failed", "timeout", "error"]
EVENT_STATUSES: tuple[EventStatus, ...] = ("success", "failed", "timeout", "error")
# Details land in the trigger event (a DB row) and in the task log: keep a runaway payload out of both.
_MAX_DETAILS_CHARS = 4000


def json_safe_details(value: Any) -> Any:
    """Toloka's ``details`` as plain JSON, cut down when huge (events must be small and JSON-only).

    :param value: an operation's ``details``.
    :return: the same as JSON-ready values, or ``{"truncated": "..."}``.
    """
    text = json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)
    if len(text) > _MAX_DETAILS_CHARS:
        return {"truncated": text[:_MAX_DETAILS_CHARS] + "…"}
    return json.loads(text)


@dataclass(frozen=True)
class FailedOperation:
    """An operation that ended FAIL, as an event carries it.

    :param id: the operation id.
    :param type: its type, e.g. ``TASK.BATCH_CREATE``.
    :param details: Toloka's ``details``, JSON-safe and bounded.
    """

    id: str
    type: str | None
    details: Any

    @classmethod
    def of(cls, op: Operation) -> FailedOperation:
        """The failure of an operation.

        :param op: an operation with status FAIL.
        :return: its entry.
        """
        return cls(op.id, op.type, json_safe_details(op.details))


def describe_failed(failed: Sequence[FailedOperation], total: int) -> str:
    """One message for failed operations, the same in the trigger, the sensor and the operator.

    :param failed: the failures.
    :param total: how many operations were awaited.
    :return: ``"1 of 2 Toloka operation(s) failed: <id> (<type>): <details>"``.
    """
    described = "; ".join(
        f"{f.id} ({f.type or 'unknown type'}): {json.dumps(f.details, sort_keys=True, ensure_ascii=False)}"
        for f in failed
    )
    return f"{len(failed)} of {total} Toloka operation(s) failed: {described}"


@dataclass(frozen=True)
class OperationEvent:
    """The outcome of waiting for Toloka operations.

    :param status: ``success`` (all SUCCESS), ``failed`` (all finished, some FAIL), ``timeout`` (the deadline
        passed first) or ``error`` (polling failed).
    :param operation_ids: the operations waited for.
    :param message: what happened, for the task log and the error.
    :param failed: the failed operations (status ``failed``).
    :param pending: the operations still running (status ``timeout``).
    """

    status: EventStatus
    operation_ids: tuple[str, ...]
    message: str = ""
    failed: tuple[FailedOperation, ...] = field(default=())
    pending: tuple[str, ...] = field(default=())

    # ------------------------------------------------------------------ building

    @classmethod
    def finished(cls, operation_ids: Sequence[str], ops: Mapping[str, Operation]) -> OperationEvent:
        """The event for operations that are all finished.

        :param operation_ids: the operations, in order.
        :param ops: each one's final state.
        :return: a ``success`` or ``failed`` event.
        """
        failed = tuple(FailedOperation.of(ops[i]) for i in operation_ids if ops[i].status == "FAIL")
        if not failed:
            return cls("success", tuple(operation_ids))
        return cls("failed", tuple(operation_ids), describe_failed(failed, len(operation_ids)), failed)

    @classmethod
    def timed_out(
        cls,
        operation_ids: Sequence[str],
        pending: Iterable[str],
        end_time: float,
        last_error: BaseException | None = None,
    ) -> OperationEvent:
        """The event for a deadline that passed with operations running.

        :param operation_ids: the operations, in order.
        :param pending: those still running, or not known to be finished.
        :param end_time: the deadline, epoch seconds.
        :param last_error: why the last poll failed, when it did (an outage at the deadline).
        :return: a ``timeout`` event.
        """
        left = tuple(pending)
        deadline = datetime.fromtimestamp(end_time, tz=timezone.utc).isoformat(timespec="seconds")
        message = (
            f"{len(left)} of {len(operation_ids)} Toloka operation(s) still running at the deadline "
            f"{deadline}: {', '.join(left)}"
        )
        if last_error is not None:
            message += f"; the last poll failed: {type(last_error).__name__}: {last_error}"
        return cls("timeout", tuple(operation_ids), f"{message}. {GOES_ON}", pending=left)

    @classmethod
    def polling_failed(cls, operation_ids: Sequence[str], exc: BaseException) -> OperationEvent:
        """The event for a poll that failed after the hook's own retries.

        :param operation_ids: the operations.
        :param exc: what failed.
        :return: an ``error`` event.
        """
        message = f"Polling Toloka operations {', '.join(operation_ids)} failed: {type(exc).__name__}: {exc}"
        return cls("error", tuple(operation_ids), message)

    def to_payload(self) -> dict[str, Any]:
        """The event as the JSON a ``TriggerEvent`` carries.

        :return: ``{"status", "operation_ids"}`` plus ``message``, ``failed`` and ``pending`` where they apply.
        """
        payload: dict[str, Any] = {"status": self.status, "operation_ids": list(self.operation_ids)}
        if self.failed:
            payload["failed"] = [{"id": f.id, "type": f.type, "details": f.details} for f in self.failed]
        if self.pending:
            payload["pending"] = list(self.pending)
        if self.message:
            payload["message"] = self.message
        return payload

    # ------------------------------------------------------------------ reading

    @classmethod
    def parse(cls, event: Any) -> OperationEvent:
        """Read an event back, as ``execute_complete`` receives it.

        :param event: the payload.
        :return: the event.
        :raises TolokaError: naming what is malformed (no status, an unknown status, ids that are not a list of
            strings).
        """
        if not isinstance(event, Mapping) or not isinstance(event.get("status"), str):
            raise TolokaError(f"Toloka trigger returned a malformed event: {event!r}")
        status = event["status"]
        if status not in EVENT_STATUSES:
            raise TolokaError(f"Toloka trigger returned an unknown status {status!r}: {event!r}")
        ids = _strings(event.get("operation_ids"))
        if ids is None:
            raise TolokaError(f"Toloka trigger event has no operation ids: {event!r}")
        failed = tuple(
            FailedOperation(str(f.get("id")), f.get("type"), f.get("details"))
            for f in event.get("failed") or ()
            if isinstance(f, Mapping)
        )
        pending = _strings(event.get("pending")) or ()
        return cls(status, ids, str(event.get("message") or ""), failed, pending)

    def error(self) -> Exception | None:
        """The exception this event means, None for ``success``.

        :return: :class:`TolokaOperationFailedError` with each failed operation's details,
            :class:`TolokaTimeoutError` naming the operations still running, or :class:`TolokaError`.
        """
        if self.status == "success":
            return None
        message = self.message or f"Toloka operations {', '.join(self.operation_ids)}: {self.status}"
        if self.status == "failed":
            return TolokaOperationFailedError(
                message,
                operation_ids=[f.id for f in self.failed] or list(self.operation_ids),
                details={f.id: f.details for f in self.failed},
            )
        if self.status == "timeout":
            return TolokaTimeoutError(message, operation_ids=list(self.pending or self.operation_ids))
        return TolokaError(message)


def _strings(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        return None
    return tuple(value)


# ---------------------------------------------------------------------- pools

PoolState = Literal["waiting", "closed", "failed"]

CLOSE_REASON_HINTS = {
    "EXPIRED": ": will_expire passed before the crowd finished (extend it and reopen the pool)",
    "NOT_ENOUGH_BALANCE": ": the account ran out of money (top it up and reopen the pool)",
    "BLOCKED": ": the requester account is blocked",
    "ASSIGNMENTS_LIMIT_EXCEEDED": ": the pool hit Toloka's limit of assigned task suites",
    "MANUAL": ": someone closed it (pass success_reasons including MANUAL to accept that)",
}
"""What each close reason that ends a wait as a failure means, and what to do (a pool closed for a reason
not listed here, and not a success reason, fails without a hint)."""


def success_reasons_of(reasons: Iterable[str] | str) -> tuple[str, ...]:
    """Close reasons as every pool wait takes them: one name or several, any case.

    :param reasons: e.g. ``"manual"`` or ``["COMPLETED", "MANUAL"]``.
    :return: the upper-case names, sorted, each once.
    :raises ValueError: when none is given.
    """
    names = [reasons] if isinstance(reasons, str) else list(reasons)
    normalized = tuple(sorted({str(r).strip().upper() for r in names if str(r).strip()}))
    if not normalized:
        raise ValueError("success_reasons must name at least one close reason, e.g. COMPLETED")
    return normalized


def pool_state(pool: Pool, success_reasons: Iterable[str]) -> PoolState:
    """What a pool's status says about waiting for it (docs/toloka-api.md L3.2).

    ``closed`` still needs the caller to see that no assignment is ACTIVE: a Toloker who took a suite before the
    close may still submit it.

    :param pool: the pool as just read.
    :param success_reasons: close reasons that count as done.
    :return: ``waiting`` (OPEN, LOCKED, FOR_UPDATE, or CLOSED and never opened), ``closed`` (CLOSED or
        ARCHIVED for a success reason) or ``failed`` (any other close reason).
    """
    if pool.status not in ("CLOSED", "ARCHIVED"):
        return "waiting"
    reason = pool.last_close_reason
    if reason in set(success_reasons):
        return "closed"
    if reason == "FOR_UPDATE" and pool.status == "CLOSED":
        return "waiting"  # Toloka reopens it within 15 minutes
    if reason is None and pool.status == "CLOSED":
        return "waiting"  # created and not opened yet: an upstream task may still open it
    return "failed"


# ---------------------------------------------------------------------- pool progress

PROGRESS_METRICS: tuple[str, ...] = (
    "completion_percentage",
    "submitted_assignments_count",
    "approved_assignments_count",
    "rejected_assignments_count",
    "spent_budget",
    "real_tasks_count",
)
"""The analytics metrics a progress read asks for, in this order (docs/toloka-api.md M9)."""


@dataclass(frozen=True)
class PoolProgress:
    """What the crowd has done in a pool and what it cost so far, as Toloka's analytics report it.

    Every figure is None when Toloka did not report it. Toloka computes them itself (no assignment is read), so
    they may lag the pool by a little; the wait decides "done" from the pool's status, never from these.

    :param completion_percentage: percent of the pool's tasks completed.
    :param completion_infinite: whether some task has infinite overlap (the percentage then means little).
    :param completion_approximate: whether Toloka says the percentage is an estimate.
    :param submitted_assignments: assignments submitted, accepted or rejected.
    :param approved_assignments: assignments accepted.
    :param rejected_assignments: assignments rejected.
    :param spent: money spent on the pool, in USD, without Toloka's fee (``spent_budget``).
    :param real_tasks: general tasks in the pool (control and training tasks and overlap not counted).
    """

    completion_percentage: float | None = None
    completion_infinite: bool = False
    completion_approximate: bool = False
    submitted_assignments: int | None = None
    approved_assignments: int | None = None
    rejected_assignments: int | None = None
    spent: float | None = None
    real_tasks: int | None = None

    def line(self, pool_id: str) -> str:
        """One line for a person reading the log.

        :param pool_id: the pool.
        :return: e.g. ``pool 1042: 63% done, 1,260 of 2,000 submitted assignments accepted, 41.20 spent``;
            a figure Toloka did not report is left out.
        """
        parts: list[str] = []
        if self.completion_percentage is not None:
            about = "~" if self.completion_approximate else ""
            infinite = " (infinite overlap)" if self.completion_infinite else ""
            parts.append(f"{about}{_percent(self.completion_percentage)}% done{infinite}")
        if self.submitted_assignments is not None:
            if self.approved_assignments is not None:
                parts.append(
                    f"{self.approved_assignments:,} of {self.submitted_assignments:,} submitted assignments accepted"
                )
            else:
                parts.append(f"{self.submitted_assignments:,} assignments submitted")
        if self.rejected_assignments:
            parts.append(f"{self.rejected_assignments:,} rejected")
        if self.spent is not None:
            parts.append(f"{_money(self.spent)} spent")
        return f"pool {pool_id}: {', '.join(parts) or 'no figures reported'}"

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON (an event, an XCom value).

        :return: every field by name, None where Toloka reported nothing.
        """
        return {name: getattr(self, name) for name in _PROGRESS_FIELDS}

    @classmethod
    def from_dict(cls, data: Any) -> PoolProgress | None:
        """Read :meth:`as_dict` back, as an event carries it.

        :param data: the dict, or None.
        :return: the progress; None for None or anything not a dict.
        """
        if not isinstance(data, Mapping):
            return None
        return cls(
            completion_percentage=_number(data.get("completion_percentage")),
            completion_infinite=data.get("completion_infinite") is True,
            completion_approximate=data.get("completion_approximate") is True,
            submitted_assignments=_count(data.get("submitted_assignments")),
            approved_assignments=_count(data.get("approved_assignments")),
            rejected_assignments=_count(data.get("rejected_assignments")),
            spent=_number(data.get("spent")),
            real_tasks=_count(data.get("real_tasks")),
        )


_PROGRESS_FIELDS = tuple(PoolProgress.__dataclass_fields__)


def progress_from_analytics(details: Any, asked: Sequence[str] = PROGRESS_METRICS) -> PoolProgress:
    """The progress in the ``details`` of a finished ``ANALYTICS`` operation (docs/toloka-api.md M9).

    ``details`` is ``{"value": [{"request": {"name", ...}, "result": ...}, ...]}``, one entry per metric asked, in
    the order asked. ``completion_percentage`` is an object (``{"type", "value", "infinite", "approximate"}``), the
    other metrics plain numbers. A metric Toloka left out or answered with something not a number is None.

    :param details: the operation's ``details``.
    :param asked: the metric names in the order they were asked, for entries that do not repeat their request.
    :return: the progress.
    :raises ValueError: when ``details`` is not of that shape at all.
    """
    entries = details.get("value") if isinstance(details, Mapping) else None
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ValueError(
            f"analytics details are not {{'value': [{{'request', 'result'}}, ...]}}: {details!r:.300}"
        )
    results: dict[str, Any] = {}
    for i, entry in enumerate(entries):
        request = entry.get("request")
        name = request.get("name") if isinstance(request, Mapping) else None
        if not isinstance(name, str):
            name = asked[i] if i < len(asked) else None
        if name is not None:
            results[name] = entry.get("result")
    completion = results.get("completion_percentage")
    if not isinstance(completion, Mapping):  # a bare number, should Toloka ever send one
        completion = {"value": completion}
    return PoolProgress(
        completion_percentage=_number(completion.get("value")),
        completion_infinite=completion.get("infinite") is True,
        completion_approximate=completion.get("approximate") is True,
        submitted_assignments=_count(results.get("submitted_assignments_count")),
        approved_assignments=_count(results.get("approved_assignments_count")),
        rejected_assignments=_count(results.get("rejected_assignments_count")),
        spent=_number(results.get("spent_budget")),
        real_tasks=_count(results.get("real_tasks_count")),
    )


def _number(value: Any) -> float | None:
    """A metric as a float; None for anything else (a bool is not a number here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):  # a decimal sent as text keeps its digits
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None or not number.is_integer() else int(number)


def _percent(value: float) -> str:
    rounded = round(float(value), 1)
    return f"{rounded:.0f}" if rounded.is_integer() else f"{rounded:.1f}"


def _money(value: float) -> str:
    """Cents always, and the fractions of a cent Toloka's prices have (a reward may be $0.005)."""
    whole, _, fraction = f"{value:,.4f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


@dataclass(frozen=True)
class PoolEvent:
    """The outcome of waiting for a pool, as the pool trigger yields it and the sensor reads it back.

    :param status: ``success``, ``failed`` (closed for a reason not counted as success, or archived first),
        ``timeout`` or ``error``.
    :param pool_id: the pool.
    :param message: what happened, for the task log and the error.
    :param close_reason: the pool's ``last_close_reason``, when it closed.
    :param progress: what the crowd did and what it cost, read at the last poll; None when that read failed, and
        in events of triggers from before progress was read (a trigger serialised before an upgrade).
    """

    status: EventStatus
    pool_id: str
    message: str = ""
    close_reason: str | None = None
    progress: PoolProgress | None = None

    @property
    def spent(self) -> float | None:
        """Money spent on the pool, USD without Toloka's fee, when the last poll could read it."""
        return None if self.progress is None else self.progress.spent

    def with_progress(self, progress: PoolProgress | None) -> PoolEvent:
        """This event carrying ``progress``.

        :param progress: the progress read in the same poll, or None.
        :return: the event with it.
        """
        return replace(self, progress=progress)

    @classmethod
    def observed(cls, pool_id: str, pool: Pool, state: PoolState) -> PoolEvent | None:
        """The event a read pool means, None while the wait goes on.

        :param pool_id: the pool id.
        :param pool: the pool as just read.
        :param state: :func:`pool_state` of it, ``closed`` only once no assignment is ACTIVE.
        :return: a ``success`` or ``failed`` event, or None.
        """
        reason = pool.last_close_reason
        if state == "closed":
            return cls("success", pool_id, f"Toloka pool {pool_id} is {pool.status} ({reason})", reason)
        if state == "failed":
            hint = CLOSE_REASON_HINTS.get(reason or "", "")
            message = (
                f"Toloka pool {pool_id} is {pool.status}, closed for {reason or 'no stated reason'}{hint}"
            )
            return cls("failed", pool_id, message, reason)
        return None

    @classmethod
    def timed_out(cls, pool_id: str, end_time: float, last_error: BaseException | None = None) -> PoolEvent:
        """The event for a deadline that passed while the crowd was still working.

        :param pool_id: the pool.
        :param end_time: the deadline, epoch seconds.
        :param last_error: why the last poll failed, when it did.
        :return: a ``timeout`` event.
        """
        deadline = datetime.fromtimestamp(end_time, tz=timezone.utc).isoformat(timespec="seconds")
        message = (
            f"Toloka pool {pool_id} not finished at the deadline {deadline}; the crowd goes on labeling it"
        )
        if last_error is not None:
            message += f"; the last poll failed: {type(last_error).__name__}: {last_error}"
        return cls("timeout", pool_id, message)

    @classmethod
    def polling_failed(cls, pool_id: str, exc: BaseException) -> PoolEvent:
        """The event for a poll that failed for good (no such pool, no access).

        :param pool_id: the pool.
        :param exc: what failed.
        :return: an ``error`` event.
        """
        return cls("error", pool_id, f"Polling Toloka pool {pool_id} failed: {type(exc).__name__}: {exc}")

    def to_payload(self) -> dict[str, Any]:
        """The event as the JSON a ``TriggerEvent`` carries.

        :return: ``{"status", "pool_id", "message"}``, ``close_reason`` when known, and ``spent`` and ``progress``
            (:meth:`PoolProgress.as_dict`) when the last poll read them.
        """
        payload: dict[str, Any] = {"status": self.status, "pool_id": self.pool_id, "message": self.message}
        if self.close_reason is not None:
            payload["close_reason"] = self.close_reason
        if self.progress is not None:
            payload["spent"] = self.progress.spent
            payload["progress"] = self.progress.as_dict()
        return payload

    @classmethod
    def parse(cls, event: Any) -> PoolEvent:
        """Read an event back, as ``execute_complete`` receives it.

        :param event: the payload.
        :return: the event.
        :raises TolokaError: naming what is malformed.
        """
        if (
            not isinstance(event, Mapping)
            or event.get("status") not in EVENT_STATUSES
            or not isinstance(event.get("pool_id"), str)
        ):
            raise TolokaError(f"Toloka pool trigger returned a malformed event: {event!r}")
        reason = event.get("close_reason")
        # An event without progress (a trigger from before it was read, or a failed read) is read as it is.
        progress = PoolProgress.from_dict(event.get("progress"))
        return cls(event["status"], event["pool_id"], str(event.get("message") or ""), reason, progress)

    def result(self) -> dict[str, Any]:
        """What a finished pool wait returns (the sensor's XCom value), the same poked or deferred.

        :return: ``{"pool_id", "close_reason", "spent", "progress"}``; ``spent`` and ``progress`` are None when
            Toloka's analytics could not be read.
        """
        return {
            "pool_id": self.pool_id,
            "close_reason": self.close_reason,
            "spent": self.spent,
            "progress": None if self.progress is None else self.progress.as_dict(),
        }

    def error(self) -> Exception | None:
        """The exception this event means, None for ``success``.

        :return: :class:`TolokaTimeoutError` for a deadline, :class:`TolokaError` otherwise.
        """
        if self.status == "success":
            return None
        message = self.message or f"Toloka pool {self.pool_id}: {self.status}"
        if self.status == "timeout":
            return TolokaTimeoutError(message, operation_ids=[])
        return TolokaError(message)
