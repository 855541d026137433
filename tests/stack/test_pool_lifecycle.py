"""The pool lifecycle example on the real stack: clone, upload, open, wait for the simulated crowd in the
triggerer (restarted mid-wait), archive."""

from __future__ import annotations

import json
import re
import signal

import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from tests.specs import IMAGES_PROJECT, pool_spec
from tests.stack.conftest import TOKEN, Stack, wait_for
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.stack

DAG_ID = "toloka_pool_lifecycle"


def test_pool_lifecycle_waits_for_the_crowd_through_a_triggerer_restart(
    stack: Stack, stack_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": stack_emulator.url, "password": TOKEN}),
    )
    stack_emulator.configure(crowd=0)  # nobody labels until the wait is under way
    with TolokaHook() as hook:
        project = hook.create_project(IMAGES_PROJECT, idempotency_key="stack-lifecycle-project")
        template = hook.create_pool(
            pool_spec(project.id, overlap=1, suite=10, private_name="images template"),
            idempotency_key="stack-lifecycle-template",
        )
    run_id = "stack_pool_lifecycle_1"
    stack.trigger(DAG_ID, run_id, {"template_pool_id": template.id})

    def sensor_deferred() -> bool:
        stack.check_alive()
        # a run that fails before the sensor defers fails the test now, not after the whole wait
        assert stack.run_state(DAG_ID, run_id) != "failed", stack.task_states(DAG_ID, run_id)
        state = stack.task_states(DAG_ID, run_id).get("wait_for_labels", ("none", 0))[0]
        picked = stack.query("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")[0][0]
        return state == "deferred" and picked > 0

    wait_for("the pool sensor to defer to the triggerer", sensor_deferred, 240)
    stack.stop("triggerer", sig=signal.SIGKILL, grace=5)  # returns once the process group is gone
    stack.start("triggerer")
    stack_emulator.configure(crowd=10)  # now the crowd labels the pool, and the restarted triggerer sees it
    state = stack.wait_run(DAG_ID, run_id, timeout=300)
    states = stack.task_states(DAG_ID, run_id)
    assert state == "success", states
    assert {t: s for t, (s, _) in states.items()} == {
        "create_pool": "success",
        "upload_tasks": "success",
        "open_pool": "success",
        "wait_for_labels": "success",
        "archive_pool": "success",
    }
    (created,) = stack.xcom(DAG_ID, run_id, "create_pool")
    pool_id = created["pool_id"]
    (labeled,) = stack.xcom(DAG_ID, run_id, "wait_for_labels")
    assert pool_id != template.id and str(labeled["pool_id"]) == pool_id
    assert labeled["close_reason"] == "COMPLETED"
    assert labeled["spent"] == stack_emulator.stats()["money"]["rewards_by_pool"][pool_id] > 0
    with TolokaHook() as hook:
        pool = hook.get_pool(pool_id)
        assert (pool.status, pool.last_close_reason) == ("ARCHIVED", "COMPLETED")
        assert len(list(hook.get_pools(project_id=project.id))) == 2  # the template and one clone
    assert stack_emulator.stats()["tasks_by_pool"][pool_id] == 200
    # While it waited, the trigger logged the pool's progress and spend in the triggerer, a line a poll.
    log_dir = stack.task_log_dir(DAG_ID, run_id, "wait_for_labels")
    trigger_logs = "".join(p.read_text(errors="replace") for p in log_dir.glob("attempt=1.log.trigger.*.log"))
    assert re.search(rf"pool {pool_id}: [\d.]+% done, .* spent", trigger_logs), trigger_logs[-3000:]
