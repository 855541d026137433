"""The distributed stack: CeleryExecutor with two workers and two HA triggerers (issue 13's four scenarios).

Each scenario checks exact counts in the emulator and the Airflow task states. ``task_instance.hostname`` and
``job.hostname`` name the stack process (tests/stack/hostname.py), which is how the tests tell the two workers
and the two triggerers apart.
"""

from __future__ import annotations

import inspect
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.stack.conftest import Stack, wait_for, write_tsv

# The labeling pipeline example, the pool sensor waiting on the simulated crowd, on this stack (scenario 4).
from tests.stack.test_example_dags import (  # noqa: F401
    test_labeling_pipeline_and_the_dag_its_labels_queue as test_labeling_pipeline_on_celery,
)
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.stack

MAPPED = "stack_mapped_upload"
TRIGGERERS = ("triggerer-1", "triggerer-2")
WORKERS = ("celery-worker-1", "celery-worker-2")
# asyncio's debug mode (PYTHONASYNCIODEBUG=1 on the triggerers) logs every callback over 0.1 s with its task
_SLOW_STEP = re.compile(r"Executing <(?:Task|Handle)[^\n]*?took (\d+\.\d+) seconds")


def write_parts(directory: Path, files: int, rows: int, tag: str) -> Path:
    for f in range(files):
        write_tsv(directory / f"part-{f:03d}.tsv", rows, f"{tag}/{f}")
    return directory


def uploads(stack: Stack, run_id: str) -> dict[int, tuple[str, int, str]]:
    """map index -> (state, try number, hostname) of the mapped upload."""
    rows = stack.query(
        "SELECT map_index, state, try_number, hostname FROM task_instance "
        "WHERE dag_id = %s AND run_id = %s AND task_id = 'upload'",
        MAPPED,
        run_id,
    )
    return {m: (s, n, h) for m, s, n, h in rows}


def triggerer_jobs(stack: Stack) -> dict[str, int]:
    """Running triggerer process name -> its job id."""
    rows = stack.query(
        "SELECT hostname, id FROM job WHERE job_type = 'TriggererJob' AND end_date IS NULL ORDER BY id"
    )
    return {h: i for h, i in rows}


def holders(stack: Stack, run_id: str) -> dict[int, int]:
    """map index -> the triggerer job holding the upload's trigger (only triggers held right now)."""
    rows = stack.query(
        "SELECT ti.map_index, t.triggerer_id FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
        "WHERE ti.dag_id = %s AND ti.run_id = %s AND t.triggerer_id IS NOT NULL",
        MAPPED,
        run_id,
    )
    return {m: j for m, j in rows}


def trigger_runs(stack: Stack, run_id: str) -> dict[int, set[int]]:
    """map index -> the triggerer job ids that ran its trigger (from the per-trigger log files)."""
    base = stack.task_log_dir(MAPPED, run_id, "upload")
    runs: dict[int, set[int]] = {}
    for p in base.glob("map_index=*/attempt=*.log.trigger.*.log"):
        index = int(p.parent.name.split("=")[1])
        runs.setdefault(index, set()).add(int(p.name.rsplit(".", 2)[-2]))
    return runs


def resumes(stack: Stack, run_id: str, index: int) -> int:
    """How often the upload's ``execute_complete`` finished (its "Toloka created" line) in the task's own logs."""
    base = stack.task_log_dir(MAPPED, run_id, "upload") / f"map_index={index}"
    text = "\n".join(p.read_text(errors="replace") for p in base.glob("attempt=*.log"))
    return text.count("Toloka created")


def _creating_triggers() -> str:
    """How asyncio shows the runner's main task while it creates triggers: Airflow imports a trigger's module
    there, on the event loop, the first time it meets the class."""
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    lines, first = inspect.getsourcelines(TriggerRunner.arun)
    (at,) = [first + i for i, line in enumerate(lines) if "await self.create_triggers()" in line]
    return f"coro=<TriggerRunner.arun() running at {inspect.getsourcefile(TriggerRunner)}:{at}>"


def slow_trigger_steps(stack: Stack, *dag_ids: str) -> list[str]:
    """asyncio's slow-callback lines (over 0.1 s) of the triggers of these DAGs, and of trigger creation.

    What Airflow's watchdog reports as "async thread was blocked" without naming anything, asyncio's debug mode
    names: the task of every callback that held the loop.
    """
    creating = _creating_triggers()
    found = []
    for name in TRIGGERERS:
        log = stack.proc_logs / f"{name}.log"
        for line in log.read_text(errors="replace").splitlines() if log.exists() else ():
            if _SLOW_STEP.search(line) and (creating in line or any(f"name='{d}/" in line for d in dag_ids)):
                found.append(f"{name}: {line.strip()[:400]}")
    return found


def test_100k_tasks_in_50_mapped_uploads_over_two_workers_and_two_triggerers(
    stack: Stack, stack_emulator: EmulatorProcess
) -> None:
    run_id, pool, files, rows = "celery_mapped_100k", "7401", 50, 2_000
    parts = write_parts(stack.home / "data" / "mapped-100k", files, rows, "m100k")
    stack.trigger(MAPPED, run_id, {"pool_id": pool, "dir": str(parts)})
    state = stack.wait_run(MAPPED, run_id, timeout=900)
    tis = uploads(stack, run_id)
    assert state == "success", tis
    assert stack_emulator.stats()["tasks_by_pool"][pool] == files * rows
    assert sorted(tis) == list(range(files))
    # every upload succeeded in its first try: each deferral was resumed exactly once
    assert {(s, n) for s, n, _ in tis.values()} == {("success", 1)}, tis
    assert [i for i in tis if resumes(stack, run_id, i) != 1] == []
    # the resumed tries (the last hostname of each) ran on both workers
    assert set(Counter(h for _, _, h in tis.values())) == set(WORKERS), tis
    # every upload waited in the triggerer, and both triggerers took part
    runs = trigger_runs(stack, run_id)
    assert sorted(runs) == list(range(files)), runs
    assert set().union(*runs.values()) == set(triggerer_jobs(stack).values()), (runs, triggerer_jobs(stack))
    assert slow_trigger_steps(stack, MAPPED) == []


def test_a_triggerer_killed_while_it_holds_half_the_triggers(
    stack: Stack, stack_emulator: EmulatorProcess
) -> None:
    run_id, pool, files, rows = "celery_triggerer_killed", "7402", 20, 500
    parts = write_parts(stack.home / "data" / "mapped-ha", files, rows, "ha")
    stack_emulator.configure(rate=1)  # every upload's operation runs ~500 s: all triggers wait together
    stack.trigger(MAPPED, run_id, {"pool_id": pool, "dir": str(parts)})
    jobs = triggerer_jobs(stack)
    assert set(jobs) == set(TRIGGERERS), jobs

    def all_deferred_and_held() -> bool:
        stack.check_alive()
        states = [s for s, _, _ in uploads(stack, run_id).values()]
        return states.count("deferred") == files and len(holders(stack, run_id)) == files

    # capacity 12 each: 20 triggers can only be held 8-12 / 12-8
    wait_for("all uploads deferred and held by the triggerers", all_deferred_and_held, 600, interval=1)
    by_task = holders(stack, run_id)
    assert Counter(by_task.values()).keys() == set(jobs.values()), by_task
    victim = max(TRIGGERERS, key=lambda n: list(by_task.values()).count(jobs[n]))
    (survivor,) = set(TRIGGERERS) - {victim}
    orphans = {i for i, job in by_task.items() if job == jobs[victim]}
    stack.stop(victim, sig=signal.SIGKILL, grace=5)
    try:
        killed_at = time.monotonic()
        # Operations finish now, so the survivor's own uploads resume and leave it room for the orphans.
        stack_emulator.configure(rate=100_000)

        def first_orphan_claimed() -> bool:
            stack.check_alive()
            return jobs[survivor] in {holders(stack, run_id).get(i) for i in orphans}

        wait_for(f"{survivor} to claim a trigger of {victim}", first_orphan_claimed, 120, interval=0.5)
        takeover = time.monotonic() - killed_at
        print(f"\n{survivor} took over {len(orphans)} of {files} triggers {takeover:.0f} s after the kill")
        state = stack.wait_run(MAPPED, run_id, timeout=300)
        tis = uploads(stack, run_id)
        assert state == "success", tis
        # no retry: the orphans resumed from the survivor's events
        assert {(s, n) for s, n, _ in tis.values()} == {("success", 1)}, tis
        assert stack_emulator.stats()["tasks_by_pool"][pool] == files * rows
        runs = trigger_runs(stack, run_id)
        assert [i for i in orphans if jobs[survivor] not in runs.get(i, ())] == [], runs
        assert [i for i in tis if resumes(stack, run_id, i) != 1] == []
        # Airflow's window: the killed triggerer's last heartbeat plus triggerer_health_check_threshold (30 s)
        assert takeover < 30 + 30, takeover
    finally:
        stack.start(victim)  # back for the tests after this one


def test_a_celery_worker_killed_mid_upload(stack: Stack, stack_emulator: EmulatorProcess) -> None:
    run_id, pool, files, rows = "celery_worker_killed", "7403", 1, 10_000
    parts = write_parts(stack.home / "data" / "mapped-killed", files, rows, "wk")
    before = stack_emulator.stats()["requests"].get("POST /api/v1/tasks", 0)
    stack_emulator.configure(latency_ms=700)  # ten batches, one in flight: the upload takes a while

    def posts() -> int:
        return int(stack_emulator.stats()["requests"].get("POST /api/v1/tasks", 0)) - before

    stack.trigger(MAPPED, run_id, {"pool_id": pool, "dir": str(parts)})
    wait_for("two batches to be submitted", lambda: stack.check_alive() or posts() >= 2, 300, interval=0.1)
    (first,) = uploads(stack, run_id).values()
    worker = first[2]
    assert worker in WORKERS, first
    stack.stop(worker, sig=signal.SIGKILL, grace=5)  # the worker, its supervisors and the task: all gone
    killed_at = posts()
    assert killed_at < 10, "the upload finished before its worker was killed"
    stack_emulator.configure(latency_ms=0)
    try:
        state = stack.wait_run(MAPPED, run_id, timeout=300)
        (last,) = uploads(stack, run_id).values()
        assert state == "success", last
        (other,) = set(WORKERS) - {worker}
        assert last[1] >= 2 and last[2] == other, last  # a later try, on the other worker
        assert stack_emulator.stats()["tasks_by_pool"][pool] == files * rows
        (summary,) = stack.xcom(MAPPED, run_id, "upload")
        assert (summary["created"], summary["total"]) == (files * rows, files * rows)
    finally:
        stack.start(worker)  # back for the tests after this one
