"""A pool's ``quality_control.configs`` (docs/toloka-api.md M6): checked on create and update, then run on the crowd.

Checked: every collector ``type``, its condition keys and operators, and the actions allowed with it (a wrong pair
is 400 ``VALIDATION_ERROR`` naming the path, e.g. ``quality_control.configs[0].rules[1].action.type``). A
``collector_config.uuid`` is assigned when missing and kept when given. Numeric strings in condition values are
coerced; rate keys take 0..100.

Modelled, after each suite a Toloker submits: ``GOLDEN_SET`` (control tasks = tasks with ``known_solutions``),
``ASSIGNMENT_SUBMIT_TIME`` (``submitted - created`` on the emulator's clock), ``ANSWER_COUNT`` (suites submitted
in the pool) and ``MAJORITY_VOTE`` (a general task is scored once its overlap is complete, for every Toloker on
it), each over the optional ``history_size`` window kept per (collector ``uuid``, Toloker); after each skip:
``SKIPPED_IN_ROW_ASSIGNMENTS`` (a submit ends the row). Actions modelled: ``RESTRICTION_V2``, ``RESTRICTION``
(``duration_days``), ``SET_SKILL``, ``SET_SKILL_FROM_OUTPUT_FIELD``, ``REJECT_ALL_ASSIGNMENTS`` and
``APPROVE_ALL_ASSIGNMENTS`` (through the normal review, so money moves as on a manual review).

After each review (``PATCH /assignments/{id}``, also by the two actions above): ``ASSIGNMENTS_ASSESSMENT``, per
task suite: ``assessment_event`` (``ACCEPT``, ``REJECT``, ``ACCEPT_AFTER_REJECT``) and the suite's
``pending_assignments_count`` / ``accepted_assignments_count`` / ``rejected_assignments_count``, with its only
action ``CHANGE_OVERLAP`` (``delta``, ``open_pool``): a stored suite (a suites pool) gets ``delta`` more overlap,
else each general task of the assignment does (control tasks and infinite overlap are left alone), through
``set-overlap-or-min``, so the crowd redoes them. Auto-accepted work is not a review and fires nothing (assumed).

Every other collector (``USERS_ASSESSMENT``, ``INCOME``, ``ACCEPTANCE_RATE``, ``CAPTCHA``, ``TRAINING``) is
accepted, stored and echoed, but never fires.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from toloka_emulator.clock import Clock, format_datetime
from toloka_emulator.pools import Pool
from toloka_emulator.training_gate import gate_training
from toloka_emulator.wire import TASK_SUITES, TASKS, ApiError, field_error

if TYPE_CHECKING:
    from toloka_emulator.crowd import Crowd
    from toloka_emulator.state import EmulatorState

__all__ = [
    "QualityControl",
    "check_configs",
    "golden_stats",
    "holds",
    "quality_control",
    "submit_time_stats",
]

_R = ("RESTRICTION", "RESTRICTION_V2")
_BASIC = (*_R, "APPROVE_ALL_ASSIGNMENTS", "REJECT_ALL_ASSIGNMENTS", "SET_SKILL")
_RATES = ("correct_answers_rate", "incorrect_answers_rate")
# collector type -> (condition keys, allowed actions)
COLLECTORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "GOLDEN_SET": (
        (
            "total_answers_count",
            *_RATES,
            "golden_set_answers_count",
            "golden_set_correct_answers_rate",
            "golden_set_incorrect_answers_rate",
        ),
        (*_BASIC, "SET_SKILL_FROM_OUTPUT_FIELD"),
    ),
    "MAJORITY_VOTE": (("total_answers_count", *_RATES), (*_BASIC, "SET_SKILL_FROM_OUTPUT_FIELD")),
    "ASSIGNMENT_SUBMIT_TIME": (("total_submitted_count", "fast_submitted_count"), _BASIC),
    "SKIPPED_IN_ROW_ASSIGNMENTS": (("skipped_in_row_count",), _BASIC),
    "ANSWER_COUNT": (("assignments_accepted_count",), _BASIC),
    "INCOME": (("income_sum_for_last_24_hours",), _BASIC),
    "ACCEPTANCE_RATE": (
        ("total_assignments_count", "accepted_assignments_rate", "rejected_assignments_rate"),
        (*_BASIC, "SET_SKILL_FROM_OUTPUT_FIELD"),
    ),
    "ASSIGNMENTS_ASSESSMENT": (
        (
            "pending_assignments_count",
            "accepted_assignments_count",
            "rejected_assignments_count",
            "assessment_event",
        ),
        ("CHANGE_OVERLAP",),
    ),
    "USERS_ASSESSMENT": (("pool_access_revoked_reason", "skill_id"), ("CHANGE_OVERLAP",)),
    "CAPTCHA": (
        ("stored_results_count", "success_rate", "fail_rate"),
        (*_BASIC, "SET_SKILL_FROM_OUTPUT_FIELD"),
    ),
    "TRAINING": (
        ("submitted_assignments_count", "total_answers_count", *_RATES, "next_assignment_available"),
        (*_BASIC, "SET_SKILL_FROM_OUTPUT_FIELD"),
    ),
}
MODELLED = (
    "GOLDEN_SET",
    "ASSIGNMENT_SUBMIT_TIME",
    "ANSWER_COUNT",
    "SKIPPED_IN_ROW_ASSIGNMENTS",
    "MAJORITY_VOTE",
    "ASSIGNMENTS_ASSESSMENT",
)
OPERATORS = ("EQ", "NE", "GT", "GTE", "LT", "LTE")
_TEXT_KEYS = ("assessment_event", "pool_access_revoked_reason", "skill_id", "next_assignment_available")
_UNITS = {"MINUTES": 60.0, "HOURS": 3600.0, "DAYS": 86_400.0}
_REVIEW = {"REJECT_ALL_ASSIGNMENTS": "REJECTED", "APPROVE_ALL_ASSIGNMENTS": "ACCEPTED"}
_ALIASES = {"wrong_answers_rate": "incorrect_answers_rate"}
_ASSESSMENT_EVENTS = ("ACCEPT", "REJECT", "ACCEPT_AFTER_REJECT")


def check_configs(configs: Any, errors: dict[str, Any], base: str = "quality_control.configs") -> None:
    """Check ``quality_control.configs`` in place: record field errors, assign missing collector uuids, coerce values.

    :param configs: the ``configs`` value of the body (changed in place).
    :param errors: field path -> Toloka field error; the first error of a path wins.
    :param base: the path of ``configs``.
    """
    if not isinstance(configs, list):
        errors.setdefault(base, field_error("ARRAY_EXPECTED", "Value must be an array"))
        return
    for i, config in enumerate(configs):
        path = f"{base}[{i}]"
        collector = config.get("collector_config") if isinstance(config, dict) else None
        if not isinstance(collector, dict):
            errors.setdefault(
                f"{path}.collector_config", field_error("OBJECT_EXPECTED", "Value must be an object")
            )
            continue
        kind = collector.get("type")
        if kind not in COLLECTORS:
            errors.setdefault(
                f"{path}.collector_config.type",
                field_error("UNKNOWN_ENUM_VALUE", "Unknown collector type", list(COLLECTORS)),
            )
            continue
        # Toloka assigns the uuid a new config lacks; a given one (a clone's) is kept, so both pools share it
        collector.setdefault("uuid", str(uuid.uuid4()))
        rules = config.get("rules", [])
        if not isinstance(rules, list):
            errors.setdefault(f"{path}.rules", field_error("ARRAY_EXPECTED", "Value must be an array"))
            continue
        for j, rule in enumerate(rules):
            _check_rule(rule, kind, f"{path}.rules[{j}]", errors)


def _check_rule(rule: Any, kind: str, path: str, errors: dict[str, Any]) -> None:
    keys, actions = COLLECTORS[kind]
    if not isinstance(rule, dict):
        errors.setdefault(path, field_error("OBJECT_EXPECTED", "Value must be an object"))
        return
    conditions = rule.get("conditions")
    if not isinstance(conditions, list):
        errors.setdefault(f"{path}.conditions", field_error("ARRAY_EXPECTED", "Value must be an array"))
        conditions = []
    for k, cond in enumerate(conditions):
        where = f"{path}.conditions[{k}]"
        if not isinstance(cond, dict):
            errors.setdefault(where, field_error("OBJECT_EXPECTED", "Value must be an object"))
            continue
        if cond.get("key") not in keys:
            errors.setdefault(
                f"{where}.key", field_error("UNKNOWN_ENUM_VALUE", f"Key not allowed for {kind}", list(keys))
            )
        if cond.get("operator") not in OPERATORS:
            errors.setdefault(
                f"{where}.operator", field_error("UNKNOWN_ENUM_VALUE", "Unknown operator", list(OPERATORS))
            )
        if cond.get("key") not in _TEXT_KEYS:
            _check_number(cond, str(cond.get("key")), f"{where}.value", errors)
    action = rule.get("action")
    if not isinstance(action, dict) or action.get("type") not in actions:
        errors.setdefault(
            f"{path}.action.type",
            field_error("UNKNOWN_ENUM_VALUE", f"Action not allowed for {kind}", list(actions)),
        )
    else:
        _check_action(action, f"{path}.action.parameters", errors)


# action type -> parameters it cannot run without (checked here so that a firing rule never fails mid-crowd)
_REQUIRED = {
    "RESTRICTION": ("scope",),
    "RESTRICTION_V2": ("scope", "duration_unit"),
    "SET_SKILL": ("skill_id", "skill_value"),
    "SET_SKILL_FROM_OUTPUT_FIELD": ("skill_id", "from_field"),
    "REJECT_ALL_ASSIGNMENTS": ("public_comment",),
    "CHANGE_OVERLAP": ("delta",),
}
_ENUMS = {"scope": ("POOL", "PROJECT", "ALL_PROJECTS"), "duration_unit": (*_UNITS, "PERMANENT")}


def _check_action(action: dict[str, Any], path: str, errors: dict[str, Any]) -> None:
    params = action.get("parameters") or {}
    if not isinstance(params, dict):
        errors.setdefault(path, field_error("OBJECT_EXPECTED", "Value must be an object"))
        return
    for name in _REQUIRED.get(str(action["type"]), ()):
        if params.get(name) is None:
            errors.setdefault(f"{path}.{name}", field_error("VALUE_REQUIRED", "Value must be present"))
    for name, allowed in _ENUMS.items():
        if name in params and params[name] not in allowed:
            errors.setdefault(
                f"{path}.{name}", field_error("UNKNOWN_ENUM_VALUE", f"Unknown {name}", list(allowed))
            )
    duration = params.get("duration")
    if (
        action["type"] == "RESTRICTION_V2"
        and params.get("duration_unit") in _UNITS
        and (isinstance(duration, bool) or not isinstance(duration, int))
    ):
        errors.setdefault(f"{path}.duration", field_error("INTEGER_EXPECTED", "Value must be an integer"))
    value = params.get("skill_value")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100
    ):
        errors.setdefault(
            f"{path}.skill_value", field_error("VALUE_OUT_OF_RANGE", "A skill is 0..100", [0, 100])
        )


def _check_number(cond: dict[str, Any], key: str, path: str, errors: dict[str, Any]) -> None:
    value = cond.get("value")
    if isinstance(value, str):
        try:
            value = float(value)  # one Toloka docs example sends a count as "1"
        except ValueError:
            errors.setdefault(path, field_error("FLOAT_EXPECTED", "Value must be a number"))
            return
        cond["value"] = int(value) if value.is_integer() else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.setdefault(path, field_error("FLOAT_EXPECTED", "Value must be a number"))
    elif key.endswith("_rate") and not 0 <= value <= 100:
        errors.setdefault(path, field_error("VALUE_OUT_OF_RANGE", "A rate is a percentage 0..100", [0, 100]))


def holds(conditions: list[dict[str, Any]], stats: dict[str, Any]) -> bool:
    """Whether every condition of a rule holds (they are ANDed).

    :param conditions: ``[{key, operator, value}]``.
    :param stats: the collector's current figures; a key it lacks (e.g. a rate with no answers) fails.
    :return: all hold.
    """
    for cond in conditions:
        have, want = stats.get(cond["key"]), cond["value"]
        if have is None:
            return False
        op = cond["operator"]
        ok = {
            "EQ": have == want,
            "NE": have != want,
            "GT": have > want,
            "GTE": have >= want,
            "LT": have < want,
            "LTE": have <= want,
        }[op]
        if not ok:
            return False
    return True


def _rates(prefix: str, correct: float, total: int) -> dict[str, float]:
    if not total:
        return {}
    rate = 100.0 * correct / total
    return {f"{prefix}correct_answers_rate": rate, f"{prefix}incorrect_answers_rate": 100.0 - rate}


def golden_stats(answers: list[bool]) -> dict[str, Any]:
    """GOLDEN_SET figures over the window of control answers.

    :param answers: per control answer, whether it matched a known solution (oldest first, already windowed).
    :return: counts and percentage rates; both rate families use control tasks (training tasks are not mixed in).
    """
    correct = sum(answers)
    stats: dict[str, Any] = {"total_answers_count": len(answers), "golden_set_answers_count": len(answers)}
    stats.update(_rates("", correct, len(answers)))
    stats.update(_rates("golden_set_", correct, len(answers)))
    return stats


def submit_time_stats(fast: list[bool]) -> dict[str, Any]:
    """ASSIGNMENT_SUBMIT_TIME figures.

    :param fast: per submitted suite in the window, whether it was faster than the threshold.
    :return: ``total_submitted_count`` and ``fast_submitted_count``.
    """
    return {"total_submitted_count": len(fast), "fast_submitted_count": sum(fast)}


def _correct(task: dict[str, Any], values: Any) -> bool:
    return any(s.get("output_values") == values for s in task.get("known_solutions") or [])


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@dataclass
class _Actors:
    """What the actions call: the existing user-restriction and user-skill stores."""

    restrict: Callable[[dict[str, Any]], Any]
    set_skill: Callable[[dict[str, Any]], Any]
    clock: Clock
    review: Callable[[str, dict[str, Any]], Any] = lambda assignment_id, body: None
    of_pool: Callable[[str], Iterable[dict[str, Any]]] = lambda pool_id: ()
    work_seconds: Mapping[str, float] = field(default_factory=dict)
    history: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    change_overlap: Callable[[dict[str, Any], int, bool], None] = lambda assignment, delta, reopen: None


class QualityControl:
    """Runs the modelled collectors of a pool's ``quality_control.configs`` as its Tolokers submit.

    :param restrict: ``PUT /user-restrictions`` (the restrictions store's ``put``).
    :param set_skill: ``PUT /user-skills`` (the user-skills store's ``put``).
    :param clock: the emulator's clock, for a restriction's ``will_expire``.
    :param review: ``PATCH /assignments/{id}`` (the review's ``patch``), so that money moves as on a manual review.
    :param of_pool: a pool's assignments.
    :param work_seconds: assignment id -> the simulated seconds the crowd spent on it (else the stamps count).
    :param change_overlap: (assignment, delta, open the pool) -> adds ``delta`` to the overlap of its suite.
    """

    def __init__(
        self,
        restrict: Callable[[dict[str, Any]], Any],
        set_skill: Callable[[dict[str, Any]], Any],
        clock: Clock,
        review: Callable[[str, dict[str, Any]], Any],
        of_pool: Callable[[str], Iterable[dict[str, Any]]],
        work_seconds: Mapping[str, float] | None = None,
        change_overlap: Callable[[dict[str, Any], int, bool], None] | None = None,
    ) -> None:
        self._do = _Actors(
            restrict,
            set_skill,
            clock,
            review,
            of_pool,
            work_seconds={} if work_seconds is None else work_seconds,
        )
        if change_overlap is not None:
            self._do.change_overlap = change_overlap

    def reset(self) -> None:
        """Forget every collector's history."""
        self._do.history.clear()

    def submitted(self, pool: Pool, assignment: dict[str, Any]) -> None:
        """A Toloker submitted a suite: update the modelled collectors and run the rules that now hold.

        :param pool: the pool.
        :param assignment: the assignment (``tasks``, ``solutions``, ``created``, ``submitted``), already paid for
            (auto-accept) or reserved (manual review).
        """
        self._fire(pool, assignment, "SUBMITTED")

    def skipped(self, pool: Pool, assignment: dict[str, Any]) -> None:
        """A Toloker skipped a suite: SKIPPED_IN_ROW_ASSIGNMENTS counts one more.

        :param pool: the pool.
        :param assignment: the SKIPPED assignment.
        """
        self._fire(pool, assignment, "SKIPPED")

    def reviewed(self, pool: Pool, assignment: dict[str, Any], event: str) -> None:
        """An assignment was accepted or rejected: ASSIGNMENTS_ASSESSMENT sees its suite's new figures.

        :param pool: the pool.
        :param assignment: the reviewed assignment, in its new status.
        :param event: ``ACCEPT``, ``REJECT`` or ``ACCEPT_AFTER_REJECT``.
        """
        self._fire(pool, assignment, event)

    def _fire(self, pool: Pool, assignment: dict[str, Any], event: str) -> None:
        qc = pool.setting("quality_control", None)
        configs = qc.get("configs") if isinstance(qc, dict) else None
        if not isinstance(configs, list):
            return
        user = assignment["user_id"]
        for config in configs:
            collector = config["collector_config"]
            if collector["type"] == "MAJORITY_VOTE":
                if event == "SUBMITTED":
                    self._majority(config, pool, assignment)
                continue
            if collector["type"] == "ASSIGNMENTS_ASSESSMENT":
                if event in _ASSESSMENT_EVENTS:
                    self._apply(config, pool, user, self._assessment(pool, assignment, event), assignment)
                continue
            self._apply(config, pool, user, self._collect(collector, user, assignment, event))

    def _apply(
        self,
        config: dict[str, Any],
        pool: Pool,
        user: str,
        stats: dict[str, Any] | None,
        assignment: dict[str, Any] | None = None,
    ) -> None:
        if stats is None:
            return
        for rule in config.get("rules", []):
            if holds(rule.get("conditions", []), stats):
                self._act(rule["action"], stats, pool, user, assignment)

    def _assessment(self, pool: Pool, assignment: dict[str, Any], event: str) -> dict[str, Any]:
        """The figures of the reviewed assignment's suite: its assignments by status, and the event."""
        suite = assignment.get("task_suite_id")
        statuses = Counter(
            a["status"]
            for a in self._do.of_pool(pool.id)
            if a["id"] == assignment["id"] or (suite is not None and a.get("task_suite_id") == suite)
        )
        return {
            "assessment_event": event,
            "pending_assignments_count": statuses["SUBMITTED"],
            "accepted_assignments_count": statuses["ACCEPTED"],
            "rejected_assignments_count": statuses["REJECTED"],
        }

    def _majority(self, config: dict[str, Any], pool: Pool, assignment: dict[str, Any]) -> None:
        """Score the general tasks of this suite whose overlap this submit completed, for every Toloker on them."""
        collector = config["collector_config"]
        threshold = int((collector.get("parameters") or {}).get("answer_threshold", 1))
        general = {
            t["id"]: t for t in assignment["tasks"] if not t.get("known_solutions") and t.get("overlap")
        }
        if not general:
            return
        answers: dict[str, list[tuple[str, str]]] = {task_id: [] for task_id in general}
        for other in self._do.of_pool(pool.id):
            if other["status"] not in ("SUBMITTED", "ACCEPTED"):
                continue
            for task, sol in zip(other["tasks"], other.get("solutions") or [], strict=False):
                if task["id"] in answers:
                    values = json.dumps(sol.get("output_values"), sort_keys=True)
                    answers[task["id"]].append((other["user_id"], values))
        for task_id, given in answers.items():
            if len(given) != int(general[task_id]["overlap"]):
                continue  # overlap not complete yet (or scored already, by the submit that completed it)
            counts = Counter(values for _, values in given)
            if max(counts.values()) < threshold:
                continue  # no answer reached the threshold: scored for nobody
            for user, values in given:
                events = self._window(collector, user, [counts[values] >= threshold])
                self._apply(
                    config,
                    pool,
                    user,
                    {"total_answers_count": len(events), **_rates("", sum(events), len(events))},
                )

    def _window(self, collector: dict[str, Any], user: str, events: list[Any]) -> list[Any]:
        history = self._do.history.setdefault((collector["uuid"], user), [])
        history.extend(events)
        size = (collector.get("parameters") or {}).get("history_size")
        if size:
            del history[: max(0, len(history) - int(size))]
        return history

    def _collect(
        self, collector: dict[str, Any], user: str, assignment: dict[str, Any], event: str
    ) -> dict[str, Any] | None:
        kind, params = collector["type"], collector.get("parameters") or {}
        if kind == "SKIPPED_IN_ROW_ASSIGNMENTS":
            row = self._do.history.setdefault((collector["uuid"], user), [])
            if event != "SKIPPED":
                row.clear()  # a submitted suite ends the row
                return None
            row.append(True)
            return {"skipped_in_row_count": len(row)}
        if event != "SUBMITTED":
            return None
        if kind == "GOLDEN_SET":
            pairs = zip(assignment["tasks"], assignment.get("solutions") or [], strict=False)
            events = [_correct(t, s.get("output_values")) for t, s in pairs if t.get("known_solutions")]
            if not events:
                return None  # no control task in this suite: the figures did not change
            return golden_stats(self._window(collector, user, events))
        if kind == "ASSIGNMENT_SUBMIT_TIME":
            threshold = float(params.get("fast_submit_threshold_seconds", 0))
            took = self._do.work_seconds.get(assignment["id"])
            if took is None:
                took = _seconds(assignment["created"], assignment["submitted"])
            return submit_time_stats(self._window(collector, user, [took < threshold]))
        if kind == "ANSWER_COUNT":
            return {"assignments_accepted_count": len(self._window(collector, user, [True]))}
        return None

    def _act(
        self,
        action: dict[str, Any],
        stats: dict[str, Any],
        pool: Pool,
        user: str,
        assignment: dict[str, Any] | None,
    ) -> None:
        kind, params = action.get("type"), action.get("parameters") or {}
        # e.g. SET_SKILL naming a skill that does not exist: the rule does nothing rather than stop the crowd (assumed)
        with contextlib.suppress(ApiError):
            if kind == "CHANGE_OVERLAP":
                if assignment is not None:
                    self._do.change_overlap(assignment, int(params["delta"]), bool(params.get("open_pool")))
                return
            self._run(kind, params, stats, pool, user)

    def _run(self, kind: Any, params: dict[str, Any], stats: dict[str, Any], pool: Pool, user: str) -> None:
        if kind in _R:
            self._do.restrict(self._restriction(kind, params, pool, user))
        elif kind == "SET_SKILL":
            self._do.set_skill(
                {"skill_id": params["skill_id"], "user_id": user, "value": params["skill_value"]}
            )
        elif kind == "SET_SKILL_FROM_OUTPUT_FIELD":
            key = str(params.get("from_field"))
            value = stats.get(_ALIASES.get(key, key))
            if value is not None:
                self._do.set_skill({"skill_id": params["skill_id"], "user_id": user, "value": value})
        elif kind in _REVIEW:
            body = {"status": _REVIEW[kind], "public_comment": params.get("public_comment")}
            mine = [
                a["id"]
                for a in self._do.of_pool(pool.id)
                if a["user_id"] == user and a["status"] == "SUBMITTED"
            ]
            for assignment_id in mine:
                self._do.review(assignment_id, body)

    def _restriction(self, kind: str, params: dict[str, Any], pool: Pool, user: str) -> dict[str, Any]:
        scope = params.get("scope", "PROJECT")
        body: dict[str, Any] = {"scope": scope, "user_id": user}
        if scope == "POOL":
            body["pool_id"] = pool.id
        elif scope == "PROJECT":
            body["project_id"] = pool.project_id
        if params.get("private_comment"):
            body["private_comment"] = params["private_comment"]
        if kind == "RESTRICTION":
            seconds = float(params["duration_days"]) * _UNITS["DAYS"] if params.get("duration_days") else None
        else:
            unit = params.get("duration_unit", "DAYS")
            seconds = float(params.get("duration", 0)) * _UNITS[unit] if unit in _UNITS else None
        if seconds is not None:
            now = self._do.clock.wall(self._do.clock.now())
            body["will_expire"] = format_datetime(now + timedelta(seconds=seconds))
        return body


def quality_control(state: EmulatorState, crowd: Crowd) -> QualityControl:
    """Wire quality control into an account: rules see every submitted and skipped suite, and the crowd's
    admission also asks the training gate.

    :param state: the account (its restrictions, user skills, clock, review, assignments, pools, projects).
    :param crowd: its simulated crowd.
    :return: the rule runner.
    """
    quality = QualityControl(
        state.restrictions.put,
        state.user_skills.put,
        state.clock,
        state.review.patch,
        state.assignments.of_pool,
        crowd.work_seconds,
        _overlap_changer(state),
    )
    crowd.on_submitted, crowd.on_skipped = quality.submitted, quality.skipped
    state.review.on_reviewed = lambda assignment, event: quality.reviewed(
        state.pools[assignment["pool_id"]], assignment, event
    )
    gate_training(crowd, state.pools, state.projects)
    return quality


def _overlap_changer(state: EmulatorState) -> Callable[[dict[str, Any], int, bool], None]:
    """CHANGE_OVERLAP: ``delta`` more (or fewer) answers for an assignment's suite, as ``set-overlap-or-min``."""

    def change(assignment: dict[str, Any], delta: int, open_pool: bool) -> None:
        query = {"open_pool": "true"} if open_pool else {}
        suite = state.objects[TASK_SUITES.name].get(str(assignment.get("task_suite_id")))
        if suite is not None:
            targets = [(True, suite)]
        else:  # a tasks pool: the suite was made when it was issued, so its general tasks are what gets redone
            stored = (state.objects[TASKS.name].get(t["id"]) for t in assignment["tasks"])
            targets = [(False, t) for t in stored if t is not None and not t.get("known_solutions")]
        for is_suite, obj in targets:
            if obj.get("infinite_overlap"):
                continue
            wanted = max(0, int(obj.get("overlap") or 0) + delta)
            state.overlaps.set_or_min(is_suite, obj["id"], {"overlap": wanted}, query)

    return change
