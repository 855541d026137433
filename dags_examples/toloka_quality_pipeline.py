"""Labels from a crowd with spammers in it: a training gate, bans, review, and more answers where the crowd disagreed.

1. A skill for the Tolokers' accuracy on control reviews (one per account, found again by every run), and the run's
   pool with its training: only Tolokers who score at least 70 in the training may take it.
2. The pool's quality-control rules, in Toloka's own JSON: its control reviews set the skill, and ban for ten days
   from the project a Toloker right on fewer than 65% of at least three of them; a Toloker who submits two of
   their last five suites in under 15 seconds is banned too (nobody reads four reviews that fast).
3. Open the training and the pool; wait for the crowd; reject suites whose control review was answered wrongly
   (their Tolokers are banned from the project, and their skill set from their control answers).
4. Majority labels of the accepted answers; every review whose majority is not unanimous (a 2-to-1 vote, or two
   answers left that disagree) gets two more answers; wait, review and aggregate again. The report measures the labels against the truth the offline crowd was given.
5. ``labeling_report`` writes the run's report beside the labels: one HTML file that opens offline (who was
   banned or rejected, what it cost, the least certain labels).

``INPUT:truth`` in the data is for the offline emulator only. Configure ``AIRFLOW_CONN_TOLOKA_DEFAULT`` (see the
README); ``out_dir`` is where the labels are written.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_toloka.operators import (
    AggregateResultsOperator,
    CreatePoolOperator,
    CreateProjectOperator,
    CreateSkillOperator,
    CreateTasksOperator,
    LabelingReportOperator,
    OpenPoolOperator,
    RaiseOverlapOperator,
    ReviewAssignmentsOperator,
)
from airflow_toloka.sensors import TolokaPoolSensor

DATA = Path(__file__).parent / "data"
RUN = "{{ dag_run.run_after | ds }}"
OUT = "{{ params.out_dir }}/" + RUN
BAN = {"scope": "PROJECT", "duration": 10, "duration_unit": "DAYS"}


def _rule(conditions: list[tuple[str, str, float]], action: dict[str, Any]) -> dict[str, Any]:
    """One quality-control rule: its conditions (all must hold) and its action."""
    return {"conditions": [{"key": k, "operator": o, "value": v} for k, o, v in conditions], "action": action}


QUALITY_CONTROL = {
    "configs": [
        {
            "collector_config": {"type": "GOLDEN_SET", "parameters": {"history_size": 10}},
            "rules": [
                _rule(
                    [("golden_set_answers_count", "GTE", 3), ("golden_set_correct_answers_rate", "LT", 65)],
                    {"type": "RESTRICTION_V2", "parameters": {**BAN, "private_comment": "control reviews"}},
                ),
                _rule(
                    [("golden_set_answers_count", "GTE", 1)],
                    {
                        "type": "SET_SKILL_FROM_OUTPUT_FIELD",
                        "parameters": {
                            "skill_id": "{{ ti.xcom_pull(task_ids='skill') }}",
                            "from_field": "golden_set_correct_answers_rate",
                        },
                    },
                ),
            ],
        },
        {
            "collector_config": {
                "type": "ASSIGNMENT_SUBMIT_TIME",
                "parameters": {"fast_submit_threshold_seconds": 15, "history_size": 5},
            },
            "rules": [
                _rule(
                    [("total_submitted_count", "GTE", 2), ("fast_submitted_count", "GTE", 2)],
                    {"type": "RESTRICTION_V2", "parameters": {**BAN, "private_comment": "fast submits"}},
                )
            ],
        },
    ]
}

with DAG(
    dag_id="toloka_quality_pipeline",
    schedule="@daily",
    catchup=False,
    params={"out_dir": Param("/tmp/toloka-quality-pipeline", type="string", description="labels")},
    tags=["toloka", "example"],
) as dag:
    project = CreateProjectOperator(
        task_id="project",
        project={
            "public_name": "Is this review positive? (quality-controlled)",
            "public_description": "Read a short product review and say whether it is positive or negative.",
            "task_spec": {
                "input_spec": {
                    "text": {"type": "string", "required": True},
                    "truth": {"type": "string", "required": False, "hidden": True},
                },
                "output_spec": {
                    "label": {"type": "string", "required": True, "allowed_values": ["pos", "neg"]}
                },
                "view_spec": {"type": "tb", "config": "{}"},
            },
        },
    )
    skill = CreateSkillOperator(task_id="skill", name="Review sentiment: control accuracy")
    pool = CreatePoolOperator(
        task_id="pool",
        project_id=project.output["project_id"],
        pool={
            "private_name": "reviews " + RUN,
            "reward_per_assignment": 0.02,
            "assignment_max_duration_seconds": 600,
            "auto_accept_solutions": False,
            "auto_accept_period_day": 3,
            "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
            "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0},
            "quality_control": QUALITY_CONTROL,
        },
        training={
            "private_name": "reviews training " + RUN,
            "may_contain_adult_content": False,
            "assignment_max_duration_seconds": 600,
            "mix_tasks_in_creation_order": False,
            "shuffle_tasks_in_task_suite": True,
            "training_tasks_in_task_suite_count": 5,
            "task_suites_required_to_pass": 1,
            "retry_training_after_days": 1,
            "inherited_instructions": True,
        },
        training_passing_skill_value=70,
        overrides={"will_expire": timedelta(days=2)},
    )
    training = CreateTasksOperator(
        task_id="upload_training_tasks",
        pool_id="{{ ti.xcom_pull(task_ids='pool')['training_id'] }}",
        tasks_path=str(DATA / "quality_training.tsv"),
    )
    control = CreateTasksOperator(
        task_id="upload_control_tasks",
        pool_id=pool.output["pool_id"],
        tasks_path=str(DATA / "quality_golden.tsv"),
    )
    reviews = CreateTasksOperator(
        task_id="upload_reviews",
        pool_id=pool.output["pool_id"],
        tasks_path=str(DATA / "quality_reviews.tsv"),
        allow_defaults=True,
    )
    opened = OpenPoolOperator(task_id="open", pool_id=pool.output["pool_id"], max_cost=20.0)
    crowd = TolokaPoolSensor(task_id="wait_for_crowd", pool_id=pool.output["pool_id"], poll_interval=30)
    review = ReviewAssignmentsOperator(
        task_id="review",
        pool_id=pool.output["pool_id"],
        rule={"min_golden_accuracy": 1.0},
    )
    labels = AggregateResultsOperator(
        task_id="labels",
        pool_id=pool.output["pool_id"],
        fields=["label"],
        method="majority",
        results_path=OUT + "/labels-first.jsonl",
    )
    more = RaiseOverlapOperator(
        task_id="more_answers_where_unsure",
        pool_id=pool.output["pool_id"],
        labels_path="{{ ti.xcom_pull(task_ids='labels')['path'] }}",
        min_confidence=0.7,  # a 2-to-1 majority (0.67) gets two more answers
        add=2,
        max_overlap=5,
    )
    crowd_again = TolokaPoolSensor(task_id="wait_again", pool_id=pool.output["pool_id"], poll_interval=30)
    review_again = ReviewAssignmentsOperator(
        task_id="review_again",
        pool_id=pool.output["pool_id"],
        rule={"min_golden_accuracy": 1.0},
    )
    final = AggregateResultsOperator(
        task_id="final_labels",
        pool_id=pool.output["pool_id"],
        fields=["label"],
        method="majority",
        results_path=OUT + "/labels.jsonl",
    )

    @task
    def report(first: dict[str, Any], last: dict[str, Any], pool_id: str) -> dict[str, Any]:
        """Accuracy of both rounds against the truth the offline crowd was given, and what was paid for."""
        from airflow_toloka.hooks.toloka import TolokaHook

        def scored(path: str) -> float:
            rows = [json.loads(line) for line in ObjectStoragePath(path).read_text().splitlines()]
            return round(sum(r["OUTPUT:label"] == r["INPUT:truth"] for r in rows) / len(rows), 3)

        with TolokaHook() as hook:
            statuses = [a["status"] for page in hook.get_assignment_pages(pool_id=pool_id) for a in page]
        summary = {
            "accuracy_first_round": scored(first["path"]),
            "accuracy": scored(last["path"]),
            "labels": last["labels"],
            "accepted_assignments": statuses.count("ACCEPTED"),
            "rejected_assignments": statuses.count("REJECTED"),
        }
        print(f"Quality report: {json.dumps(summary)}")
        return summary

    skill >> pool >> training
    (
        [training, control, reviews]
        >> opened
        >> crowd
        >> review
        >> labels
        >> more
        >> crowd_again
        >> review_again
        >> final
    )
    report(labels.output, final.output, pool.output["pool_id"])
    final >> LabelingReportOperator(
        task_id="labeling_report",
        pool_id=pool.output["pool_id"],
        labels_path="{{ ti.xcom_pull(task_ids='final_labels')['path'] }}",
        results_path=OUT + "/report.html",
    )
