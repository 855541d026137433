"""Who the simulated Tolokers are: ids, speeds, accuracies and spammers, all drawn from the seed.

Worker ``i`` gets its ``user_id`` and base speed (uniform 0.6..1.4, a factor of the time a suite takes) from one
stream of the seed, in joining order, so a seed names the same people however the crowd was resized. Its accuracy
and whether it is a spammer come from streams of the seed and ``i`` alone, so a runtime change of the mean, the
spread or the spammer fraction redraws them without moving anyone else's ids, speeds or answers' random source.

- accuracy: a Beta distribution with mean ``crowd_accuracy`` and standard deviation ``crowd_accuracy_spread``.
  Beta stays inside [0, 1] without piling workers up at a clipped edge, and a mean of exactly 0 or 1 (or a spread
  of 0) gives every worker exactly the mean, so "always right" and "always wrong" crowds stay exact. A spread at
  or above ``sqrt(mean * (1 - mean))``, the most any distribution on [0, 1] with that mean has, gives nearly
  all-or-nothing workers.
- spammers: ``crowd_spammers * working workers`` of them, rounded half up; the working workers are ranked by a
  key drawn per worker from the seed and the first ones are spammers, so a larger fraction keeps the spammers it
  had (a resized crowd chooses again among those working). A spammer answers uniformly at random
  (:func:`answers.random_answer`) and takes a third of the time its base speed says.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["SPAMMER_TIME", "ProfileSettings", "Worker", "draw_accuracy", "new_worker", "profile"]

SPAMMER_TIME = 1.0 / 3.0  # a spammer clicks through a suite about three times faster than it reads one

_SMALLEST_CONCENTRATION = 1e-3  # Beta's alpha + beta: a spread past the maximum still gives a valid draw


class ProfileSettings(Protocol):
    """The live config the workers' profiles follow."""

    crowd_accuracy: float
    crowd_accuracy_spread: float
    crowd_spammers: float


@dataclass(eq=False)
class Worker:
    """One simulated Toloker: who it is, how it answers, and whether it is working on a suite now."""

    index: int
    user_id: str
    base_speed: float  # the factor of a suite's time before a spammer's shortcut
    spam_key: float  # rank among the workers when spammers are chosen
    speed: float = 1.0  # the factor of a suite's time: 2 s + 3..9 s per task, times this
    accuracy: float = 1.0
    spammer: bool = False
    busy: bool = False
    retired: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The profile ``/_emulator/stats`` shows.

        :return: ``user_id``, ``accuracy``, ``spammer`` and ``time_factor`` (``speed``: higher is slower).
        """
        return {
            "user_id": self.user_id,
            "accuracy": self.accuracy,
            "spammer": self.spammer,
            "time_factor": self.speed,
        }


def new_worker(index: int, people: random.Random, profile_seed: str) -> Worker:
    """The next worker to join.

    :param index: its place in joining order.
    :param people: the stream of ids and speeds (drawn in the order the crowd had before profiles existed, so
        a seed keeps its people).
    :param profile_seed: the seed of the per-worker streams.
    :return: the worker, not yet profiled (see :func:`profile`).
    """
    speed = people.uniform(0.6, 1.4)
    user_id = f"{people.getrandbits(128):032x}"
    spam_key = random.Random(f"{profile_seed}:spam:{index}").random()
    return Worker(index, user_id, speed, spam_key, speed)


def draw_accuracy(mean: float, spread: float, rng: random.Random) -> float:
    """One worker's accuracy: Beta with this mean and standard deviation (see the module docstring).

    :param mean: the crowd's mean accuracy, 0..1.
    :param spread: the standard deviation, >= 0.
    :param rng: the worker's accuracy stream.
    :return: the accuracy, 0..1; exactly ``mean`` when the spread is 0 or the mean is 0 or 1.
    """
    if spread <= 0 or mean <= 0 or mean >= 1:
        return mean
    concentration = max(mean * (1 - mean) / (spread * spread) - 1, _SMALLEST_CONCENTRATION)
    return min(1.0, max(0.0, rng.betavariate(mean * concentration, (1 - mean) * concentration)))


def profile(workers: list[Worker], settings: ProfileSettings, profile_seed: str) -> None:
    """Give every worker its accuracy, spammer flag and speed under the live config.

    :param workers: the crowd in joining order, retired ones included (they keep a profile, never chosen as
        spammers).
    :param settings: the live config.
    :param profile_seed: the seed of the per-worker streams.
    """
    working = [w for w in workers if not w.retired]
    count = int(settings.crowd_spammers * len(working) + 0.5)
    spammers = {w.index for w in sorted(working, key=lambda w: (w.spam_key, w.index))[:count]}
    mean, spread = settings.crowd_accuracy, settings.crowd_accuracy_spread
    for worker in workers:
        worker.spammer = worker.index in spammers
        worker.speed = worker.base_speed * (SPAMMER_TIME if worker.spammer else 1.0)
        worker.accuracy = draw_accuracy(
            mean, spread, random.Random(f"{profile_seed}:accuracy:{worker.index}")
        )
