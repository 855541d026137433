"""A pool's ``quality_control.configs``: checked on create, and its rules applied as the crowd works (docs/toloka-api.md M6).

Each config is a collector and its rules; a rule's conditions must all hold, and then its action runs. This module
holds what needs no state of the account: the table of collectors (their condition keys and allowed actions), the
check of a pool's configs, and the statistics each modelled collector keeps per Toloker. :mod:`quality_rules`
applies them.

Modelled collectors (statistics per collector ``uuid`` and Toloker; ``history_size`` is a window over the last
events, absent = every event in the pool):

- ``GOLDEN_SET``: one event per control task answered in a submitted suite, right when the answer equals one of its
  ``known_solutions``; ``total_answers_count`` / ``golden_set_answers_count``, ``correct_answers_rate`` /
  ``golden_set_correct_answers_rate`` and the incorrect rates (percent, 0..100; no training tasks in pools here, so
  both families agree).
- ``MAJORITY_VOTE``: when a general task has all its answers (submitted answers = overlap), every answer given by
  at least ``answer_threshold`` Tolokers is right; one event per Toloker who answered it.
- ``ASSIGNMENT_SUBMIT_TIME``: one event per submitted suite, fast when ``submitted - created`` is below
  ``fast_submit_threshold_seconds``: ``total_submitted_count``, ``fast_submitted_count``.
- ``SKIPPED_IN_ROW_ASSIGNMENTS``: ``skipped_in_row_count``, set back to 0 by a submit.
- ``ANSWER_COUNT``: ``assignments_accepted_count``, the suites the Toloker submitted in the pool.
- ``ASSIGNMENTS_ASSESSMENT``: per task suite, on each review: ``pending_assignments_count``,
  ``accepted_assignments_count``, ``rejected_assignments_count`` and ``assessment_event`` (``ACCEPT``,
  ``ACCEPT_AFTER_REJECT``, ``REJECT``).

Accepted and stored, never fired: ``INCOME``, ``ACCEPTANCE_RATE``, ``USERS_ASSESSMENT``, ``CAPTCHA``, ``TRAINING``,
and a project's own ``quality_control``.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COLLECTORS", "MODELLED", "UserStats", "check_configs", "holds"]

_R = ("RESTRICTION", "RESTRICTION_V2")
_COMMON = (*_R, "APPROVE_ALL_ASSIGNMENTS", "REJECT_ALL_ASSIGNMENTS", "SET_SKILL")
_RATES = ("total_answers_count", "correct_answers_rate", "incorrect_answers_rate")
# collector -> (its condition keys, the actions it allows)
COLLECTORS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "GOLDEN_SET": (
        frozenset(
            (
                *_RATES,
                "golden_set_answers_count",
                "golden_set_correct_answers_rate",
                "golden_set_incorrect_answers_rate",
            )
        ),
        frozenset((*_COMMON, "SET_SKILL_FROM_OUTPUT_FIELD")),
    ),
    "MAJORITY_VOTE": (frozenset(_RATES), frozenset((*_COMMON, "SET_SKILL_FROM_OUTPUT_FIELD"))),
    "ASSIGNMENT_SUBMIT_TIME": (
        frozenset(("total_submitted_count", "fast_submitted_count")),
        frozenset(_COMMON),
    ),
    "SKIPPED_IN_ROW_ASSIGNMENTS": (frozenset(("skipped_in_row_count",)), frozenset(_COMMON)),
    "ANSWER_COUNT": (frozenset(("assignments_accepted_count",)), frozenset(_COMMON)),
    "INCOME": (frozenset(("income_sum_for_last_24_hours",)), frozenset(_COMMON)),
    "ACCEPTANCE_RATE": (
        frozenset(("total_assignments_count", "accepted_assignments_rate", "rejected_assignments_rate")),
        frozenset((*_COMMON, "SET_SKILL_FROM_OUTPUT_FIELD")),
    ),
    "ASSIGNMENTS_ASSESSMENT": (
        frozenset(
            (
                "pending_assignments_count",
                "accepted_assignments_count",
                "rejected_assignments_count",
                "assessment_event",
            )
        ),
        frozenset(("CHANGE_OVERLAP",)),
    ),
    "USERS_ASSESSMENT": (
        frozenset(("pool_access_revoked_reason", "skill_id")),
        frozenset(("CHANGE_OVERLAP",)),
    ),
    "CAPTCHA": (
        frozenset(("stored_results_count", "success_rate", "fail_rate")),
        frozenset((*_COMMON, "SET_SKILL_FROM_OUTPUT_FIELD")),
    ),
    "TRAINING": (
        frozenset(("submitted_assignments_count", *_RATES, "next_assignment_available")),
        frozenset((*_COMMON, "SET_SKILL_FROM_OUTPUT_FIELD")),
    ),
}
MODELLED = frozenset(
    (
        "GOLDEN_SET",
        "MAJORITY_VOTE",
        "ASSIGNMENT_SUBMIT_TIME",
        "SKIPPED_IN_ROW_ASSIGNMENTS",
        "ANSWER_COUNT",
        "ASSIGNMENTS_ASSESSMENT",
    )
)
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "NE": lambda a, b: a != b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}
_UNSET = object()


def _number(value: Any) -> Any:
    """A condition value as compared: numeric strings become numbers (one of Toloka's examples sends ``"1"``)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def check_configs(configs: Any, error: Callable[[str, str, str], None]) -> None:
    """Check ``quality_control.configs`` and give each collector a ``uuid`` it lacks (toloka-kit sends none).

    :param configs: the list as sent.
    :param error: (path, code, message) -> records a field error of the request.
    """
    if configs is None:
        return
    if not isinstance(configs, list):
        error("quality_control.configs", "ARRAY_EXPECTED", "configs must be a list")
        return
    for i, config in enumerate(configs):
        path = f"quality_control.configs[{i}]"
        collector = config.get("collector_config") if isinstance(config, dict) else None
        kind = collector.get("type") if isinstance(collector, dict) else None
        if kind not in COLLECTORS:
            error(f"{path}.collector_config.type", "VALUE_NOT_ALLOWED", f"Unknown collector type {kind!r}")
            continue
        assert isinstance(collector, dict) and isinstance(config, dict)
        collector.setdefault("uuid", str(uuid.uuid4()))
        keys, actions = COLLECTORS[kind]
        for j, rule in enumerate(config.get("rules") or []):
            _check_rule(rule, f"{path}.rules[{j}]", kind, keys, actions, error)


def _check_rule(
    rule: Any,
    path: str,
    kind: str,
    keys: frozenset[str],
    actions: frozenset[str],
    error: Callable[[str, str, str], None],
) -> None:
    if not isinstance(rule, dict):
        error(path, "OBJECT_EXPECTED", "a rule is an object of conditions and an action")
        return
    for k, condition in enumerate(rule.get("conditions") or []):
        key = condition.get("key") if isinstance(condition, dict) else None
        where = f"{path}.conditions[{k}]"
        if key not in keys:
            error(f"{where}.key", "VALUE_NOT_ALLOWED", f"{kind} has no condition key {key!r}")
        elif condition.get("operator") not in _OPERATORS:
            error(f"{where}.operator", "VALUE_NOT_ALLOWED", "operator must be one of EQ NE GT GTE LT LTE")
    action = rule.get("action")
    action_type = action.get("type") if isinstance(action, dict) else None
    if action_type not in actions:
        error(f"{path}.action.type", "VALUE_NOT_ALLOWED", f"{kind} does not allow action {action_type!r}")


def holds(conditions: list[dict[str, Any]], values: Mapping[str, Any]) -> bool:
    """Whether every condition of a rule holds for a collector's values (a key it has no value for never holds).

    :param conditions: ``[{"key", "operator", "value"}]``.
    :param values: the collector's output for one Toloker (or suite).
    :return: True when all hold.
    """
    for condition in conditions:
        have = values.get(condition["key"], _UNSET)
        if have is _UNSET or have is None:
            return False
        want, compare = _number(condition.get("value")), _OPERATORS[condition["operator"]]
        try:
            if not compare(have, want):
                return False
        except TypeError:
            return False
    return True


@dataclass
class UserStats:
    """What one collector knows of one Toloker.

    :param history_size: the window over events; ``None`` for every event.
    """

    history_size: int | None = None
    answers: deque[float] = field(default_factory=deque)  # GOLDEN_SET / MAJORITY_VOTE: 1.0 right, 0.0 wrong
    fast: deque[bool] = field(default_factory=deque)  # ASSIGNMENT_SUBMIT_TIME: one per submitted suite
    skipped_in_row: int = 0
    submitted: int = 0

    def push(self, window: deque[Any], value: Any) -> None:
        """Add an event to a window, dropping the oldest past ``history_size``.

        :param window: one of the event windows.
        :param value: the event.
        """
        window.append(value)
        if self.history_size is not None:
            while len(window) > self.history_size:
                window.popleft()

    def values(self, kind: str) -> dict[str, Any]:
        """The collector's output fields, the keys its conditions and ``from_field`` read.

        :param kind: the collector type.
        :return: key -> value; a rate is absent while there is no event.
        """
        if kind in ("GOLDEN_SET", "MAJORITY_VOTE"):
            total = len(self.answers)
            out: dict[str, Any] = {"total_answers_count": total}
            if kind == "GOLDEN_SET":
                out["golden_set_answers_count"] = total
            if total:
                right = 100.0 * sum(self.answers) / total
                out.update(correct_answers_rate=right, incorrect_answers_rate=100.0 - right)
                out["wrong_answers_rate"] = 100.0 - right  # how Toloka's docs spell it in from_field
                if kind == "GOLDEN_SET":
                    out.update(
                        golden_set_correct_answers_rate=right, golden_set_incorrect_answers_rate=100.0 - right
                    )
            return out
        if kind == "ASSIGNMENT_SUBMIT_TIME":
            return {"total_submitted_count": len(self.fast), "fast_submitted_count": sum(self.fast)}
        if kind == "SKIPPED_IN_ROW_ASSIGNMENTS":
            return {"skipped_in_row_count": self.skipped_in_row}
        if kind == "ANSWER_COUNT":
            return {"assignments_accepted_count": self.submitted}
        return {}
