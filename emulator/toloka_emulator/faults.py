"""Which injected faults may happen to a request: their probabilities, the routes they hit and how many in all.

The ``/api`` gate (``app._ApiGate``) asks :meth:`Faults.roll` once per fault kind and request, in the gate's
order (429 and 503 before the handler, 500 and the dropped answer after it). Two runtime fields narrow the
probabilities of ``fault_429``/``fault_500``/``fault_503``/``fault_drop``:

- ``fault_routes``: route templates as the gate counts them in ``stats["requests"]`` (``"POST
  /api/v1/user-bonuses"``, ``"GET /api/v1/operations/{id}"``); faults hit only these. Empty or ``None``: every
  route.
- ``fault_limit``: at most this many faults in all, counted from when the field was last set (or the state last
  reset); then none until it is set again. With ``fault_drop=1`` and ``fault_limit=1`` a test loses exactly one
  answer and every retry goes through.

A request outside the scope, or past the limit, draws nothing from the random source, so a seeded run's faults on
the routes in scope do not depend on how many other requests came in between.
"""

from __future__ import annotations

import random
from typing import Protocol

__all__ = ["FAULT_KINDS", "FaultSettings", "Faults"]

FAULT_KINDS = ("429", "500", "503", "drop")


class FaultSettings(Protocol):
    """The live config the faults read on every request."""

    fault_429: float
    fault_500: float
    fault_503: float
    fault_drop: float
    fault_routes: list[str] | None
    fault_limit: int | None


class Faults:
    """The injected-fault counters, and the decision whether a request gets a fault.

    :param settings: the live config.
    """

    def __init__(self, settings: FaultSettings) -> None:
        self._settings = settings
        self.counts: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        self._since_limit = 0  # faults injected since fault_limit was last set

    def rearm(self) -> None:
        """Start counting towards ``fault_limit`` from zero again (it was just set)."""
        self._since_limit = 0

    def roll(self, kind: str, route: str, rng: random.Random) -> bool:
        """Whether this request gets the fault ``kind``; a fault that happens is counted.

        :param kind: ``"429"``, ``"500"``, ``"503"`` or ``"drop"``.
        :param route: the request's route template, e.g. ``"POST /api/v1/user-bonuses"``.
        :param rng: the emulator's random source (seeded by ``seed``).
        :return: True when the fault is to be injected.
        """
        settings = self._settings
        probability: float = getattr(settings, f"fault_{kind}")
        if probability <= 0:
            return False
        if settings.fault_routes and route not in settings.fault_routes:
            return False
        if settings.fault_limit is not None and self._since_limit >= settings.fault_limit:
            return False
        if rng.random() >= probability:
            return False
        self.counts[kind] += 1
        self._since_limit += 1
        return True
