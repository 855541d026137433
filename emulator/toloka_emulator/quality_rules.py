"""Quality-control rules at work, and the training gate (docs/toloka-api.md M6).

The crowd tells :class:`QualityRules` of each submitted and skipped suite, the review of each verdict; the
collectors of the pool's ``quality_control.configs`` (:mod:`quality`) update their statistics, and every rule of a
collector whose statistics changed is evaluated for that Toloker (or suite); when all its conditions hold its action
runs, again each time (a ban is set again and a skill follows the rate).

Actions: ``RESTRICTION_V2`` / ``RESTRICTION`` (a ban through ``/user-restrictions``: visible there, and the crowd
takes no suite in its scope; ``duration_unit`` PERMANENT or no ``duration_days`` = until deleted), ``SET_SKILL``,
``SET_SKILL_FROM_OUTPUT_FIELD`` (any rate the collector outputs; ``wrong_answers_rate`` = incorrect),
``REJECT_ALL_ASSIGNMENTS`` / ``APPROVE_ALL_ASSIGNMENTS`` (the Toloker's SUBMITTED assignments in the pool, as
reviews), ``CHANGE_OVERLAP`` (``delta`` more answers for the suite's general tasks, or the uploaded suite;
``open_pool`` reopens a CLOSED pool). An action Toloka would refuse (an unknown skill) does nothing.

The training gate: a pool whose ``quality_control.training_requirement`` names a training admits a Toloker only
when their training score reaches ``training_passing_skill_value``. The score is drawn once per Toloker and
training from the seed: the share of 10 training answers right at the Toloker's accuracy (a spammer's is one in
two), times 100. A Toloker gets a score only while the training is OPEN.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from toloka_emulator.clock import Clock, format_datetime
from toloka_emulator.pools import Pool
from toloka_emulator.quality import MODELLED, UserStats, holds
from toloka_emulator.wire import ApiError

__all__ = ["QualityRules"]

_UNITS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86_400}
_TRAINING_ANSWERS = 10
Values = Mapping[str, Any]


class _Store(Protocol):
    def put(self, body: Any) -> Any: ...


class QualityRules:
    """The statistics of every modelled collector, and the actions of their rules.

    :param pools: the account's pools (trainings included).
    :param clock: the emulator's clock (ban expiry, submit times).
    :param restrictions: where bans go (``put``).
    :param user_skills: where skill values go (``put``).
    :param review: (assignment id, body) -> reviews an assignment as ``PATCH /assignments/{id}`` does.
    :param set_overlap: (is a suite, object id, body, query) -> ``set-overlap-or-min``.
    :param get_object: (is a suite, id) -> the stored task or suite.
    :param of_pool: pool id -> its assignments.
    :param accuracy: user id -> (accuracy, number of allowed answers for a spammer or 0), or None.
    :param seed: the crowd's seed, for training scores.
    """

    def __init__(
        self,
        pools: Mapping[str, Pool],
        clock: Clock,
        restrictions: _Store,
        user_skills: _Store,
        review: Callable[[str, dict[str, Any]], Any],
        set_overlap: Callable[[bool, str, dict[str, Any], Mapping[str, str]], Any],
        get_object: Callable[[bool, str], dict[str, Any] | None],
        of_pool: Callable[[str], Any],
        accuracy: Callable[[str], float | None],
        seed: Callable[[], int | None],
    ) -> None:
        self._pools, self._clock = pools, clock
        self._restrictions, self._user_skills, self._review = restrictions, user_skills, review
        self._set_overlap, self._get_object, self._of_pool = set_overlap, get_object, of_pool
        self._accuracy, self._seed = accuracy, seed
        self._stats: dict[tuple[str, str], UserStats] = {}
        self._votes: dict[str, list[tuple[str, str]]] = {}  # task id -> (user, answer) for MAJORITY_VOTE
        self._suites: dict[str, Counter[str]] = {}  # task suite id -> its assignments by review state
        self._scores: dict[tuple[str, str], float] = {}  # (training, user) -> training score

    # ------------------------------------------------------------------ what the crowd and the review tell

    def submitted(self, pool: Pool, assignment: dict[str, Any]) -> None:
        """A suite was submitted: GOLDEN_SET, MAJORITY_VOTE, ASSIGNMENT_SUBMIT_TIME, SKIPPED_IN_ROW, ANSWER_COUNT.

        :param pool: its pool.
        :param assignment: the assignment, SUBMITTED (or already ACCEPTED in an auto-accept pool).
        """
        user = assignment["user_id"]
        self._suites.setdefault(assignment["task_suite_id"], Counter())["pending"] += 1
        for kind, uid, params, rules in self._configs(pool):
            stats = self._user(uid, user, params)
            if kind == "GOLDEN_SET":
                marks = [_right(t, s) for t, s in _answered(assignment) if t.get("known_solutions")]
                if not marks:
                    continue
                for mark in marks:
                    stats.push(stats.answers, mark)
            elif kind == "ASSIGNMENT_SUBMIT_TIME":
                took = _seconds(assignment.get("created"), assignment.get("submitted"))
                stats.push(stats.fast, took < float(params.get("fast_submit_threshold_seconds") or 0))
            elif kind == "SKIPPED_IN_ROW_ASSIGNMENTS":
                stats.skipped_in_row = 0
            elif kind == "ANSWER_COUNT":
                stats.submitted += 1
            elif kind == "MAJORITY_VOTE":
                self._majority(pool, uid, params, rules, assignment)
                continue
            else:
                continue
            self._fire(pool, rules, stats.values(kind), user, assignment)

    def skipped(self, pool: Pool, assignment: dict[str, Any]) -> None:
        """A suite was skipped: SKIPPED_IN_ROW_ASSIGNMENTS.

        :param pool: its pool.
        :param assignment: the SKIPPED assignment.
        """
        user = assignment["user_id"]
        for kind, uid, params, rules in self._configs(pool):
            if kind == "SKIPPED_IN_ROW_ASSIGNMENTS":
                stats = self._user(uid, user, params)
                stats.skipped_in_row += 1
                self._fire(pool, rules, stats.values(kind), user, assignment)

    def reviewed(self, assignment: dict[str, Any], old: str, new: str) -> None:
        """An assignment was accepted or rejected: ASSIGNMENTS_ASSESSMENT, per task suite.

        :param assignment: the assignment, in its new status.
        :param old: its status before.
        :param new: ``ACCEPTED`` or ``REJECTED``.
        """
        pool = self._pools.get(assignment["pool_id"])
        if pool is None or old == new:
            return
        counts = self._suites.setdefault(assignment["task_suite_id"], Counter())
        counts["pending" if old == "SUBMITTED" else old.lower()] -= 1
        counts[new.lower()] += 1
        event = "REJECT" if new == "REJECTED" else ("ACCEPT_AFTER_REJECT" if old == "REJECTED" else "ACCEPT")
        values = {
            "pending_assignments_count": max(0, counts["pending"]),
            "accepted_assignments_count": counts["accepted"],
            "rejected_assignments_count": counts["rejected"],
            "assessment_event": event,
        }
        for kind, _, _, rules in self._configs(pool):
            if kind == "ASSIGNMENTS_ASSESSMENT":
                self._fire(pool, rules, values, assignment["user_id"], assignment)

    # ------------------------------------------------------------------ the training gate

    def admits(self, user_id: str, pool: Pool) -> bool:
        """Whether a pool's training requirement lets a Toloker in.

        :param user_id: the Toloker.
        :param pool: the pool.
        :return: True without a requirement, or with a passing score.
        """
        qc = pool.setting("quality_control", None)
        requirement = qc.get("training_requirement") if isinstance(qc, dict) else None
        if not isinstance(requirement, dict) or requirement.get("training_pool_id") is None:
            return True
        training_id = str(requirement["training_pool_id"])
        score = self._scores.get((training_id, user_id))
        if score is None:
            training = self._pools.get(training_id)
            accuracy = self._accuracy(user_id)
            if training is None or training.status != "OPEN" or accuracy is None:
                return False
            rng = random.Random(f"{self._seed()}:training:{training_id}:{user_id}")
            right = sum(rng.random() < accuracy for _ in range(_TRAINING_ANSWERS))
            score = self._scores[(training_id, user_id)] = 100.0 * right / _TRAINING_ANSWERS
        return score >= float(requirement.get("training_passing_skill_value") or 0)

    # ------------------------------------------------------------------ inside

    def _configs(self, pool: Pool) -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
        qc = pool.setting("quality_control", None)
        configs = qc.get("configs") if isinstance(qc, dict) else None
        out = []
        for config in configs or ():
            collector = config.get("collector_config") or {}
            kind = collector.get("type")
            if kind in MODELLED:
                uid = str(collector.get("uuid") or f"{pool.id}:{kind}")
                out.append((kind, uid, collector.get("parameters") or {}, config.get("rules") or []))
        return out

    def _user(self, uid: str, user: str, params: Mapping[str, Any]) -> UserStats:
        stats = self._stats.get((uid, user))
        if stats is None:
            size = params.get("history_size")
            stats = self._stats[(uid, user)] = UserStats(int(size) if size else None)
        return stats

    def _majority(
        self, pool: Pool, uid: str, params: Mapping[str, Any], rules: list[Any], assignment: dict[str, Any]
    ) -> None:
        threshold = int(params.get("answer_threshold") or 2)
        for task, solution in _answered(assignment):
            if task.get("known_solutions"):
                continue
            votes = self._votes.setdefault(f"{uid}:{task['id']}", [])
            votes.append((assignment["user_id"], _key(solution)))
            stored = self._get_object(False, str(task["id"])) or task
            if len(votes) != int(stored.get("overlap") or 0):
                continue  # scored only when every answer is in
            counts = Counter(answer for _, answer in votes)
            for user, answer in votes:
                stats = self._user(uid, user, params)
                stats.push(stats.answers, 1.0 if counts[answer] >= threshold else 0.0)
                self._fire(pool, rules, stats.values("MAJORITY_VOTE"), user, assignment)

    def _fire(
        self, pool: Pool, rules: list[Any], values: Values, user: str, assignment: dict[str, Any]
    ) -> None:
        for rule in rules:
            if holds(rule.get("conditions") or [], values):
                action = rule.get("action") or {}
                # what Toloka would refuse (an unknown skill, a review no longer possible) changes nothing
                with contextlib.suppress(ApiError):
                    params = action.get("parameters") or {}
                    self._act(pool, str(action.get("type")), params, values, user, assignment)

    def _act(
        self,
        pool: Pool,
        kind: str,
        params: Mapping[str, Any],
        values: Values,
        user: str,
        assignment: dict[str, Any],
    ) -> None:
        if kind in ("RESTRICTION_V2", "RESTRICTION"):
            self._ban(pool, kind, params, user)
        elif kind == "SET_SKILL":
            self._user_skills.put(
                {"skill_id": params.get("skill_id"), "user_id": user, "value": params.get("skill_value")}
            )
        elif kind == "SET_SKILL_FROM_OUTPUT_FIELD":
            value = values.get(str(params.get("from_field")))
            if value is not None:
                self._user_skills.put({"skill_id": params.get("skill_id"), "user_id": user, "value": value})
        elif kind in ("REJECT_ALL_ASSIGNMENTS", "APPROVE_ALL_ASSIGNMENTS"):
            verdict = "REJECTED" if kind.startswith("REJECT") else "ACCEPTED"
            body = {"status": verdict, "public_comment": str(params.get("public_comment") or "")}
            mine = [
                a["id"] for a in self._of_pool(pool.id) if a["user_id"] == user and a["status"] == "SUBMITTED"
            ]
            for assignment_id in mine:
                self._review(assignment_id, dict(body))
        elif kind == "CHANGE_OVERLAP":
            self._more(params, assignment)

    def _ban(self, pool: Pool, kind: str, params: Mapping[str, Any], user: str) -> None:
        scope = str(params.get("scope") or "POOL")
        body: dict[str, Any] = {
            "scope": scope,
            "user_id": user,
            "private_comment": params.get("private_comment"),
        }
        if scope == "PROJECT":
            body["project_id"] = pool.project_id
        elif scope == "POOL":
            body["pool_id"] = pool.id
        if kind == "RESTRICTION":
            seconds = float(params["duration_days"]) * 86_400 if params.get("duration_days") else None
        else:
            unit = str(params.get("duration_unit") or "PERMANENT")
            seconds = float(params.get("duration") or 0) * _UNITS[unit] if unit in _UNITS else None
        if seconds is not None:
            body["will_expire"] = format_datetime(
                self._clock.wall(self._clock.now()) + timedelta(seconds=seconds)
            )
        self._restrictions.put({k: v for k, v in body.items() if v is not None})

    def _more(self, params: Mapping[str, Any], assignment: dict[str, Any]) -> None:
        delta = int(params.get("delta") or 0)
        query = {"open_pool": "true"} if params.get("open_pool") else {}
        if not assignment.get("mixed", True):
            targets = [(True, str(assignment["task_suite_id"]))]
        else:
            targets = [
                (False, str(t["id"])) for t in assignment.get("tasks") or () if not t.get("known_solutions")
            ]
        for suite, object_id in targets:
            stored = self._get_object(suite, object_id)
            if stored is not None and not stored.get("infinite_overlap"):
                wanted = max(0, int(stored.get("overlap") or 0) + delta)
                self._set_overlap(suite, object_id, {"overlap": wanted}, query)


def _answered(assignment: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return list(zip(assignment.get("tasks") or [], assignment.get("solutions") or [], strict=False))


def _key(solution: Mapping[str, Any]) -> str:
    values = solution.get("output_values") or {}
    return repr(sorted(values.items()))


def _right(task: Mapping[str, Any], solution: Mapping[str, Any]) -> float:
    given = solution.get("output_values") or {}
    for known in task.get("known_solutions") or ():
        wanted = known.get("output_values") or {}
        if all(given.get(k) == v for k, v in wanted.items()):
            return float(known.get("correctness_weight", 1.0))
    return 0.0


def _seconds(created: Any, submitted: Any) -> float:
    if not created or not submitted:
        return 0.0
    return (datetime.fromisoformat(str(submitted)) - datetime.fromisoformat(str(created))).total_seconds()
