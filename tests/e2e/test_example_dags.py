"""Every example DAG, and a crash-and-retry DAG, through `airflow dags test` against the emulator."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from tests.e2e.conftest import EXAMPLES, TEST_DAGS, AirflowHome
from tests.specs import IMAGES_PROJECT, pool_spec

TOKEN = "e2e-secret-token-1234"


@pytest.fixture
def conn(toloka_emulator: Any) -> dict[str, Any]:
    return {"conn_type": "toloka", "host": toloka_emulator.url, "password": TOKEN}


def assert_ok(run: Any) -> None:
    assert run.returncode == 0, run.output[-5000:]
    assert TOKEN not in run.output


def test_image_classification(airflow_home: AirflowHome, toloka_emulator: Any, conn: dict[str, Any]) -> None:
    run = airflow_home.dags_test("toloka_image_classification", dags_folder=EXAMPLES, conn=conn)
    assert_ok(run)
    assert run.output.count("[DAG TEST] running trigger in line") == 2  # both uploads deferred
    assert toloka_emulator.stats()["tasks_by_pool"] == {"1001": 201}
    (control,) = run.xcom("upload_control_tasks")
    (general,) = run.xcom("upload_tasks")
    assert (control["created"], general["created"], general["failed"]) == (1, 200, 0)
    assert general["pool_ids"] == ["1001"] and len(general["ids"]) == 200 and all(general["ids"])
    assert run.xcom("report") == [201]
    assert run.xcom("upload_tasks", "operation_ids") == [general["operation_ids"]]
    # extra links are computed on the worker from XCom pushed before deferral: pages a browser can open (the
    # emulator's, at the paths of Toloka's requester UI; pool 1001 is in the emulator's project 1)
    assert run.xcom("upload_tasks", "_link_TolokaPoolLink") == [
        f"{toloka_emulator.url}/requester/project/1/pool/1001"
    ]
    (op_link,) = run.xcom("upload_tasks", "_link_TolokaOperationLink")
    assert op_link == f"{toloka_emulator.url}/requester/operation/{general['operation_ids'][0]}"


def test_nightly_task_suites(airflow_home: AirflowHome, toloka_emulator: Any, conn: dict[str, Any]) -> None:
    toloka_emulator.configure(rate=20)  # two seconds of processing: the sensor must really wait
    run = airflow_home.dags_test("toloka_nightly_task_suites", dags_folder=EXAMPLES, conn=conn)
    assert_ok(run)
    assert "[DAG TEST] running trigger in line" in run.output  # the sensor deferred
    assert toloka_emulator.stats()["task_suites_by_pool"] == {"2001": 40}
    (upload,) = run.xcom("upload_suites")
    assert upload["status"] == "SUBMITTED" and upload["pool_ids"] == ["2001"]
    assert run.xcom("consume") == [40]


def test_multi_pool_mapping(airflow_home: AirflowHome, toloka_emulator: Any, conn: dict[str, Any]) -> None:
    run = airflow_home.dags_test("toloka_multi_pool_mapping", dags_folder=EXAMPLES, conn=conn)
    assert_ok(run)
    assert run.output.count("[DAG TEST] running trigger in line") == 3  # every mapped upload deferred
    assert toloka_emulator.stats()["tasks_by_pool"] == {"3001": 5, "3002": 5, "3003": 5}
    assert run.xcom("summarize") == [{"3001": 5, "3002": 5, "3003": 5}]


def test_pool_lifecycle(
    airflow_home: AirflowHome, toloka_emulator: Any, conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    with TolokaHook() as hook:
        project = hook.create_project(IMAGES_PROJECT)
        template = hook.create_pool(pool_spec(project.id, overlap=1, suite=10, private_name="template"))
    toloka_emulator.configure(crowd=10, time_scale=100_000)
    run = airflow_home.dags_test(
        "toloka_pool_lifecycle", dags_folder=EXAMPLES, conn=conn, conf={"template_pool_id": template.id}
    )
    assert_ok(run)
    tasks = ("create_pool", "upload_tasks", "open_pool", "wait_for_labels", "archive_pool")
    assert run.task_states() == {t: "success#1" for t in tasks}
    (created,) = run.xcom("create_pool")
    pool_id = created["pool_id"]
    (labeled,) = run.xcom("wait_for_labels")
    assert pool_id != template.id and labeled["pool_id"] == pool_id and labeled["close_reason"] == "COMPLETED"
    assert labeled["spent"] == toloka_emulator.stats()["money"]["rewards_by_pool"][pool_id] > 0
    stats = toloka_emulator.stats()
    assert stats["tasks_by_pool"] == {pool_id: 200} and stats["pools"][pool_id] == "ARCHIVED"
    assert stats["pools"][template.id] == "CLOSED"
    assert run.xcom("create_pool", "_link_TolokaPoolLink") == [
        f"{toloka_emulator.url}/requester/project/{template.project_id}/pool/{pool_id}"
    ]


def test_labeling_pipeline(
    airflow_home: AirflowHome, toloka_emulator: Any, conn: dict[str, Any], tmp_path: Path
) -> None:
    # 300x: the crowd's work takes well under a second, and the pool's 3-day auto-acceptance lies ~14 real minutes
    # ahead, so the review step (not the clock) decides every assignment. At 100,000x it came 2.6 s after each
    # submit, so most work was accepted before review and a late submit could be accepted between read and PATCH.
    toloka_emulator.configure(crowd=10, crowd_accuracy=0.9, time_scale=300, seed=7)
    out = tmp_path / "labels"
    run = airflow_home.dags_test(
        "toloka_labeling_pipeline", dags_folder=EXAMPLES, conn=conn, conf={"out_dir": str(out)}
    )
    assert_ok(run)
    states = run.task_states()
    assert set(states.values()) == {"success#1"}, states
    (report,) = run.xcom("report")
    (reviewed,) = run.xcom("review")
    (labels,) = run.xcom("aggregate")
    assert report["labels"] == labels["labels"] == 60  # every review labeled, the 6 control tasks left out
    # 90%-accurate Tolokers, overlap 3: most tasks are right; where a rejection left two answers that disagree,
    # the tie is broken by a hash (half right). The crowd moves with real time here, so the figure varies from run
    # to run (0.88 to 1.0 seen); a floor of 0.8 still fails a vote that counts rejected or random answers (~0.5).
    assert report["accuracy"] >= 0.8, report
    assert reviewed["accepted"] + reviewed["rejected"] == report["assignments"]
    # the rule, not the clock, decided every assignment
    assert reviewed["changed"] == report["assignments"] and reviewed["rejected"] > 0, reviewed
    assert Path(labels["path"]).parent.parent == out
    # The run ends with its report: one HTML file beside the labels, its numbers those of the run.
    (html,) = run.xcom("labeling_report")
    page = Path(html["report_path"].removeprefix("file://"))
    assert page.parent == Path(labels["path"]).parent and page.read_text().startswith("<!DOCTYPE html>")
    assert html["labels"] == labels["labels"] and html["tasks"] == 60 and html["control_tasks"] == 6
    assert (html["assignments"]["ACCEPTED"], html["assignments"]["REJECTED"]) == (
        reviewed["accepted"],
        reviewed["rejected"],
    )
    (paid,) = run.xcom("bonuses")
    assert html["cost"]["bonus_count"] == paid["paid"] and html["control_accuracy"] > 0.5, html
    # The labels file is announced: one asset event, carrying the path, for the downstream DAG's schedule.
    with sqlite3.connect(airflow_home.home / "airflow.db") as db:
        events = db.execute(
            "SELECT a.uri, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE e.source_dag_id = 'toloka_labeling_pipeline'"
        ).fetchall()
    assert [(uri, json.loads(extra)["path"]) for uri, extra in events] == [
        ("file:///toloka/review-sentiment/labels", labels["path"])
    ]


def test_retry_after_a_crash_midway_creates_each_task_once(
    airflow_home: AirflowHome, toloka_emulator: Any, conn: dict[str, Any]
) -> None:
    run = airflow_home.dags_test("toloka_crash_midway", dags_folder=TEST_DAGS, conn=conn)
    assert_ok(run)
    assert "simulated worker crash" in run.output
    assert run.task_states() == {"upload": "success#2"}
    stats = toloka_emulator.stats()
    assert stats["tasks_by_pool"] == {"4001": 5_000}
    assert stats["requests"]["POST /api/v1/tasks"] == 2 + 5  # the retry resubmitted all five batches
    (summary,) = run.xcom("upload")
    assert summary["created"] == 5_000 and len(summary["operation_ids"]) == 5
    # Only counters were read (10 ids wanted, 5,000 created), so the pools come from the XCom pushed before deferral.
    assert summary["pool_ids"] == ["4001"] and summary["ids"] is None
    assert stats["requests"].get("GET /api/v1/operations/{id}/log", 0) == 0


def test_a_finished_date_run_again_makes_no_second_pool(
    airflow_home: AirflowHome, toloka_emulator: Any, conn: dict[str, Any], tmp_path: Path
) -> None:
    # The README's pipeline, ending in an archived pool, run twice for one logical date.
    toloka_emulator.configure(crowd=10, crowd_accuracy=0.9, time_scale=300, seed=7)  # 300x: see above
    out, date = tmp_path / "out", "2026-11-30"
    kwargs: dict[str, Any] = {"dags_folder": TEST_DAGS, "conn": conn, "conf": {"out_dir": str(out)}}
    first = airflow_home.dags_test("toloka_rerun_pipeline", logical_date=date, **kwargs)
    assert_ok(first)
    assert set(first.task_states().values()) == {"success#1"}, first.task_states()
    (made,) = first.xcom("pool")
    pool_id, answers = made["pool_id"], out / date / "answers.jsonl"
    exported, stamp = answers.read_bytes(), answers.stat().st_mtime_ns
    before = toloka_emulator.stats()
    assert before["pools"][pool_id] == "ARCHIVED" and before["tasks_by_pool"] == {pool_id: 66}

    second = airflow_home.dags_test("toloka_rerun_pipeline", logical_date=date, **kwargs)
    assert second.returncode != 0 and TOKEN not in second.output
    states = {task: state.split("#")[0] for task, state in second.task_states().items()}
    assert states == {
        "project": "success",
        "pool": "success",  # the first run's pool, found again
        "upload_control_tasks": "failed",
        "upload_reviews": "failed",
        **dict.fromkeys(
            ("open", "wait_for_crowd", "export_answers", "review", "labels", "archive"), "upstream_failed"
        ),
    }
    assert second.xcom("pool") == [made]
    assert f"Toloka pool {pool_id} (reviews {date}) is ARCHIVED and takes no new tasks; nothing was sent" in (
        second.output
    )
    assert f"toloka_rerun_pipeline/{date}T00:00:00+00:00/pool/-1" in second.output  # the key, named
    after = toloka_emulator.stats()
    assert after["requests"]["POST /api/v1/pools"] == 1  # no second pool
    assert after["requests"]["POST /api/v1/tasks"] == before["requests"]["POST /api/v1/tasks"]
    assert after["tasks_by_pool"] == before["tasks_by_pool"]
    assert after["assignments_by_pool"] == before["assignments_by_pool"]  # nobody paid twice
    assert answers.read_bytes() == exported and answers.stat().st_mtime_ns == stamp


def _crowd_done(hook: TolokaHook, pool_id: str) -> bool:
    """Whether the crowd has answered every general task of an open pool and holds nothing ACTIVE."""
    general = [t for t in hook.get_tasks(pool_id=pool_id) if not t.known_solutions]
    busy = next(iter(hook.get_assignment_pages(pool_id=pool_id, status="ACTIVE")), [])
    return bool(general) and all(t.remaining_overlap == 0 for t in general) and not busy


def test_review_open_pools(
    airflow_home: AirflowHome, toloka_emulator: Any, conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two OPEN pools whose work is done but which stay open (they close 3 simulated days after their last task),
    # a CLOSED pool of the same project with SUBMITTED work, and an OPEN pool of another project: the hourly
    # review decides the SUBMITTED work of the first two only.
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    toloka_emulator.configure(crowd=10, crowd_accuracy=0.7, time_scale=300, seed=11)
    control = [
        {
            "input_values": {"image": f"https://example.com/c{i}.jpg"},
            "known_solutions": [{"output_values": {"result": "cat" if i % 2 else "dog"}}],
            "infinite_overlap": True,
        }
        for i in range(6)
    ]
    general = [{"input_values": {"image": f"https://example.com/g{i}.jpg"}, "overlap": 2} for i in range(20)]
    mixer = {"real_tasks_count": 2, "golden_tasks_count": 1, "training_tasks_count": 0}
    with TolokaHook() as hook:
        project, other = hook.create_project(IMAGES_PROJECT), hook.create_project(IMAGES_PROJECT)

        def pool(project_id: str) -> str:
            spec = pool_spec(
                project_id,
                mixer_config=mixer,
                auto_accept_solutions=False,
                auto_close_after_complete_delay_seconds=259_200,
            )
            made = hook.create_pool(spec)
            hook.create_tasks([{**t, "pool_id": made.id} for t in control + general])
            hook.open_pool(made.id)
            return str(made.id)

        reviewed, closed, foreign = [pool(project.id), pool(project.id)], pool(project.id), pool(other.id)
        deadline = time.monotonic() + 60
        while not all(_crowd_done(hook, p) for p in (*reviewed, closed, foreign)):
            assert time.monotonic() < deadline, "the crowd did not finish within a minute"
        hook.close_pool(closed)
        submitted = {
            p: {
                str(a["id"])
                for page in hook.get_assignment_pages(pool_id=p, status="SUBMITTED")
                for a in page
            }
            for p in (*reviewed, closed, foreign)
        }
    assert all(submitted.values()), submitted

    run = airflow_home.dags_test(
        "toloka_review_open_pools", dags_folder=EXAMPLES, conn=conn, conf={"project_id": project.id}
    )
    assert_ok(run)
    assert run.xcom("open_pools") == [reviewed]
    results = run.xcom("review")
    assert [r["pool_id"] for r in results] == reviewed
    with TolokaHook() as hook:
        for result in results:
            after = {
                str(a["id"]): a["status"]
                for page in hook.get_assignment_pages(pool_id=result["pool_id"])
                for a in page
                if str(a["id"]) in submitted[result["pool_id"]]
            }
            assert set(after.values()) <= {"ACCEPTED", "REJECTED"}, after
            assert (
                result["changed"]
                == len(submitted[result["pool_id"]])
                == result["accepted"] + result["rejected"]
            )
        for untouched in (closed, foreign):
            pages = hook.get_assignment_pages(pool_id=untouched, status="SUBMITTED")
            assert {str(a["id"]) for page in pages for a in page} == submitted[untouched], untouched
    assert sum(r["rejected"] for r in results) > 0  # a 70%-accurate crowd fails some control tasks

    again = airflow_home.dags_test(
        "toloka_review_open_pools", dags_folder=EXAMPLES, conn=conn, conf={"project_id": project.id}
    )
    assert_ok(again)
    assert [r["changed"] for r in again.xcom("review")] == [
        0,
        0,
    ]  # nothing left to decide, nothing sent twice
