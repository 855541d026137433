"""TolokaPoolTrigger and the pool-state rules: serialization, and run() over real loopback HTTP."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_toloka.events import PoolEvent, pool_state
from airflow_toloka.exceptions import TolokaError, TolokaTimeoutError
from airflow_toloka.models import Pool
from airflow_toloka.triggers import TolokaPoolTrigger
from tests.logs import recorded
from tests.unit.scripted_server import TOKEN, Reply, ScriptedServer

POOL_ROUTE = "GET /api/v1/pools/41"
ASSIGNMENTS = "GET /api/v1/assignments"


def pool(status: str, reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "41", "project_id": "7", "private_name": "run", "status": status}
    if reason is not None:
        body["last_close_reason"] = reason
    return body


def trigger(**kwargs: Any) -> TolokaPoolTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    return TolokaPoolTrigger(pool_id="41", **kwargs)


async def one_event(trig: TolokaPoolTrigger, timeout: float = 10) -> dict[str, Any]:
    async def drain() -> list[TriggerEvent]:
        return [event async for event in trig.run()]

    fired = await asyncio.wait_for(drain(), timeout)
    assert len(fired) == 1, fired
    payload: dict[str, Any] = fired[0].payload
    assert json.loads(json.dumps(payload)) == payload
    assert TOKEN not in json.dumps(payload)
    return payload


@pytest.mark.parametrize(
    ("status", "reason", "success", "state"),
    [
        ("OPEN", None, ("COMPLETED",), "waiting"),
        ("OPEN", "MANUAL", ("COMPLETED",), "waiting"),  # a reason persists after reopening
        ("CLOSED", None, ("COMPLETED",), "waiting"),  # never opened yet
        ("CLOSED", "FOR_UPDATE", ("COMPLETED",), "waiting"),  # Toloka reopens it
        ("LOCKED", None, ("COMPLETED",), "waiting"),
        ("CLOSED", "COMPLETED", ("COMPLETED",), "closed"),
        ("ARCHIVED", "COMPLETED", ("COMPLETED",), "closed"),
        ("CLOSED", "MANUAL", ("COMPLETED",), "failed"),
        ("CLOSED", "MANUAL", ("COMPLETED", "MANUAL"), "closed"),
        ("CLOSED", "EXPIRED", ("COMPLETED",), "failed"),
        ("CLOSED", "NOT_ENOUGH_BALANCE", ("COMPLETED",), "failed"),
        ("CLOSED", "BLOCKED", ("COMPLETED",), "failed"),
        ("CLOSED", "ASSIGNMENTS_LIMIT_EXCEEDED", ("COMPLETED",), "failed"),
        ("ARCHIVED", None, ("COMPLETED",), "failed"),  # archived before anyone finished it
    ],
)
def test_pool_state(status: str, reason: str | None, success: tuple[str, ...], state: str) -> None:
    assert pool_state(Pool.model_validate(pool(status, reason)), success) == state


def test_failure_events_name_the_reason_and_round_trip() -> None:
    event = PoolEvent.observed("41", Pool.model_validate(pool("CLOSED", "EXPIRED")), "failed")
    assert event is not None and event.status == "failed"
    assert PoolEvent.parse(json.loads(json.dumps(event.to_payload()))) == event
    error = event.error()
    assert isinstance(error, TolokaError) and "EXPIRED" in str(error) and "will_expire" in str(error)
    timeout = PoolEvent.timed_out("41", time.time()).error()
    assert isinstance(timeout, TolokaTimeoutError) and "goes on labeling" in str(timeout)
    with pytest.raises(TolokaError, match="malformed"):
        PoolEvent.parse({"status": "success"})


def test_serialize_round_trips_without_secrets() -> None:
    trig = TolokaPoolTrigger(pool_id=41, end_time=123.0, success_reasons=["manual", "COMPLETED"])
    classpath, kwargs = trig.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt == trig
    assert kwargs == {
        "pool_id": "41",
        "toloka_conn_id": "toloka_default",
        "poll_interval": 300.0,
        "end_time": 123.0,
        "success_reasons": ["COMPLETED", "MANUAL"],
    }
    with pytest.raises(ValueError, match="pool id"):
        TolokaPoolTrigger(pool_id="")
    with pytest.raises(ValueError, match="success_reasons"):
        TolokaPoolTrigger(pool_id="41", success_reasons=[])


def test_first_poll_is_spread_and_fixed_per_pool() -> None:
    delays = {TolokaPoolTrigger(pool_id=str(i)).first_poll_delay() for i in range(50)}
    assert all(30 <= d <= 60 for d in delays) and len(delays) > 40
    assert (
        TolokaPoolTrigger(pool_id="7").first_poll_delay() == TolokaPoolTrigger(pool_id="7").first_poll_delay()
    )


async def test_waits_through_open_and_active_assignments_then_succeeds(server: ScriptedServer) -> None:
    server.script(POOL_ROUTE, Reply(body=pool("OPEN")), Reply(body=pool("CLOSED", "COMPLETED")))
    server.script(
        ASSIGNMENTS, Reply(body={"items": [{"id": "a1"}], "has_more": False}), Reply(body={"items": []})
    )
    payload = await one_event(trigger())
    assert payload["status"] == "success" and payload["close_reason"] == "COMPLETED"
    assert server.count(POOL_ROUTE) == 3  # open, closed with an active assignment, closed and drained
    assert server.count(ASSIGNMENTS) == 2
    asked = [r.path for r in server.requests if r.path.startswith("/api/v1/assignments")]
    assert all("status=ACTIVE" in p and "pool_id=41" in p and "limit=1" in p for p in asked)


async def test_an_outage_is_polled_through(server: ScriptedServer) -> None:
    server.script(
        POOL_ROUTE,
        Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}),
        Reply(429, {"code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "0"}),
        Reply(body=pool("CLOSED", "COMPLETED")),
    )
    server.script(ASSIGNMENTS, Reply(body={"items": [], "has_more": False}))
    payload = await one_event(trigger())
    assert payload["status"] == "success"


async def test_expired_fails_at_once_naming_the_reason(server: ScriptedServer) -> None:
    server.script(POOL_ROUTE, Reply(body=pool("CLOSED", "EXPIRED")))
    payload = await one_event(trigger())
    assert payload["status"] == "failed" and payload["close_reason"] == "EXPIRED"
    assert "EXPIRED" in payload["message"]
    assert server.count(ASSIGNMENTS) == 0


async def test_a_missing_pool_ends_the_wait_with_an_error(server: ScriptedServer) -> None:
    server.script(POOL_ROUTE, Reply(404, {"code": "DOES_NOT_EXIST", "message": "Pool 41 does not exist"}))
    payload = await one_event(trigger())
    assert payload["status"] == "error" and "41" in payload["message"]
    assert server.count(POOL_ROUTE) == 1


async def test_the_deadline_gives_a_timeout(server: ScriptedServer) -> None:
    server.script(POOL_ROUTE, Reply(body=pool("OPEN")))
    payload = await one_event(trigger(end_time=time.time() + 0.3))
    assert payload["status"] == "timeout" and "goes on labeling" in payload["message"]


def test_the_sensor_fails_clearly_on_a_missing_pool_and_a_failure_reason(server: ScriptedServer) -> None:
    from airflow_toloka.sensors import TolokaPoolSensor

    server.script(POOL_ROUTE, Reply(404, {"code": "DOES_NOT_EXIST", "message": "Pool 41 does not exist"}))
    sensor = TolokaPoolSensor(task_id="wait", pool_id="41", deferrable=False)
    with pytest.raises(TolokaError, match="DOES_NOT_EXIST"):
        sensor.poke({})  # type: ignore[arg-type]
    server.script(POOL_ROUTE, Reply(body=pool("CLOSED", "NOT_ENOUGH_BALANCE")))
    with pytest.raises(TolokaError, match=r"NOT_ENOUGH_BALANCE.*top it up"):
        sensor.poke({})  # type: ignore[arg-type]
    server.script(POOL_ROUTE, Reply(body=pool("CLOSED", "MANUAL")))
    server.script(ASSIGNMENTS, Reply(body={"items": [], "has_more": False}))
    assert TolokaPoolSensor(task_id="w", pool_id="41", until="closed", deferrable=False).poke({}).is_done  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="until"):
        TolokaPoolSensor(task_id="w", pool_id="41", until="soon")


def test_the_sensor_reads_reasons_as_the_trigger_does_and_pokes_through_an_outage(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow_toloka.sensors.pool as sensor_module
    from airflow_toloka.hooks.toloka import TolokaHook
    from airflow_toloka.sensors import TolokaPoolSensor

    assert TolokaPoolSensor(task_id="w", pool_id="41", success_reasons="manual").success_reasons == (
        "MANUAL",
    )
    server.script(POOL_ROUTE, Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}))
    # The hook's own retries, made short: the outage outlasts them.
    monkeypatch.setattr(
        sensor_module,
        "TolokaHook",
        lambda conn_id, **_: TolokaHook(conn_id, retry_limit=1, retry_delay=0.01),
    )
    sensor = TolokaPoolSensor(task_id="w", pool_id="41", deferrable=False)
    assert not sensor.poke({}).is_done  # type: ignore[arg-type]  # poke again later, as the trigger would


# ---------------------------------------------------------------------- progress and spend while waiting

ANALYTICS = "POST /api/staging/analytics-2"
ANALYTICS_OP = "GET /api/v1/operations/an-1"


def analytics(
    status: str, percent: int = 0, submitted: int = 0, accepted: int = 0, spent: float = 0.0
) -> Reply:
    """Toloka's answer to a progress read: the ANALYTICS operation, with the figures once it is SUCCESS."""
    figures = {
        "completion_percentage": {
            "type": "NORMAL",
            "value": percent,
            "infinite": False,
            "approximate": False,
        },
        "submitted_assignments_count": submitted,
        "approved_assignments_count": accepted,
        "rejected_assignments_count": 0,
        "spent_budget": spent,
        "real_tasks_count": 40,
    }
    body: dict[str, Any] = {"id": "an-1", "type": "ANALYTICS", "status": status}
    if status == "SUCCESS":
        body["details"] = {"value": [{"request": {"name": k}, "result": v} for k, v in figures.items()]}
    return Reply(body=body)


async def test_each_poll_logs_one_progress_line_and_the_success_carries_the_spend(
    server: ScriptedServer,
) -> None:
    server.script(
        POOL_ROUTE,
        Reply(body=pool("OPEN")),
        Reply(body=pool("OPEN")),
        Reply(body=pool("CLOSED", "COMPLETED")),
    )
    server.script(ASSIGNMENTS, Reply(body={"items": [], "has_more": False}))
    server.script(
        ANALYTICS,
        analytics("SUCCESS", 25, 10, 10, 0.2),
        analytics("PENDING"),  # the second read waits for its operation
        analytics("SUCCESS", 100, 2000, 1260, 41.2),
    )
    server.script(ANALYTICS_OP, analytics("RUNNING"), analytics("SUCCESS", 63, 1300, 1000, 20.5))
    trig = trigger()
    log = recorded(trig)
    payload = await one_event(trig)
    assert log.progress() == [
        "Toloka pool 41: 25% done, 10 of 10 submitted assignments accepted, 0.20 spent; the pool is OPEN",
        "Toloka pool 41: 63% done, 1,000 of 1,300 submitted assignments accepted, 20.50 spent; the pool is OPEN",
        "Toloka pool 41: 100% done, 1,260 of 2,000 submitted assignments accepted, 41.20 spent; "
        "the pool is CLOSED (COMPLETED)",
    ]
    assert log.at("warning") == []
    # One analytics call per poll, and the only assignment read is the one-item check for ACTIVE work.
    assert server.count(ANALYTICS) == server.count(POOL_ROUTE) == 3
    assert all("limit=1" in r.path for r in server.requests if r.path.startswith("/api/v1/assignments"))
    assert payload["status"] == "success" and payload["spent"] == 41.2
    assert (
        payload["progress"]["completion_percentage"] == 100
        and payload["progress"]["approved_assignments"] == 1260
    )
    assert PoolEvent.parse(payload).spent == 41.2


async def test_analytics_down_warns_once_and_the_wait_goes_on(server: ScriptedServer) -> None:
    server.script(POOL_ROUTE, *[Reply(body=pool("OPEN"))] * 3, Reply(body=pool("CLOSED", "COMPLETED")))
    server.script(ASSIGNMENTS, Reply(body={"items": [], "has_more": False}))
    server.script(ANALYTICS, Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}))
    trig = trigger()
    log = recorded(trig)
    payload = await one_event(trig)
    assert payload["status"] == "success" and "spent" not in payload and "progress" not in payload
    (warning,) = log.at("warning")
    assert "progress of Toloka pool 41" in warning and "REMOTE_SERVICE_UNAVAILABLE" in warning
    assert server.count(ANALYTICS) == 4  # one attempt per poll: the next poll is the retry
    assert any("OPEN; waiting for the crowd" in line for line in log.at("info"))  # the status line instead


async def test_slow_analytics_are_given_up_and_a_recovery_is_logged(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow_toloka.triggers.pool as trigger_module

    monkeypatch.setattr(trigger_module, "_PROGRESS_TIMEOUT", 0.2)
    server.script(POOL_ROUTE, *[Reply(body=pool("OPEN"))] * 4, Reply(body=pool("CLOSED", "COMPLETED")))
    server.script(ASSIGNMENTS, Reply(body={"items": [], "has_more": False}))
    # Never finished, never finished, fine, a 404 (a proxy without the staging API), fine again.
    server.script(
        ANALYTICS,
        analytics("PENDING"),
        analytics("PENDING"),
        analytics("SUCCESS", 50, 20, 20, 1.0),
        Reply(404, {"code": "NOT_FOUND"}),
        analytics("SUCCESS", 100, 40, 40, 2.0),
    )
    server.script(ANALYTICS_OP, analytics("RUNNING"))
    trig = trigger()
    log = recorded(trig)
    started = time.monotonic()
    payload = await one_event(trig)
    assert time.monotonic() - started < 5  # two slow reads held the wait 0.2 s each, no more
    warnings = log.at("warning")
    assert len(warnings) == 2  # once for the slow streak, once for the 404 after the recovery
    assert "TolokaTimeoutError" in warnings[0] and "TolokaDoesNotExistError" in warnings[1]
    assert log.progress() == [
        "Toloka pool 41: 50% done, 20 of 20 submitted assignments accepted, 1.00 spent; the pool is OPEN",
        "Toloka pool 41: 100% done, 40 of 40 submitted assignments accepted, 2.00 spent; "
        "the pool is CLOSED (COMPLETED)",
    ]
    assert payload["status"] == "success" and payload["spent"] == 2.0


async def test_the_timeout_event_carries_the_last_progress(server: ScriptedServer) -> None:
    server.script(POOL_ROUTE, Reply(body=pool("OPEN")))
    server.script(ANALYTICS, analytics("SUCCESS", 80, 32, 30, 0.6))
    payload = await one_event(trigger(end_time=time.time() + 0.2))
    assert payload["status"] == "timeout" and payload["spent"] == 0.6
    assert payload["progress"]["completion_percentage"] == 80


async def test_progress_reads_never_block_the_event_loop(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asyncio debug mode reports any step that holds the loop: the analytics call and its polled operation
    (which waits in ``asyncio.sleep``) cause none."""
    from airflow_toloka.hooks.toloka import TolokaHook
    from tests.unit.triggers.test_operation import slow_callbacks

    def script() -> None:
        server.script(POOL_ROUTE, Reply(body=pool("OPEN")), Reply(body=pool("CLOSED", "COMPLETED")))
        server.script(ASSIGNMENTS, Reply(body={"items": [], "has_more": False}))
        server.script(ANALYTICS, analytics("PENDING"))
        server.script(ANALYTICS_OP, analytics("RUNNING"), analytics("SUCCESS", 100, 4, 4, 0.04))

    script()
    await one_event(trigger())  # once, so that one-off imports do not count as blocking
    script()
    payload, slow = await slow_callbacks(trigger(), caplog)  # type: ignore[arg-type]
    assert payload["status"] == "success" and payload["spent"] == 0.04
    assert not slow, slow

    # Control: the same check does catch a progress read that blocks.
    real = TolokaHook.aget_pool_progress

    async def blocking(self: TolokaHook, pool_id: str, **kwargs: Any) -> Any:
        time.sleep(0.15)
        return await real(self, pool_id, **kwargs)

    monkeypatch.setattr(TolokaHook, "aget_pool_progress", blocking)
    script()
    _, slow = await slow_callbacks(trigger(), caplog)  # type: ignore[arg-type]
    assert slow
