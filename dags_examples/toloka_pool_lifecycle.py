"""One labeling run per day: clone the template pool, fill it, open it, wait for the crowd, archive it.

The template pool holds everything that stays the same from run to run (price, overlap, quality control); each
run makes a pool with its settings under the run's date, so a retry, a cleared task or a re-run of the same date
finds the pool the first try made instead of making another. The wait for the crowd (hours on Toloka) is deferred to the
triggerer: no worker slot is held while Tolokers label.

Configure ``AIRFLOW_CONN_TOLOKA_DEFAULT`` (see the README) and set ``template_pool_id`` to your template pool.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_toloka.operators import (
    ArchivePoolOperator,
    CreatePoolOperator,
    CreateTasksOperator,
    OpenPoolOperator,
)
from airflow_toloka.sensors import TolokaPoolSensor

DATA = Path(__file__).parent / "data"

with DAG(
    dag_id="toloka_pool_lifecycle",
    schedule="@daily",
    catchup=False,
    params={
        "template_pool_id": Param("1", type="string", description="Toloka pool to clone for each run"),
    },
    tags=["toloka", "example"],
) as dag:
    pool = CreatePoolOperator(
        task_id="create_pool",
        clone_from="{{ params.template_pool_id }}",
        overrides={
            "private_name": "images {{ dag_run.run_after | ds }}",  # a manual run may have no logical date
            "will_expire": timedelta(days=7),
        },
    )

    upload = CreateTasksOperator(
        task_id="upload_tasks",
        pool_id=pool.output["pool_id"],
        tasks_path=str(DATA / "images.tsv"),
        allow_defaults=True,
        deferrable=True,
        poll_interval=10,
    )

    open_pool = OpenPoolOperator(task_id="open_pool", pool_id=pool.output["pool_id"])

    labeled = TolokaPoolSensor(
        task_id="wait_for_labels",
        pool_id=pool.output["pool_id"],
        poll_interval=60,
        timeout=3600 * 48,  # the crowd may take two days; past that the task fails (the pool goes on)
    )

    archive = ArchivePoolOperator(task_id="archive_pool", pool_id=pool.output["pool_id"])

    upload >> open_pool >> labeled >> archive
