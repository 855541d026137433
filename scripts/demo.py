"""`make demo`: the whole labeling pipeline example against the local Toloka emulator and its simulated crowd.

Starts the emulator on a free loopback port (ten simulated Tolokers, 90% accurate, an hour of their time per
real second), makes a throwaway AIRFLOW_HOME (SQLite), runs ``airflow dags test toloka_labeling_pipeline`` with
``AIRFLOW_CONN_TOLOKA_DEFAULT`` pointing at the emulator, and prints what the run did.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "toloka_labeling_pipeline"
REPORT = "Labeling report: "


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


def run_streaming(cmd: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command, echoing its output, and return its exit code and the report line it printed."""
    report = ""
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            if REPORT in line:
                report = line.split(REPORT, 1)[1].strip()
    return proc.returncode, report


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from toloka_emulator import EmulatorProcess

    bin_dir = Path(sys.executable).parent
    home = Path(tempfile.mkdtemp(prefix="airflow-toloka-demo-"))
    crowd = ["--crowd", "10", "--crowd-accuracy", "0.9", "--time-scale", "3600", "--seed", "7"]
    try:
        with EmulatorProcess(crowd) as emulator:
            print(f"==> Toloka emulator at {emulator.url} (10 simulated Tolokers, 90% accurate)")
            env = airflow_env(home, emulator.url)
            print(f"==> Airflow home {home} (SQLite)")
            subprocess.run(
                [bin_dir / "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
            )
            conf = json.dumps({"out_dir": str(home / "labels")})
            print(f"==> airflow dags test {DAG_ID}")
            started = time.monotonic()
            code, report = run_streaming(
                [str(bin_dir / "airflow"), "dags", "test", DAG_ID, "--conf", conf], env
            )
            wall = time.monotonic() - started
            stats = emulator.stats()
            if code != 0 or not report:
                print(f"\nDemo failed (exit code {code}).")
                return 1
            figures = json.loads(report)
            tasks = sum(stats["tasks_by_pool"].values())
            money = stats["money"]
            print("\n==> What the run did")
            for name, value in [
                ("tasks uploaded (reviews + control)", tasks),
                ("assignments done by the crowd", figures["assignments"]),
                ("answers exported", figures["answers"]),
                ("assignments accepted / rejected", f"{figures['accepted']} / {figures['rejected']}"),
                ("labels written", figures["labels"]),
                ("label accuracy vs the truth", figures["accuracy"]),
                ("estimated cost before opening", f"${figures['estimated_cost']:.2f}"),
                ("rewards paid to the crowd", f"${sum(money['rewards_by_pool'].values()):.2f}"),
                ("bonuses paid", f"{figures['bonuses']} (${figures['bonus_amount']:.2f})"),
                ("Toloka's fee (30%, at least $0.001)", f"${money['fees']:.2f}"),
                ("the run cost in all", f"${money['spent']:.2f}"),
                ("wall time", f"{wall:.1f} s"),
            ]:
                print(f"  {name:<38} {value}")
            print(f"\nLabels: {home / 'labels'} (removed when the demo ends)")
            return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
