"""What the operators report to OpenLineage: pools and files named as Airflow's own providers name them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset, ObjectStoragePath

from airflow_toloka.lineage import (
    LineageDataset,
    file_dataset,
    operator_lineage,
    pool_dataset,
    toloka_namespace,
)
from airflow_toloka.operators import (
    AggregateResultsOperator,
    CreatePoolOperator,
    CreateTasksOperator,
    CreateTaskSuitesOperator,
    ExportAssignmentsOperator,
    OpenPoolOperator,
    ReviewAssignmentsOperator,
)

TOKEN = "unit-lineage-token-42"
HOST = "http://127.0.0.1:8765"


def pool(pool_id: int) -> LineageDataset:
    return LineageDataset("toloka://127.0.0.1:8765", f"pools/{pool_id}")


POOL = pool(1001)


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection read from the environment: no server, nothing is sent."""
    conn = {"conn_type": "toloka", "host": HOST + "/api/v1", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))


@pytest.mark.parametrize(
    ("base_url", "namespace"),
    [
        ("https://toloka.dev", "toloka://toloka.dev"),
        ("https://sandbox.toloka.dev", "toloka://sandbox.toloka.dev"),
        ("http://127.0.0.1:8765", "toloka://127.0.0.1:8765"),
        ("https://Proxy.example.com:8443/toloka", "toloka://proxy.example.com:8443"),
    ],
)
def test_a_pool_is_named_by_its_api_host_and_id(base_url: str, namespace: str) -> None:
    assert pool_dataset(base_url, 1001) == LineageDataset(namespace, "pools/1001")
    assert toloka_namespace(base_url) == namespace


def test_a_namespace_never_holds_what_stands_before_an_at_sign() -> None:
    assert toloka_namespace("https://user:secret@toloka.dev") == "toloka://toloka.dev"
    with pytest.raises(ValueError, match="not an API URL with a host"):
        toloka_namespace("toloka.dev")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/data/tasks.tsv", ("file", "/data/tasks.tsv")),
        ("file:///data/tasks.tsv", ("file", "/data/tasks.tsv")),
        ("file://localhost/data/tasks.tsv", ("file", "/data/tasks.tsv")),
        ("file://nas7/data/tasks.tsv", ("file://nas7", "/data/tasks.tsv")),
        ("s3://aws_default@bucket/2026/labels.jsonl", ("s3://bucket", "2026/labels.jsonl")),
        ("s3a://bucket/labels.jsonl", ("s3://bucket", "labels.jsonl")),
        ("gcs://bucket/labels.jsonl", ("gs://bucket", "labels.jsonl")),
        ("gs://google_cloud_default@bucket/labels.jsonl", ("gs://bucket", "labels.jsonl")),
        ("s3://bucket", ("s3://bucket", "/")),
        (ObjectStoragePath("s3://aws_default@bucket/x/y.tsv"), ("s3://bucket", "x/y.tsv")),
        (ObjectStoragePath("file:///data/tasks.tsv"), ("file", "/data/tasks.tsv")),
        (Path("/data/tasks.tsv"), ("file", "/data/tasks.tsv")),
    ],
)
def test_a_file_is_named_as_airflows_providers_name_it(path: Any, expected: tuple[str, str]) -> None:
    assert file_dataset(path) == LineageDataset(*expected)


def test_a_relative_path_is_named_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert file_dataset("out/labels.jsonl") == LineageDataset("file", str(tmp_path / "out" / "labels.jsonl"))


@pytest.mark.parametrize("path", ["/data/tasks.tsv", "/tmp/a b/labels.jsonl"])
def test_a_local_file_is_the_dataset_airflows_common_io_reports(path: str) -> None:
    """An ObjectStoragePath read of the same file (hook lineage) lands on the same node of the graph."""
    from airflow.providers.common.io.assets.file import convert_asset_to_openlineage

    theirs = convert_asset_to_openlineage(Asset(uri=f"file://{path}"), None)
    assert file_dataset(path) == LineageDataset(theirs.namespace, theirs.name)


def test_operator_lineage_holds_each_dataset_once_and_no_facet() -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider is not installed")
    tasks = file_dataset("/data/tasks.tsv")
    lineage = operator_lineage([tasks, tasks], [POOL])
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", "/data/tasks.tsv")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [(POOL.namespace, POOL.name)]
    assert not lineage.run_facets and not lineage.job_facets
    assert all(not d.facets for d in [*lineage.inputs, *lineage.outputs])


def datasets(op: Any) -> tuple[list[LineageDataset], list[LineageDataset]]:
    found = op.lineage_datasets()
    assert found is not None
    return found


def test_an_upload_reads_its_file_into_the_pools_it_reached(conn: None) -> None:
    op = CreateTasksOperator(task_id="up", tasks_path="/data/tasks.tsv", pool_id=7)
    # Before the upload knows its pools (validation failed), the pool it was given.
    assert datasets(op) == ([LineageDataset("file", "/data/tasks.tsv")], [pool(7)])
    op.lineage_pool_ids = ["1001", "1002"]
    assert datasets(op) == (
        [LineageDataset("file", "/data/tasks.tsv")],
        [POOL, pool(1002)],
    )


def test_an_upload_of_items_in_memory_has_no_input_dataset(conn: None) -> None:
    op = CreateTaskSuitesOperator(task_id="up", task_suites=[{"pool_id": "1001", "tasks": []}])
    op.lineage_pool_ids = ["1001"]
    assert datasets(op) == ([], [POOL])
    assert datasets(CreateTasksOperator(task_id="up", tasks=[])) == ([], [])


def test_a_pool_made_from_a_template_reads_the_template(conn: None) -> None:
    op = CreatePoolOperator(task_id="pool", clone_from=55)
    assert datasets(op) == ([pool(55)], [])  # nothing made yet
    op.made_pool_id = "1001"
    assert datasets(op) == ([pool(55)], [POOL])
    spec = CreatePoolOperator(task_id="pool", pool={"project_id": "1"})
    spec.made_pool_id = "1001"
    assert datasets(spec) == ([], [POOL])


def test_export_and_aggregation_read_the_pool_into_their_file(conn: None) -> None:
    export = ExportAssignmentsOperator(task_id="export", pool_id=1001, results_path="/out/answers.jsonl")
    labels = AggregateResultsOperator(
        task_id="labels", pool_id="1001", fields="label", results_path="s3://aws_default@b/labels.csv"
    )
    assert datasets(export) == ([POOL], [LineageDataset("file", "/out/answers.jsonl")])
    assert datasets(labels) == ([POOL], [LineageDataset("s3://b", "labels.csv")])


def test_operators_without_lineage_of_their_own_report_none(conn: None) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider is not installed")
    review = ReviewAssignmentsOperator(task_id="review", pool_id=1, rule={"min_golden_accuracy": 0.5})
    for op in (review, OpenPoolOperator(task_id="open", pool_id=1)):
        # None lets the OpenLineage provider fall back to Airflow's hook lineage and the declared outlets.
        assert op.get_openlineage_facets_on_complete(None) is None


@pytest.mark.parametrize("conn_id", ["toloka_default", "toloka_missing"])
def test_without_a_readable_connection_no_pool_is_named(
    monkeypatch: pytest.MonkeyPatch, conn_id: str
) -> None:
    """A task that failed on its connection (no token; no such connection) still reports its file, and the
    lineage call does not fail too."""
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps({"conn_type": "toloka", "host": HOST}))
    op = ExportAssignmentsOperator(
        task_id="export", pool_id=1001, results_path="/out/answers.jsonl", toloka_conn_id=conn_id
    )
    assert datasets(op) == ([], [LineageDataset("file", "/out/answers.jsonl")])


def test_the_facets_hold_no_secret(conn: None) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider is not installed")
    from openlineage.client.serde import Serde

    op = CreateTasksOperator(task_id="up", tasks_path="/data/tasks.tsv", pool_id=1001)
    lineage = op.get_openlineage_facets_on_complete(None)
    assert lineage is not None
    text = json.dumps([json.loads(Serde.to_json(d)) for d in [*lineage.inputs, *lineage.outputs]])
    assert "pools/1001" in text and TOKEN not in text
    assert os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"].count(TOKEN) == 1  # the token was there to leak
