"""Nightly task-suite upload: submit, free the worker, wait in the triggerer, then consume the results.

The upload only submits (``wait_for_completion=False``) and pushes its operation ids; the deferrable sensor
waits for them without holding a worker slot; the consumer maps each suite back to its created id.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import CreateTaskSuitesOperator
from airflow_toloka.sensors import TolokaOperationSensor

DATA = Path(__file__).parent / "data"

with DAG(
    dag_id="toloka_nightly_task_suites",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"pool_id": Param("2001", type="string", description="Toloka pool of the suites")},
    tags=["toloka", "example"],
) as dag:
    upload = CreateTaskSuitesOperator(
        task_id="upload_suites",
        pool_id="{{ params.pool_id }}",
        task_suites_path=str(DATA / "suites.jsonl"),
        wait_for_completion=False,
    )

    wait = TolokaOperationSensor(
        task_id="wait_for_toloka",
        operation_id=upload.output["operation_ids"],
        deferrable=True,
        poll_interval=10,
        timeout=3600,
    )

    @task
    def consume(operation_ids: list[str]) -> int:
        result = TolokaHook().operation_results("task_suites", operation_ids)
        print(f"{len(result.items)} task suites created, {len(result.validation_errors)} rejected")
        return len(result.items)

    suites = consume(upload.output["operation_ids"])
    wait >> suites
