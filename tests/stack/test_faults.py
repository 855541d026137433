"""Fault scenarios on the real stack, each checked against the emulator's exact counts afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.stack.conftest import STALE_EVENT_WINDOW, Stack, wait_for, write_tsv
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.stack

BULK = "stack_bulk_upload"


def task_runner_pids(stack: Stack, dag_id: str, run_id: str, task_id: str) -> list[int]:
    """The task process itself: LocalExecutor's supervisor (``airflow worker -- LocalExecutor: <ti id>``) forks
    it and retitles it ``airflow worker -- <ti id>``."""
    ((ti_id,),) = stack.query(
        "SELECT id::text FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = %s",
        dag_id,
        run_id,
        task_id,
    )
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    pids = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.strip() == f"airflow worker -- {ti_id}":
            pids.append(int(pid))
    return pids


def test_100k_tasks_with_20_percent_faults(stack: Stack, stack_emulator: EmulatorProcess) -> None:
    run_id, pool, n = "stack_faults_100k", "7101", 100_000
    path = write_tsv(stack.home / "data" / "100k.tsv", n, "f100k")
    stack_emulator.configure(fault_429=0.05, fault_500=0.05, fault_503=0.05, fault_drop=0.05, retry_after=0.2)
    stack.trigger(BULK, run_id, {"pool_id": pool, "path": str(path)})
    state = stack.wait_run(BULK, run_id, timeout=400)
    assert state == "success", stack.task_states(BULK, run_id)
    stats = stack_emulator.stats()
    assert stats["tasks_by_pool"][pool] == n
    assert sum(stats["faults"].values()) > 0, stats["faults"]
    (summary,) = stack.xcom(BULK, run_id, "upload")
    assert (summary["total"], summary["created"], summary["failed"]) == (n, n, 0)


def test_sigkill_of_the_task_process_then_retry(stack: Stack, stack_emulator: EmulatorProcess) -> None:
    run_id, pool, n = "stack_sigkill", "7201", 10_000  # ten batches of 1,000, one in flight at a time
    path = write_tsv(stack.home / "data" / "sigkill.tsv", n, "kill")
    before = stack_emulator.stats()["requests"].get("POST /api/v1/tasks", 0)
    stack_emulator.configure(latency_ms=700)
    stack.trigger(BULK, run_id, {"pool_id": pool, "path": str(path)})

    def posts() -> int:
        stack.check_alive()
        return int(stack_emulator.stats()["requests"].get("POST /api/v1/tasks", 0)) - before

    wait_for("two batches to be submitted", lambda: posts() >= 2, 120, interval=0.1)
    pids = task_runner_pids(stack, BULK, run_id, "upload")
    assert pids, subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    killed_at = posts()
    assert killed_at < 10, "the upload finished before it was killed"
    stack_emulator.configure(latency_ms=0)
    state = stack.wait_run(BULK, run_id, timeout=240)
    assert state == "success", stack.task_states(BULK, run_id)
    assert stack.task_states(BULK, run_id)["upload"][1] >= 2  # the retry did it
    assert stack_emulator.stats()["tasks_by_pool"][pool] == n
    assert posts() >= killed_at + 10  # the retry resubmitted every batch; the existing ones were re-attached
    (summary,) = stack.xcom(BULK, run_id, "upload")
    assert (summary["created"], len(summary["operation_ids"])) == (n, 10)


def test_triggerer_killed_and_restarted(stack: Stack, stack_emulator: EmulatorProcess) -> None:
    run_id, pool, n = "stack_triggerer_restart", "7301", 3_000
    path = write_tsv(stack.home / "data" / "triggerer.tsv", n, "trig")
    stack_emulator.configure(pending_seconds=15)
    stack.trigger(BULK, run_id, {"pool_id": pool, "path": str(path)})
    log_dir = stack.task_log_dir(BULK, run_id, "upload")

    def deferred_and_picked_up() -> bool:
        stack.check_alive()
        rows = stack.query("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")
        return rows[0][0] > 0 and stack.task_states(BULK, run_id).get("upload", ("", 0))[0] == "deferred"

    wait_for("the upload to defer to the triggerer", deferred_and_picked_up, 120)
    old_ids = {p.name for p in log_dir.glob("attempt=*.log.trigger.*.log")}
    stack.stop("triggerer", sig=signal.SIGKILL, grace=5)
    time.sleep(1)
    stack.start("triggerer")
    state = stack.wait_run(BULK, run_id, timeout=180)
    assert state == "success", stack.task_states(BULK, run_id)
    assert stack_emulator.stats()["tasks_by_pool"][pool] == n
    assert stack.task_states(BULK, run_id)["upload"] == ("success", 1)  # no retry needed
    new_ids = {p.name for p in log_dir.glob("attempt=*.log.trigger.*.log")} - old_ids
    assert new_ids, "the restarted triggerer did not run the trigger"


def test_operation_fail(stack: Stack) -> None:
    dag_id, run_id = "stack_operation_fail", "stack_op_fail"
    stack.strict.reset()
    stack.strict.configure(pending_seconds=STALE_EVENT_WINDOW)
    try:
        stack.trigger(dag_id, run_id)
        assert stack.wait_run(dag_id, run_id, timeout=180) == "failed"
    finally:
        stack.strict.restore_config()
    assert stack.task_states(dag_id, run_id)["upload"] == ("failed", 2)
    stats = stack.strict.stats()
    assert stats["tasks_by_pool"] == {}
    # A FAIL created nothing, so the Airflow retry did not re-attach to it (that would pin every retry to the old
    # failure): it submitted the batch again under the successor id, which failed the same way, creating nothing.
    assert stats["objects"]["operations"] == 2
    log = stack.logs_text(dag_id, run_id, "upload")
    # Toloka's code and message for each rejected item, from the operation's log
    assert "TolokaValidationError" in log, log[-3000:]
    assert "item 0: input_values.image INVALID_URL_SYNTAX" in log, log[-3000:]


def test_emulator_down_at_submit(stack: Stack) -> None:
    dag_id, run_id = "stack_emulator_down", "stack_down"
    stack.trigger(dag_id, run_id)
    assert stack.wait_run(dag_id, run_id, timeout=240) == "failed"
    assert stack.task_states(dag_id, run_id)["upload"] == ("failed", 2)
    log = stack.logs_text(dag_id, run_id, "upload")
    for attempt in (1, 2, 3):  # the hook's own backoff, within each Airflow try
        assert f"retry {attempt}/3 in" in log, log[-3000:]
    assert "TolokaRemoteUnavailableError" in log, log[-3000:]
    # the first request of an upload reads the pool's input spec
    assert f"could not reach Toloka at http://127.0.0.1:{stack.down_port} (GET /api/v1/pools/6101)" in log
    assert "6101" not in stack.emulator.stats()["tasks_by_pool"]
