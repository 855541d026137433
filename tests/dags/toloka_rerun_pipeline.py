"""Test DAG: the README's whole pipeline, ending in an archived pool, to be run twice for one logical date.

project -> pool -> upload -> open -> wait -> export -> review -> labels -> archive. A second run of the same date
must find the first run's (archived) pool, not make and pay for a second one: its upload fails, saying so, before
sending anything, and the first run's answers file stays as it was. Waits poll on the worker at short intervals
(no deferral), to keep the test quick.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_toloka.operators import (
    AggregateResultsOperator,
    ArchivePoolOperator,
    CreatePoolOperator,
    CreateProjectOperator,
    CreateTasksOperator,
    ExportAssignmentsOperator,
    OpenPoolOperator,
    ReviewAssignmentsOperator,
)
from airflow_toloka.sensors import TolokaPoolSensor

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data"
OUT = "{{ params.out_dir }}/{{ ds }}"

with DAG(
    dag_id="toloka_rerun_pipeline",
    schedule="@daily",
    catchup=False,
    params={"out_dir": Param("/tmp/toloka-rerun-pipeline", type="string")},
):
    project = CreateProjectOperator(
        task_id="project",
        project={
            "public_name": "Is this review positive?",
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
    pool = CreatePoolOperator(
        task_id="pool",
        project_id=project.output["project_id"],
        pool={
            "private_name": "reviews {{ ds }}",
            "reward_per_assignment": 0.02,
            "assignment_max_duration_seconds": 600,
            "auto_accept_solutions": False,
            "auto_accept_period_day": 3,
            "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
            "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0},
        },
        overrides={"will_expire": timedelta(days=2)},
    )
    control = CreateTasksOperator(
        task_id="upload_control_tasks",
        pool_id=pool.output["pool_id"],
        tasks_path=str(DATA / "reviews_golden.tsv"),
        poll_interval=0.5,
    )
    reviews = CreateTasksOperator(
        task_id="upload_reviews",
        pool_id=pool.output["pool_id"],
        tasks_path=str(DATA / "reviews.tsv"),
        allow_defaults=True,
        poll_interval=0.5,
    )
    opened = OpenPoolOperator(task_id="open", pool_id=pool.output["pool_id"], poll_interval=0.5)
    labeled = TolokaPoolSensor(
        task_id="wait_for_crowd", pool_id=pool.output["pool_id"], deferrable=False, poll_interval=1
    )
    export = ExportAssignmentsOperator(
        task_id="export_answers",
        pool_id=pool.output["pool_id"],
        status=("SUBMITTED", "ACCEPTED", "REJECTED"),
        results_path=OUT + "/answers.jsonl",
    )
    review = ReviewAssignmentsOperator(
        task_id="review", pool_id=pool.output["pool_id"], rule={"min_golden_accuracy": 0.5}
    )
    labels = AggregateResultsOperator(
        task_id="labels", pool_id=pool.output["pool_id"], fields=["label"], results_path=OUT + "/labels.jsonl"
    )
    archive = ArchivePoolOperator(task_id="archive", pool_id=pool.output["pool_id"], poll_interval=0.5)

    [control, reviews] >> opened >> labeled >> export >> review >> labels >> archive
