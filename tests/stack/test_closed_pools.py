"""Event-driven runs on the real stack: the example DAG dags_examples/toloka_export_closed_pools.py, scheduled on an
Asset whose AssetWatcher runs TolokaPoolClosedTrigger in the triggerer. Each pool closed through the API starts the
DAG once, which exports its answers; a pool closed before the watcher started starts nothing; a triggerer killed and
restarted goes on from the cursor kept in the asset's state store.

This stack's scheduler runs with use_job_schedule off (no scheduled runs of the DAGs other tests unpause); the test
restarts it with use_job_schedule on, which is what creates asset-triggered runs, and puts it back after.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from tests.specs import IMAGES_PROJECT, pool_spec
from tests.stack.conftest import EXAMPLES, TOKEN, Stack, wait_for
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.stack

DAG_ID = "toloka_stack_pool_closed"
ASSET = "toloka_stack_pools_closed"
CLASSPATH = "airflow_toloka.triggers.closed_pools.TolokaPoolClosedTrigger"
EXAMPLE = EXAMPLES / "toloka_export_closed_pools.py"


def watching_dag(project_id: str, exports: Path) -> str:
    """The example DAG, watching this project every second under its own DAG id and asset."""
    source = EXAMPLE.read_text()
    for old, new in [
        ('PROJECT_ID = "1"', f'PROJECT_ID = "{project_id}"'),
        ('EXPORTS = "file:///tmp/toloka/exports"', f'EXPORTS = "file://{exports}"'),
        ("poll_interval=60", "poll_interval=1"),
        ('"toloka_pools_closed"', f'"{ASSET}"'),
        ('dag_id="toloka_export_closed_pools"', f'dag_id="{DAG_ID}"'),
    ]:
        assert old in source, old
        source = source.replace(old, new)
    return source


@pytest.fixture
def scheduling(stack: Stack) -> Iterator[Stack]:
    """The scheduler restarted with use_job_schedule on, and put back as it was after the test."""
    stack.stop("scheduler")
    stack.overrides["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "True"
    stack.start("scheduler")
    try:
        yield stack
    finally:
        stack.stop("scheduler")
        stack.overrides.pop("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE")
        stack.start("scheduler")
        (stack.dags / f"{DAG_ID}.py").unlink(missing_ok=True)
        with contextlib.suppress(RuntimeError):  # not there when the test failed before it was parsed
            stack.cli("dags", "pause", DAG_ID)  # its watcher stops polling


def closed_pool(hook: TolokaHook, project_id: str, name: str) -> str:
    pool = hook.create_pool(pool_spec(project_id, overlap=1, private_name=name))
    url = f"https://example.com/{name}.jpg"
    hook.create_tasks([{"pool_id": pool.id, "input_values": {"image": url}, "overlap": 1}])
    hook.open_pool(str(pool.id))
    hook.close_pool(str(pool.id))
    return str(pool.id)


def cursor(stack: Stack, project_id: str) -> Any:
    rows = stack.query(
        "SELECT s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id WHERE a.name = %s AND s.key = %s",
        ASSET,
        f"airflow_toloka.closed_pools.{project_id}",
    )
    return json.loads(rows[0][0]) if rows else None


def closes_reported(stack: Stack) -> list[str]:
    rows = stack.query(
        "SELECT e.extra::text FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = %s ORDER BY e.id",
        ASSET,
    )
    return [json.loads(extra)["payload"]["pool_id"] for (extra,) in rows]


def finished_runs(stack: Stack) -> list[tuple[str, str]]:
    rows = stack.query("SELECT run_id, state FROM dag_run WHERE dag_id = %s ORDER BY id", DAG_ID)
    assert all(state != "failed" for _, state in rows), rows
    return rows if rows and all(state == "success" for _, state in rows) else []


def test_each_pool_closed_starts_the_dag_once_through_a_triggerer_restart(
    scheduling: Stack, stack_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = scheduling
    conn = {"conn_type": "toloka", "host": stack_emulator.url, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    stack_emulator.configure(crowd=0)  # pools close only when the test closes them
    with TolokaHook() as hook:
        project = str(hook.create_project(IMAGES_PROJECT).id)
        before = closed_pool(hook, project, "before")  # closed before the watcher: starts nothing
        exports = stack.home / "exports"
        (stack.dags / f"{DAG_ID}.py").write_text(watching_dag(project, exports))
        wait_for("the DAG to be parsed", lambda: stack.check_alive() or stack.dags_parsed(DAG_ID), 120)
        stack.cli("dags", "unpause", DAG_ID)  # an unpaused DAG's watchers run

        # The watcher's first poll is its baseline, saved before anything is reported.
        wait_for("the watcher's baseline", lambda: stack.check_alive() or cursor(stack, project), 180)
        assert cursor(stack, project) == {"after": cursor(stack, project)["after"], "ids": [before]}
        first = closed_pool(hook, project, "first")
        runs = wait_for("the first run", lambda: stack.check_alive() or finished_runs(stack), 180)
        assert len(runs) == 1 and closes_reported(stack) == [first]
        assert stack.xcom(DAG_ID, runs[0][0], "closed_pools") == [
            [{"pool_id": first, "results_path": f"file://{exports}/pool-{first}.jsonl"}]
        ]
        states = stack.task_states(DAG_ID, runs[0][0])
        assert states == {"closed_pools": ("success", 1), "export[0]": ("success", 1)}, states
        assert (exports / f"pool-{first}.jsonl").read_text() == ""  # closed before anyone answered

        # Closed while no triggerer runs: only a cursor read back from the store tells it from the baseline.
        stack.stop("triggerer", sig=signal.SIGKILL, grace=5)
        second = closed_pool(hook, project, "second")
        stack.start("triggerer")

        def two_runs() -> list[tuple[str, str]]:
            stack.check_alive()
            found = finished_runs(stack)
            return found if len(found) == 2 else []

        runs = wait_for("the second run", two_runs, 180)
    # The restarted trigger read its cursor back: `second` reported, `first` not again.
    assert closes_reported(stack) == [first, second]
    (closes,) = stack.xcom(DAG_ID, runs[1][0], "closed_pools")
    assert [c["pool_id"] for c in closes] == [second]
    triggers = stack.query("SELECT kwargs::text FROM trigger WHERE classpath = %s", CLASSPATH)
    assert len(triggers) == 1 and TOKEN not in triggers[0][0]
