"""One upload per pool with dynamic task mapping: each mapped instance fills its own pool, idempotently.

Every mapped instance gets its own idempotency key (dag, run, task, map index), so retrying one pool's upload
never duplicates another's, and the summary sums what each instance created.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG, task

from airflow_toloka.operators import CreateTasksOperator

DATA = Path(__file__).parent / "data"

with DAG(dag_id="toloka_multi_pool_mapping", schedule=None, tags=["toloka", "example"]) as dag:

    @task
    def pools() -> list[str]:
        return ["3001", "3002", "3003"]

    uploads = CreateTasksOperator.partial(
        task_id="upload_golden_set",
        tasks_path=str(DATA / "golden.tsv"),
        deferrable=True,
        poll_interval=10,
    ).expand(pool_id=pools())

    @task
    def summarize(summaries: list[dict]) -> dict[str, int]:
        created = {s["pool_ids"][0]: s["created"] for s in summaries}
        print(f"Created per pool: {created}")
        return created

    summarize(uploads.output)
