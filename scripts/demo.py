"""`make demo`: the whole labeling pipeline example against the local Toloka emulator and its simulated crowd.

Starts the emulator on a free loopback port (ten simulated Tolokers, 90% accurate, an hour of their time per
real second), makes a throwaway AIRFLOW_HOME (SQLite), runs ``airflow dags test toloka_labeling_pipeline`` with
``AIRFLOW_CONN_TOLOKA_DEFAULT`` pointing at the emulator, and shows the provider's own progress, one line each,
then what the run did and where its labeling report is.

Airflow's whole output goes to ``<out>/airflow.log``, the emulator's to ``<out>/emulator.log``; the run's answers,
labels and report stay in ``<out>`` (``.demo/`` unless ``--out`` says otherwise) until ``make clean``, and the
next demo starts it afresh. Everything it prints fits on one screen (tests/e2e/test_demo.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "toloka_labeling_pipeline"
WIDTH = 100  # a progress line is cut to this many characters: one line of a terminal each
# One record of Airflow's console logging: "<time> [<level>] <message> [<logger>] <key=value ...>".
RECORD = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<message>.*?)\s+\[(?P<logger>[\w.]+)\](?: |$)")
TASK_START = re.compile(r"\[DAG TEST\] start\w* task_id=(?P<task>\S+)")


def airflow_env(home: Path, emulator_url: str) -> dict[str, str]:
    """Environment for an isolated Airflow whose only DAGs are the examples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags_examples"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW_CONN_TOLOKA_DEFAULT=json.dumps(
            {"conn_type": "toloka", "host": emulator_url, "password": "demo-token"}
        ),
    )
    return env


def progress_line(line: str, task: str) -> str | None:
    """What one line of Airflow's output shows a person: the provider's own messages and any error, else None.

    :param line: one line of ``airflow dags test`` output.
    :param task: the task running when it was written.
    :return: ``"  <task> <message>"``, cut to :data:`WIDTH`, or None for Airflow's own logging.
    """
    record = RECORD.match(line)
    if record is None:
        return None
    level, logger = record["level"].lower(), record["logger"]
    # The hooks' lines repeat, per batch, what their operator says once.
    ours = "airflow_toloka" in logger and ".hooks." not in logger
    if not ours and level not in ("error", "critical"):
        return None
    mark = "" if level in ("info", "warning") else f"{level.upper()}: "
    text = f"  {task:<22} {mark}{record['message']}"
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def run_quietly(cmd: list[str], env: dict[str, str], log: TextIO, show: bool) -> int:
    """Run a command with its whole output in ``log``; with ``show``, print its progress lines.

    :return: its exit code.
    """
    task = "-"
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            started = TASK_START.search(line)
            if started:
                task = started["task"]
            shown = progress_line(line, task) if show else None
            if shown:
                print(shown, flush=True)
    return proc.returncode


def return_values(database: Path, dag_id: str) -> dict[str, Any]:
    """Every task's ``return_value`` XCom of the run in the demo's SQLite metadata DB, by task id."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value' AND map_index = -1",
            (dag_id,),
        ).fetchall()
    values: dict[str, Any] = {}
    for task_id, value in rows:
        decoded = json.loads(value) if isinstance(value, (str, bytes)) else value
        values[task_id] = json.loads(decoded) if isinstance(decoded, str) else decoded
    return values


def shown_path(path: str | Path) -> str:
    """A path as short as it reads: relative to the working directory when it is under it."""
    plain = Path(str(path).removeprefix("file://"))
    try:
        return str(plain.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(plain)


def summary(values: dict[str, Any], stats: dict[str, Any], wall: float, out: Path) -> Iterable[str]:
    """The lines that end the demo: what the run did, where its files are, then the labeling report last."""
    figures = next((v for v in values.values() if isinstance(v, dict) and "accuracy" in v), {})
    money = stats["money"]
    rows = [
        ("tasks uploaded (reviews + control)", sum(stats["tasks_by_pool"].values())),
        ("assignments accepted / rejected", f"{figures.get('accepted')} / {figures.get('rejected')}"),
        (
            "labels, share right vs the emulator's truth",
            f"{figures.get('labels')}, {figures.get('accuracy')}",
        ),
        ("bonuses paid", f"{figures.get('bonuses')} (${figures.get('bonus_amount') or 0:.2f})"),
        (
            "the run cost in all",
            f"${money['spent']:.2f} = rewards ${sum(money['rewards_by_pool'].values()):.2f}"
            f" + bonuses ${money['bonuses']['amount']:.2f} + Toloka's fees ${money['fees']:.2f}",
        ),
        ("wall time", f"{wall:.1f} s"),
    ]
    yield "==> What the run did"
    yield from (f"  {name:<38} {value}" for name, value in rows)
    yield f"Answers, labels and report stay in {shown_path(out)}/ until `make clean`."
    report = next((v for v in values.values() if isinstance(v, dict) and "report_path" in v), None)
    if report is None:
        yield "==> No labeling report in this run (its DAG has no LabelingReportOperator)"
        return
    statuses = report.get("assignments") or {}
    cost = report.get("cost") or {}
    accuracy = report.get("control_accuracy")
    yield f"==> Labeling report: {shown_path(report['report_path'])}"
    yield (
        f"  tasks {report.get('tasks')} · labels {report.get('labels')}"
        f" · control accuracy {'-' if accuracy is None else f'{accuracy:.1%}'}"
        f" · cost ${cost.get('total', 0):.2f}"
    )
    by_status = ", ".join(f"{status.lower()} {n}" for status, n in sorted(statuses.items()))
    yield f"  assignments {sum(statuses.values())}: {by_status}"


def fresh(out: Path) -> Path:
    """The demo's output folder, emptied: what it holds afterwards is this run's."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".demo", help="outputs and logs (default .demo/)")
    out = fresh(parser.parse_args(argv).out.resolve())
    sys.path.insert(0, str(ROOT))
    from toloka_emulator import EmulatorProcess

    bin_dir = Path(sys.executable).parent
    home = Path(tempfile.mkdtemp(prefix="airflow-toloka-demo-"))
    crowd = ["--crowd", "10", "--crowd-accuracy", "0.9", "--time-scale", "3600", "--seed", "7"]
    log_path = out / "airflow.log"
    try:
        with EmulatorProcess(crowd, log_path=out / "emulator.log") as emulator, log_path.open("w") as log:
            print(f"==> Toloka emulator at {emulator.url} (10 simulated Tolokers, 90% accurate)")
            print(f"==> Airflow's full log: {shown_path(log_path)}")
            env = airflow_env(home, emulator.url)
            if run_quietly([str(bin_dir / "airflow"), "db", "migrate"], env, log, show=False) != 0:
                print(f"Demo failed: airflow db migrate (see {shown_path(log_path)})")
                return 1
            print(f"==> airflow dags test {DAG_ID}: the provider's progress, by task")
            started = time.monotonic()
            conf = json.dumps({"out_dir": str(out)})
            code = run_quietly(
                [str(bin_dir / "airflow"), "dags", "test", DAG_ID, "--conf", conf], env, log, show=True
            )
            wall = time.monotonic() - started
            stats = emulator.stats()
        values = return_values(home / "airflow.db", DAG_ID)
        if code != 0:
            print(f"Demo failed (exit code {code}); Airflow's full log: {shown_path(log_path)}")
            return 1
        for line in summary(values, stats, wall, out):
            print(line)
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
