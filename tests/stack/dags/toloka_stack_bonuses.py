"""Test-only DAG for bonuses on the real stack (copied into the stack's dags folder).

- ``stack_bonuses``: pays the bonuses of the JSONL file at ``params.path``, retried once by Airflow. Its hook gives up
  after one retry of a request, so an outage of two lost answers outlasts it and the task's Airflow retry runs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param

from airflow_toloka.operators import PayBonusesOperator


class ShortRetryPayBonusesOperator(PayBonusesOperator):
    """Gives up on a request after one retry (the production default is 8, over minutes)."""

    def hook_options(self) -> dict[str, Any]:
        return {**super().hook_options(), "retry_limit": 1, "retry_delay": 0.1}


with DAG(
    dag_id="stack_bonuses",
    schedule=None,
    params={"path": Param("/nonexistent.jsonl", type="string")},
    tags=["toloka", "test"],
) as bonuses:
    ShortRetryPayBonusesOperator(
        task_id="pay",
        bonuses_path="{{ params.path }}",
        max_total=10,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
