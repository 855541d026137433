"""``quality_control.training_requirement``: a pool admits only the Tolokers who passed its training.

Toloka gives a Toloker a training score (the share of training tasks they answered right, first answers only) and
admits them to the pool when the score is at least ``training_passing_skill_value``. The emulator does not run
training pools through the crowd; it models the outcome instead, deterministically:

- a Toloker's score is ``100 * accuracy`` (their profile's accuracy, :mod:`profiles`); a spammer's is
  ``100 / k``, the expected score of a random answer over the ``k`` allowed values of the training project's first
  output field that lists them (``k = 2`` when none does);
- a Toloker can pass only while the training is OPEN (they take it then); once passed, the pass is kept even when
  the training closes; a Toloker who failed is asked again later (a reprofiled crowd may pass);
- a ``training_pool_id`` that names no training admits nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from toloka_emulator.pools import Pool

if TYPE_CHECKING:
    from toloka_emulator.crowd import Crowd
    from toloka_emulator.projects import Projects

__all__ = ["TrainingGate", "allowed_values_count", "gate_training"]


class TrainingGate:
    """Answers "has this Toloker passed the training this pool requires".

    :param pools: the account's pools and trainings by id.
    :param profiles: the crowd's worker profiles (``user_id``, ``accuracy``, ``spammer``).
    :param allowed_count: a project id -> the number of allowed values of its first enumerated output field.
    """

    def __init__(
        self,
        pools: Mapping[str, Pool],
        profiles: Callable[[], list[dict[str, Any]]],
        allowed_count: Callable[[str], int],
    ) -> None:
        self._pools = pools
        self._profiles = profiles
        self._allowed_count = allowed_count
        self.passed: set[tuple[str, str]] = set()  # (training id, user id)

    def admits(self, user_id: str, pool: Pool) -> bool:
        """Whether the pool has no training requirement or the Toloker passed it.

        :param user_id: the Toloker.
        :param pool: the pool.
        :return: True when they may take its suites as far as training goes.
        """
        qc = pool.setting("quality_control", None)
        requirement = qc.get("training_requirement") if isinstance(qc, dict) else None
        if not isinstance(requirement, dict):
            return True
        training_id = str(requirement.get("training_pool_id"))
        if (training_id, user_id) in self.passed:
            return True
        training = self._pools.get(training_id)
        if training is None or training.kind != "TRAINING" or training.status != "OPEN":
            return False
        if self.score(user_id, training) >= float(requirement.get("training_passing_skill_value", 0)):
            self.passed.add((training_id, user_id))
            return True
        return False

    def score(self, user_id: str, training: Pool) -> float:
        """A Toloker's simulated training score.

        :param user_id: the Toloker.
        :param training: the training pool.
        :return: 0..100; 0 for a user the crowd does not know.
        """
        for worker in self._profiles():
            if worker["user_id"] == user_id:
                if worker["spammer"]:
                    return 100.0 / max(1, self._allowed_count(training.project_id))
                return 100.0 * float(worker["accuracy"])
        return 0.0


def allowed_values_count(output_spec: Mapping[str, Any]) -> int:
    """The number of allowed values of the first output field that lists them.

    :param output_spec: a project's output spec.
    :return: that number, or 2 when no field lists any.
    """
    for field in output_spec.values():
        allowed = field.get("allowed_values") if isinstance(field, dict) else None
        if allowed:
            return len(allowed)
    return 2


def gate_training(crowd: Crowd, pools: Mapping[str, Pool], projects: Projects) -> TrainingGate:
    """Put the training gate after the crowd's other checks (bans, skill filters).

    :param crowd: the simulated crowd, whose ``admits`` is wrapped.
    :param pools: the account's pools and trainings.
    :param projects: the account's projects (a spammer's score needs the training's output spec).
    :return: the gate.
    """

    def allowed(project_id: str) -> int:
        project = projects.by_id.get(project_id)
        return allowed_values_count(project.output_spec) if project is not None else 2

    gate = TrainingGate(pools, crowd.profiles, allowed)
    others = crowd.admits
    crowd.admits = lambda user_id, pool: others(user_id, pool) and gate.admits(user_id, pool)
    return gate
