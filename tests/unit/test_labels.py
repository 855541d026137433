"""From assignments to labels without a server: answer rows, golden accuracy, decisions, majority vote."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.labels import (
    Decision,
    Label,
    answer_rows,
    columns_for,
    golden_score,
    majority_of,
    read_decisions,
    rule_decision,
    vote_key,
)


def assignment(answers: list[tuple[str, str, str | None]], **extra: Any) -> dict[str, Any]:
    """An assignment whose tasks are (task id, answer, known answer or None)."""
    tasks = []
    for task_id, _, known in answers:
        task: dict[str, Any] = {"id": task_id, "input_values": {"text": f"t {task_id}"}}
        if known is not None:
            task["known_solutions"] = [{"output_values": {"label": known}, "correctness_weight": 1}]
        tasks.append(task)
    return {
        "id": "a1",
        "pool_id": "7",
        "task_suite_id": "s1",
        "user_id": "u1",
        "status": "SUBMITTED",
        "tasks": tasks,
        "solutions": [{"output_values": {"label": given}} for _, given, _ in answers],
        "submitted": "2026-11-30T10:00:00.000",
        **extra,
    }


def test_answer_rows_are_one_per_task_with_inputs_outputs_and_golden() -> None:
    rows = list(answer_rows(assignment([("t1", "pos", None), ("t2", "neg", "pos")])))
    assert [r["task_id"] for r in rows] == ["t1", "t2"]
    assert rows[0]["INPUT:text"] == "t t1" and rows[0]["OUTPUT:label"] == "pos" and rows[0]["golden"] is False
    assert rows[1]["golden"] is True and rows[1]["GOLDEN:label"] == "pos" and "GOLDEN:label" not in rows[0]
    assert {rows[0][k] for k in ("assignment_id", "user_id", "status", "pool_id")} == {
        "a1",
        "u1",
        "SUBMITTED",
        "7",
    }
    assert set(columns_for(["text"], ["label"])) >= set(rows[1])
    assert (
        list(answer_rows({"id": "x", "status": "ACTIVE", "tasks": [{"id": "t"}]})) == []
    )  # nothing answered


def test_golden_score_and_the_review_rule() -> None:
    good = assignment([("t1", "pos", "pos"), ("t2", "neg", "neg"), ("t3", "pos", None)])
    bad = assignment([("t1", "neg", "pos"), ("t2", "neg", "neg")])
    assert golden_score(good) == (2, 2) and golden_score(bad) == (1, 2)
    assert rule_decision(good, 0.8, "x") == Decision("a1", "ACCEPTED")
    assert rule_decision(bad, 0.5, "x") == Decision("a1", "ACCEPTED")  # exactly the threshold passes
    assert rule_decision(bad, 0.8, "{correct} of {total} right") == Decision("a1", "REJECTED", "1 of 2 right")
    assert (
        rule_decision(assignment([("t1", "pos", None)]), 1.0, "x").verdict == "ACCEPTED"
    )  # no control tasks


def test_decisions_are_checked_row_by_row() -> None:
    rows = [
        {"assignment_id": "a1", "verdict": "accept"},
        {"assignment_id": "a2", "verdict": "REJECTED", "public_comment": "wrong"},
    ]
    assert read_decisions(rows, "d.csv") == [Decision("a1", "ACCEPTED"), Decision("a2", "REJECTED", "wrong")]
    for bad, words in [
        ({"assignment_id": "", "verdict": "ACCEPTED"}, "d.csv, data row 2: assignment_id is missing"),
        (
            {"assignment_id": "a3", "verdict": "maybe"},
            "d.csv, data row 2: verdict must be ACCEPTED or REJECTED",
        ),
        (
            {"assignment_id": "a3", "verdict": "REJECTED"},
            "d.csv, data row 2: rejecting a3 needs a public_comment",
        ),
        ({"assignment_id": "a1", "verdict": "REJECTED", "public_comment": "x"}, "a1 is decided twice"),
    ]:
        with pytest.raises(TolokaInputError, match=words):
            read_decisions([rows[0], bad], "d.csv")


def majority_vote(votes: Any) -> Iterator[Label]:
    """Count ``(task_id, output values)`` votes as the operator does, then take the majority."""
    tally: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for task_id, values in votes:
        tally[task_id][vote_key(values)] += 1
    return majority_of(tally)


def test_majority_vote_counts_and_breaks_ties_the_same_way_every_time() -> None:
    votes = [("t1", {"label": "pos"}), ("t1", {"label": "pos"}), ("t1", {"label": "neg"})]
    # an overlap-2 pool where every other task split: 200 ties, so a random tie-break agrees with itself on a
    # rerun with chance 2**-200, and a fixed order (alphabetical) gives every tie to one label
    for n in range(400):
        votes += [(f"t{n:03}", {"label": "pos"}), (f"t{n:03}", {"label": "neg" if n % 2 else "pos"})]
    labels = list(majority_vote(votes))
    shuffled = votes[:]
    random.Random(7).shuffle(shuffled)
    assert list(majority_vote(shuffled)) == list(majority_vote(reversed(votes))) == labels
    assert (labels[0].task_id, labels[0].label, round(labels[0].confidence, 3), labels[0].answers) == (
        "t000",
        {"label": "pos"},
        1.0,
        2,
    )
    by_id = {lb.task_id: lb for lb in labels}
    assert by_id["t1"] == Label("t1", {"label": "pos"}, 2 / 3, 3, tied=False)
    tied = [lb for lb in labels if lb.tied]
    assert [lb.task_id for lb in tied] == [f"t{n:03}" for n in range(1, 400, 2)]
    assert all(lb.confidence == 0.5 and lb.answers == 2 for lb in tied)
    pos = sum(lb.label == {"label": "pos"} for lb in tied)
    assert 70 <= pos <= 130, pos  # ties split between the labels, not all to one


def test_any_known_solution_that_counts_is_right() -> None:
    task = {
        "id": "t",
        "known_solutions": [
            {"output_values": {"label": "pos"}, "correctness_weight": 1},
            {"output_values": {"label": "neu"}, "correctness_weight": 1},
            {"output_values": {"label": "neg"}, "correctness_weight": 0},  # a known wrong answer
        ],
    }

    def score(answer: str) -> tuple[int, int]:
        return golden_score({"tasks": [task], "solutions": [{"output_values": {"label": answer}}]})

    assert (score("pos"), score("neu"), score("neg")) == ((1, 1), (1, 1), (0, 1))
