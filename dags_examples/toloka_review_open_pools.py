"""Review the crowd's work while the pools are still open, every hour.

Toloka accepts (and pays for) a SUBMITTED assignment by itself once the pool's ``auto_accept_period_day`` has
passed. A pool that runs for days must therefore be reviewed while it runs, not once it closes: this DAG lists a
project's OPEN pools each hour and reviews each one's SUBMITTED assignments by its control tasks, one mapped task
per pool (``.expand``). An hour with no open pool maps nothing, and the review tasks are skipped.

Each review is idempotent: only SUBMITTED assignments are decided, so an overlapping or repeated run decides only
what is left. Give every suite a control task (``mixer_config.golden_tasks_count`` of at least 1): a pool whose
SUBMITTED assignments hold none fails its review rather than accepting them blindly.

Configure ``AIRFLOW_CONN_TOLOKA_DEFAULT`` (see the README) and set ``project_id`` to your project.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, task

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import ReviewAssignmentsOperator

with DAG(
    dag_id="toloka_review_open_pools",
    schedule="@hourly",
    catchup=False,
    max_active_runs=1,  # two runs at once would only race for the same SUBMITTED assignments
    params={
        "project_id": Param("1", type="string", description="the Toloka project whose open pools to review")
    },
    tags=["toloka", "example"],
) as dag:

    @task
    def open_pools(project_id: str) -> list[str]:
        """The ids of the project's OPEN pools (none: the reviews below are skipped)."""
        with TolokaHook() as hook:
            return [str(pool.id) for pool in hook.get_pools(project_id=project_id, status="OPEN")]

    ReviewAssignmentsOperator.partial(
        task_id="review",
        rule={"min_golden_accuracy": 0.6, "comment": "Control tasks: {correct} of {total} right"},
        max_active_tis_per_dagrun=4,
    ).expand(pool_id=open_pools("{{ params.project_id }}"))
