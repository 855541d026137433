"""Test-only DAGs for the real-stack fault scenarios (copied into the stack's dags folder).

- ``stack_bulk_upload``: tasks from the TSV at ``params.path`` into ``params.pool_id``, deferrable, retried.
- ``stack_operation_fail``: an upload to ``toloka_strict``'s pool with ``skip_invalid_items`` (the spec check is
  left to Toloka) whose every item breaks the pool's input spec, so the operation FAILs.
- ``stack_emulator_down``: an upload through ``toloka_down``, a connection to a port nobody listens on; the hook
  retries with a short backoff so the test stays quick.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import CreateTasksOperator

with DAG(
    dag_id="stack_bulk_upload",
    schedule=None,
    params={
        "pool_id": Param("7001", type="string"),
        "path": Param("/nonexistent.tsv", type="string"),
    },
    tags=["toloka", "test"],
) as bulk:
    CreateTasksOperator(
        task_id="upload",
        pool_id="{{ params.pool_id }}",
        tasks_path="{{ params.path }}",
        allow_defaults=True,
        batch_size=1_000,
        max_in_flight=1,
        deferrable=True,
        poll_interval=10,  # the first poll 5-10 s after deferral: past the stale-executor-event window
        max_ids_in_xcom=10,
        retries=2,
        retry_delay=timedelta(seconds=1),
    )


with DAG(dag_id="stack_operation_fail", schedule=None, tags=["toloka", "test"]) as failing:
    CreateTasksOperator(
        task_id="upload",
        toloka_conn_id="toloka_strict",
        pool_id="6001",
        tasks=[
            {"input_values": {"image": "not a URL a"}, "overlap": 1},
            {"input_values": {"image": "not a URL b"}, "overlap": 1},
            {"input_values": {"image": "not a URL c"}, "overlap": 1},
        ],
        skip_invalid_items=True,
        deferrable=True,
        poll_interval=1,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )


class _QuickRetryOperator(CreateTasksOperator):
    @property
    def hook(self) -> TolokaHook:
        return TolokaHook(self.toloka_conn_id, retry_limit=3, retry_delay=0.2, retry_budget=20, timeout=5)


with DAG(dag_id="stack_emulator_down", schedule=None, tags=["toloka", "test"]) as down:
    _QuickRetryOperator(
        task_id="upload",
        toloka_conn_id="toloka_down",
        pool_id="6101",
        tasks=[{"input_values": {"n": i}, "overlap": 1} for i in range(50)],
        deferrable=True,
        poll_interval=1,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
