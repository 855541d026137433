"""TolokaOperationTrigger and TolokaOperationSensor against the emulator over loopback HTTP.

Operations are submitted for real (``create_tasks_async``) and the emulator's ``rate`` stretches them over
wall-clock time, so the trigger sees PENDING/RUNNING before the terminal state.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
from airflow.sdk import Context, serde
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from airflow_toloka.exceptions import TolokaOperationFailedError
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.sensors import TolokaOperationSensor
from airflow_toloka.triggers import TolokaOperationTrigger
from tests.unit.scripted_server import TrackingClient
from toloka_emulator import EmulatorProcess

TOKEN = "test-token"  # what ``toloka_emulator_conn`` puts in the connection
OPERATION_ROUTE = "GET /api/v1/operations/{id}"
CONTEXT = cast(Context, {})  # poke mode and deferral read nothing from the context


@pytest.fixture
def emu(
    toloka_emulator: EmulatorProcess, toloka_emulator_conn: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorProcess]:
    TrackingClient.opened = []
    monkeypatch.setattr(httpx, "AsyncClient", TrackingClient)
    yield toloka_emulator
    assert all(client.is_closed for client in TrackingClient.opened)


def tasks(n: int, pool: str = "501", **extra: Any) -> list[dict[str, Any]]:
    return [{"pool_id": pool, "input_values": {"text": f"item {i}"}, "overlap": 1, **extra} for i in range(n)]


def submit(items: list[dict[str, Any]], **kwargs: Any) -> str:
    hook = TolokaHook()
    try:
        return hook.create_tasks_async(items, **kwargs).id
    finally:
        hook.close()


def finished(op_id: str) -> str:
    """Wait until the emulator finished an operation (a later ``rate`` change would stretch it otherwise)."""
    hook = TolokaHook(poll_interval=0.05)
    try:
        assert hook.wait_operation(op_id, timeout=10).status == "SUCCESS"
    finally:
        hook.close()
    return op_id


async def run_to_event(trigger: TolokaOperationTrigger, timeout: float = 30) -> dict[str, Any]:
    """Rebuild the trigger as the triggerer would (serde round trip, classpath import), drain run()."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(
        **cast(dict[str, Any], serde.deserialize(serde.serialize(kwargs)))
    )

    async def drain() -> list[Any]:
        return [event async for event in rebuilt.run()]

    events = await asyncio.wait_for(drain(), timeout)
    assert len(events) == 1, events
    payload = events[0].payload
    assert json.loads(json.dumps(payload)) == payload and TOKEN not in json.dumps(payload)
    return payload


async def test_running_upload_ends_in_success(emu: EmulatorProcess) -> None:
    emu.configure(rate=200)  # 100 items: about half a second of RUNNING
    op_id = submit(tasks(100))
    assert TolokaHook().get_operation(op_id).status in ("PENDING", "RUNNING")
    payload = await run_to_event(
        TolokaOperationTrigger([op_id], poll_interval=0.1, end_time=time.time() + 30)
    )
    assert payload == {"status": "success", "operation_ids": [op_id]}
    stats = emu.stats()
    assert stats["requests"][OPERATION_ROUTE] >= 3  # it really waited
    assert stats["tasks_by_pool"] == {"501": 100}
    assert not any(route.startswith("POST") for route in stats["requests"] if "operations" in route)


async def test_several_operations_with_one_finished_early(emu: EmulatorProcess) -> None:
    fast = finished(submit(tasks(1, pool="502")))
    emu.configure(rate=100)
    slow = submit(tasks(50, pool="503"))
    payload = await run_to_event(TolokaOperationTrigger([slow, fast], poll_interval=0.1))
    assert payload == {"status": "success", "operation_ids": [slow, fast]}


async def test_server_side_rejection_gives_failed_event(emu: EmulatorProcess) -> None:
    # No overlap and no allow_defaults passes the client-side model but Toloka rejects it (VALUE_REQUIRED);
    # with skip_invalid_items=False the whole operation FAILs.
    good = submit(tasks(3))
    bad = submit(
        [*tasks(2), {"pool_id": "501", "input_values": {"text": "no overlap"}}], skip_invalid_items=False
    )
    payload = await run_to_event(TolokaOperationTrigger([good, bad], poll_interval=0.1))
    assert payload["status"] == "failed" and payload["operation_ids"] == [good, bad]
    (failed,) = payload["failed"]
    assert failed["id"] == bad and failed["type"] == "TASK.BATCH_CREATE"
    assert failed["details"]["not_valid_count"] == 1 and failed["details"]["items_count"] == 3
    assert bad in payload["message"] and '"not_valid_count": 1' in payload["message"]
    # Deterministic for the same remote state: a second run (an HA peer) fires the same event.
    assert await run_to_event(TolokaOperationTrigger([good, bad], poll_interval=0.1)) == payload


async def test_deadline_gives_timeout_with_pending_id(emu: EmulatorProcess) -> None:
    done = finished(submit(tasks(1, pool="504")))
    emu.configure(rate=1)  # 60 items: a minute of RUNNING
    stuck = submit(tasks(60, pool="505"))
    started = time.monotonic()
    payload = await run_to_event(
        TolokaOperationTrigger([done, stuck], poll_interval=30, end_time=time.time() + 0.8), timeout=10
    )
    assert time.monotonic() - started < 5  # the 30 s poll interval never outlives the deadline
    assert payload["status"] == "timeout" and payload["pending"] == [stuck]
    assert stuck in payload["message"]


async def test_unknown_operation_and_bad_token_give_error_events(emu: EmulatorProcess) -> None:
    payload = await run_to_event(TolokaOperationTrigger(["no-such-operation"], poll_interval=0.1))
    assert payload["status"] == "error" and "TolokaDoesNotExistError" in payload["message"]
    assert "no-such-operation" in payload["message"]

    op_id = submit(tasks(1))
    emu.configure(token="the-only-valid-token")
    payload = await run_to_event(TolokaOperationTrigger([op_id], poll_interval=0.1))
    assert payload["status"] == "error" and "TolokaAuthenticationError" in payload["message"]
    assert "the-only-valid-token" not in json.dumps(payload)


async def test_transient_faults_are_absorbed_by_the_hooks_retries(emu: EmulatorProcess) -> None:
    emu.configure(rate=200)
    op_id = submit(tasks(60))
    emu.configure(fault_503=0.5, seed=1)  # with this seed the very first poll gets a 503
    payload = await run_to_event(TolokaOperationTrigger([op_id], poll_interval=0.1), timeout=60)
    assert payload["status"] == "success"
    assert emu.stats()["faults"].get("503", 0) > 0  # faults really happened


# ---------------------------------------------------------------------- the sensor, deferred for real


async def defer_and_resume(sensor: TolokaOperationSensor) -> Any:
    """execute() on the worker, the trigger in the 'triggerer', then resume as the task runner does."""
    with pytest.raises(TaskDeferred) as info:
        await asyncio.to_thread(sensor.execute, CONTEXT)
    assert info.value.timeout is None and info.value.method_name == "execute_complete"
    event = await run_to_event(info.value.trigger)
    return await asyncio.to_thread(sensor.resume_execution, info.value.method_name, {"event": event}, CONTEXT)


async def test_sensor_defers_and_returns_ids(emu: EmulatorProcess) -> None:
    emu.configure(rate=100)
    ids = [submit(tasks(40, pool="506")), submit(tasks(40, pool="507"))]
    sensor = TolokaOperationSensor(
        task_id="wait", operation_id=str(ids), deferrable=True, poll_interval=0.1, timeout=60
    )
    assert await defer_and_resume(sensor) == ids


async def test_sensor_already_done_does_not_defer(emu: EmulatorProcess) -> None:
    op_id = finished(submit(tasks(2)))
    sensor = TolokaOperationSensor(task_id="wait", operation_id=op_id, deferrable=True)
    assert sensor.execute(CONTEXT) == [op_id]


async def test_sensor_failed_upload_fails_even_with_soft_fail(emu: EmulatorProcess) -> None:
    emu.configure(rate=50)
    bad = submit([*tasks(20), {"pool_id": "501", "input_values": {}}], skip_invalid_items=False)
    sensor = TolokaOperationSensor(
        task_id="wait", operation_id=[bad], deferrable=True, poll_interval=0.1, soft_fail=True
    )
    with pytest.raises(TolokaOperationFailedError, match="not_valid_count"):
        await defer_and_resume(sensor)


async def test_sensor_timeout_fails_or_skips_with_soft_fail(emu: EmulatorProcess) -> None:
    emu.configure(rate=1)
    stuck = submit(tasks(60))
    sensor = TolokaOperationSensor(task_id="wait", operation_id=stuck, deferrable=True, timeout=0.5)
    with pytest.raises(AirflowSensorTimeout, match=stuck):
        await defer_and_resume(sensor)
    soft = TolokaOperationSensor(
        task_id="wait", operation_id=stuck, deferrable=True, timeout=0.5, soft_fail=True
    )
    with pytest.raises(AirflowSkipException):
        await defer_and_resume(soft)
