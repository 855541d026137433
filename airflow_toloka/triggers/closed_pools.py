"""Event-driven runs: an ``AssetWatcher`` trigger that fires each time a pool of a project closes.

Toloka has no webhook for a closing pool, so the trigger polls the project's CLOSED pools (``GET /pools``, paged)
and compares their close stamps with a cursor (:mod:`airflow_toloka.closings`). Pools closed in Toloka's own UI are
seen as any other. The cursor is saved before each event leaves, so a close is never reported twice:

- On Airflow 3.3 it lives in the watched asset's state store (the metadata DB), so a restarted or moved triggerer
  goes on where the last one stopped, and reports the closes it missed while none ran.
- On Airflow 3.2 (no state store for triggers) it lives in the trigger's memory: a restarted trigger starts
  afresh, reporting only closes after its first poll; closes while no triggerer ran it are not reported.

A trigger starting afresh (no cursor yet) reports nothing of the pools already closed: its first poll is the
baseline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_toloka.closings import CloseCursor, closed_pool_event, closes_after, reasons_of
from airflow_toloka.hooks.connection import DEFAULT_CONN_ID
from airflow_toloka.triggers.base import TolokaBaseTrigger, import_off_loop
from airflow_toloka.version_compat import asset_state_store

if TYPE_CHECKING:  # imported off the event loop on first use, see import_off_loop
    from airflow_toloka.hooks.toloka import TolokaHook
    from airflow_toloka.models import Pool

__all__ = ["DEFAULT_CLOSED_POOLS_POLL_INTERVAL", "TolokaPoolClosedTrigger"]

DEFAULT_CLOSED_POOLS_POLL_INTERVAL = 60.0
# A poll retries for at most a minute: the next poll is the better retry.
_POLL_RETRY_BUDGET = 60.0


class TolokaPoolClosedTrigger(TolokaBaseTrigger, BaseEventTrigger):
    """Yield one event per pool of ``project_id`` that closes, for as long as it runs (an ``AssetWatcher``).

    Each event's payload is the closed pool: ``pool_id``, ``project_id``, ``status``, ``last_close_reason`` and
    ``last_stopped``; Airflow stores it as the asset event's ``extra["payload"]``. A pool closed to be edited
    (``FOR_UPDATE``) is not reported unless asked for; a pool reopened and closed again is reported again. Polls
    only read (GET). A failing poll (Toloka down, a refused token, a missing connection) is logged and the next
    poll tries again: a watcher has no task to fail.

    :param project_id: the project whose pools to watch.
    :param toloka_conn_id: Airflow connection id (the token is read in the triggerer, never passed here).
    :param poll_interval: seconds between polls; each poll lists the project's CLOSED pools (300 a request).
    :param close_reasons: the ``last_close_reason`` values to report (e.g. ``["COMPLETED"]``); ``None`` for every
        reason but ``FOR_UPDATE``.
    :raises ValueError: for an empty project id, a non-positive interval or empty reasons.
    """

    def __init__(
        self,
        project_id: str,
        toloka_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_CLOSED_POOLS_POLL_INTERVAL,
        close_reasons: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        if (
            not isinstance(project_id, (str, int))
            or isinstance(project_id, bool)
            or not str(project_id).strip()
        ):
            raise ValueError(f"not a valid Toloka project id: {project_id!r}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        self.project_id = str(project_id)
        self.toloka_conn_id = toloka_conn_id
        self.poll_interval = float(poll_interval)
        self.close_reasons = reasons_of(close_reasons)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and kwargs Airflow stores to rebuild the trigger (no secrets).

        :return: ``(classpath, kwargs)``.
        """
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "project_id": self.project_id,
                "toloka_conn_id": self.toloka_conn_id,
                "poll_interval": self.poll_interval,
                "close_reasons": None if self.close_reasons is None else list(self.close_reasons),
            },
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(project_id={self.project_id!r}, close_reasons={self.close_reasons!r})"

    @property
    def cursor_key(self) -> str:
        """The key of this project's cursor in the asset state store.

        :return: ``airflow_toloka.closed_pools.<project id>``.
        """
        return f"airflow_toloka.closed_pools.{self.project_id}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll for ever; yield one event per new close, the cursor saved before the event leaves."""
        store = _CursorStore(self)
        cursor = await store.load()
        while True:
            pools = await self._poll()
            if pools is not None and cursor is None:
                cursor = CloseCursor.baseline(pools)
                await store.save(cursor)
                self.log.info("Watching Toloka project %s for pools that close", self.project_id)
            elif pools is not None and cursor is not None:
                for pool in closes_after(pools, cursor, self.close_reasons):
                    cursor = cursor.past(pool)
                    await store.save(cursor)
                    self.log.info(
                        "Toloka pool %s of project %s closed (%s)",
                        pool.id,
                        self.project_id,
                        pool.last_close_reason,
                    )
                    yield TriggerEvent(closed_pool_event(pool))
            await asyncio.sleep(self.poll_interval)

    async def _poll(self) -> list[Pool] | None:
        """The project's CLOSED pools, or ``None`` when the poll failed (logged; the next poll tries again)."""
        try:
            hook_class: type[TolokaHook] = await import_off_loop("airflow_toloka.hooks.toloka", "TolokaHook")
            async with hook_class(self.toloka_conn_id, retry_budget=_POLL_RETRY_BUDGET) as hook:
                return [p async for p in hook.aget_pools(project_id=self.project_id, status="CLOSED")]
        except Exception as exc:  # CancelledError is not an Exception: a cancelled trigger still stops here
            self.log.warning(
                "Listing the closed pools of Toloka project %s failed (%s: %s); polling again in %g s",
                self.project_id,
                type(exc).__name__,
                exc,
                self.poll_interval,
            )
            return None


class _CursorStore:
    """Where the cursor lives: the watched asset's state store (Airflow 3.3), else the trigger's memory.

    A store that cannot be used (a trigger shared by watchers of several assets, a failing write) is warned about
    and the cursor goes on in memory: closes are still reported once while this trigger runs.
    """

    def __init__(self, trigger: TolokaPoolClosedTrigger) -> None:
        self.trigger = trigger
        self.store = asset_state_store(trigger)

    async def load(self) -> CloseCursor | None:
        """The saved cursor, or ``None`` when there is none (the first poll is then the baseline)."""
        if self.store is None:
            return None
        try:
            return CloseCursor.from_json(await self.store.aget(self.trigger.cursor_key))
        except Exception as exc:
            self._give_up(exc)
            return None

    async def save(self, cursor: CloseCursor) -> None:
        """Save the cursor where it is kept."""
        if self.store is None:
            return
        try:
            await self.store.aset(self.trigger.cursor_key, cursor.to_json())
        except Exception as exc:
            self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        self.trigger.log.warning(
            "Cannot keep the closed-pools cursor of Toloka project %s in the asset state store (%s: %s); "
            "keeping it in memory: a restarted triggerer starts afresh",
            self.trigger.project_id,
            type(exc).__name__,
            exc,
        )
        self.store = None
