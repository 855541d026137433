"""Per-pool counters kept as work happens, so pool analytics cost O(1) however many tasks a pool holds.

The store tells :class:`Tallies` about every task and suite it creates, and :class:`Assignments
<toloka_emulator.assignments.Assignments>` about every assignment it adds or moves (the crowd's, reviews,
``/_emulator/fill``), so analytics never scan a pool's objects.

What is counted (the choices of ``analytics``; docs/toloka-api.md M9):

- general tasks are tasks without ``known_solutions``; the tasks of an uploaded suite count one by one, with the
  suite's overlap.
- completion: ``Σ min(answers, overlap)`` over general tasks with finite overlap, against ``Σ overlap``; an answer
  is a submitted assignment holding the task (SUBMITTED, then ACCEPTED or REJECTED: rejecting gives no overlap
  back). Answers are counted per task (or suite) id, which is what keeps the ``min`` exact when
  ``/_emulator/fill`` answers a task more often than its overlap.
- a suite's time is ``submitted - created`` of its assignment.
- ``accepted_rewards``: the rewards of assignments that became ACCEPTED (at submit in auto-accept pools).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["DONE", "PoolTally", "Tallies"]

DONE = frozenset({"SUBMITTED", "ACCEPTED", "REJECTED"})  # statuses of submitted work
_SMALL = 32  # task lists up to this long are counted one by one


@dataclass
class PoolTally:
    """The counters of one pool."""

    real_tasks: int = 0  # general tasks, control tasks and overlap not counted
    overlap: int = 0  # Σ overlap of general tasks with finite overlap
    answered: int = 0  # Σ min(answers, overlap) over those tasks
    infinite: bool = False  # some general task has infinite overlap
    workers: set[str] = field(default_factory=set)  # took at least one suite
    submitters: set[str] = field(default_factory=set)  # submitted at least one suite
    submits: int = 0
    submit_millis: float = 0.0  # Σ (submitted - created) of submitted suites
    accepted_rewards: float = 0.0

    def completion(self) -> float:
        """How much of the pool's finite overlap has been answered.

        :return: 0..100; 0 for a pool without general tasks of finite overlap.
        """
        return 100.0 * self.answered / self.overlap if self.overlap else 0.0

    def avg_submit_millis(self) -> float:
        """Mean time from taking a suite to submitting it.

        :return: milliseconds; 0 before any submit.
        """
        return self.submit_millis / self.submits if self.submits else 0.0


class Tallies:
    """The counters of every pool.

    :param suite_of: task suite id -> the stored suite (for the overlap of a suite issued whole), or ``None``.
    """

    def __init__(self, suite_of: Callable[[str], dict[str, Any] | None]) -> None:
        self._suite_of = suite_of
        self._pools: dict[str, PoolTally] = {}
        self._answers: dict[str, int] = {}  # task or suite id -> its answers so far

    def of(self, pool_id: str) -> PoolTally:
        """A pool's counters (zero for a pool nothing happened in).

        :param pool_id: the pool.
        :return: its tally, created on first use.
        """
        tally = self._pools.get(pool_id)
        if tally is None:
            tally = self._pools[pool_id] = PoolTally()
        return tally

    def stored(self, objects: Iterable[dict[str, Any]], suites: bool) -> None:
        """New tasks or suites were stored.

        :param objects: the stored objects (of any pools).
        :param suites: whether they are task suites.
        """
        last_pool, tally = None, PoolTally()
        for obj in objects:
            pool_id = obj["pool_id"]
            if pool_id != last_pool:  # uploads are mostly one pool: look it up once per run
                last_pool, tally = pool_id, self.of(pool_id)
            if suites:
                general = _general_count(obj)
            elif obj.get("known_solutions"):
                continue
            else:
                general = 1
            tally.real_tasks += general
            if not general:
                continue
            if obj.get("infinite_overlap"):
                tally.infinite = True
            else:
                tally.overlap += (obj.get("overlap") or 0) * general

    def overlap_changed(self, obj: dict[str, Any], suite: bool, delta: int) -> None:
        """A task's or suite's overlap changed by ``delta`` (``set-overlap-or-min``).

        :param obj: the stored task or suite.
        :param suite: whether it is a suite.
        :param delta: new overlap minus old.
        """
        general = _general_count(obj) if suite else int(not obj.get("known_solutions"))
        self.of(obj["pool_id"]).overlap += delta * general

    def added(self, assignments: Sequence[dict[str, Any]]) -> None:
        """Assignments were stored: ACTIVE from the crowd, or already finished from ``/_emulator/fill``.

        :param assignments: the stored assignments.
        """
        tally, last_pool = PoolTally(), None
        done: list[dict[str, Any]] = []  # submitted ones of the current pool, counted together
        for assignment in assignments:
            pool_id = assignment["pool_id"]
            if pool_id != last_pool:
                if done:
                    self._submitted(tally, done)
                    done = []
                last_pool, tally = pool_id, self.of(pool_id)
            tally.workers.add(assignment["user_id"])
            status = assignment["status"]
            if status in DONE:
                done.append(assignment)
                if status == "ACCEPTED":
                    tally.accepted_rewards += assignment.get("reward") or 0.0
        if done:
            self._submitted(tally, done)

    def moved(self, assignment: dict[str, Any], old: str) -> None:
        """An assignment changed status.

        :param assignment: the assignment, with its new status.
        :param old: the status it had.
        """
        status = assignment["status"]
        if status in DONE and old not in DONE:
            self._submitted(self.of(assignment["pool_id"]), [assignment])
        if status == "ACCEPTED":
            self.of(assignment["pool_id"]).accepted_rewards += assignment.get("reward") or 0.0

    def _submitted(self, tally: PoolTally, assignments: list[dict[str, Any]]) -> None:
        """Count newly submitted assignments of one pool; their answers in one go (fill adds a million rows)."""
        tally.submits += len(assignments)
        submitters = tally.submitters
        mixed: list[dict[str, Any]] = []
        for assignment in assignments:
            submitters.add(assignment["user_id"])
            created, submitted = assignment["created"], assignment.get("submitted")
            if submitted and submitted != created:  # filled work is stamped once: no parsing for it
                delta = datetime.fromisoformat(submitted) - datetime.fromisoformat(created)
                tally.submit_millis += delta.total_seconds() * 1000.0
            if assignment.get("mixed", True):
                mixed += assignment["tasks"]
            else:
                self._answer_suite(tally, assignment["task_suite_id"])
        if mixed:
            self._answer_tasks(tally, mixed)

    def _answer_tasks(self, tally: PoolTally, tasks: list[dict[str, Any]]) -> None:
        """One answer per entry of ``tasks`` (stored tasks or their snapshots, with ids), counted per task."""
        answers = self._answers
        # one suite of the crowd: the bulk machinery below would cost more than it saves
        if len(tasks) <= _SMALL:
            for task in tasks:
                if task.get("known_solutions") or task.get("infinite_overlap"):
                    continue
                task_id = task["id"]
                seen = answers.get(task_id, 0)
                if seen < (task.get("overlap") or 0):
                    tally.answered += 1
                answers[task_id] = seen + 1
            return
        ids = [task["id"] for task in tasks]
        counts = Counter(ids)
        for task_id, task in dict(zip(ids, tasks, strict=True)).items():
            if task.get("known_solutions") or task.get("infinite_overlap"):
                continue
            overlap = task.get("overlap") or 0
            seen = answers.get(task_id, 0)
            now = seen + counts[task_id]
            if seen < overlap:
                tally.answered += min(now, overlap) - seen
            answers[task_id] = now

    def _answer_suite(self, tally: PoolTally, suite_id: str) -> None:
        """One answer to an uploaded suite issued whole: each of its general tasks is answered once."""
        suite = self._suite_of(suite_id)
        if suite is None or suite.get("infinite_overlap"):
            return
        seen = self._answers.get(suite_id, 0)
        if seen < (suite.get("overlap") or 0):
            tally.answered += _general_count(suite)
        self._answers[suite_id] = seen + 1


def _general_count(suite: dict[str, Any]) -> int:
    return sum(1 for task in suite.get("tasks", ()) if not task.get("known_solutions"))
