"""OpenLineage: a DAG run through `airflow dags test` with the provider's file transport, its events read back."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from tests.e2e.conftest import ROOT, TEST_DAGS, AirflowHome, DagRun
from tests.specs import IMAGES_PROJECT, pool_spec

pytest.importorskip(
    "airflow.providers.openlineage", reason="the OpenLineage provider is not installed (extra 'openlineage')"
)

TOKEN = "lineage-secret-token-5678"
DAG_ID = "toloka_lineage"
README = (ROOT / "README.md").read_text()


def readme_file_transport(log: Path) -> str:
    """The README's file transport, writing to ``log``."""
    (value,) = re.findall(
        r"^export AIRFLOW__OPENLINEAGE__TRANSPORT='(\{\"type\": \"file\".*)'$", README, re.M
    )
    return json.dumps({**json.loads(value), "log_file_path": str(log)})


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lineage(
    run_events: list[dict[str, Any]], task_id: str, event: str = "COMPLETE"
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The inputs and outputs of a task's COMPLETE (or FAIL) event, as (namespace, name) pairs."""
    (done,) = [
        e for e in run_events if e.get("eventType") == event and e["job"]["name"] == f"{DAG_ID}.{task_id}"
    ]
    return (
        {(d["namespace"], d["name"]) for d in done.get("inputs") or []},
        {(d["namespace"], d["name"]) for d in done.get("outputs") or []},
    )


@dataclass
class LineageRun:
    run: DagRun
    events: list[dict[str, Any]]
    template: tuple[str, str]
    pool: tuple[str, str]


def run_with_lineage(
    airflow_home: AirflowHome, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tasks: str
) -> LineageRun:
    """Run the lineage DAG on a fresh template pool and ``tasks`` (a TSV), events written to a file."""
    conn = {"conn_type": "toloka", "host": emulator.url, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    with TolokaHook() as hook:
        project = hook.create_project(IMAGES_PROJECT)
        template = hook.create_pool(pool_spec(project.id, private_name="template"))
    (tmp_path / "tasks.tsv").write_text(tasks)
    log = tmp_path / "openlineage.jsonl"
    run = airflow_home.dags_test(
        DAG_ID,
        dags_folder=TEST_DAGS,
        conn=conn,
        conf={
            "template_pool_id": template.id,
            "tasks_path": str(tmp_path / "tasks.tsv"),
            "out_dir": str(tmp_path),
        },
        env={"AIRFLOW__OPENLINEAGE__TRANSPORT": readme_file_transport(log)},
    )
    namespace = f"toloka://127.0.0.1:{emulator.port}"
    made = run.xcom("create_pool")
    pool = (namespace, f"pools/{made[0]['pool_id']}") if made else (namespace, "")
    # Nothing about the connection's secret, anywhere in any event or the run's output.
    text = log.read_text()
    assert TOKEN not in text and TOKEN not in run.output
    return LineageRun(run, events(log), (namespace, f"pools/{template.id}"), pool)


IMAGES = "INPUT:image\n" + "".join(f"https://example.com/{i}.jpg\n" for i in range(5))


def test_lineage_of_a_labeling_run(
    airflow_home: AirflowHome, toloka_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = run_with_lineage(airflow_home, toloka_emulator, tmp_path, monkeypatch, IMAGES)
    assert done.run.returncode == 0, done.run.output[-5000:]
    assert set(done.run.task_states().values()) == {"success#1"}, done.run.task_states()
    pool, tasks = done.pool, ("file", str(tmp_path / "tasks.tsv"))
    assert lineage(done.events, "create_pool") == ({done.template}, {pool})
    assert lineage(done.events, "upload_tasks") == ({tasks}, {pool})
    answers, labels = ("file", str(tmp_path / "answers.jsonl")), ("file", str(tmp_path / "labels.jsonl"))
    assert lineage(done.events, "export_answers") == ({pool}, {answers})
    assert lineage(done.events, "aggregate") == ({pool}, {labels})
    # A task that reads the labels through ObjectStoragePath reports them as Airflow's common-io names a file:
    # the same dataset, so the graph runs on from Toloka into whatever uses the labels. (`airflow dags test` runs
    # every task in one process, so Airflow's collector still holds what the upload read, too.)
    assert labels in lineage(done.events, "train")[0]


def test_a_failed_upload_reports_as_far_as_it_got(
    airflow_home: AirflowHome, toloka_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = IMAGES + "not a url\n"  # refused before anything is sent
    failed = run_with_lineage(airflow_home, toloka_emulator, tmp_path, monkeypatch, bad)
    assert failed.run.returncode != 0
    assert failed.run.task_states()["upload_tasks"] == "failed#1"
    assert "data row 6" in failed.run.output
    # The file it read and the pool it was given, on the FAIL event; the pool it never reached got no task.
    assert lineage(failed.events, "upload_tasks", "FAIL") == (
        {("file", str(tmp_path / "tasks.tsv"))},
        {failed.pool},
    )
    assert toloka_emulator.stats()["tasks_by_pool"] == {}
