"""OpenLineage: a DAG run through `airflow dags test` with the provider's file transport, its events read back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from tests.e2e.conftest import ROOT, TEST_DAGS, AirflowHome
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
    run_events: list[dict[str, Any]], task_id: str
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The inputs and outputs of a task's COMPLETE event, as (namespace, name) pairs."""
    (done,) = [
        e
        for e in run_events
        if e.get("eventType") == "COMPLETE" and e["job"]["name"] == f"{DAG_ID}.{task_id}"
    ]
    return (
        {(d["namespace"], d["name"]) for d in done.get("inputs") or []},
        {(d["namespace"], d["name"]) for d in done.get("outputs") or []},
    )


def test_lineage_of_a_labeling_run(
    airflow_home: AirflowHome, toloka_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "toloka", "host": toloka_emulator.url, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    with TolokaHook() as hook:
        project = hook.create_project(IMAGES_PROJECT)
        template = hook.create_pool(pool_spec(project.id, private_name="template"))
    tasks = tmp_path / "tasks.tsv"
    tasks.write_text("INPUT:image\n" + "".join(f"https://example.com/{i}.jpg\n" for i in range(5)))
    out, log = tmp_path / "out", tmp_path / "openlineage.jsonl"
    run = airflow_home.dags_test(
        DAG_ID,
        dags_folder=TEST_DAGS,
        conn=conn,
        conf={"template_pool_id": template.id, "tasks_path": str(tasks), "out_dir": str(out)},
        env={
            "AIRFLOW__OPENLINEAGE__TRANSPORT": readme_file_transport(log),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "toloka-tests",
        },
    )
    assert run.returncode == 0, run.output[-5000:]
    assert set(run.task_states().values()) == {"success#1"}, run.task_states()
    (made,) = run.xcom("create_pool")
    pool = ("toloka://" + toloka_emulator.url.split("://", 1)[1], f"pools/{made['pool_id']}")
    assert pool[0] == f"toloka://127.0.0.1:{toloka_emulator.port}"
    emitted = events(log)

    assert lineage(emitted, "create_pool") == ({(pool[0], f"pools/{template.id}")}, {pool})
    assert lineage(emitted, "upload_tasks") == ({("file", str(tasks))}, {pool})
    answers, labels = ("file", str(out / "answers.jsonl")), ("file", str(out / "labels.jsonl"))
    assert lineage(emitted, "export_answers") == ({pool}, {answers})
    assert lineage(emitted, "aggregate") == ({pool}, {labels})
    # A task that reads the labels through ObjectStoragePath reports them as Airflow's common-io names a file:
    # the same dataset, so the graph runs on from Toloka into whatever uses the labels. (`airflow dags test` runs
    # every task in one process, so Airflow's collector still holds what the upload read, too.)
    assert labels in lineage(emitted, "train")[0]
    # Nothing about the connection's secret, anywhere in any event.
    assert TOKEN not in log.read_text() and TOKEN not in run.output
