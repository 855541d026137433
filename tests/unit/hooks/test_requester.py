"""The requester and the cost of opening a pool, through the hook and OpenPoolOperator, against a scripted Toloka."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_toloka.exceptions import TolokaCostError
from airflow_toloka.operators import OpenPoolOperator
from tests.unit.hooks.common import fast_hook
from tests.unit.scripted_server import Reply, ScriptedServer

REQUESTER = {"id": "r1", "balance": 10.5, "public_name": {"EN": "Acme"}, "company": {"id": "9"}}
CONTROL = {"known_solutions": [{"output_values": {"r": "cat"}}]}


def task_pool(**fields: Any) -> dict[str, Any]:
    return {
        "id": "1",
        "project_id": "0",
        "private_name": "p",
        "status": "CLOSED",
        "reward_per_assignment": 0.1,
        "mixer_config": {"real_tasks_count": 2, "golden_tasks_count": 1, "training_tasks_count": 0},
        "defaults": {"default_overlap_for_new_tasks": 3, "default_overlap_for_new_task_suites": 1},
        **fields,
    }


def query(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}


def test_get_requester(server: ScriptedServer) -> None:
    server.script("GET /api/v1/requester", Reply(200, REQUESTER))
    requester = fast_hook().get_requester()
    assert (requester.id, requester.balance, requester.company) == ("r1", 10.5, {"id": "9"})


def test_task_pool_estimate_reads_every_page_and_leaves_control_tasks_out(server: ScriptedServer) -> None:
    server.script("GET /api/v1/pools/1", Reply(200, task_pool()))
    server.script(
        "GET /api/v1/tasks",
        Reply(
            200, {"items": [{"id": "a"}, {"id": "b", "overlap": 5}, {"id": "g", **CONTROL}], "has_more": True}
        ),
        Reply(200, {"items": [{"id": "c", "overlap": 5, "remaining_overlap": 2}], "has_more": False}),
    )
    estimate = fast_hook().estimate_pool_cost("1")
    # 3 (default) + 5 + 2 = 10 task slots, 2 a suite: 5 assignments of 0.10 + 0.03 fee
    assert (estimate.overlap_units, estimate.items, estimate.control_tasks) == (10, 3, 1)
    assert estimate.assignments == 5 and estimate.uploaded_as == "tasks" and estimate.real_tasks_count == 2
    assert float(estimate.total) == 0.65
    pages = [query(r.path) for r in server.requests if r.path.startswith("/api/v1/tasks")]
    assert pages == [
        {"pool_id": "1", "limit": "10000", "sort": "id"},
        {"pool_id": "1", "limit": "10000", "sort": "id", "id_gt": "g"},
    ]


def test_suite_pool_estimate_counts_each_suite_overlap(server: ScriptedServer) -> None:
    pool = task_pool(mixer_config=None, reward_per_assignment=1)
    server.script("GET /api/v1/pools/1", Reply(200, pool))
    suites = [{"id": "s1", "overlap": 3, "tasks": [CONTROL]}, {"id": "s2"}]  # s2: the pool's default, 1
    server.script("GET /api/v1/task-suites", Reply(200, {"items": suites, "has_more": False}))
    estimate = fast_hook().estimate_pool_cost("1", fee_rate=0.2, fee_min=0)
    assert (estimate.assignments, estimate.uploaded_as, float(estimate.total)) == (4, "task_suites", 4.8)
    assert server.count("GET /api/v1/tasks") == 0


def test_infinite_overlap_cannot_be_estimated(server: ScriptedServer) -> None:
    server.script("GET /api/v1/pools/1", Reply(200, task_pool()))
    server.script("GET /api/v1/tasks", Reply(200, {"items": [{"id": "a", "infinite_overlap": True}]}))
    with pytest.raises(TolokaCostError, match="infinite overlap"):
        fast_hook().estimate_pool_cost("1")


def test_a_mixer_without_real_tasks_cannot_be_estimated(server: ScriptedServer) -> None:
    server.script("GET /api/v1/pools/1", Reply(200, task_pool(mixer_config={"golden_tasks_count": 1})))
    with pytest.raises(TolokaCostError, match="real_tasks_count"):
        fast_hook().estimate_pool_cost("1")


def context() -> dict[str, Any]:
    return {"ti": MagicMock(dag_id="d", run_id="r", task_id="open", map_index=-1, try_number=1)}


def pushed(ctx: dict[str, Any]) -> dict[str, Any]:
    return {c.kwargs["key"]: c.kwargs["value"] for c in ctx["ti"].xcom_push.call_args_list}


@pytest.fixture
def priced_pool(server: ScriptedServer) -> ScriptedServer:
    """A closed pool whose opening costs 0.65 (see above), an account holding 10.50."""
    server.script("GET /api/v1/pools/1", Reply(200, task_pool()))
    tasks = [{"id": "a"}, {"id": "b", "overlap": 5}, {"id": "c", "remaining_overlap": 2}]
    server.script("GET /api/v1/tasks", Reply(200, {"items": tasks, "has_more": False}))
    server.script("GET /api/v1/requester", Reply(200, REQUESTER))
    op = {"id": "op-open", "type": "POOL.OPEN", "status": "SUCCESS"}
    server.script("POST /api/v1/pools/1/open", Reply(202, op))
    return server


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"max_cost": 0.64}, r"above max_cost \$0\.64 .*balance \$10\.5\)"),
        ({"max_cost": 100}, None),
        ({}, None),
    ],
)
def test_open_pool_refuses_above_max_cost(
    priced_pool: ScriptedServer, kwargs: Any, problem: str | None
) -> None:
    ctx = context()
    operator = OpenPoolOperator(task_id="open", pool_id=1, poll_interval=0.01, **kwargs)
    if problem is None:
        result = operator.execute(ctx)
        assert (
            result["estimated_cost"]["total"] == 0.65 and priced_pool.count("POST /api/v1/pools/1/open") == 1
        )
    else:
        with pytest.raises(TolokaCostError, match=problem):
            operator.execute(ctx)
        assert priced_pool.count("POST /api/v1/pools/1/open") == 0  # the pool stays closed
    assert pushed(ctx)["estimated_cost"]["total"] == 0.65


def test_open_pool_refuses_above_the_balance(priced_pool: ScriptedServer) -> None:
    priced_pool.script("GET /api/v1/requester", Reply(200, {**REQUESTER, "balance": 0.5}))
    with pytest.raises(TolokaCostError, match=r"\$0\.6500 .*above the balance \$0\.5 \(max_cost none"):
        OpenPoolOperator(task_id="open", pool_id=1).execute(context())
    assert priced_pool.count("POST /api/v1/pools/1/open") == 0
    # without the balance check the same pool opens, the requester not even read
    asked = priced_pool.count("GET /api/v1/requester")
    operator = OpenPoolOperator(
        task_id="open", pool_id=1, max_cost=1, check_balance=False, poll_interval=0.01
    )
    assert operator.execute(context())["estimated_cost"]["total"] == 0.65
    assert (
        priced_pool.count("POST /api/v1/pools/1/open") == 1
        and priced_pool.count("GET /api/v1/requester") == asked
    )


def test_an_open_pool_or_no_check_estimates_nothing(priced_pool: ScriptedServer) -> None:
    unchecked = OpenPoolOperator(task_id="open", pool_id=1, check_balance=False, poll_interval=0.01)
    assert unchecked.execute(context())["estimated_cost"] is None
    priced_pool.script("GET /api/v1/pools/1", Reply(200, task_pool(status="OPEN")))
    priced_pool.script("POST /api/v1/pools/1/open", Reply(204))
    assert (
        OpenPoolOperator(task_id="open", pool_id=1, max_cost=0.01).execute(context())["estimated_cost"]
        is None
    )
    assert priced_pool.count("GET /api/v1/tasks") == 0 and priced_pool.count("GET /api/v1/requester") == 0


def test_the_estimate_survives_a_deferral(priced_pool: ScriptedServer) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_toloka.events import OperationEvent

    running = {"id": "op-open", "type": "POOL.OPEN", "status": "RUNNING"}
    priced_pool.script("POST /api/v1/pools/1/open", Reply(202, running))
    ctx = context()
    with pytest.raises(TaskDeferred) as info:
        OpenPoolOperator(task_id="open", pool_id=1, max_cost=5, deferrable=True).execute(ctx)
    assert info.value.kwargs["extra"]["estimated_cost"] == pushed(ctx)["estimated_cost"]
    event = OperationEvent("success", ("op-open",)).to_payload()
    resumed = OpenPoolOperator(task_id="open", pool_id=1, max_cost=5, deferrable=True)
    result = resumed.execute_complete(context(), event, **info.value.kwargs)
    assert result["estimated_cost"]["total"] == 0.65 and result["pool_id"] == "1"
