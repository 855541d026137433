"""Real Airflow for end-to-end tests: a throwaway AIRFLOW_HOME (SQLite) and `airflow dags test` runs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "dags_examples"
TEST_DAGS = ROOT / "tests" / "dags"
AIRFLOW = str(Path(sys.executable).parent / "airflow")


@dataclass
class DagRun:
    dag_id: str
    returncode: int
    output: str
    home: Path

    def xcom(self, task_id: str, key: str = "return_value") -> list[Any]:
        """Values of one XCom key for a task in the latest run of this DAG, one per map index."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            rows = db.execute(
                "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = ? "
                "AND run_id = (SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1) "
                "ORDER BY map_index",
                (self.dag_id, task_id, key, self.dag_id),
            ).fetchall()
        return [json.loads(value) if isinstance(value, (str, bytes)) else value for (value,) in rows]

    def task_states(self) -> dict[str, str]:
        with sqlite3.connect(self.home / "airflow.db") as db:
            rows = db.execute(
                "SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = ? "
                "AND run_id = (SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)",
                (self.dag_id, self.dag_id),
            ).fetchall()
        return {f"{t}[{m}]" if m >= 0 else t: f"{s}#{n}" for t, m, s, n in rows}


class AirflowHome:
    def __init__(self, home: Path) -> None:
        self.home = home

    def env(self, dags_folder: Path, conn: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW_CONN_TOLOKA_DEFAULT=json.dumps(conn),
            PYTHONPATH=str(ROOT),
        )
        return env

    def dags_test(
        self,
        dag_id: str,
        *,
        dags_folder: Path,
        conn: dict[str, Any],
        timeout: float = 300,
        conf: dict[str, Any] | None = None,
        logical_date: str | None = None,
        env: dict[str, str] | None = None,
    ) -> DagRun:
        extra = ["--conf", json.dumps(conf)] if conf else []
        date = [logical_date] if logical_date else []
        proc = subprocess.run(
            [AIRFLOW, "dags", "test", dag_id, *date, *extra],
            env={**self.env(dags_folder, conn), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return DagRun(dag_id, proc.returncode, proc.stdout + proc.stderr, self.home)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowHome]:
    home = AirflowHome(tmp_path_factory.mktemp("airflow_home"))
    subprocess.run(
        [AIRFLOW, "db", "migrate"],
        env=home.env(EXAMPLES, {"conn_type": "toloka"}),
        check=True,
        capture_output=True,
    )
    yield home
