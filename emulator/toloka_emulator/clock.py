"""The emulator's single notion of time: monotonic seconds for scheduling, wall-clock stamps for clients.

The clock clients see is the real wall clock plus an offset that only ``POST /_emulator/advance`` grows, so
every timestamp shown is monotonic, and a client that computes ``will_expire`` or ``submitted_gte`` from its own
wall clock agrees with the emulator unless a test has advanced it on purpose. The simulated world (the crowd and
the durations Toloka counts for it) runs on a second, accelerated axis kept by :mod:`timeline`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "format_datetime"]


def format_datetime(value: datetime) -> str:
    """Render a datetime as Toloka's wire format does: naive UTC with milliseconds.

    Toloka's Java SDK refuses other shapes (an offset, microseconds), so every stamp the emulator shows goes
    through here.

    :param value: naive (taken as UTC) or aware.
    :return: e.g. ``2024-01-02T03:04:05.678``.
    """
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


class Clock:
    """Monotonic time plus the advanced offset, shown to clients as UTC wall-clock time anchored once at start-up.

    Anchoring once keeps stamps consistent with the schedule: a wall-clock jump (NTP, a suspended laptop) can
    neither reorder ``created`` values nor make an operation finish before it started.
    """

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(timezone.utc).replace(tzinfo=None)
        self.offset = 0.0

    def now(self) -> float:
        """The current time on the emulator's clock.

        :return: monotonic seconds plus the advanced offset, comparable only with other values of this clock.
        """
        return time.monotonic() + self.offset

    def wall(self, mono: float) -> datetime:
        """The naive UTC wall-clock time of an instant of this clock.

        :param mono: a value of :meth:`now`, past or future.
        :return: the corresponding naive UTC datetime.
        """
        return self._wall0 + timedelta(seconds=mono - self._mono0)

    def at(self, when: datetime) -> float:
        """The instant of this clock a naive UTC datetime corresponds to (the inverse of :meth:`wall`).

        :param when: a naive UTC datetime, e.g. a pool's ``will_expire``.
        :return: a value comparable with :meth:`now`.
        """
        return self._mono0 + (when - self._wall0).total_seconds()

    def stamp(self, mono: float) -> str:
        """An instant as Toloka formats timestamps.

        :param mono: a value of :meth:`now`, past or future.
        :return: ``YYYY-MM-DDTHH:MM:SS.mmm``.
        """
        return format_datetime(self.wall(mono))

    def now_stamp(self) -> str:
        """The current time as Toloka formats timestamps.

        :return: ``YYYY-MM-DDTHH:MM:SS.mmm``.
        """
        return self.stamp(self.now())
