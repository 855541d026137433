"""Wait for Toloka operations in the triggerer, so no worker slot is held while Toloka works.

The trigger only reads (GET) and owns nothing remote: two HA triggerers may run it at once, so the event it
fires depends only on Toloka's state and on its own kwargs, never on clocks or on the order replies arrive.
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, NoReturn, Protocol

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_toloka.events import OperationEvent
from airflow_toloka.exceptions import TRANSIENT_ERRORS
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.models import Operation
from airflow_toloka.triggers.base import TolokaBaseTrigger

__all__ = ["MAX_CONCURRENT_POLLS", "TolokaOperationTrigger", "defer_until_done", "validate_operation_ids"]

# Concurrent GETs of one trigger; all triggers of a loop together are bounded by the shared client's
# ``MAX_SHARED_REQUESTS``, so one trigger with many operations cannot take every connection.
MAX_CONCURRENT_POLLS = 16
_POLL_RETRY_BUDGET = 60.0
# A status change is logged at once; mere progress at most this often per trigger.
_PROGRESS_LOG_EVERY = 60.0
_MAX_LOGGED_OPS = 10
# Toloka operation ids are UUIDs; the id is pasted into a URL path, so anything that could change the path
# ("/", "?", "#", "%", "..") is refused before a request is made.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def validate_operation_ids(operation_ids: Iterable[Any]) -> list[str]:
    """Check and de-duplicate (keeping order) a list of operation ids.

    :param operation_ids: the ids.
    :return: the ids, each once.
    :raises ValueError: for anything that is not a non-empty list of usable ids.
    """
    if isinstance(operation_ids, (str, bytes, Mapping)) or not isinstance(operation_ids, Iterable):
        raise ValueError(f"operation ids must be a list of strings, got {type(operation_ids).__name__}")
    ids: list[str] = []
    for raw in operation_ids:
        if not isinstance(raw, str) or not _ID_RE.match(raw) or ".." in raw:
            raise ValueError(f"not a valid Toloka operation id: {raw!r}")
        if raw not in ids:
            ids.append(raw)
    if not ids:
        raise ValueError("no Toloka operation ids given")
    return ids


class WaitingTask(Protocol):
    """What :func:`defer_until_done` needs of an operator or sensor."""

    toloka_conn_id: str
    poll_interval: float

    def defer(
        self,
        *,
        trigger: BaseTrigger,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: Any = None,
    ) -> NoReturn:
        """Airflow's ``BaseOperator.defer``."""
        ...


def defer_until_done(
    task: WaitingTask,
    operation_ids: Sequence[str],
    *,
    timeout: float,
    kwargs: dict[str, Any] | None = None,
) -> NoReturn:
    """Defer ``task`` until the operations are finished; Airflow then calls its ``execute_complete``.

    The trigger polls with the task's connection and ``poll_interval``, and carries the deadline as an
    absolute time because ``execution_timeout`` is not enforced while a task is deferred; it reports the
    deadline as a ``timeout`` event.

    :param task: the operator or sensor that waits.
    :param operation_ids: the operations to wait for.
    :param timeout: seconds from now until the wait gives up.
    :param kwargs: more keyword arguments for ``execute_complete`` (JSON-able; never secrets).
    :raises TaskDeferred: always; that is how Airflow defers.
    """
    trigger = TolokaOperationTrigger(
        operation_ids=operation_ids,
        toloka_conn_id=task.toloka_conn_id,
        poll_interval=task.poll_interval,
        end_time=time.time() + timeout,
    )
    task.defer(trigger=trigger, method_name="execute_complete", kwargs=kwargs, timeout=None)


def _counters(ops: Iterable[Operation]) -> dict[str, int | float]:
    """Sum the numeric top-level ``details`` fields (items created, failed …) over operations."""
    totals: dict[str, int | float] = {}
    for op in ops:
        if isinstance(op.details, Mapping):
            for key, value in op.details.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    totals[str(key)] = totals.get(str(key), 0) + value
    return totals


class TolokaOperationTrigger(TolokaBaseTrigger):
    """Fire once when every operation is terminal, the deadline passes, or polling fails.

    Rate limits (429), Toloka's own failures (5xx) and network errors only mean "poll again next interval", until
    ``end_time``; an error that will not go away by waiting (401, 403, 404) ends the wait at once. It yields
    exactly one event, an :class:`~airflow_toloka.events.OperationEvent` payload: ``success``,
    ``failed`` (all finished, some FAIL), ``timeout`` (``end_time`` passed first) or ``error`` (a poll failed
    after the hook's own retries).

    :param operation_ids: Toloka operations to wait for.
    :param toloka_conn_id: Airflow connection id (the token is read in the triggerer, never passed here).
    :param poll_interval: seconds between polls; each poll is one GET per unfinished operation.
    :param end_time: absolute deadline in epoch seconds; the trigger carries it because ``execution_timeout``
        is not enforced while a task is deferred.
    """

    def __init__(
        self,
        operation_ids: Sequence[str],
        toloka_conn_id: str = TolokaHook.default_conn_name,
        poll_interval: float = 30.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        self.operation_ids = validate_operation_ids(operation_ids)
        self.toloka_conn_id = toloka_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        # Every trigger of the class logs through one logger (Airflow tells their lines apart by context): a logger
        # per trigger is some ten objects that each of thousands of sleeping triggers keeps for full collections
        # to walk (docs/performance.md, "Pool triggers").
        self._log = type(self).logger()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and kwargs Airflow stores to rebuild the trigger (no secrets: the token stays in the
        connection).

        :return: ``(classpath, kwargs)``.
        """
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "operation_ids": list(self.operation_ids),
                "toloka_conn_id": self.toloka_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation_ids={self.operation_ids!r}, "
            f"toloka_conn_id={self.toloka_conn_id!r}, poll_interval={self.poll_interval!r}, "
            f"end_time={self.end_time!r})"
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until done and yield exactly one event; the HTTP client is closed before the event leaves."""
        try:
            event = await self._wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # An uncaught exception would fail the task with a bare "Trigger failed"; say what went wrong.
            self.log.error("Polling Toloka operations failed: %s", exc)
            event = OperationEvent.polling_failed(self.operation_ids, exc)
        yield TriggerEvent(event.to_payload())

    def first_poll_delay(self) -> float:
        """Seconds before the first poll: between half and one ``poll_interval``, fixed per set of ids.

        An event fired within seconds of the deferral can meet Airflow's stale-executor-event race
        (apache/airflow#72716); why half to one interval, and fixed per id: docs/performance.md, "Triggers".

        :return: the delay in seconds.
        """
        fraction = zlib.crc32("\n".join(self.operation_ids).encode()) / 2**32
        return self.poll_interval * (0.5 + 0.5 * fraction)

    async def _wait(self) -> OperationEvent:
        done: dict[str, Operation] = {}
        # A poll retries for at most a minute: the next poll is the better retry, and the deadline must hold.
        async with TolokaHook(self.toloka_conn_id, retry_budget=_POLL_RETRY_BUDGET) as hook:
            # A connection the triggerer cannot resolve fails now, not after a wait.
            await hook.aresolve_connection()
            delay = self.first_poll_delay()
            if self.end_time is not None:
                # Still a poll before the deadline.
                delay = min(delay, max(0.0, self.end_time - time.time()) / 2)
            await asyncio.sleep(delay)
            semaphore = asyncio.Semaphore(MAX_CONCURRENT_POLLS)
            progress = _ProgressLog(self)
            while True:
                try:
                    await self._poll_round(hook, done, semaphore, progress)
                    outage = None
                except TRANSIENT_ERRORS as exc:
                    # A rate limit or an outage says nothing about the operations: poll again, until the deadline.
                    outage = exc
                    self.log.warning(
                        "Polling Toloka failed (%s); polling again in %g s", exc, self.poll_interval
                    )
                if len(done) == len(self.operation_ids):
                    return OperationEvent.finished(self.operation_ids, done)
                now = time.time()
                if self.end_time is not None and now >= self.end_time:
                    pending = [i for i in self.operation_ids if i not in done]
                    return OperationEvent.timed_out(self.operation_ids, pending, self.end_time, outage)
                delay = self.poll_interval
                if self.end_time is not None:
                    delay = min(delay, self.end_time - now)  # the last poll happens at the deadline
                await asyncio.sleep(delay)

    async def _poll_round(
        self,
        hook: TolokaHook,
        done: dict[str, Operation],
        semaphore: asyncio.Semaphore,
        progress: _ProgressLog,
    ) -> None:
        """One poll of the unfinished operations; what it read is dropped before the trigger sleeps.

        See docs/performance.md, "Triggers": what a sleeping trigger holds decides how often the event loop
        stalls for a full garbage collection.
        """
        pending = [i for i in self.operation_ids if i not in done]
        polled = await self._poll(hook, pending, semaphore)
        # Terminal states are final: those operations are never polled again.
        done.update((op_id, op) for op_id, op in polled.items() if op.is_completed)
        progress.update(done, polled)

    async def _poll(
        self, hook: TolokaHook, ids: list[str], semaphore: asyncio.Semaphore
    ) -> dict[str, Operation]:
        """GET every id concurrently (bounded); on failure raise the error of the first failing id in order."""
        if len(ids) == 1:  # the common case: no task per GET
            return {ids[0]: await hook.aget_operation(ids[0])}

        async def one(op_id: str) -> Operation:
            async with semaphore:
                return await hook.aget_operation(op_id)

        results = await asyncio.gather(*(one(i) for i in ids), return_exceptions=True)
        polled: dict[str, Operation] = {}
        for op_id, result in zip(ids, results, strict=True):
            if isinstance(result, BaseException):
                raise result  # the first failure in id order, whichever reply came first
            polled[op_id] = result
        return polled


class _ProgressLog:
    """The trigger's progress lines: at once when a status changes, otherwise at most once a minute.

    See docs/performance.md, "Triggers".
    """

    def __init__(self, trigger: TolokaOperationTrigger) -> None:
        self.trigger = trigger
        self.statuses: tuple[str, ...] = ()
        self.logged_at = 0.0

    def update(self, done: Mapping[str, Operation], latest: Mapping[str, Operation]) -> None:
        ids = self.trigger.operation_ids
        ops = {**latest, **done}
        statuses = tuple(ops[i].status for i in ids if i in ops)
        now = time.monotonic()
        if statuses == self.statuses and now - self.logged_at < _PROGRESS_LOG_EVERY:
            return
        self.statuses, self.logged_at = statuses, now
        log = self.trigger.log
        running = [ops[i] for i in ids if i not in done]
        failed = sum(1 for op in done.values() if op.status == "FAIL")
        overall = sum(100 if op.is_completed else (op.progress or 0) for op in ops.values()) / len(ops)
        counters = ", ".join(f"{k}={v}" for k, v in sorted(_counters(ops.values()).items()))
        log.info(
            "Toloka: %d/%d operations done (%d failed), %.0f%% overall%s",
            len(done),
            len(ids),
            failed,
            overall,
            f"; items: {counters}" if counters else "",
        )
        if len(ids) == 1:
            return  # the line above already says it all
        for op in running[:_MAX_LOGGED_OPS]:
            log.info("Toloka operation %s (%s): %s, %s%%", op.id, op.type, op.status, op.progress or 0)
        if len(running) > _MAX_LOGGED_OPS:
            log.info("… and %d more running", len(running) - _MAX_LOGGED_OPS)
