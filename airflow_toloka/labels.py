"""From assignments to labels, with no I/O: flat answer rows, golden accuracy, review decisions, majority vote.

An assignment holds a suite's ``tasks`` and the Toloker's ``solutions`` aligned with them; every consumer here
walks them the way Toloka's own examples do (``zip(tasks, solutions)``; a task with ``known_solutions`` is a
control task).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_toloka.exceptions import TolokaInputError

__all__ = [
    "BASE_COLUMNS",
    "Decision",
    "Label",
    "answer_rows",
    "columns_for",
    "golden_score",
    "majority_of",
    "pick_winner",
    "read_decisions",
    "rule_decision",
    "vote_key",
]

BASE_COLUMNS = (
    "assignment_id",
    "task_id",
    "task_suite_id",
    "pool_id",
    "user_id",
    "status",
    "created",
    "submitted",
    "accepted",
    "rejected",
    "golden",
)
"""The first columns of every exported answer row; ``INPUT:<field>``, ``OUTPUT:<field>`` and ``GOLDEN:<field>``
(the known answer of a control task) follow."""


def columns_for(input_fields: Sequence[str], output_fields: Sequence[str]) -> list[str]:
    """The columns of an export.

    :param input_fields: the pool's input field names.
    :param output_fields: its output field names.
    :return: :data:`BASE_COLUMNS`, then ``INPUT:``, ``OUTPUT:`` and ``GOLDEN:`` columns.
    """
    return [
        *BASE_COLUMNS,
        *(f"INPUT:{f}" for f in input_fields),
        *(f"OUTPUT:{f}" for f in output_fields),
        *(f"GOLDEN:{f}" for f in output_fields),
    ]


def _known(task: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first known answer of a control task (what the export shows), None for a general task."""
    known = task.get("known_solutions") or []
    return dict(known[0].get("output_values") or {}) if known else None


def _is_right(given: Mapping[str, Any], task: Mapping[str, Any]) -> bool:
    """Whether an answer matches any known solution that counts (weight missing or above 0) on all its fields."""
    for solution in task.get("known_solutions") or []:
        weight = solution.get("correctness_weight")
        expected = solution.get("output_values") or {}
        if (weight is None or weight > 0) and all(given.get(k) == v for k, v in expected.items()):
            return True
    return False


def answer_rows(assignment: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One flat row per task the assignment answered (none for an assignment without solutions).

    :param assignment: an assignment as Toloka sends it.
    :return: rows keyed by :data:`BASE_COLUMNS` and ``INPUT:`` / ``OUTPUT:`` / ``GOLDEN:`` names.
    """
    head = {
        "assignment_id": assignment.get("id"),
        "task_suite_id": assignment.get("task_suite_id"),
        "pool_id": assignment.get("pool_id"),
        "user_id": assignment.get("user_id"),
        "status": assignment.get("status"),
        "created": assignment.get("created"),
        "submitted": assignment.get("submitted"),
        "accepted": assignment.get("accepted"),
        "rejected": assignment.get("rejected"),
    }
    solutions = assignment.get("solutions") or []
    for task, solution in zip(assignment.get("tasks") or [], solutions, strict=False):
        known = _known(task)
        row = {**head, "task_id": task.get("id"), "golden": known is not None}
        row.update({f"INPUT:{k}": v for k, v in (task.get("input_values") or {}).items()})
        row.update({f"OUTPUT:{k}": v for k, v in (solution.get("output_values") or {}).items()})
        if known is not None:
            row.update({f"GOLDEN:{k}": v for k, v in known.items()})
        yield row


def golden_score(assignment: Mapping[str, Any]) -> tuple[int, int]:
    """How many control tasks of an assignment the Toloker answered as their known solution.

    :param assignment: an assignment as Toloka sends it.
    :return: ``(correct, control tasks)``; a control answer is correct when it matches every field of any of the
        task's known solutions whose ``correctness_weight`` is not 0.
    """
    correct = total = 0
    for task, solution in zip(assignment.get("tasks") or [], assignment.get("solutions") or [], strict=False):
        if not task.get("known_solutions"):
            continue
        total += 1
        correct += _is_right(solution.get("output_values") or {}, task)
    return correct, total


@dataclass(frozen=True)
class Decision:
    """A review verdict for one assignment.

    :param assignment_id: the assignment.
    :param verdict: ``ACCEPTED`` or ``REJECTED``.
    :param comment: the public comment (required for a rejection).
    """

    assignment_id: str
    verdict: str
    comment: str = ""


_VERDICTS = {"ACCEPT": "ACCEPTED", "ACCEPTED": "ACCEPTED", "REJECT": "REJECTED", "REJECTED": "REJECTED"}


def read_decisions(rows: Iterable[Mapping[str, Any]], where: str) -> list[Decision]:
    """Check decision rows (``assignment_id``, ``verdict``, ``public_comment``) and turn them into decisions.

    :param rows: the rows of a decisions file, in order.
    :param where: the file, for messages.
    :return: the decisions, one per assignment.
    :raises TolokaInputError: naming the file and 1-based row of a missing id, an unknown verdict, a
        rejection without a comment, or an assignment decided twice.
    """
    decisions: dict[str, Decision] = {}
    for number, row in enumerate(rows, start=1):
        at = f"{where}, data row {number}"
        assignment_id = str(row.get("assignment_id") or "").strip()
        verdict = _VERDICTS.get(str(row.get("verdict") or "").strip().upper())
        comment = str(row.get("public_comment") or "").strip()
        if not assignment_id:
            raise TolokaInputError(f"{at}: assignment_id is missing")
        if verdict is None:
            raise TolokaInputError(f"{at}: verdict must be ACCEPTED or REJECTED, got {row.get('verdict')!r}")
        if verdict == "REJECTED" and not comment:
            raise TolokaInputError(
                f"{at}: rejecting {assignment_id} needs a public_comment (Toloka requires one)"
            )
        if assignment_id in decisions:
            raise TolokaInputError(f"{at}: assignment {assignment_id} is decided twice")
        decisions[assignment_id] = Decision(assignment_id, verdict, comment)
    return list(decisions.values())


def rule_decision(assignment: Mapping[str, Any], min_accuracy: float, comment: str) -> Decision:
    """The built-in review rule: accept when the Toloker's accuracy on the assignment's control tasks reaches
    ``min_accuracy``; an assignment without control tasks is accepted.

    :param assignment: a SUBMITTED assignment as Toloka sends it.
    :param min_accuracy: the share of control tasks that must be right, 0 to 1.
    :param comment: the rejection's public comment; ``{correct}`` and ``{total}`` are filled in.
    :return: the decision.
    """
    correct, total = golden_score(assignment)
    assignment_id = str(assignment["id"])
    if total == 0 or correct / total >= min_accuracy:
        return Decision(assignment_id, "ACCEPTED")
    return Decision(assignment_id, "REJECTED", comment.format(correct=correct, total=total))


@dataclass(frozen=True)
class Label:
    """One task's aggregated label.

    :param task_id: the task.
    :param label: the winning answer (output values of the aggregated fields).
    :param confidence: its share of the votes (majority) or posterior (Dawid-Skene), 0 to 1.
    :param answers: how many answers the task had.
    :param tied: whether other answers scored as high (the tie was broken by :func:`pick_winner`).
    """

    task_id: str
    label: dict[str, Any]
    confidence: float
    answers: int
    tied: bool = False


def vote_key(values: Mapping[str, Any]) -> str:
    """An answer as the key it is counted under: its JSON with sorted keys.

    :param values: the output values of the aggregated fields.
    :return: the key.
    """
    return json.dumps(values, sort_keys=True, ensure_ascii=False)


def pick_winner(task_id: str, scores: Mapping[str, float]) -> tuple[str, bool]:
    """The answer with the highest score; a tie is broken by a hash of the task id and the answer.

    The hash makes reruns agree, as sorting would, without favouring one label on every tied task (sorting would
    give every tie of an overlap-2 pool to the answer that sorts first).

    :param task_id: the task.
    :param scores: :func:`vote_key` of each answer -> its votes or probability.
    :return: ``(winning key, whether it was tied)``.
    """
    top = max(scores.values())
    best = [key for key, score in scores.items() if score == top]
    if len(best) == 1:
        return best[0], False
    return min(best, key=lambda key: hashlib.sha256(f"{task_id}\0{key}".encode()).digest()), True


def majority_of(tally: Mapping[str, Counter[str]]) -> Iterator[Label]:
    """The majority label of each task from its counted answers (ties: :func:`pick_winner`).

    :param tally: task id -> :func:`vote_key` of each answer -> how many gave it.
    :return: one label per task, in task id order.
    """
    for task_id in sorted(tally):
        counts = tally[task_id]
        winner, tied = pick_winner(task_id, counts)
        total = sum(counts.values())
        yield Label(task_id, json.loads(winner), counts[winner] / total, total, tied)
