"""The emulator's single notion of time: monotonic seconds for scheduling, wall-clock stamps for clients."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from airflow_toloka.models import format_datetime

__all__ = ["Clock"]


class Clock:
    """Monotonic time, shown to clients as UTC wall-clock time anchored once at start-up.

    Anchoring once keeps stamps consistent with the schedule: a wall-clock jump (NTP, a suspended laptop) can
    neither reorder ``created`` values nor make an operation finish before it started.
    """

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(timezone.utc).replace(tzinfo=None)

    @staticmethod
    def now() -> float:
        """The current monotonic time.

        :return: seconds, comparable only with other values of this clock.
        """
        return time.monotonic()

    def wall(self, mono: float) -> datetime:
        """The naive UTC wall-clock time of a monotonic instant.

        :param mono: a value of :meth:`now`, past or future.
        :return: the corresponding naive UTC datetime.
        """
        return self._wall0 + timedelta(seconds=mono - self._mono0)

    def stamp(self, mono: float) -> str:
        """A monotonic instant as Toloka formats timestamps.

        :param mono: a value of :meth:`now`, past or future.
        :return: ``YYYY-MM-DDTHH:MM:SS.mmm``.
        """
        return format_datetime(self.wall(mono))

    def now_stamp(self) -> str:
        """The current time as Toloka formats timestamps.

        :return: ``YYYY-MM-DDTHH:MM:SS.mmm``.
        """
        return self.stamp(time.monotonic())
