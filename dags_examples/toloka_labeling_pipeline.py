"""The whole labeling loop, every night: project, pool, tasks, crowd, review, labels, and a model retrained on them.

1. Reuse the project (created by the first run), make the run's pool (manual review, 3 answers per task, one
   control task in every suite of five), upload control tasks and the night's reviews.
2. Open the pool if its estimated cost is within budget and the balance (else it stays closed and the run fails
   naming both), and wait, deferred, until the crowd has COMPLETED it (no worker slot is held; the triggerer logs
   progress and spend every poll).
3. Export every answer, review each assignment by its control tasks (reject below 50% right), and aggregate the
   accepted answers into one label per review (majority vote). Tolokers whose control answers were all right
   (at least three) get a bonus, once per pool however often the run is retried or repeated.
4. The labels file is an Airflow Asset: ``toloka_retrain_on_labels`` below is scheduled by it, and runs when a
   night's labels land.
5. ``labeling_report`` writes the night's report beside the labels: one HTML file (numbers, charts, the least
   certain labels) that opens offline; its path and headline numbers are its XCom.

``INPUT:truth`` in the data is for the offline emulator only: its simulated Tolokers answer it with probability
``--crowd-accuracy``, and the ``report`` task measures the labels against it. Drop it against real Toloka.

Configure ``AIRFLOW_CONN_TOLOKA_DEFAULT`` (see the README); ``out_dir`` is where answers and labels are written
(any ``ObjectStoragePath``, e.g. ``s3://bucket/labels``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, ObjectStoragePath, Param, task

from airflow_toloka.operators import (
    AggregateResultsOperator,
    CreatePoolOperator,
    CreateProjectOperator,
    CreateTasksOperator,
    ExportAssignmentsOperator,
    LabelingReportOperator,
    OpenPoolOperator,
    PayBonusesOperator,
    ReviewAssignmentsOperator,
)
from airflow_toloka.sensors import TolokaPoolSensor

DATA = Path(__file__).parent / "data"
LABELS = Asset(name="toloka_review_sentiment_labels", uri="file:///toloka/review-sentiment/labels")
RUN = "{{ dag_run.run_after | ds }}"
OUT = "{{ params.out_dir }}/" + RUN

with DAG(
    dag_id="toloka_labeling_pipeline",
    schedule="@daily",
    catchup=False,
    params={
        "out_dir": Param("/tmp/toloka-labeling-pipeline", type="string", description="answers and labels")
    },
    tags=["toloka", "example"],
) as dag:
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
            "private_name": "reviews " + RUN,
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
        deferrable=True,
        poll_interval=10,  # the first poll 5-10 s after deferral (see docs/performance.md, "Triggers")
    )
    reviews = CreateTasksOperator(
        task_id="upload_reviews",
        pool_id=pool.output["pool_id"],
        tasks_path=str(DATA / "reviews.tsv"),
        allow_defaults=True,
        deferrable=True,
        poll_interval=10,  # the first poll 5-10 s after deferral (see docs/performance.md, "Triggers")
    )
    # At most 45 assignments (180 answers in suites of four reviews) at $0.02 plus Toloka's fee: about $1.17.
    opened = OpenPoolOperator(task_id="open", pool_id=pool.output["pool_id"], max_cost=5.0)
    labeled = TolokaPoolSensor(task_id="wait_for_crowd", pool_id=pool.output["pool_id"], poll_interval=30)
    export = ExportAssignmentsOperator(
        task_id="export_answers",
        pool_id=pool.output["pool_id"],
        status=("SUBMITTED", "ACCEPTED", "REJECTED"),
        results_path=OUT + "/answers.jsonl",
    )
    review = ReviewAssignmentsOperator(
        task_id="review",
        pool_id=pool.output["pool_id"],
        rule={"min_golden_accuracy": 0.5},
    )
    aggregate = AggregateResultsOperator(
        task_id="aggregate",
        pool_id=pool.output["pool_id"],
        fields=["label"],
        method="majority",
        results_path=OUT + "/labels.jsonl",
        outlets=[LABELS],
    )

    bonuses = PayBonusesOperator(
        task_id="bonuses",
        pool_id=pool.output["pool_id"],
        rule={
            "min_golden_accuracy": 1.0,
            "min_golden_tasks": 3,
            "amount": 0.05,
            "public_title": "Thank you",
            "public_message": "Every control review you labeled was right.",
        },
        max_total=1.0,
    )

    @task
    def report(
        labels: dict[str, Any],
        reviewed: dict[str, Any],
        answers: dict[str, Any],
        opened: dict[str, Any],
        paid: dict[str, Any],
    ) -> dict[str, Any]:
        """Accuracy of the labels against the truth the offline crowd was given."""
        rows = [json.loads(line) for line in ObjectStoragePath(labels["path"]).read_text().splitlines()]
        scored = [r for r in rows if r.get("INPUT:truth")]
        right = sum(r["OUTPUT:label"] == r["INPUT:truth"] for r in scored)
        summary = {
            "answers": answers["rows"],
            "assignments": answers["assignments"],
            "accepted": reviewed["accepted"],
            "rejected": reviewed["rejected"],
            "labels": labels["labels"],
            "accuracy": round(right / len(scored), 3) if scored else None,
            "estimated_cost": (opened.get("estimated_cost") or {}).get("total"),
            "bonuses": paid["paid"],
            "bonus_amount": paid["amount"],
        }
        print(f"Labeling report: {json.dumps(summary)}")
        return summary

    labeling_report = LabelingReportOperator(
        task_id="labeling_report",
        pool_id=pool.output["pool_id"],
        labels_path="{{ ti.xcom_pull(task_ids='aggregate')['path'] }}",
        answers_path="{{ ti.xcom_pull(task_ids='export_answers')['path'] }}",
        results_path=OUT + "/report.html",
    )

    [control, reviews] >> opened >> labeled >> export >> review >> [aggregate, bonuses]
    report(aggregate.output, review.output, export.output, opened.output, bonuses.output)
    [aggregate, bonuses] >> labeling_report  # after the bonuses, so the report counts them


with DAG(dag_id="toloka_retrain_on_labels", schedule=[LABELS], catchup=False, tags=["toloka", "example"]):

    @task
    def retrain(**context: Any) -> list[str]:
        """Stands in for a training job: it learns which label files arrived."""
        paths = [
            e.extra.get("path") for events in context["triggering_asset_events"].values() for e in events
        ]
        print(f"Retraining on {paths}")
        return [str(p) for p in paths]

    retrain()
