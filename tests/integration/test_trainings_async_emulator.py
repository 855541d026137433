"""The training actions' ``*_async`` forms against the emulator: an operation, or None when already there."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from tests.integration.test_labels_emulator import PROJECT


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    pass


def test_training_async_actions(toloka_emulator: Any) -> None:
    with TolokaHook() as hook:
        project_id = str(hook.create_project(PROJECT).id)
        body = {
            "project_id": project_id,
            "private_name": "exam",
            "inherited_instructions": True,
            "training_tasks_in_task_suite_count": 1,
        }
        training_id = str(hook.create_training(body).id)
        solution = [{"output_values": {"label": "pos"}}]
        hook.create_task({"pool_id": training_id, "input_values": {"text": "a"}, "known_solutions": solution})
        for action, status in (("open", "OPEN"), ("close", "CLOSED"), ("archive", "ARCHIVED")):
            op = getattr(hook, f"{action}_training_async")(training_id)
            assert op is not None and op.type == f"TRAINING.{action.upper()}"
            assert hook.wait_operation(op).status == "SUCCESS"
            assert hook.get_training(training_id).status == status
            assert getattr(hook, f"{action}_training_async")(training_id) is None  # already there
