"""What a labeling report shows, gathered with no I/O: streams of labels, answers and assignments folded into
aggregates whose size grows with the Tolokers and the hours of the run, never with its answers.

The operator (:class:`~airflow_toloka.operators.report.LabelingReportOperator`) feeds a :class:`ReportTally` what
the hook and the files give it, in this order: the labels (so the most uncertain tasks are known), then the
answers and the assignments, then the pool's bans and bonuses; :meth:`ReportTally.finish` turns it into a
:class:`LabelingReport`, the one input of the page (:mod:`airflow_toloka.report.page`).
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from airflow_toloka.labels import golden_score
from airflow_toloka.money import (
    DEFAULT_FEE_MIN,
    DEFAULT_FEE_RATE,
    Amount,
    bonuses_cost,
    fee_per_payment,
    to_money,
)

__all__ = [
    "CONFIDENCE_BINS",
    "Cost",
    "LabelingReport",
    "ReportTally",
    "TolokerRecord",
    "UncertainTask",
    "label_text",
    "parse_time",
]

CONFIDENCE_BINS = 20
"""Bars of the confidence histogram, each 1/20 of [0, 1] wide (the last one includes 1.0)."""
UNCERTAIN = 20
"""How many of the least confident tasks the report lists, by default."""
_ANSWERED = ("SUBMITTED", "ACCEPTED", "REJECTED")


def label_text(values: Mapping[str, Any]) -> str:
    """A label as one line: the value itself for one field, ``field=value`` pairs for several.

    :param values: the label's output values.
    :return: the text.
    """
    if len(values) == 1:
        (value,) = values.values()
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(values.items()))


def parse_time(value: Any) -> datetime | None:
    """A timestamp as Toloka or a file writes it (ISO 8601, naive meaning UTC), or None when absent or unreadable.

    :param value: a datetime or its text.
    :return: an aware datetime, or None.
    """
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str) and value:
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _outputs(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k[len("OUTPUT:") :]: v for k, v in row.items() if k.startswith("OUTPUT:")}


def _inputs(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k[len("INPUT:") :]: v for k, v in row.items() if k.startswith("INPUT:")}


@dataclass
class TolokerRecord:
    """One Toloker in one pool.

    :param answers: answers given (every task of every answered assignment).
    :param golden_right: control tasks answered as their known solution.
    :param golden_total: control tasks answered.
    :param rejected: assignments of theirs rejected.
    :param banned: whether a restriction stops them in this pool, its project or all projects.
    """

    answers: int = 0
    golden_right: int = 0
    golden_total: int = 0
    rejected: int = 0
    banned: bool = False

    @property
    def golden_accuracy(self) -> float | None:
        """Their share of control tasks right, None without any."""
        return self.golden_right / self.golden_total if self.golden_total else None


@dataclass
class UncertainTask:
    """A task whose label the crowd agreed on least.

    :param task_id: the task.
    :param confidence: the label's confidence, 0 to 1.
    :param label: the label, as text.
    :param inputs: the task's input values.
    :param answers: ``(Toloker, assignment status, answer as text)`` of each answer it got.
    """

    task_id: str
    confidence: float
    label: str
    inputs: dict[str, Any]
    answers: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Cost:
    """What the pool cost, USD: rewards of accepted assignments and bonuses, each with Toloka's fee.

    :param rewards: rewards of ACCEPTED assignments.
    :param fees: Toloka's fee on those rewards.
    :param pending: rewards of SUBMITTED assignments, not paid yet (a rejection pays nothing).
    :param bonuses: bonuses paid for the pool (their amounts).
    :param bonus_count: how many bonuses.
    :param bonuses_with_fees: the bonuses with their fees.
    """

    rewards: Decimal
    fees: Decimal
    pending: Decimal
    bonuses: Decimal
    bonus_count: int
    bonuses_with_fees: Decimal

    @property
    def total(self) -> Decimal:
        """Everything paid: rewards, their fees, bonuses and theirs."""
        return self.rewards + self.fees + self.bonuses_with_fees

    def as_dict(self) -> dict[str, Any]:
        """The cost for XCom (JSON numbers, rounded to a hundredth of a cent).

        :return: ``{"rewards", "fees", "pending", "bonuses", "bonus_count", "total"}``.
        """
        money = {
            "rewards": self.rewards,
            "fees": self.fees,
            "pending": self.pending,
            "bonuses": self.bonuses,
            "total": self.total,
        }
        return {**{k: round(float(v), 4) for k, v in money.items()}, "bonus_count": self.bonus_count}


@dataclass
class LabelingReport:
    """Everything the page shows, small whatever the pool's size.

    :param pool_id: the pool.
    :param pool_name: its private name.
    :param tasks: its general tasks.
    :param control_tasks: its control tasks.
    :param labels: labels in the labels file.
    :param answers: answers (rows of the answers file, or of the pool's answered assignments).
    :param assignments: assignments by status.
    :param control_accuracy: the share of control answers right, None without any.
    :param cost: what was paid.
    :param opened: when the pool opened (its last start, or its first assignment if earlier).
    :param closed: when it last closed, None while open.
    :param label_counts: how many tasks got each label.
    :param confidence_bins: tasks per confidence bar (:data:`CONFIDENCE_BINS`).
    :param tolokers: each Toloker's record.
    :param submitted_by_minute: assignments submitted in each minute (UTC, truncated).
    :param uncertain: the least confident tasks, least first.
    """

    pool_id: str
    pool_name: str
    tasks: int
    control_tasks: int
    labels: int
    answers: int
    assignments: dict[str, int]
    control_accuracy: float | None
    cost: Cost
    opened: datetime | None
    closed: datetime | None
    label_counts: dict[str, int]
    confidence_bins: list[int]
    tolokers: dict[str, TolokerRecord]
    submitted_by_minute: dict[datetime, int]
    uncertain: list[UncertainTask]

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from open to close, None while open or when unknown."""
        if self.opened is None or self.closed is None:
            return None
        return max((self.closed - self.opened).total_seconds(), 0.0)

    def headline(self, report_path: str) -> dict[str, Any]:
        """The numbers a task returns (XCom) and the UI shows beside the page.

        :param report_path: where the page was written.
        :return: ``{"report_path", "pool_id", "tasks", "control_tasks", "labels", "answers", "assignments",
            "control_accuracy", "cost", "duration_seconds", "tolokers", "banned", "rejected_tolokers"}``.
        """
        records = self.tolokers.values()
        return {
            "report_path": report_path,
            "pool_id": self.pool_id,
            "tasks": self.tasks,
            "control_tasks": self.control_tasks,
            "labels": self.labels,
            "answers": self.answers,
            "assignments": dict(self.assignments),
            "control_accuracy": None if self.control_accuracy is None else round(self.control_accuracy, 4),
            "cost": self.cost.as_dict(),
            "duration_seconds": self.duration_seconds,
            "tolokers": len(self.tolokers),
            "banned": sum(r.banned for r in records),
            "rejected_tolokers": sum(r.rejected > 0 for r in records),
        }


class ReportTally:
    """A report under way: feed it labels, answers, assignments, bans and bonuses, then :meth:`finish`.

    :param pool_id: the pool.
    :param uncertain: how many of the least confident tasks to list.
    :param fee_rate: Toloka's fee as a share (:data:`~airflow_toloka.money.DEFAULT_FEE_RATE`).
    :param fee_min: the smallest fee of one payment, USD.
    """

    def __init__(
        self,
        pool_id: str,
        *,
        uncertain: int = UNCERTAIN,
        fee_rate: Amount = DEFAULT_FEE_RATE,
        fee_min: Amount = DEFAULT_FEE_MIN,
    ) -> None:
        self.pool_id, self.fee_rate, self.fee_min = pool_id, fee_rate, fee_min
        self.keep = uncertain
        self.labels = 0
        self.label_counts: Counter[str] = Counter()
        self.confidence_bins = [0] * CONFIDENCE_BINS
        # a max-heap by negated confidence: the root is the most confident of those kept, the first to go
        self._uncertain: list[tuple[float, str, int, UncertainTask]] = []
        self._kept: dict[str, UncertainTask] | None = None
        self._fields: set[str] = set()  # the labels' output fields
        self._answer_at: dict[str, list[tuple[UncertainTask, int]]] = {}  # assignment -> its kept answers
        self.answers = 0
        self.assignments: Counter[str] = Counter()
        self.tolokers: dict[str, TolokerRecord] = {}
        self.submitted: Counter[datetime] = Counter()
        self.first_created: datetime | None = None
        self.rewards = self.fees = self.pending = Decimal(0)
        self.bonus_amounts: list[Decimal] = []

    def _toloker(self, user_id: Any) -> TolokerRecord:
        return self.tolokers.setdefault(str(user_id), TolokerRecord())

    def add_label(self, row: Mapping[str, Any]) -> None:
        """One row of a labels file (``task_id``, ``INPUT:``, ``OUTPUT:``, ``confidence``, ``answers``).

        :param row: the row.
        """
        self.labels += 1
        outputs = _outputs(row)
        self._fields.update(outputs)
        label = label_text(outputs)
        self.label_counts[label] += 1
        confidence = min(max(float(row.get("confidence") or 0.0), 0.0), 1.0)
        self.confidence_bins[min(int(confidence * CONFIDENCE_BINS), CONFIDENCE_BINS - 1)] += 1
        task_id = str(row.get("task_id"))
        entry = (-confidence, task_id, self.labels, UncertainTask(task_id, confidence, label, _inputs(row)))
        if len(self._uncertain) < self.keep:
            heapq.heappush(self._uncertain, entry)
        elif self.keep and entry[:2] > self._uncertain[0][:2]:
            heapq.heapreplace(self._uncertain, entry)

    def add_answer(self, row: Mapping[str, Any]) -> None:
        """One answer row, as an export writes it (``task_id``, ``user_id``, ``status``, ``OUTPUT:`` …).

        :param row: the row.
        """
        self.answers += 1
        if self._kept is None:  # the labels are all in: the uncertain tasks are known from here on
            self._kept = {task.task_id: task for *_, task in self._uncertain}
        task = self._kept.get(str(row.get("task_id")))
        if task is not None:
            # the label's fields only (an answer may hold more), under the assignment's latest status
            values = {k: v for k, v in _outputs(row).items() if k in self._fields}
            answer = (str(row.get("user_id")), str(row.get("status")), label_text(values))
            self._answer_at.setdefault(str(row.get("assignment_id")), []).append((task, len(task.answers)))
            task.answers.append(answer)

    def add_assignment(self, assignment: Mapping[str, Any], reward: Amount | None = None) -> None:
        """One assignment of the pool, any status.

        :param assignment: the assignment as Toloka sends it.
        :param reward: its reward when the assignment carries none (the pool's ``reward_per_assignment``).
        """
        status = str(assignment.get("status"))
        self.assignments[status] += 1
        for task, index in self._answer_at.get(str(assignment.get("id")), ()):
            user, _, text = task.answers[index]
            task.answers[index] = (user, status, text)
        created = parse_time(assignment.get("created"))
        if created is not None and (self.first_created is None or created < self.first_created):
            self.first_created = created
        if status not in _ANSWERED:
            return
        toloker = self._toloker(assignment.get("user_id"))
        toloker.answers += len(assignment.get("solutions") or [])
        right, total = golden_score(assignment)
        toloker.golden_right += right
        toloker.golden_total += total
        toloker.rejected += status == "REJECTED"
        submitted = parse_time(assignment.get("submitted"))
        if submitted is not None:
            self.submitted[submitted.replace(second=0, microsecond=0)] += 1
        given = assignment.get("reward")
        paid = to_money(given if given is not None else (reward if reward is not None else 0))
        if status == "ACCEPTED":
            self.rewards += paid
            self.fees += fee_per_payment(paid, self.fee_rate, self.fee_min)
        elif status == "SUBMITTED":
            self.pending += paid

    def add_bans(self, user_ids: Iterable[str]) -> None:
        """Tolokers a restriction stops in this pool (only those who worked on it are marked).

        :param user_ids: the restricted Tolokers.
        """
        for user_id in user_ids:
            if str(user_id) in self.tolokers:
                self.tolokers[str(user_id)].banned = True

    def add_bonus(self, amount: Amount) -> None:
        """A bonus paid for the pool.

        :param amount: its amount, USD.
        """
        self.bonus_amounts.append(to_money(amount))

    def finish(self, pool: Mapping[str, Any], tasks: int, control_tasks: int) -> LabelingReport:
        """The report.

        :param pool: ``{"name", "status", "last_started", "last_stopped"}`` of the pool.
        :param tasks: its general tasks.
        :param control_tasks: its control tasks.
        :return: the report.
        """
        right = sum(r.golden_right for r in self.tolokers.values())
        total = sum(r.golden_total for r in self.tolokers.values())
        started = parse_time(pool.get("last_started"))
        opened = min((t for t in (started, self.first_created) if t is not None), default=None)
        closed = (
            parse_time(pool.get("last_stopped")) if pool.get("status") in ("CLOSED", "ARCHIVED") else None
        )
        cost = Cost(
            rewards=self.rewards,
            fees=self.fees,
            pending=self.pending,
            bonuses=sum(self.bonus_amounts, Decimal(0)),
            bonus_count=len(self.bonus_amounts),
            bonuses_with_fees=bonuses_cost(self.bonus_amounts, fee_rate=self.fee_rate, fee_min=self.fee_min),
        )
        return LabelingReport(
            pool_id=self.pool_id,
            pool_name=str(pool.get("name") or ""),
            tasks=tasks,
            control_tasks=control_tasks,
            labels=self.labels,
            answers=self.answers,
            assignments=dict(self.assignments),
            control_accuracy=right / total if total else None,
            cost=cost,
            opened=opened,
            closed=closed,
            label_counts=dict(self.label_counts.most_common()),
            confidence_bins=list(self.confidence_bins),
            tolokers=self.tolokers,
            submitted_by_minute=dict(sorted(self.submitted.items())),
            uncertain=[task for *_, task in sorted(self._uncertain, key=lambda e: (-e[0], e[1]))],
        )
