"""The pools an upload reports to OpenLineage are the pools its items went to, however the upload ended."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.lineage import LineageDataset
from airflow_toloka.operators import CreateTasksOperator
from tests.specs import IMAGES_PROJECT, pool_spec


def context() -> dict[str, Any]:
    return {"ti": MagicMock(dag_id="d", run_id="r", task_id="up", map_index=-1, try_number=1)}


@pytest.fixture
def two_pools(toloka_emulator: Any, toloka_emulator_conn: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """A tasks file whose rows name their pools themselves (no ``pool_id=`` on the operator)."""
    with TolokaHook() as hook:
        project = hook.create_project(IMAGES_PROJECT)
        pools = [hook.create_pool(pool_spec(project.id, private_name=f"p{i}")).id for i in range(2)]
    tasks = tmp_path / "tasks.tsv"
    rows = [f"https://example.com/{i}.jpg\t{pools[i % 2]}\n" for i in range(4)]
    tasks.write_text("INPUT:image\tpool_id\n" + "".join(rows))
    return tasks, pools


def lineage_of(op: CreateTasksOperator, host: str) -> tuple[list[LineageDataset], list[LineageDataset]]:
    found = op.lineage_datasets()
    namespace = "toloka://" + host.split("://", 1)[1]
    assert all(d.namespace == namespace for d in found[1])
    return found


def test_a_finished_upload_reports_each_pool_its_rows_named(
    two_pools: tuple[Path, list[str]], toloka_emulator: Any
) -> None:
    tasks, pools = two_pools
    op = CreateTasksOperator(task_id="up", tasks_path=str(tasks), allow_defaults=True, poll_interval=0.2)
    op.execute(context())
    inputs, outputs = lineage_of(op, toloka_emulator.url)
    assert inputs == [LineageDataset("file", str(tasks))]
    assert sorted(d.name for d in outputs) == sorted(f"pools/{p}" for p in pools)


def test_an_upload_not_waited_for_reports_its_pools(
    two_pools: tuple[Path, list[str]], toloka_emulator: Any
) -> None:
    tasks, pools = two_pools
    op = CreateTasksOperator(
        task_id="up", tasks_path=str(tasks), allow_defaults=True, wait_for_completion=False
    )
    assert op.execute(context())["status"] == "SUBMITTED"
    assert sorted(d.name for d in lineage_of(op, toloka_emulator.url)[1]) == sorted(
        f"pools/{p}" for p in pools
    )


def test_a_resumed_upload_reports_its_pools(two_pools: tuple[Path, list[str]], toloka_emulator: Any) -> None:
    """After a deferral the task resumes in a new process: a new operator, which knows only the trigger's event."""
    tasks, pools = two_pools
    kwargs: dict[str, Any] = {"task_id": "up", "tasks_path": str(tasks), "allow_defaults": True}
    with pytest.raises(TaskDeferred) as deferred:
        CreateTasksOperator(deferrable=True, **kwargs).execute(context())
    ids = deferred.value.trigger.serialize()[1]["operation_ids"]
    resumed = CreateTasksOperator(**kwargs)
    resumed.hook.wait_operations(ids, timeout=30)  # what the trigger waits for before it fires
    resumed.execute_complete(context(), {"status": "success", "operation_ids": ids}, total=4)
    assert sorted(d.name for d in lineage_of(resumed, toloka_emulator.url)[1]) == sorted(
        f"pools/{p}" for p in pools
    )
