"""Analytics and a pool's progress: the staging path, the request body, the operation polled, and every bound."""

from __future__ import annotations

import gc
import json
import time
from typing import Any

import pytest

from airflow_toloka.events import PROGRESS_METRICS, PoolProgress
from airflow_toloka.exceptions import (
    TolokaOperationFailedError,
    TolokaRemoteUnavailableError,
    TolokaTimeoutError,
    TolokaTooManyRequestsError,
    TolokaUnexpectedResponseError,
)
from airflow_toloka.hooks.toloka import TolokaHook
from tests.unit.hooks.common import fast_hook
from tests.unit.scripted_server import Reply, ScriptedServer

ANALYTICS = "POST /api/staging/analytics-2"
OPERATION = "GET /api/v1/operations/an-1"
RESULTS: dict[str, Any] = {
    "completion_percentage": {"type": "NORMAL", "value": 63, "infinite": False, "approximate": False},
    "submitted_assignments_count": 2000,
    "approved_assignments_count": 1260,
    "rejected_assignments_count": 0,
    "spent_budget": 41.2,
    "real_tasks_count": 500,
}
PROGRESS = PoolProgress(
    completion_percentage=63,
    submitted_assignments=2000,
    approved_assignments=1260,
    rejected_assignments=0,
    spent=41.2,
    real_tasks=500,
)


def analytics_op(status: str, pool_id: str = "1042", details: Any = None) -> dict[str, Any]:
    asked = [{"subject": "POOL", "subject_id": pool_id, "name": name} for name in PROGRESS_METRICS]
    body: dict[str, Any] = {
        "id": "an-1",
        "type": "ANALYTICS",
        "status": status,
        "submitted": "2026-12-06T08:00:00.123",
        "parameters": {"value": asked},
    }
    if status == "SUCCESS":
        body["details"] = details or {
            "value": [
                {"request": r, "result": RESULTS[r["name"]], "finished": "2026-12-06T08:00:00.12"}
                for r in asked
            ]
        }
    elif details is not None:
        body["details"] = details
    return body


def asked(server: ScriptedServer) -> list[Any]:
    return [json.loads(r.body) for r in server.requests if r.path == "/api/staging/analytics-2"]


def test_get_analytics_posts_a_list_to_the_staging_path(server: ScriptedServer) -> None:
    server.script(ANALYTICS, Reply(200, analytics_op("PENDING")))
    requests = [{"subject": "POOL", "subject_id": "1042", "name": "real_tasks_count"}]
    with fast_hook() as hook:
        op = hook.get_analytics(requests)
    assert (op.id, op.type, op.status) == ("an-1", "ANALYTICS", "PENDING")
    assert asked(server) == [requests]
    (seen,) = [r for r in server.requests if r.method == "POST"]
    assert seen.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "non-empty list"),
        ({"subject": "POOL", "subject_id": "1", "name": "x"}, "non-empty list"),
        ([{"subject": "POOL", "subject_id": "1", "name": "x"}] * 11, "at most 10"),
        ([{"subject": "POOL", "name": "x"}], "subject_id"),
    ],
)
def test_get_analytics_refuses_what_toloka_would_before_sending(
    server: ScriptedServer, requests: Any, message: str
) -> None:
    with fast_hook() as hook, pytest.raises(ValueError, match=message):
        hook.get_analytics(requests)
    assert server.requests == []


def test_pool_progress_asks_six_metrics_once_and_polls_the_operation(server: ScriptedServer) -> None:
    server.script(ANALYTICS, Reply(200, analytics_op("PENDING")))
    server.script(OPERATION, Reply(body=analytics_op("RUNNING")), Reply(body=analytics_op("SUCCESS")))
    with fast_hook() as hook:
        progress = hook.get_pool_progress("1042")
    assert progress == PROGRESS
    assert (
        progress.line("1042")
        == "pool 1042: 63% done, 1,260 of 2,000 submitted assignments accepted, 41.20 spent"
    )
    assert asked(server) == [[{"subject": "POOL", "subject_id": "1042", "name": n} for n in PROGRESS_METRICS]]
    assert server.count(OPERATION) == 2
    # Only the analytics call and its operation: never a scan of the pool's assignments.
    assert {r.path.split("?")[0] for r in server.requests} == {
        "/api/staging/analytics-2",
        "/api/v1/operations/an-1",
    }


async def test_the_async_twin_reads_the_same(server: ScriptedServer) -> None:
    server.script(ANALYTICS, Reply(200, analytics_op("PENDING")))
    server.script(OPERATION, Reply(body=analytics_op("PENDING")), Reply(body=analytics_op("SUCCESS")))
    async with fast_hook() as hook:
        assert await hook.aget_pool_progress("1042") == PROGRESS
    assert server.count(ANALYTICS) == 1 and server.count(OPERATION) == 2


async def test_an_operation_already_finished_is_not_polled(server: ScriptedServer) -> None:
    server.script(ANALYTICS, Reply(200, analytics_op("SUCCESS")))
    async with fast_hook() as hook:
        assert await hook.aget_pool_progress("1042") == PROGRESS
    with fast_hook() as hook:
        assert hook.get_pool_progress("1042") == PROGRESS
    assert server.count(OPERATION) == 0


async def test_an_operation_that_never_finishes_is_given_up_at_the_timeout(server: ScriptedServer) -> None:
    server.script(ANALYTICS, Reply(200, analytics_op("PENDING")))
    server.script(OPERATION, Reply(body=analytics_op("RUNNING")))
    started = time.monotonic()
    with fast_hook() as hook, pytest.raises(TolokaTimeoutError, match=r"pool 1042 not ready within 0.3s"):
        hook.get_pool_progress("1042", timeout=0.3)
    async with fast_hook() as hook:
        with pytest.raises(TolokaTimeoutError, match=r"pool 1042 not ready within 0.3s"):
            await hook.aget_pool_progress("1042", timeout=0.3)
    assert time.monotonic() - started < 2


def test_an_outage_or_a_long_rate_limit_ends_the_read_within_its_timeout(server: ScriptedServer) -> None:
    """The hook's own retry budget (300 s) would wait out an outage: a progress read keeps to its timeout."""
    server.script(ANALYTICS, Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}))
    started = time.monotonic()
    # Without the read's own budget, eight retries of this backoff take about 12 s on average.
    with TolokaHook(retry_delay=0.05) as hook, pytest.raises(TolokaRemoteUnavailableError):
        hook.get_pool_progress("1042", timeout=0.2)
    assert time.monotonic() - started < 1
    server.script(ANALYTICS, Reply(429, {"code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "30"}))
    started = time.monotonic()
    with TolokaHook(retry_delay=0.05) as hook, pytest.raises(TolokaTooManyRequestsError):
        hook.get_pool_progress("1042", timeout=0.2)
    assert time.monotonic() - started < 1  # a limit longer than the read is not waited for at all


def test_a_backoff_that_would_end_past_the_budget_is_not_slept(server: ScriptedServer) -> None:
    """Toloka's last answer comes back within the budget, not after one more long random backoff."""
    server.script(ANALYTICS, Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}))
    started = time.monotonic()
    # backoffs drawn up to 10 s, 20 s, ...: nearly every one ends past the 0.3 s the read has
    with TolokaHook(retry_delay=10) as hook, pytest.raises(TolokaRemoteUnavailableError):
        hook.get_pool_progress("1042", timeout=0.3)
    assert time.monotonic() - started < 1


async def test_the_async_twin_keeps_to_its_timeout_through_an_outage_too(server: ScriptedServer) -> None:
    server.script(ANALYTICS, Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}))
    started = time.monotonic()
    async with TolokaHook() as hook:
        with pytest.raises(TolokaRemoteUnavailableError):
            await hook.aget_pool_progress("1042", timeout=0.5)
    assert time.monotonic() - started < 2.5
    server.script(ANALYTICS, Reply(429, {"code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "30"}))
    started = time.monotonic()
    async with TolokaHook() as hook:
        with pytest.raises(TolokaTooManyRequestsError):
            await hook.aget_pool_progress("1042", timeout=0.5)
    assert time.monotonic() - started < 1


def test_a_failed_or_malformed_analytics_operation_is_a_clear_error(server: ScriptedServer) -> None:
    server.script(ANALYTICS, Reply(200, analytics_op("FAIL", details={"reason": "no such metric"})))
    with fast_hook() as hook, pytest.raises(TolokaOperationFailedError, match="no such metric"):
        hook.get_pool_progress("1042")
    server.script(ANALYTICS, Reply(200, analytics_op("SUCCESS", details={"value": "nope"})))
    with fast_hook() as hook, pytest.raises(TolokaUnexpectedResponseError, match="analytics"):
        hook.get_pool_progress("1042")


async def test_a_progress_read_leaves_no_cyclic_garbage(server: ScriptedServer) -> None:
    # Each pool trigger reads its progress every poll: what that leaves for the collector adds to the full
    # collections that stall a triggerer's loop (docs/performance.md, "Pool triggers").
    server.script(ANALYTICS, Reply(200, analytics_op("PENDING")))
    server.script(OPERATION, Reply(body=analytics_op("SUCCESS")))
    async with fast_hook() as hook:
        await hook.aget_pool_progress("1042")  # the shared client and settings exist before counting
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(10):
                await hook.aget_pool_progress("1042")
            gc.collect()
            left = {f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage}
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    # The scripted server closes every connection (HTTP/1.0): only closed sockets' transports may be left.
    assert not [
        kind
        for kind in left
        if kind.startswith(("httpx", "httpcore", "tenacity", "airflow_toloka", "_asyncio"))
    ]
