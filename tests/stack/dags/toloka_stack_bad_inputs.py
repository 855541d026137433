"""Test-only DAG: one task per bad input (each fails on its own, no retries). Files come from ``params.dir``
(written by the test)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, chain

from airflow_toloka.operators import CreateTasksOperator

GOOD = {"input_values": {"image": "https://example.com/a.jpg"}, "overlap": 1}


def _op(**kwargs: Any) -> CreateTasksOperator:
    kwargs.setdefault("deferrable", True)
    # one after another (all_done): the single executor slot is idle when a trigger fires, see test_bad_inputs
    return CreateTasksOperator(retries=0, poll_interval=1, trigger_rule="all_done", **kwargs)


with DAG(
    dag_id="stack_bad_inputs",
    schedule=None,
    params={"dir": Param("/nonexistent", type="string")},
    tags=["toloka", "test"],
) as dag:
    _op(task_id="no_pool_id", tasks=[GOOD])
    _op(task_id="unknown_pool", toloka_conn_id="toloka_strict", pool_id="9999", tasks=[GOOD])
    _op(
        task_id="missing_field",
        toloka_conn_id="toloka_strict",
        pool_id="6001",
        tasks=[{"input_values": {}, "overlap": 1}],
    )
    _op(
        task_id="unknown_field",
        toloka_conn_id="toloka_strict",
        pool_id="6001",
        tasks=[{"input_values": {"image": "https://example.com/a.jpg", "color": "red"}, "overlap": 1}],
    )
    _op(task_id="non_json_row", pool_id="8001", tasks_path="{{ params.dir }}/bad.jsonl")
    _op(task_id="empty_input", pool_id="8002", tasks_path="{{ params.dir }}/empty.tsv")
    _op(task_id="wrong_token", toloka_conn_id="toloka_badtoken", pool_id="6001", tasks=[GOOD])
    _op(task_id="no_permission", toloka_conn_id="toloka_denied", pool_id="6001", tasks=[GOOD])
    _op(task_id="wrong_url", toloka_conn_id="toloka_down", pool_id="6001", tasks=[GOOD])
    _op(task_id="malformed_extra", toloka_conn_id="toloka_badextra", pool_id="6001", tasks=[GOOD])
    chain(*dag.tasks)
