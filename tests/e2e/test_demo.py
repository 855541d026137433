"""`make demo` is for a person to watch: the provider's progress, not Airflow's logging (that goes to a file
it names), all of it on one screen, its outputs kept, and it ends with the labeling report's path and numbers."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.e2e.conftest import ROOT

SCREEN = 40  # lines


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = load_demo()
OURS = (
    "2026-12-06T18:10:27.1Z [info     ] Toloka created 60 of 60 tasks  "
    "[airflow.task.operators.airflow_toloka.operators.tasks.CreateTasksOperator] loc=tasks.py:364"
)


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (OURS, "  upload_reviews         Toloka created 60 of 60 tasks"),
        (  # a trigger's progress, from the triggerer's own logger
            "2026-12-06T18:10:27Z [info     ] Toloka: 1/1 operations done "
            "[airflow_toloka.triggers.operation.TolokaOperationTrigger] loc=operation.py:80",
            "  upload_reviews         Toloka: 1/1 operations done",
        ),
        (  # Airflow's own: not shown
            "2026-12-06T18:06:18Z [info     ] Task instance state updated    "
            "[airflow.api_fastapi.execution_api.routes.task_instances] correlation_id=1 loc=task_instances.py:254",
            None,
        ),
        (  # a hook's per-batch line repeats what its operator says
            "2026-12-06T18:06:00Z [info     ] Toloka tasks submitted: batch 1/1, 60 items "
            "[airflow.task.hooks.airflow_toloka.hooks.toloka.TolokaHook] loc=concurrency.py:73",
            None,
        ),
        (  # any error is shown, whoever logs it
            "2026-12-06T18:06:00Z [error    ] Task failed with exception [task] loc=task_runner.py:1",
            "  upload_reviews         ERROR: Task failed with exception",
        ),
        ("Labeling report: {}", None),  # a task's print
    ],
)
def test_a_progress_line_is_the_providers_own(line: str, shown: str | None) -> None:
    assert demo.progress_line(line, "upload_reviews") == shown


def test_a_long_progress_line_is_cut_to_one_terminal_line() -> None:
    shown = demo.progress_line(OURS.replace("60 of 60 tasks", "x" * 300), "upload_reviews")
    assert len(shown) == demo.WIDTH and shown.endswith("…")


def test_the_demo_shows_progress_on_one_screen_keeps_its_outputs_and_ends_with_the_report(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo-out"
    (out / "stale").mkdir(parents=True)  # an earlier demo's outputs: the new one starts afresh
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stderr == ""
    assert len(lines) <= SCREEN, proc.stdout
    # Not one line of Airflow's own logging; all of it is in the log file the demo names.
    assert not [line for line in lines if demo.RECORD.match(line)], proc.stdout
    assert "==> Airflow's full log: demo-out/airflow.log" in lines
    log = (out / "airflow.log").read_text()
    assert "[DAG TEST] starting task_id=wait_for_crowd" in log and len(log.splitlines()) > 5 * SCREEN
    # The provider's progress, by task, from the first task to the last.
    tasks = [line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("   ")]
    for task in (
        "project",
        "pool",
        "upload_reviews",
        "open",
        "wait_for_crowd",
        "export_answers",
        "aggregate",
    ):
        assert task in tasks, proc.stdout
    assert not (out / "stale").exists()
    (day,) = [p for p in out.iterdir() if p.is_dir()]
    labels = (day / "labels.jsonl").read_text().splitlines()
    answers = [json.loads(row) for row in (day / "answers.jsonl").read_text().splitlines()]
    assert "Answers, labels and report stay in demo-out/ until `make clean`." in lines
    # It ends with the report: where it is (kept, under the outputs) and its numbers, which are the run's.
    path_line, numbers, assignments = lines[-3:]
    path = re.fullmatch(r"==> Labeling report: (\S+)", path_line)
    assert path, proc.stdout
    report = tmp_path / path[1]
    assert report.parent == day and "Labeling report: pool" in report.read_text()
    figures = dict(re.findall(r"(\w[\w ]*?) \$?([\d.]+)%?(?: ·|$)", numbers.strip()))
    assert figures["labels"] == str(len(labels)) == "60", numbers
    assert figures["tasks"] == "60" and float(figures["cost"]) > 0, numbers
    assert 50 <= float(figures["control accuracy"]) <= 100, numbers
    total, by_status = re.fullmatch(r"  assignments (\d+): (.*)", assignments).groups()  # type: ignore[union-attr]
    counts = {status: int(n) for status, n in (part.split() for part in by_status.split(", "))}
    assert sum(counts.values()) == int(total), assignments
    done = counts.get("submitted", 0) + counts.get("accepted", 0) + counts.get("rejected", 0)
    assert done == len({a["assignment_id"] for a in answers}), assignments
    # the same accepted and rejected work as the review step's, shown above
    assert f"  {'assignments accepted / rejected':<38} {counts['accepted']} / {counts['rejected']}" in lines
