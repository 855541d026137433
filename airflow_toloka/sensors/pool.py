"""Wait until the crowd has labeled a pool: deferrable by default, because labeling takes hours or days."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from airflow.sdk import Context, PokeReturnValue

from airflow_toloka.events import PoolEvent, PoolProgress, success_reasons_of
from airflow_toloka.exceptions import TRANSIENT_ERRORS
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.sensors.base import TolokaBaseSensor
from airflow_toloka.triggers.pool import DEFAULT_POOL_POLL_INTERVAL, defer_until_pool_done

__all__ = ["UNTIL", "TolokaPoolSensor"]

UNTIL = {"completed": ("COMPLETED",), "closed": ("COMPLETED", "MANUAL")}
"""What ``until`` means: the close reasons that end the wait as a success."""
# Seconds one poke may spend reading the pool's progress (the analytics call and its operation).
_PROGRESS_TIMEOUT = 5.0


class TolokaPoolSensor(TolokaBaseSensor):
    """Wait until a pool is done: CLOSED because the crowd completed it, and no assignment still ACTIVE.

    ``until="completed"`` (default) accepts only Toloka's COMPLETED close; ``until="closed"`` also a MANUAL one.
    A pool closed for another reason (EXPIRED, NOT_ENOUGH_BALANCE, BLOCKED, ASSIGNMENTS_LIMIT_EXCEEDED) fails
    the sensor with that reason; FOR_UPDATE and a pool not opened yet keep it waiting. Deferrable by default:
    one poke on the worker, then a :class:`~airflow_toloka.triggers.pool.TolokaPoolTrigger` that carries
    ``timeout`` (default 7 days) as an absolute deadline and survives triggerer restarts and Toloka outages.

    Each poke (and each poll of the trigger) logs one line of the pool's progress from Toloka's analytics
    (percent done, assignments accepted, money spent); analytics that fail or are slow are warned about and never
    fail or hold the wait. The XCom value is ``{"pool_id", "close_reason", "spent", "progress"}``: ``spent`` is
    the USD spent on the pool without Toloka's fee, ``progress`` the figures of
    :class:`~airflow_toloka.events.PoolProgress` as a dict; both None when analytics could not be read.

    :param pool_id: the pool (templated; e.g. ``{{ ti.xcom_pull(task_ids='create_pool', key='pool_id') }}``).
    :param until: ``completed`` or ``closed``.
    :param success_reasons: the close reasons that count as done, overriding ``until``.
    :param toloka_conn_id: Airflow connection id.
    :param deferrable: wait in the triggerer (default) instead of poking on a worker.
    :param poll_interval: seconds between polls (default 5 minutes); also the ``poke_interval``.
    :raises ValueError: for an unknown ``until`` or empty ``success_reasons``.
    """

    template_fields: Sequence[str] = ("pool_id",)
    ui_color = "#ffd8a8"

    def __init__(
        self,
        *,
        pool_id: str,
        until: str = "completed",
        success_reasons: Iterable[str] | None = None,
        toloka_conn_id: str = TolokaHook.default_conn_name,
        deferrable: bool = True,
        poll_interval: float = DEFAULT_POOL_POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        kwargs.setdefault("timeout", 7 * 24 * 3600)
        super().__init__(**kwargs)
        if success_reasons is None:
            if until not in UNTIL:
                raise ValueError(f"until must be one of {', '.join(UNTIL)}, got {until!r}")
            success_reasons = UNTIL[until]
        self.success_reasons = success_reasons_of(success_reasons)
        self.pool_id = pool_id
        self.until = until
        self.toloka_conn_id = toloka_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the pool once, and its progress (logged as one line).

        :param context: the task context.
        :return: done when the crowd finished, its XCom value ``{"pool_id", "close_reason", "spent",
            "progress"}`` (:meth:`~airflow_toloka.events.PoolEvent.result`); else not done.
        :raises TolokaError: when the pool closed for a failure reason or does not exist.
        """
        pool_id = str(self.pool_id)
        try:
            with TolokaHook(self.toloka_conn_id) as hook:
                pool, event = hook.observe_pool(pool_id, self.success_reasons)
        except TRANSIENT_ERRORS as exc:
            # An outage says nothing about the crowd: look again at the next poke, as the trigger does.
            self.log.warning("Reading Toloka pool %s failed (%s); trying again next poke", pool_id, exc)
            return PokeReturnValue(is_done=False)
        progress = self._read_progress(pool_id)
        status = f"{pool.status} ({pool.last_close_reason})" if pool.status != "OPEN" else "OPEN"
        if progress is not None:
            self.log.info("Toloka %s; the pool is %s", progress.line(pool_id), status)
        if event is None:
            if progress is None:
                self.log.info("Toloka pool %s: %s; waiting", pool_id, status)
            return PokeReturnValue(is_done=False)
        error = event.error()
        if error is not None:
            raise error
        self.log.info("%s", event.message)
        return PokeReturnValue(is_done=True, xcom_value=event.with_progress(progress).result())

    def _read_progress(self, pool_id: str) -> PoolProgress | None:
        """The pool's progress, or None with one warning: analytics never fail or hold the wait."""
        try:
            # One attempt, a few seconds at most: the next poke is the retry.
            with TolokaHook(self.toloka_conn_id, retry_limit=0) as hook:
                return hook.get_pool_progress(pool_id, timeout=_PROGRESS_TIMEOUT)
        except Exception as exc:
            self.log.warning(
                "Reading the progress of Toloka pool %s failed (%s: %s); waiting on without it",
                pool_id,
                type(exc).__name__,
                exc,
            )
            return None

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) on the worker, or poke once and defer to the triggerer.

        :param context: the task context.
        :return: ``{"pool_id", "close_reason", "spent", "progress"}`` once the crowd finished.
        :raises TolokaError: when the pool closed for a failure reason.
        """
        if not self.deferrable:
            return super().execute(context)
        done = self._first_poke(context)
        if isinstance(done, PokeReturnValue) and done:
            return done.xcom_value
        self.log.info("Deferring: waiting for the crowd on Toloka pool %s in the triggerer", self.pool_id)
        defer_until_pool_done(
            self, str(self.pool_id), timeout=self.timeout, success_reasons=self.success_reasons
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Turn the trigger's event into the wait's result, or a failure naming the pool's close reason.

        :param context: the task context.
        :param event: the trigger's payload.
        :return: ``{"pool_id", "close_reason", "spent", "progress"}``; ``spent`` and ``progress`` are None when
            the trigger could not read them (or fired before it read them at all, from an older version).
        :raises TolokaError: for a failure reason, a malformed event or a failed poll.
        :raises AirflowSensorTimeout: at the deadline (a skip with ``soft_fail``).
        """
        parsed = PoolEvent.parse(event)
        if parsed.progress is not None:
            self.log.info("Toloka %s", parsed.progress.line(parsed.pool_id))
        self.raise_for_event(parsed.error())
        self.log.info("%s", parsed.message)
        return parsed.result()
