"""Wait in the triggerer until the crowd has labeled a pool: hours or days, without a worker slot.

Like the operation trigger it only reads (two HA triggerers may run it at once) and carries an absolute deadline.
A sleeping pool trigger holds its kwargs and one flag, nothing else: the hook and its reads (the pool, its
progress) live only during a poll, so 10,000 of them in one triggerer stay cheap (docs/performance.md, "Triggers").
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.triggers.base import TriggerEvent

from airflow_toloka.events import PoolEvent, PoolProgress, success_reasons_of
from airflow_toloka.exceptions import TRANSIENT_ERRORS
from airflow_toloka.hooks.connection import DEFAULT_CONN_ID
from airflow_toloka.triggers.base import TolokaBaseTrigger, import_off_loop
from airflow_toloka.triggers.operation import WaitingTask

if TYPE_CHECKING:  # imported off the event loop on first use, see import_off_loop
    from airflow_toloka.hooks.toloka import TolokaHook

__all__ = ["DEFAULT_POOL_POLL_INTERVAL", "TolokaPoolTrigger", "defer_until_pool_done"]

DEFAULT_POOL_POLL_INTERVAL = 300.0
"""Seconds between two polls of a pool: labeling takes hours, a pool's state changes rarely."""
_POLL_RETRY_BUDGET = 60.0
_PROGRESS_LOG_EVERY = 60.0
# Seconds one poll may spend reading the pool's progress (the analytics call and its operation).
_PROGRESS_TIMEOUT = 5.0


def defer_until_pool_done(
    task: WaitingTask,
    pool_id: str,
    *,
    timeout: float,
    success_reasons: Iterable[str] = ("COMPLETED",),
) -> NoReturn:
    """Defer ``task`` until the pool is done; Airflow then calls its ``execute_complete``.

    :param task: the operator or sensor that waits (its connection and ``poll_interval`` are used).
    :param pool_id: the pool.
    :param timeout: seconds from now until the wait gives up.
    :param success_reasons: close reasons that count as done.
    :raises TaskDeferred: always; that is how Airflow defers.
    """
    trigger = TolokaPoolTrigger(
        pool_id=pool_id,
        toloka_conn_id=task.toloka_conn_id,
        poll_interval=task.poll_interval,
        end_time=time.time() + timeout,
        success_reasons=success_reasons,
    )
    task.defer(trigger=trigger, method_name="execute_complete", timeout=None)


class TolokaPoolTrigger(TolokaBaseTrigger):
    """Fire once when the pool is done, closed for a failure reason, the deadline passes, or polling fails.

    Done means CLOSED (or ARCHIVED) with ``last_close_reason`` in ``success_reasons`` and no ACTIVE assignment
    left. FOR_UPDATE, LOCKED and a pool not opened yet mean "keep waiting"; EXPIRED, NOT_ENOUGH_BALANCE, BLOCKED,
    ASSIGNMENTS_LIMIT_EXCEEDED (and MANUAL unless it is a success reason) end the wait with a ``failed`` event
    naming the reason. 429, 5xx and network errors mean "poll again"; 401/403/404 end it with ``error``.

    Each poll also asks Toloka's analytics once for the pool's progress, logs it as one line (percent done,
    assignments accepted, money spent) and puts the last one in the event (``spent``, ``progress``). Analytics that
    fail or are slow (a few seconds at most) are warned about once and never end or hold the wait.

    :param pool_id: the pool to wait for.
    :param toloka_conn_id: Airflow connection id (the token is read in the triggerer, never passed here).
    :param poll_interval: seconds between polls (default 5 minutes).
    :param end_time: absolute deadline in epoch seconds, or None to wait for ever.
    :param success_reasons: close reasons that count as done (default ``COMPLETED``).
    """

    def __init__(
        self,
        pool_id: str,
        toloka_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_POOL_POLL_INTERVAL,
        end_time: float | None = None,
        success_reasons: Iterable[str] = ("COMPLETED",),
    ) -> None:
        super().__init__()
        if not isinstance(pool_id, (str, int)) or isinstance(pool_id, bool) or not str(pool_id).strip():
            raise ValueError(f"not a valid Toloka pool id: {pool_id!r}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        self.pool_id = str(pool_id)
        self.toloka_conn_id = toloka_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.success_reasons = success_reasons_of(success_reasons)
        self._progress_failing = False  # not a kwarg: a rebuilt trigger warns again once

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and kwargs Airflow stores to rebuild the trigger (no secrets).

        :return: ``(classpath, kwargs)``.
        """
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "pool_id": self.pool_id,
                "toloka_conn_id": self.toloka_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "success_reasons": list(self.success_reasons),
            },
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool_id={self.pool_id!r}, end_time={self.end_time!r})"

    def first_poll_delay(self) -> float:
        """Seconds before the first poll: between a tenth and a fifth of ``poll_interval``, fixed per pool.

        Spread so that thousands of triggers started together (a triggerer restart) do not poll in one burst,
        and not at once so the event cannot race the deferral (docs/performance.md, "Triggers").

        :return: the delay in seconds.
        """
        fraction = zlib.crc32(self.pool_id.encode()) / 2**32
        return self.poll_interval * (0.1 + 0.1 * fraction)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the pool is done and yield exactly one event."""
        try:
            event = await self._wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.error("Polling Toloka pool %s failed: %s", self.pool_id, exc)
            event = PoolEvent.polling_failed(self.pool_id, exc)
        yield TriggerEvent(event.to_payload())

    async def _wait(self) -> PoolEvent:
        delay = self.first_poll_delay()
        logged: tuple[str | None, float] = ("", 0.0)
        while True:
            if self.end_time is not None:
                delay = min(delay, max(0.0, self.end_time - time.time()))
            await asyncio.sleep(delay)
            delay = self.poll_interval
            outage: BaseException | None = None
            progress: PoolProgress | None = None
            try:
                event, status, progress = await self._poll()
                if event is not None:
                    if progress is not None:
                        self._report(status, progress, logged)
                    return event.with_progress(progress)
                logged = self._report(status, progress, logged)
            except TRANSIENT_ERRORS as exc:
                outage = exc
                self.log.warning("Polling Toloka pool %s failed (%s); polling again", self.pool_id, exc)
            if self.end_time is not None and time.time() >= self.end_time:
                return PoolEvent.timed_out(self.pool_id, self.end_time, outage).with_progress(progress)

    async def _poll(self) -> tuple[PoolEvent | None, str, PoolProgress | None]:
        """One poll: the pool, then its progress; the hook (and its reads) is dropped before the trigger sleeps."""
        hook_class: type[TolokaHook] = await import_off_loop("airflow_toloka.hooks.toloka", "TolokaHook")
        async with hook_class(self.toloka_conn_id, retry_budget=_POLL_RETRY_BUDGET) as hook:
            pool, event = await hook.aobserve_pool(self.pool_id, self.success_reasons)
            status = f"{pool.status} ({pool.last_close_reason})" if pool.status != "OPEN" else "OPEN"
            # One attempt per poll, the next poll being the retry: an analytics outage adds no retry warnings to
            # every poll. Opened inside the first hook, so both share the loop's client.
            async with hook_class(self.toloka_conn_id, retry_limit=0) as once:
                return event, status, await self._read_progress(once)

    async def _read_progress(self, hook: TolokaHook) -> PoolProgress | None:
        """The pool's progress, or None: analytics only feed the log and the event, and never end or hold a wait.

        A failure is warned about once, until a read succeeds again: an outage of Toloka's analytics (a staging
        API) would otherwise add a warning to every poll.
        """
        try:
            progress = await hook.aget_pool_progress(self.pool_id, timeout=_PROGRESS_TIMEOUT)
        except Exception as exc:  # CancelledError is not an Exception: a cancelled trigger still stops here
            if not self._progress_failing:
                self.log.warning(
                    "Reading the progress of Toloka pool %s failed (%s: %s); waiting on without it",
                    self.pool_id,
                    type(exc).__name__,
                    exc,
                )
            self._progress_failing = True
            return None
        self._progress_failing = False
        return progress

    def _report(
        self, status: str, progress: PoolProgress | None, logged: tuple[str | None, float]
    ) -> tuple[str | None, float]:
        """Log this poll's progress line; without one, a status change at once, the same at most once a minute."""
        now = time.monotonic()
        if progress is not None:
            self.log.info("Toloka %s; the pool is %s", progress.line(self.pool_id), status)
            return status, now
        if status == logged[0] and now - logged[1] < _PROGRESS_LOG_EVERY:
            return logged
        self.log.info("Toloka pool %s: %s; waiting for the crowd", self.pool_id, status)
        return status, now
