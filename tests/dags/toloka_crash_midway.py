"""Test DAG: the upload's first try dies after submitting part of its batches; Airflow retries it.

The crash is injected on the first try only, after two of five batches reached Toloka, which is what a worker
killed mid-upload leaves behind. The retry must end with exactly the input's tasks in Toloka, no duplicates.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import CreateTasksOperator

N_TASKS = 5_000
BATCH = 1_000


class _CrashingHook(TolokaHook):
    crash_after: int | None = None

    def _submit(self, *args: Any, **kwargs: Any) -> Any:
        if self.crash_after is not None:
            if self.crash_after == 0:
                raise RuntimeError("simulated worker crash in the middle of the upload")
            self.crash_after -= 1
        return super()._submit(*args, **kwargs)


class CrashOnFirstTryOperator(CreateTasksOperator):
    def execute(self, context: Any) -> Any:
        self._try = context["ti"].try_number
        return super().execute(context)

    @property
    def hook(self) -> TolokaHook:
        hook = _CrashingHook(self.toloka_conn_id, max_in_flight=1, poll_interval=1)
        hook.crash_after = 2 if getattr(self, "_try", 1) == 1 else None
        return hook


with DAG(dag_id="toloka_crash_midway", schedule=None, tags=["toloka", "test"]) as dag:
    CrashOnFirstTryOperator(
        task_id="upload",
        pool_id="4001",
        tasks=[{"input_values": {"n": i}, "overlap": 1} for i in range(N_TASKS)],
        batch_size=BATCH,
        retries=1,
        retry_delay=timedelta(seconds=0),
        deferrable=True,
        poll_interval=1,
        max_ids_in_xcom=10,
    )
