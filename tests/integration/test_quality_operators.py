"""CreateSkillOperator and RaiseOverlapOperator against the emulator: one skill per name, and more answers on the
tasks the crowd disagreed on, asked for once however often the task runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import (
    AggregateResultsOperator,
    CreateSkillOperator,
    RaiseOverlapOperator,
    ReviewAssignmentsOperator,
)
from airflow_toloka.operators.quality import ban_until, golden_rates
from tests.integration.test_labels_emulator import N_TASKS, OVERLAP, context, labeled_pool


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    pass


def test_a_skill_is_made_once_and_found_by_name(toloka_emulator: Any) -> None:
    first = CreateSkillOperator(task_id="skill", name="accuracy").execute(context("skill"))
    again = CreateSkillOperator(task_id="skill", name="accuracy").execute(context("skill"))
    other = CreateSkillOperator(task_id="skill", name="accuracy 2").execute(context("skill"))
    assert first == again != other
    with TolokaHook() as hook:
        assert [s.name for s in hook.get_skills()] == ["accuracy", "accuracy 2"]
    assert toloka_emulator.stats()["requests"]["POST /api/v1/skills"] == 2


def aggregate(pool_id: str, path: Path) -> dict[str, Any]:
    op = AggregateResultsOperator(
        task_id="labels", pool_id=pool_id, fields=["label"], method="majority", results_path=str(path)
    )
    return op.execute(context("labels"))  # type: ignore[no-any-return]


def test_unsure_labels_get_more_answers_once(toloka_emulator: Any, tmp_path: Path) -> None:
    # a 60%-accurate crowd disagrees on many reviews; rejected work (wrong control answers) is redone too
    pool_id = labeled_pool(toloka_emulator, manual_review=True, golden=2, accuracy=0.6)
    review = ReviewAssignmentsOperator(task_id="review", pool_id=pool_id, rule={"min_golden_accuracy": 1.0})
    reviewed = review.execute(context("review"))
    assert reviewed["rejected"] > 0
    first = tmp_path / "labels.jsonl"
    aggregate(pool_id, first)
    rows = [json.loads(line) for line in first.read_text().splitlines()]
    unsure = {r["task_id"]: r for r in rows if r["confidence"] < 0.7}
    assert unsure and len(unsure) < N_TASKS

    raise_op = RaiseOverlapOperator(
        task_id="more", pool_id=pool_id, labels_path=str(first), min_confidence=0.7, add=2, max_overlap=6
    )
    with TolokaHook() as hook:
        issued = {t: hook.get_task(t).overlap for t in unsure}
        assert raise_op.execute(context("more")) == len(unsure)
        assert hook.get_pool(pool_id).status == "OPEN"
        raised = {t: hook.get_task(t) for t in unsure}
        for task_id, task in raised.items():
            assert task.overlap == min(6, issued[task_id] + 2), (task_id, issued[task_id], task)
        # a retry before the crowd moved asks for nothing more, and says the same
        assert raise_op.execute(context("more")) == len(unsure)
        assert {t: hook.get_task(t).overlap for t in unsure} == {
            t: task.overlap for t, task in raised.items()
        }
        sure = [r["task_id"] for r in rows if r["task_id"] not in unsure]
        assert all(hook.get_task(t).overlap == OVERLAP for t in sure)

        toloka_emulator.advance(2 * 86400)
        assert hook.get_pool(pool_id).status == "CLOSED"
        # the crowd has answered both control tasks already, so the new work holds none to judge it by
        ReviewAssignmentsOperator(
            task_id="review", pool_id=pool_id, rule={"min_golden_accuracy": 1.0}, allow_no_control_tasks=True
        ).execute(context("review"))
        second = aggregate(pool_id, tmp_path / "labels2.jsonl")
        after = {
            json.loads(line)["task_id"]: json.loads(line)
            for line in (tmp_path / "labels2.jsonl").read_text().splitlines()
        }
        assert second["labels"] == N_TASKS
        assert all(after[t]["answers"] > unsure[t]["answers"] for t in unsure)
        # once the crowd answered, a retry of the raise step still adds nothing
        before = toloka_emulator.stats()["requests"].get("PATCH /api/v1/tasks/{id}/set-overlap-or-min", 0)
        assert raise_op.execute(context("more")) == len(unsure)
        assert (
            toloka_emulator.stats()["requests"].get("PATCH /api/v1/tasks/{id}/set-overlap-or-min", 0)
            == before
        )
        assert hook.get_pool(pool_id).status == "CLOSED"


def test_sure_labels_leave_the_pool_alone(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator, accuracy=1.0)
    path = tmp_path / "labels.csv"
    aggregate(pool_id, path)
    op = RaiseOverlapOperator(task_id="more", pool_id=pool_id, labels_path=str(path), min_confidence=0.9)
    assert op.execute(context("more")) == 0
    with TolokaHook() as hook:
        assert hook.get_pool(pool_id).status == "CLOSED"


def test_a_file_that_is_not_labels_is_named(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text('{"task_id": "1", "confidence": 0.5, "answers": 2}\n{"task_id": "2"}\n')
    op = RaiseOverlapOperator(task_id="more", pool_id="1", labels_path=str(path), min_confidence=0.9)
    with pytest.raises(TolokaInputError, match=r"answers.jsonl: data row 2 "):
        op.execute(context("more"))


def test_bad_arguments_fail_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="min_confidence"):
        RaiseOverlapOperator(task_id="m", pool_id="1", labels_path="x", min_confidence=0)
    with pytest.raises(ValueError, match="add"):
        RaiseOverlapOperator(task_id="m", pool_id="1", labels_path="x", min_confidence=0.5, add=0)
    with pytest.raises(ValueError, match="name"):
        CreateSkillOperator(task_id="s", name=" ")


def test_the_review_rule_bans_the_rejected_and_sets_their_skill(toloka_emulator: Any) -> None:
    pool_id = labeled_pool(toloka_emulator, manual_review=True, golden=2, accuracy=0.6)
    skill_id = CreateSkillOperator(task_id="skill", name="control accuracy").execute(context("skill"))
    rule = {
        "min_golden_accuracy": 1.0,
        "restrict": {"scope": "PROJECT", "duration": 2, "duration_unit": "DAYS"},
        "skill_id": skill_id,
    }
    with TolokaHook() as hook:
        submitted = [
            a for page in hook.get_assignment_pages(pool_id=pool_id, status="SUBMITTED") for a in page
        ]
        project_id = hook.get_pool(pool_id).project_id
    result = ReviewAssignmentsOperator(task_id="review", pool_id=pool_id, rule=rule).execute(
        context("review")
    )
    with TolokaHook() as hook:
        statuses = {a.id: a.status for a in hook.get_assignments(pool_id=pool_id)}
        rejected_users = {a["user_id"] for a in submitted if statuses[a["id"]] == "REJECTED"}
        bans = list(hook.get_user_restrictions(project_id=project_id))
        skills = {s.user_id: float(s.exact_value or 0) for s in hook.get_user_skills(skill_id=skill_id)}
    assert rejected_users and result["banned"] == len(rejected_users)
    assert {b.user_id for b in bans} == rejected_users
    assert all(b.scope == "PROJECT" and b.will_expire is not None for b in bans)
    assert set(skills) == {a["user_id"] for a in submitted} and result["skills_set"] == len(skills)
    assert all(skills[user] < 100 for user in rejected_users)  # a rejection means a control answer was wrong


def test_ban_terms_and_golden_rates() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert ban_until({"duration": 3, "duration_unit": "HOURS"}, now) == now + timedelta(hours=3)
    assert ban_until({"duration_unit": "PERMANENT"}, now) is None
    for bad in (
        {"duration": 0, "duration_unit": "DAYS"},
        {"duration_unit": "WEEKS", "duration": 1},
        {"duration_unit": "DAYS"},
    ):
        with pytest.raises(TolokaInputError):
            ban_until(bad, now)
    assert golden_rates([("a", 1, 2), ("a", 2, 2), ("b", 0, 0), ("c", 0, 1)]) == {"a": 75.0, "c": 0.0}
