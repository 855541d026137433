"""Projects, pools and the crowd through the hook, the operators and the pool sensor, against the emulator."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
import requests
from airflow.sdk.exceptions import TaskDeferred

from airflow_toloka.exceptions import TolokaConflictError, TolokaError, TolokaInputError, TolokaTimeoutError
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import (
    AggregateResultsOperator,
    ArchivePoolOperator,
    ClosePoolOperator,
    CreatePoolOperator,
    CreateProjectOperator,
    CreateTasksOperator,
    ExportAssignmentsOperator,
    OpenPoolOperator,
    ReviewAssignmentsOperator,
)
from airflow_toloka.sensors import TolokaPoolSensor
from airflow_toloka.triggers import TolokaOperationTrigger, TolokaPoolTrigger
from tests.specs import REVIEWS_PROJECT as PROJECT
from tests.specs import pool_spec


def context(task_id: str = "t", run_id: str = "r1", map_index: int = -1) -> dict[str, Any]:
    ti = MagicMock(dag_id="d", run_id=run_id, task_id=task_id, map_index=map_index, try_number=1)
    run = MagicMock(start_date=datetime.now(timezone.utc) - timedelta(minutes=1))
    return {"ti": ti, "dag_run": run}


def pushed(ctx: dict[str, Any]) -> dict[str, Any]:
    return {c.kwargs["key"]: c.kwargs["value"] for c in ctx["ti"].xcom_push.call_args_list}


def advance(emulator: Any, seconds: float) -> None:
    resp = requests.post(f"{emulator.url}/_emulator/advance", params={"seconds": seconds}, timeout=30)
    assert resp.status_code == 200, resp.text


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    pass


@pytest.fixture
def project_id() -> str:
    op = CreateProjectOperator(task_id="project", project=PROJECT)
    return str(op.execute(context("project"))["project_id"])


def test_project_and_pool_are_found_again_on_a_retry(toloka_emulator: Any, project_id: str) -> None:
    again = CreateProjectOperator(task_id="project", project=PROJECT).execute(context("project", run_id="r2"))
    assert again == {"project_id": project_id}  # one project per DAG, whatever the run

    make = CreatePoolOperator(task_id="pool", project_id=project_id, pool=pool_spec())
    ctx = context("pool")
    first = make.execute(ctx)
    assert pushed(ctx)["pool_id"] == first["pool_id"] and first["project_id"] == project_id
    assert make.execute(context("pool")) == first  # an Airflow retry: the tagged pool is found
    other_run = make.execute(context("pool", run_id="r2"))
    assert other_run["pool_id"] != first["pool_id"]
    with TolokaHook() as hook:
        pools = list(hook.get_pools(project_id=project_id))
        assert sorted(p.id for p in pools) == sorted([first["pool_id"], other_run["pool_id"]])
        assert {p.status for p in pools} == {"CLOSED"}


def test_a_bad_pool_spec_names_its_field_and_creates_nothing(toloka_emulator: Any, project_id: str) -> None:
    bad = pool_spec()
    del bad["reward_per_assignment"]
    with pytest.raises(TolokaInputError, match="reward_per_assignment"):
        CreatePoolOperator(task_id="pool", project_id=project_id, pool=bad).execute(context("pool"))
    with pytest.raises(TolokaInputError, match="assignment_max_duration_seconds"):
        CreatePoolOperator(
            task_id="pool", project_id=project_id, pool=pool_spec(assignment_max_duration_seconds=1)
        ).execute(context("pool"))
    with TolokaHook() as hook:
        assert list(hook.get_pools(project_id=project_id)) == []


def test_an_unknown_project_is_toloka_s_error(toloka_emulator: Any) -> None:
    with pytest.raises(TolokaError, match="project_id"):
        CreatePoolOperator(task_id="pool", project_id="999999", pool=pool_spec()).execute(context("pool"))


def test_clone_with_overrides_once_per_run(toloka_emulator: Any, project_id: str) -> None:
    template = CreatePoolOperator(task_id="tpl", project_id=project_id, pool=pool_spec()).execute(
        context("tpl")
    )
    clone = CreatePoolOperator(
        task_id="pool",
        clone_from=template["pool_id"],
        overrides={"private_name": "run 2026-11-30", "will_expire": timedelta(days=3)},
    )
    first = clone.execute(context("pool"))
    assert first["pool_id"] != template["pool_id"] and first["project_id"] == project_id
    assert clone.execute(context("pool")) == first
    # Found again unchanged, though the template's settings carry the template's own key.
    assert toloka_emulator.stats()["requests"].get("PUT /api/v1/pools/{id}", 0) == 0
    with TolokaHook() as hook:
        made = hook.get_pool(first["pool_id"])
        assert made.private_name == "run 2026-11-30" and made.status == "CLOSED"
        assert len(list(hook.get_pools(project_id=project_id))) == 2


def test_opening_an_empty_pool_fails_with_tolokas_code(toloka_emulator: Any, project_id: str) -> None:
    pool = CreatePoolOperator(task_id="pool", project_id=project_id, pool=pool_spec()).execute(
        context("pool")
    )
    with pytest.raises(TolokaConflictError, match="EMPTY_POOL"):
        OpenPoolOperator(task_id="open", pool_id=pool["pool_id"]).execute(context("open"))


def test_items_breaking_the_pools_input_spec_send_nothing(
    toloka_emulator: Any, project_id: str, tmp_path: Path
) -> None:
    pool = CreatePoolOperator(task_id="pool", project_id=project_id, pool=pool_spec()).execute(
        context("pool")
    )
    rows = ["INPUT:text\tINPUT:url"] + [f"review {i}\thttps://e.com/{i}" for i in range(1, 251)]
    rows[10] = "review 10\tnot a url"
    rows[200] = "\thttps://e.com/200"
    path = tmp_path / "reviews.tsv"
    path.write_text("\n".join(rows) + "\n")
    upload = CreateTasksOperator(task_id="up", pool_id=pool["pool_id"], tasks_path=str(path), batch_size=100)
    with pytest.raises(TolokaInputError) as err:
        upload.execute(context("up"))
    assert "reviews.tsv, data row 10" in str(err.value) and "input_values.url" in str(err.value)
    assert "INVALID_URL_SYNTAX" in str(err.value)
    stats = toloka_emulator.stats()
    assert stats["requests"].get("POST /api/v1/tasks", 0) == 0 and not stats["tasks_by_pool"]


def open_pool_of(emulator: Any, project_id: str, n: int) -> str:
    """A pool of n reviews, opened to a crowd of five that works only when the test advances time."""
    emulator.configure(crowd=5, time_scale=0)
    pool_id = str(
        CreatePoolOperator(task_id="pool", project_id=project_id, pool=pool_spec()).execute(context("pool"))[
            "pool_id"
        ]
    )
    tasks = [{"input_values": {"text": f"review {i}"}} for i in range(n)]
    upload = CreateTasksOperator(
        task_id="up", pool_id=pool_id, tasks=tasks, allow_defaults=True, poll_interval=0.1
    )
    upload.execute(context("up"))
    opened = OpenPoolOperator(task_id="open", pool_id=pool_id, poll_interval=0.1).execute(context("open"))
    assert opened["pool_id"] == pool_id and opened["status"] == "OPEN"
    assert opened["estimated_cost"]["assignments"] >= 1  # checked against the balance before opening
    return pool_id


def test_the_whole_run_with_the_crowd(toloka_emulator: Any, project_id: str) -> None:
    pool_id = open_pool_of(toloka_emulator, project_id, 10)
    sensor = TolokaPoolSensor(task_id="wait", pool_id=pool_id, deferrable=False)
    assert not sensor.poke(context("wait"))
    advance(toloka_emulator, 24 * 3600)
    assert sensor.poke(context("wait"))
    with TolokaHook() as hook:
        done = hook.get_pool(pool_id)
        assert (done.status, done.last_close_reason) == ("CLOSED", "COMPLETED")
        assert hook.wait_pool(pool_id, timeout=5).id == pool_id
    # Already closed and archived: both are "already there" or a real transition, never an error.
    assert ClosePoolOperator(task_id="close", pool_id=pool_id).execute(context("close"))["status"] == "CLOSED"
    archived = ArchivePoolOperator(task_id="archive", pool_id=pool_id, poll_interval=0.1).execute(
        context("a")
    )
    assert archived["status"] == "ARCHIVED"
    assert (
        ArchivePoolOperator(task_id="archive", pool_id=pool_id).execute(context("a"))["status"] == "ARCHIVED"
    )


def test_a_closed_pool_is_not_done_while_a_toloker_still_holds_work(
    toloka_emulator: Any, project_id: str
) -> None:
    """Toloka lets a Toloker submit a suite taken before the close: the sensor and wait_pool wait for it."""
    toloka_emulator.configure(crowd=8, time_scale=0, seed=3)
    pool_id = open_pool_of(toloka_emulator, project_id, 40)
    advance(toloka_emulator, 1)  # every Toloker has taken a suite and is working on it
    ClosePoolOperator(task_id="close", pool_id=pool_id, poll_interval=0.1).execute(context("close"))
    sensor = TolokaPoolSensor(task_id="wait", pool_id=pool_id, until="closed", deferrable=False)
    with TolokaHook() as hook:
        assert hook.get_pool(pool_id).status == "CLOSED" and hook.has_active_assignments(pool_id)
        assert not sensor.poke(context("wait"))
        with pytest.raises(TolokaTimeoutError, match="not finished"):
            hook.wait_pool(pool_id, success_reasons="MANUAL", poll_interval=0.05, timeout=0.3)
        advance(toloka_emulator, 3600)  # they submit
        assert not hook.has_active_assignments(pool_id)
        assert sensor.poke(context("wait"))
        assert hook.wait_pool(pool_id, success_reasons="MANUAL", timeout=5).id == pool_id


def test_the_sensor_defers_and_the_trigger_sees_the_crowd_finish(
    toloka_emulator: Any, project_id: str
) -> None:
    pool_id = open_pool_of(toloka_emulator, project_id, 4)
    sensor = TolokaPoolSensor(task_id="wait", pool_id=pool_id, poll_interval=0.2, timeout=600)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context("wait"))
    trigger = info.value.trigger
    assert isinstance(trigger, TolokaPoolTrigger) and trigger.pool_id == pool_id
    advance(toloka_emulator, 24 * 3600)

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(first_event(), 30))
    assert event["status"] == "success" and event["close_reason"] == "COMPLETED"
    result = sensor.execute_complete(context("wait"), event)
    assert result["pool_id"] == pool_id and result["close_reason"] == "COMPLETED"


def test_a_deferred_open_resumes_from_the_event(toloka_emulator: Any, project_id: str) -> None:
    toloka_emulator.configure(
        crowd=0, pending_seconds=30
    )  # the POOL.OPEN operation is still pending when it defers
    pool_id = str(
        CreatePoolOperator(task_id="pool", project_id=project_id, pool=pool_spec()).execute(context("pool"))[
            "pool_id"
        ]
    )
    tasks = [{"input_values": {"text": "review"}}]
    toloka_emulator.configure(pending_seconds=0)
    CreateTasksOperator(
        task_id="up", pool_id=pool_id, tasks=tasks, allow_defaults=True, poll_interval=0.1
    ).execute(context("up"))
    toloka_emulator.configure(pending_seconds=30)
    opener = OpenPoolOperator(task_id="open", pool_id=pool_id, deferrable=True, poll_interval=0.1)
    ctx = context("open")
    with pytest.raises(TaskDeferred) as info:
        opener.execute(ctx)
    trigger = info.value.trigger
    assert isinstance(trigger, TolokaOperationTrigger) and info.value.method_name == "execute_complete"
    assert pushed(ctx)["pool_ids"] == [pool_id]
    advance(toloka_emulator, 60)  # the operation finishes now, without waiting out the 30 s

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(first_event(), 60))
    resumed = OpenPoolOperator(task_id="open", pool_id=pool_id, deferrable=True)  # a new process resumes it
    result = resumed.execute_complete(context("open"), event, **info.value.kwargs)
    assert result == {"pool_id": pool_id, "status": "OPEN", "estimated_cost": pushed(ctx)["estimated_cost"]}
    assert result["estimated_cost"]["assignments"] >= 1  # what was estimated before deferring comes back
    with pytest.raises(TolokaError, match="malformed"):
        resumed.execute_complete(context("open"), {"nothing": 1})


# ---------------------------------------------------------------------- a date run again


def run_the_readme_pipeline(emulator: Any, project_id: str, out: Path) -> dict[str, Any]:
    """project -> pool -> upload -> open -> wait -> export -> review -> labels -> archive, as one run of one date."""
    pool_id = str(
        CreatePoolOperator(
            task_id="pool",
            project_id=project_id,
            pool={k: v for k, v in pool_spec().items() if k != "will_expire"},
            overrides={"will_expire": timedelta(days=7)},
        ).execute(context("pool"))["pool_id"]
    )
    tasks = [{"input_values": {"text": f"review {i}"}} for i in range(6)]
    CreateTasksOperator(
        task_id="up", pool_id=pool_id, tasks=tasks, allow_defaults=True, poll_interval=0.1
    ).execute(context("up"))
    OpenPoolOperator(task_id="open", pool_id=pool_id, poll_interval=0.1).execute(context("open"))
    advance(emulator, 24 * 3600)
    assert TolokaPoolSensor(task_id="wait", pool_id=pool_id, deferrable=False).poke(context("wait"))
    outlets = {"outlet_events": MagicMock()}
    ExportAssignmentsOperator(task_id="export", pool_id=pool_id, results_path=str(out)).execute(
        {**context("export"), **outlets}
    )
    ReviewAssignmentsOperator(task_id="review", pool_id=pool_id, rule={"min_golden_accuracy": 0.5}).execute(
        context("review")
    )
    AggregateResultsOperator(
        task_id="labels",
        pool_id=pool_id,
        fields=["label"],
        results_path=str(out.with_suffix(".labels.jsonl")),
    ).execute({**context("labels"), **outlets})
    ArchivePoolOperator(task_id="archive", pool_id=pool_id, poll_interval=0.1).execute(context("archive"))
    return {"pool_id": pool_id, "tasks": tasks}


def test_a_finished_date_run_again_reuses_its_pool_and_pays_nobody_twice(
    toloka_emulator: Any, project_id: str, tmp_path: Path
) -> None:
    toloka_emulator.configure(crowd=5, time_scale=0, seed=3)
    answers = tmp_path / "answers.jsonl"
    first = run_the_readme_pipeline(toloka_emulator, project_id, answers)
    pool_id, exported = first["pool_id"], answers.read_bytes()
    before = toloka_emulator.stats()
    assert before["pools"][pool_id] == "ARCHIVED" and before["tasks_by_pool"] == {pool_id: 6}
    assert before["assignments_by_pool"][pool_id] and exported.count(b"\n") == 6 * 2  # 6 tasks, overlap 2

    # The same date again: the pool operator returns the finished pool, and the upload refuses it up front.
    again = CreatePoolOperator(
        task_id="pool",
        project_id=project_id,
        pool={k: v for k, v in pool_spec().items() if k != "will_expire"},
        overrides={"will_expire": timedelta(days=7)},
    ).execute(context("pool"))
    assert again["pool_id"] == pool_id
    upload = CreateTasksOperator(
        task_id="up", pool_id=pool_id, tasks=first["tasks"], allow_defaults=True, poll_interval=0.1
    )
    with pytest.raises(TolokaInputError) as err:
        upload.execute(context("up"))
    message = str(err.value)
    assert f"Toloka pool {pool_id} (run) is ARCHIVED and takes no new tasks; nothing was sent" in message
    assert "idempotency key 'd/r1/pool/-1'" in message and "a new idempotency_key" in message

    after = toloka_emulator.stats()
    assert after["requests"]["POST /api/v1/tasks"] == before["requests"]["POST /api/v1/tasks"]
    assert after["tasks_by_pool"] == before["tasks_by_pool"]
    assert after["assignments_by_pool"] == before["assignments_by_pool"]
    assert (
        after["requests"].get("POST /api/v1/pools", 0) == before["requests"].get("POST /api/v1/pools", 0) == 1
    )
    assert answers.read_bytes() == exported


def test_a_completed_date_run_again_creates_nothing_and_leaves_the_crowd_nothing_to_do(
    toloka_emulator: Any, project_id: str
) -> None:
    toloka_emulator.configure(crowd=5, time_scale=0, seed=3)
    spec, tasks = pool_spec(), [{"input_values": {"text": f"review {i}"}} for i in range(4)]

    def run() -> tuple[str, dict[str, Any]]:
        pool_id = str(
            CreatePoolOperator(task_id="pool", project_id=project_id, pool=spec).execute(context("pool"))[
                "pool_id"
            ]
        )
        uploaded = CreateTasksOperator(
            task_id="up", pool_id=pool_id, tasks=tasks, allow_defaults=True, poll_interval=0.1
        ).execute(context("up"))
        OpenPoolOperator(task_id="open", pool_id=pool_id, poll_interval=0.1).execute(context("open"))
        advance(toloka_emulator, 24 * 3600)
        return pool_id, uploaded

    pool_id, first = run()
    before = toloka_emulator.stats()
    assert before["pools"] == {pool_id: "CLOSED"} and before["assignments_by_pool"][pool_id]
    again, second = (
        run()
    )  # the pool is CLOSED (COMPLETED): found, the upload re-attaches, opening finds no work
    after = toloka_emulator.stats()
    assert again == pool_id and second["operation_ids"] == first["operation_ids"]
    assert after["tasks_by_pool"] == before["tasks_by_pool"] == {pool_id: 4}
    assert after["assignments_by_pool"] == before["assignments_by_pool"]
    with TolokaHook() as hook:
        pool = hook.get_pool(pool_id)
        assert (pool.status, pool.last_close_reason) == ("CLOSED", "COMPLETED")


def test_a_changed_pool_spec_updates_a_closed_pool_and_is_refused_for_an_open_one(
    toloka_emulator: Any, project_id: str
) -> None:
    spec = pool_spec()
    first = CreatePoolOperator(task_id="pool", project_id=project_id, pool=spec).execute(context("pool"))
    edited = {**spec, "private_name": "run, renamed", "reward_per_assignment": 0.02}
    again = CreatePoolOperator(task_id="pool", project_id=project_id, pool=edited).execute(context("pool"))
    assert again == first
    with TolokaHook() as hook:
        pool = hook.get_pool(first["pool_id"])
        assert (pool.private_name, pool.reward_per_assignment, pool.status) == (
            "run, renamed",
            0.02,
            "CLOSED",
        )
        assert len(list(hook.get_pools(project_id=project_id))) == 1

    tasks = [{"input_values": {"text": "review"}}]
    CreateTasksOperator(
        task_id="up", pool_id=first["pool_id"], tasks=tasks, allow_defaults=True, poll_interval=0.1
    ).execute(context("up"))
    OpenPoolOperator(task_id="open", pool_id=first["pool_id"], poll_interval=0.1).execute(context("open"))
    dearer = {**edited, "reward_per_assignment": 0.03}
    with pytest.raises(TolokaInputError) as err:
        CreatePoolOperator(task_id="pool", project_id=project_id, pool=dearer).execute(context("pool"))
    assert f"pool {first['pool_id']} (idempotency key 'd/r1/pool/-1') is OPEN" in str(err.value)
    assert "differs from the given spec in: reward_per_assignment" in str(err.value)
    with TolokaHook() as hook:
        assert hook.get_pool(first["pool_id"]).reward_per_assignment == 0.02
    # Unchanged, the open pool is simply found again (an Airflow retry of a running date).
    assert (
        CreatePoolOperator(task_id="pool", project_id=project_id, pool=edited).execute(context("pool"))
        == first
    )


def test_a_changed_project_spec_updates_the_project(toloka_emulator: Any, project_id: str) -> None:
    spec = json.loads(json.dumps(PROJECT))
    spec["public_instructions"] = "<p>Sarcasm counts as neg.</p>"
    spec["task_spec"]["output_spec"]["label"]["allowed_values"] = ["pos", "neg", "mixed"]
    again = CreateProjectOperator(task_id="project", project=spec).execute(context("project", run_id="r2"))
    assert again == {"project_id": project_id}
    with TolokaHook() as hook:
        project = hook.get_project(project_id)
        assert (
            project.model_extra and project.model_extra["public_instructions"] == spec["public_instructions"]
        )
        assert project.task_spec == spec["task_spec"]
        assert len(list(hook.get_projects())) == 1


def test_an_archived_project_is_named_not_made_again(toloka_emulator: Any, project_id: str) -> None:
    with TolokaHook() as hook:
        hook.archive_project(project_id)
    with pytest.raises(
        TolokaInputError, match=f"project {project_id} .* is ARCHIVED: no pool can be made in it"
    ):
        CreateProjectOperator(task_id="project", project=PROJECT).execute(context("project", run_id="r2"))
    with TolokaHook() as hook:
        assert [p.id for p in hook.get_projects()] == [project_id]
