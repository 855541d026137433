"""Two coupled time axes and the events due on them: the clock clients see, and the simulated world's time.

- **clock** (:class:`~toloka_emulator.clock.Clock`): real time plus what ``/_emulator/advance`` added.
  Operations, ``will_expire`` and every timestamp shown to clients live here.
- **sim**: the simulated world's seconds, which run ``time_scale`` times faster than real time (default 60: a
  Toloker who needs 30 simulated seconds for a suite takes half a real second) and also grow by what
  ``/_emulator/advance`` adds. The crowd's work, ``assignment_max_duration_seconds``,
  ``auto_close_after_complete_delay_seconds``, ``auto_accept_period_day`` and the FOR_UPDATE reopen delay are
  counted here. ``time_scale = 0`` freezes the crowd between advances, which makes a seeded run reproducible.

Nothing runs in the background. Every request first calls :meth:`Timeline.sync`, which walks from where the
last one stopped to now as one straight segment on both axes, handling the due events in order; an event at
simulated instant ``s`` is stamped with the clock instant the segment maps it to, so timestamps stay monotonic.
The cost is the number of events due, never the number of stored objects.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from toloka_emulator.clock import Clock

__all__ = ["Event", "Timeline"]

_INF = float("inf")


class _Due(Protocol):
    """What the timeline needs from the operations: when the next is due, and completing those due."""

    @property
    def next_finish(self) -> float: ...

    def advance(self, until: float | None = None) -> None: ...


@dataclass(eq=False)
class Event:
    """A scheduled call; ``cancel()`` makes it a no-op (it stays in the heap until its time, which is cheap)."""

    action: Callable[[], None]
    cancelled: bool = field(default=False)

    def cancel(self) -> None:
        """Do not run the action when the event's time comes."""
        self.cancelled = True


class Timeline:
    """The clock and the simulated time, and the events scheduled on each.

    During :meth:`sync`, :attr:`c` and :attr:`s` are the instant of the event being handled; between requests
    they are where the last sync stopped.

    :param clock: the emulator's clock.
    :param time_scale: simulated seconds per real second.
    """

    def __init__(self, clock: Clock, time_scale: float) -> None:
        self.clock = clock
        self.operations: _Due | None = None
        self._scale = time_scale
        self._real = time.monotonic()
        self._extra_sim = 0.0
        self.c = clock.now()
        self.s = 0.0
        self._seq = itertools.count()
        self._on_clock: list[tuple[float, int, Event]] = []
        self._on_sim: list[tuple[float, int, Event]] = []

    @property
    def time_scale(self) -> float:
        """Simulated seconds per real second.

        :return: the current scale.
        """
        return self._scale

    def set_time_scale(self, scale: float) -> None:
        """Change the scale from now on; the time already elapsed counts at the old one.

        :param scale: simulated seconds per real second, >= 0.
        """
        self.sync()
        self._scale = scale

    def at_clock(self, when: float, action: Callable[[], None]) -> Event:
        """Run ``action`` when the clock reaches ``when`` (at once, on the next sync, if that is past).

        :param when: an instant of the clock.
        :param action: what to run.
        :return: the event, for cancelling.
        """
        event = Event(action)
        heapq.heappush(self._on_clock, (when, next(self._seq), event))
        return event

    def after_sim(self, seconds: float, action: Callable[[], None]) -> Event:
        """Run ``action`` when ``seconds`` of simulated time have passed from the current instant.

        :param seconds: simulated seconds from :attr:`s`.
        :param action: what to run.
        :return: the event, for cancelling.
        """
        event = Event(action)
        heapq.heappush(self._on_sim, (self.s + max(0.0, seconds), next(self._seq), event))
        return event

    def advance(self, seconds: float) -> None:
        """Move both axes forward by ``seconds`` now, handling everything due on the way.

        :param seconds: seconds to add to the clock and to the simulated time.
        """
        self.clock.offset += seconds
        self._extra_sim += seconds
        self.sync()

    def sync(self) -> None:
        """Handle, in time order, every event due between the last sync and now."""
        real = time.monotonic()
        c1 = self.clock.now()
        s1 = self.s + self._scale * (real - self._real) + self._extra_sim
        self._real, self._extra_sim = real, 0.0
        self._run(c1, s1)

    def _run(self, c1: float, s1: float) -> None:
        c0, s0 = self.c, self.s
        dc, ds = c1 - c0, s1 - s0
        done = 0.0
        while True:
            clock_at = self._top(self._on_clock)
            op_at = self.operations.next_finish if self.operations is not None else _INF
            sim_at = self._top(self._on_sim)
            fc = _fraction(min(clock_at, op_at), c0, dc)
            fs = _fraction(sim_at, s0, ds)
            frac = min(fc, fs)
            if frac > 1.0:
                break
            done = max(done, frac)
            self.c, self.s = max(self.c, c0 + done * dc), max(self.s, s0 + done * ds)
            if fc <= fs:
                if op_at <= clock_at and self.operations is not None:
                    self.operations.advance(until=max(op_at, self.c))
                    continue
                _, _, event = heapq.heappop(self._on_clock)
            else:
                _, _, event = heapq.heappop(self._on_sim)
            event.action()
        self.c, self.s = max(self.c, c1), max(self.s, s1)

    @staticmethod
    def _top(heap: list[tuple[float, int, Event]]) -> float:
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else _INF


def _fraction(when: float, start: float, span: float) -> float:
    """Where ``when`` falls on a segment from ``start`` of length ``span``: 0..1 inside, > 1 beyond it."""
    if when == _INF:
        return _INF
    if when <= start:
        return 0.0
    if span <= 0:
        return _INF
    return (when - start) / span
