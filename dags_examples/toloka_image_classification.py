"""Image classification labeling, the classic Toloka recipe as a DAG.

A control task with a known answer is shown to every Toloker (``infinite_overlap``) to check their quality; the
general tasks come from a TSV of image URLs. Both uploads defer while Toloka works, so no worker slot waits,
and the downstream task reads how many tasks were created from XCom.

Configure ``AIRFLOW_CONN_TOLOKA_DEFAULT`` (see the README) and set the ``pool_id`` param to your pool.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG, Param, task

from airflow_toloka.operators import CreateTasksOperator

DATA = Path(__file__).parent / "data"

with DAG(
    dag_id="toloka_image_classification",
    schedule=None,
    params={"pool_id": Param("1001", type="string", description="Toloka pool to fill")},
    tags=["toloka", "example"],
) as dag:
    control_tasks = CreateTasksOperator(
        task_id="upload_control_tasks",
        pool_id="{{ params.pool_id }}",
        tasks=[
            {
                "input_values": {"image": "https://example.com/golden/cat-001.jpg"},
                "known_solutions": [{"output_values": {"result": "cat"}, "correctness_weight": 1}],
                "message_on_unknown_solution": "There is a cat in the picture.",
                "infinite_overlap": True,
            }
        ],
        deferrable=True,
        poll_interval=10,
    )

    general_tasks = CreateTasksOperator(
        task_id="upload_tasks",
        pool_id="{{ params.pool_id }}",
        tasks_path=str(DATA / "images.tsv"),
        allow_defaults=True,
        open_pool=True,
        deferrable=True,
        poll_interval=10,
    )

    @task
    def report(control: dict, general: dict) -> int:
        created = control["created"] + general["created"]
        print(
            f"Created {created} tasks ({control['created']} control, {general['created']} general) "
            f"in pool(s) {sorted(set(control['pool_ids']) | set(general['pool_ids']))}"
        )
        return created

    report(control_tasks.output, general_tasks.output)
