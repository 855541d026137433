"""The example DAGs on a real stack: scheduler + LocalExecutor (one slot) + triggerer + PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.stack.conftest import STALE_EVENT_WINDOW, TOKEN, Stack
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.stack


def assert_token_absent(stack: Stack, dag_id: str, run_id: str) -> None:
    logs = "\n".join(p.read_text(errors="replace") for p in (stack.home / "logs").rglob("*.log"))
    assert logs, "no task logs were written"
    assert TOKEN not in logs
    xcoms = stack.query("SELECT value::text FROM xcom WHERE dag_id = %s AND run_id = %s", dag_id, run_id)
    assert xcoms and not any(TOKEN in v for (v,) in xcoms)
    triggers = stack.query("SELECT classpath || coalesce(kwargs::text, '') FROM trigger")
    assert not any(TOKEN in t for (t,) in triggers)


def test_image_classification(stack: Stack, stack_emulator: EmulatorProcess) -> None:
    dag_id, run_id, pool = "toloka_image_classification", "stack_image_1", "5101"
    uploads = ("upload_control_tasks", "upload_tasks")
    # every operation stays PENDING 12 s, so both uploads are waiting on Toloka at the same time
    stack_emulator.configure(pending_seconds=12)
    seen: list[dict[str, Any]] = []
    trigger_rows: list[int] = []

    def observe() -> None:
        states = stack.task_states(dag_id, run_id)
        seen.append({t: states.get(t, ("none", 0))[0] for t in uploads})
        trigger_rows.append(stack.query("SELECT count(*) FROM trigger")[0][0])

    stack.trigger(dag_id, run_id, {"pool_id": pool})
    assert stack.wait_run(dag_id, run_id, on_poll=observe) == "success", stack.task_states(dag_id, run_id)

    stats = stack_emulator.stats()
    assert stats["tasks_by_pool"][pool] == 201
    (control,) = stack.xcom(dag_id, run_id, "upload_control_tasks")
    (general,) = stack.xcom(dag_id, run_id, "upload_tasks")
    assert (control["created"], general["created"], general["failed"]) == (1, 200, 0)
    assert general["status"] == "SUCCESS" and general["pool_ids"] == [pool] and all(general["ids"])
    assert stack.xcom(dag_id, run_id, "report") == [201]

    # Each upload was deferred and its trigger ran in the triggerer process: the triggerer writes the trigger's
    # log next to the task's (attempt=1.log.trigger.<triggerer job id>.log); `dags test` would run it inline.
    for task_id in uploads:
        trigger_logs = list(stack.task_log_dir(dag_id, run_id, task_id).glob("attempt=1.log.trigger.*.log"))
        assert trigger_logs, f"{task_id}: no trigger log, so it never ran in the triggerer"
        # the trigger's own lines reach that file: the triggerer routes them by context, whatever the logger
        assert "operations done" in "".join(p.read_text(errors="replace") for p in trigger_logs), task_id
    # The executor has exactly one slot ([core] parallelism = 1). Both uploads were seen deferred at the same
    # time: the first one's worker slot was free while it waited, or the second could not have started.
    assert {"upload_control_tasks": "deferred", "upload_tasks": "deferred"} in seen, seen
    assert max(trigger_rows) >= 2
    assert_token_absent(stack, dag_id, run_id)


def test_nightly_task_suites(stack: Stack, stack_emulator: EmulatorProcess) -> None:
    dag_id, run_id, pool = "toloka_nightly_task_suites", "stack_suites_1", "5201"
    # the sensor must really wait in the triggerer, and its event must come after the stale-event window
    stack_emulator.configure(pending_seconds=STALE_EVENT_WINDOW + 2)
    seen: list[str] = []
    stack.trigger(dag_id, run_id, {"pool_id": pool})
    on_poll = lambda: seen.append(stack.task_states(dag_id, run_id).get("wait_for_toloka", ("none", 0))[0])  # noqa: E731
    assert stack.wait_run(dag_id, run_id, on_poll=on_poll) == "success", stack.task_states(dag_id, run_id)

    assert stack_emulator.stats()["task_suites_by_pool"][pool] == 40
    (upload,) = stack.xcom(dag_id, run_id, "upload_suites")
    assert upload["status"] == "SUBMITTED" and upload["pool_ids"] == [pool]
    assert stack.xcom(dag_id, run_id, "consume") == [40]
    assert "deferred" in seen, seen
    log_dir = stack.task_log_dir(dag_id, run_id, "wait_for_toloka")
    assert list(log_dir.glob("attempt=1.log.trigger.*.log")), (
        "the sensor's trigger did not run in the triggerer"
    )
    assert_token_absent(stack, dag_id, run_id)


def test_labeling_pipeline_and_the_dag_its_labels_queue(
    stack: Stack, stack_emulator: EmulatorProcess
) -> None:
    dag_id, run_id, consumer = "toloka_labeling_pipeline", "stack_labeling_1", "toloka_retrain_on_labels"
    # 300x keeps the pool's 3-day auto-acceptance ~14 real minutes away, so review decides every assignment
    # (tests/e2e/test_example_dags.py says why 100,000x raced it)
    stack_emulator.configure(crowd=10, crowd_accuracy=0.9, time_scale=300, seed=7)
    stack.cli("dags", "unpause", consumer)  # a paused consumer is not queued by an asset event
    out = stack.home / "labels"
    stack.trigger(dag_id, run_id, {"out_dir": str(out)})
    state = stack.wait_run(dag_id, run_id, timeout=420)
    states = stack.task_states(dag_id, run_id)
    assert state == "success", states
    (report,) = stack.xcom(dag_id, run_id, "report")
    assert report["labels"] == 60 and report["accuracy"] >= 0.8, report
    (reviewed,) = stack.xcom(dag_id, run_id, "review")
    assert reviewed["changed"] == report["assignments"] and reviewed["rejected"] > 0, reviewed
    (labels,) = stack.xcom(dag_id, run_id, "aggregate")
    # The labels file's asset event, carrying its path, queued the retraining DAG. (This stack's scheduler runs
    # with use_job_schedule off, so the queued run is not created here; tests/e2e checks the event's extra too.)
    events = stack.query(
        "SELECT a.uri, e.extra::text FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE e.source_run_id = %s",
        run_id,
    )
    assert [(uri, json.loads(extra)["path"]) for uri, extra in events] == [
        ("file:///toloka/review-sentiment/labels", labels["path"])
    ]
    queued = stack.query("SELECT target_dag_id FROM asset_dag_run_queue WHERE target_dag_id = %s", consumer)
    assert queued == [(consumer,)]
    assert_token_absent(stack, dag_id, run_id)
