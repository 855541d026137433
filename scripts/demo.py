"""`make demo`: run the image-classification example DAG against the local Toloka emulator.

Starts the emulator on a free loopback port, makes a throwaway AIRFLOW_HOME (SQLite), runs
``airflow dags test toloka_image_classification`` with ``AIRFLOW_CONN_TOLOKA_DEFAULT`` pointing at the emulator,
prints what Toloka (the emulator) now holds, and stops the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "toloka_image_classification"
POOL_ID = "1001"


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


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from airflow_toloka.emulator import EmulatorProcess

    bin_dir = Path(sys.executable).parent
    home = Path(tempfile.mkdtemp(prefix="airflow-toloka-demo-"))
    try:
        with EmulatorProcess() as emulator:
            print(f"==> Toloka emulator at {emulator.url}")
            env = airflow_env(home, emulator.url)
            print(f"==> Airflow home {home} (SQLite)")
            subprocess.run(
                [bin_dir / "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
            )
            print(f"==> airflow dags test {DAG_ID}")
            subprocess.run([bin_dir / "airflow", "dags", "test", DAG_ID], env=env, check=True)
            stats = emulator.stats()
            print("\n==> What the emulator holds now")
            print(f"tasks by pool: {stats['tasks_by_pool']}")
            print(f"requests by route: {json.dumps(stats['requests'], indent=2, sort_keys=True)}")
            url = f"{emulator.url}/api/v1/tasks?pool_id={POOL_ID}&sort=id&limit=3"
            request = urllib.request.Request(url, headers={"Authorization": "OAuth demo-token"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                for item in json.load(resp)["items"]:
                    print(f"  {item['id']}  {json.dumps(item['input_values'])}")
            created = stats["tasks_by_pool"].get(POOL_ID, 0)
            print(f"\nDemo finished: {created} tasks created in pool {POOL_ID}.")
            return 0 if created else 1
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
