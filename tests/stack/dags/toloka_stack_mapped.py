"""Test-only DAG for the distributed stack (copied into the stack's dags folder).

``stack_mapped_upload``: one deferrable upload per ``*.tsv`` file in ``params.dir``, all into ``params.pool_id``,
mapped over the files, so the uploads spread over the Celery workers and their waits over the triggerers.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_toloka.operators import CreateTasksOperator

with DAG(
    dag_id="stack_mapped_upload",
    schedule=None,
    params={"pool_id": Param("7401", type="string"), "dir": Param("/nonexistent", type="string")},
    max_active_tasks=64,
    tags=["toloka", "test"],
) as mapped:

    @task
    def files(**context: Any) -> list[str]:
        return sorted(str(p) for p in Path(context["params"]["dir"]).glob("*.tsv"))

    CreateTasksOperator.partial(
        task_id="upload",
        pool_id="{{ params.pool_id }}",
        allow_defaults=True,
        batch_size=1_000,
        deferrable=True,
        poll_interval=10,  # the first poll 5-10 s after deferral: past the stale-executor-event window
        max_ids_in_xcom=10,
        retries=2,
        retry_delay=timedelta(seconds=1),
    ).expand(tasks_path=files())
