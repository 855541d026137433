"""Test DAG: every step that reports OpenLineage lineage, and a plain task that reads the labels file.

A pool made from a template, tasks uploaded from a file (deferred, so the lineage comes from the resumed
execution), the answers exported and the labels aggregated to files, and a ``@task`` that reads the labels through
``ObjectStoragePath``, which reports its input through Airflow's hook lineage. Nobody answers in the emulator
without a crowd, so the files are empty (``allow_empty``): what is checked is where lineage says data went.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_toloka.operators import (
    AggregateResultsOperator,
    CreatePoolOperator,
    CreateTasksOperator,
    ExportAssignmentsOperator,
)

OUT = "{{ params.out_dir }}"

with DAG(
    dag_id="toloka_lineage",
    schedule=None,
    catchup=False,
    params={
        "template_pool_id": Param("", type="string"),
        "tasks_path": Param("", type="string"),
        "out_dir": Param("", type="string"),
    },
):
    pool = CreatePoolOperator(
        task_id="create_pool",
        clone_from="{{ params.template_pool_id }}",
        overrides={"private_name": "lineage {{ run_id }}", "will_expire": timedelta(days=7)},
    )
    upload = CreateTasksOperator(
        task_id="upload_tasks",
        pool_id=pool.output["pool_id"],
        tasks_path="{{ params.tasks_path }}",
        allow_defaults=True,
        deferrable=True,
        poll_interval=0.5,
    )
    export = ExportAssignmentsOperator(
        task_id="export_answers", pool_id=pool.output["pool_id"], results_path=OUT + "/answers.jsonl"
    )
    labels = AggregateResultsOperator(
        task_id="aggregate",
        pool_id=pool.output["pool_id"],
        fields=["result"],
        results_path=OUT + "/labels.jsonl",
        allow_empty=True,
    )

    @task
    def train(summary: dict[str, str]) -> int:
        """Stands in for a job that reads the labels: through ObjectStoragePath, as Airflow's providers do."""
        with ObjectStoragePath(f"file://{summary['path']}").open() as labels:
            return len(labels.read().splitlines())

    upload >> export >> labels
    train(labels.output)
