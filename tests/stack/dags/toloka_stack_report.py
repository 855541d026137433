"""Test-only DAG for the "Labeling report" tab on the real stack (copied into the stack's dags folder).

- ``stack_report``: a pool of the example's reviews and control tasks, the crowd, its answers exported and
  aggregated, then ``LabelingReportOperator`` (task ``labeling_report``) writes the report under
  ``params.out_dir``. The api-server's tab serves it (tests/stack/test_report_tab.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_toloka.operators import (
    AggregateResultsOperator,
    CreatePoolOperator,
    CreateProjectOperator,
    CreateTasksOperator,
    ExportAssignmentsOperator,
    LabelingReportOperator,
    OpenPoolOperator,
)
from airflow_toloka.sensors import TolokaPoolSensor

DATA = Path(__file__).parent / "data"
OUT = "{{ params.out_dir }}/{{ run_id }}"

with DAG(
    dag_id="stack_report",
    schedule=None,
    params={"out_dir": Param("/tmp/stack-report", type="string")},
    tags=["toloka", "test"],
):
    project = CreateProjectOperator(
        task_id="project",
        project={
            "public_name": "Is this review positive? (report tab)",
            "public_description": "Say whether a short product review is positive or negative.",
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
    pool_id = CreatePoolOperator(
        task_id="pool",
        project_id=project.output["project_id"],
        pool={
            "private_name": "report tab {{ run_id }}",
            "reward_per_assignment": 0.02,
            "assignment_max_duration_seconds": 600,
            "auto_accept_solutions": True,
            "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
            "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0},
        },
        overrides={"will_expire": timedelta(days=2)},
    ).output["pool_id"]
    control = CreateTasksOperator(
        task_id="upload_control_tasks", pool_id=pool_id, tasks_path=str(DATA / "reviews_golden.tsv")
    )
    reviews = CreateTasksOperator(
        task_id="upload_reviews", pool_id=pool_id, tasks_path=str(DATA / "reviews.tsv"), allow_defaults=True
    )
    opened = OpenPoolOperator(task_id="open", pool_id=pool_id, max_cost=5.0)
    done = TolokaPoolSensor(task_id="wait_for_crowd", pool_id=pool_id, poll_interval=5)
    export = ExportAssignmentsOperator(
        task_id="export_answers", pool_id=pool_id, results_path=OUT + "/answers.jsonl"
    )
    labels = AggregateResultsOperator(
        task_id="aggregate", pool_id=pool_id, fields=["label"], results_path=OUT + "/labels.jsonl"
    )
    report = LabelingReportOperator(
        task_id="labeling_report",
        pool_id=pool_id,
        labels_path=OUT + "/labels.jsonl",
        answers_path=OUT + "/answers.jsonl",
        results_path=OUT + "/report.html",
    )
    [control, reviews] >> opened >> done >> export >> labels >> report
