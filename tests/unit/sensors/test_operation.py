"""TolokaOperationSensor: id parsing, poke, deferral, execute_complete and soft_fail/never_fail parity."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, cast
from unittest.mock import MagicMock

import pytest
from airflow.sdk import Context, serde
from airflow.sdk.exceptions import (
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferralError,
    TaskDeferred,
)

from airflow_toloka.exceptions import TolokaError, TolokaOperationFailedError
from airflow_toloka.sensors import TolokaOperationSensor
from airflow_toloka.sensors.operation import parse_operation_ids
from airflow_toloka.triggers import TolokaOperationTrigger
from tests.unit.scripted_server import TOKEN, Reply, ScriptedServer
from tests.unit.scripted_server import operation_json as op
from tests.unit.scripted_server import operation_route as route

FAIL_DETAILS = {"items_count": 1, "reason": "pool 77 is closed"}
# BaseSensorOperator.execute in poke mode reads nothing from the context; reschedule mode needs ``ti``.
CONTEXT = cast(Context, {})


def sensor(**kwargs: Any) -> TolokaOperationSensor:
    kwargs.setdefault("operation_id", ["op-1", "op-2"])
    return TolokaOperationSensor(task_id="wait", **kwargs)


# ---------------------------------------------------------------------- operation_id parsing


class _Lazy(Sequence[Any]):
    """What Airflow hands a task for a mapped upstream's XCom: a sequence, but no list."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("op-1", ["op-1"]),
        ("  op-1\n", ["op-1"]),
        (["op-1", "op-2"], ["op-1", "op-2"]),
        (("op-1",), ["op-1"]),
        ("['op-1', 'op-2']", ["op-1", "op-2"]),  # how Jinja renders a pulled list
        ('["op-1", "op-2"]', ["op-1", "op-2"]),
        ("('op-1',)", ["op-1"]),
        (["op-1", "op-2", "op-1"], ["op-1", "op-2"]),
        ("6f3b1c1e-0d4a-5b7e-9a51-7a0f1ca7b0e1", ["6f3b1c1e-0d4a-5b7e-9a51-7a0f1ca7b0e1"]),
        # a mapped upload's ids: one list per map index, in a lazy sequence
        (_Lazy([["op-1", "op-2"], ["op-3"]]), ["op-1", "op-2", "op-3"]),
        ([["op-1"], ["op-1", "op-2"]], ["op-1", "op-2"]),
    ],
)
def test_parse_operation_ids(value: Any, expected: list[str]) -> None:
    assert parse_operation_ids(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "[]", "['op-1'", "[op-1, op-2]", "[1, 2]", "a/b", "['../x']", None, 7, {"id": "x"}, [None]],
)
def test_parse_operation_ids_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_operation_ids(value)


def test_rendered_xcom_list_is_accepted(server: ScriptedServer) -> None:
    s = sensor(operation_id="{{ ids }}", deferrable=True)
    s.render_template_fields(cast(Context, {"ids": ["op-1", "op-2"]}))
    assert s.operation_id == "['op-1', 'op-2']"
    assert s.operation_ids == ["op-1", "op-2"]


def test_bad_operation_id_fails_clearly() -> None:
    with pytest.raises(TolokaError, match=r"wait: .*cannot be parsed"):
        sensor(operation_id="['op-1'").execute(CONTEXT)


def test_defaults() -> None:
    s = TolokaOperationSensor(task_id="w", operation_id="op-1")
    assert s.template_fields == ("operation_id",)
    assert s.toloka_conn_id == "toloka_default" and s.poll_interval == 30.0 and s.poke_interval == 30.0
    assert s.deferrable is False  # [operators] default_deferrable is false by default
    assert TolokaOperationSensor(task_id="w", operation_id="x", poll_interval=5).poke_interval == 5
    assert TolokaOperationSensor(task_id="w", operation_id="x", poke_interval=7).poke_interval == 7


# ---------------------------------------------------------------------- poke


def test_poke_running_then_success(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    server.script(
        route("op-2"), Reply(body=op("op-2", "RUNNING", 50)), Reply(body=op("op-2", "SUCCESS", 100))
    )
    s = sensor()
    assert not s.poke(CONTEXT)
    result = s.poke(CONTEXT)
    assert result and result.xcom_value == ["op-1", "op-2"]
    assert server.count(route("op-1")) == 1  # a success seen once is not asked again


def test_poke_fail_raises_with_tolokas_details(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "RUNNING", 10)))
    server.script(route("op-2"), Reply(body=op("op-2", "FAIL", 100, FAIL_DETAILS)))
    with pytest.raises(TolokaOperationFailedError) as info:
        sensor().poke(CONTEXT)
    assert "op-2" in str(info.value) and "pool 77 is closed" in str(info.value)
    assert info.value.operation_ids == ["op-2"] and info.value.details == {"op-2": FAIL_DETAILS}
    assert TOKEN not in str(info.value)


def test_non_deferrable_poke_mode_returns_ids(server: ScriptedServer) -> None:
    server.script(
        route("op-1"), Reply(body=op("op-1", "RUNNING", 10)), Reply(body=op("op-1", "SUCCESS", 100))
    )
    server.script(route("op-2"), Reply(body=op("op-2", "SUCCESS", 100)))
    assert sensor(poll_interval=0.01).execute(CONTEXT) == ["op-1", "op-2"]
    assert server.count(route("op-1")) == 2


def test_non_deferrable_reschedule_mode(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "RUNNING", 10)))
    server.script(route("op-2"), Reply(body=op("op-2", "RUNNING", 10)))
    ti = MagicMock()
    ti.get_first_reschedule_date.return_value = None
    with pytest.raises(AirflowRescheduleException):
        sensor(mode="reschedule", poll_interval=60).execute(cast(Context, {"ti": ti}))


def test_non_deferrable_timeout_soft_fail_skips(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "RUNNING", 10)))
    server.script(route("op-2"), Reply(body=op("op-2", "RUNNING", 10)))
    with pytest.raises(AirflowSensorTimeout):
        sensor(timeout=0.05, poll_interval=0.02).execute(CONTEXT)
    with pytest.raises(AirflowSkipException):
        sensor(timeout=0.05, poll_interval=0.02, soft_fail=True).execute(CONTEXT)


def test_non_deferrable_fail_is_not_skipped_by_soft_fail(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "FAIL", 100, FAIL_DETAILS)))
    server.script(route("op-2"), Reply(body=op("op-2", "SUCCESS", 100)))
    with pytest.raises(TolokaOperationFailedError):
        sensor(soft_fail=True).execute(CONTEXT)
    with pytest.raises(AirflowSkipException):
        sensor(never_fail=True).execute(CONTEXT)


# ---------------------------------------------------------------------- deferrable execute


def test_execute_defers_with_a_deadline_carrying_trigger(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    server.script(route("op-2"), Reply(body=op("op-2", "RUNNING", 10)))
    s = sensor(deferrable=True, toloka_conn_id="toloka_default", poll_interval=12, timeout=600)
    with pytest.raises(TaskDeferred) as info:
        s.execute(CONTEXT)
    deferred = info.value
    assert deferred.method_name == "execute_complete" and deferred.timeout is None
    trigger = deferred.trigger
    assert isinstance(trigger, TolokaOperationTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_toloka.triggers.operation.TolokaOperationTrigger"
    assert kwargs["operation_ids"] == ["op-1", "op-2"]
    assert kwargs["toloka_conn_id"] == "toloka_default" and kwargs["poll_interval"] == 12
    assert 590 < kwargs["end_time"] - time.time() <= 600
    assert TOKEN not in json.dumps(kwargs)
    assert serde.deserialize(serde.serialize(kwargs)) == kwargs  # what the task runner does
    assert server.count(route("op-2")) == 1  # exactly one poke on the worker


def test_execute_returns_without_deferring_when_already_done(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    server.script(route("op-2"), Reply(body=op("op-2", "SUCCESS", 100)))
    assert sensor(deferrable=True).execute(CONTEXT) == ["op-1", "op-2"]


def test_execute_first_poke_fail_raises(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "FAIL", 100, FAIL_DETAILS)))
    server.script(route("op-2"), Reply(body=op("op-2", "RUNNING", 10)))
    with pytest.raises(TolokaOperationFailedError, match="pool 77 is closed"):
        sensor(deferrable=True).execute(CONTEXT)
    with pytest.raises(TolokaOperationFailedError):
        sensor(deferrable=True, soft_fail=True).execute(CONTEXT)
    with pytest.raises(AirflowSkipException):
        sensor(deferrable=True, never_fail=True).execute(CONTEXT)


def test_execute_first_poke_error_with_silent_fail_still_defers(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(404, {"code": "DOES_NOT_EXIST", "message": "no such operation"}))
    s = sensor(operation_id="op-1", deferrable=True)
    with pytest.raises(TolokaError, match="no such operation"):
        s.execute(CONTEXT)
    s.silent_fail = True
    with pytest.raises(TaskDeferred):
        s.execute(CONTEXT)


# ---------------------------------------------------------------------- execute_complete


SUCCESS = {"status": "success", "operation_ids": ["op-1", "op-2"]}
FAILED = {
    "status": "failed",
    "operation_ids": ["op-1", "op-2"],
    "failed": [{"id": "op-2", "type": "TASK.BATCH_CREATE", "details": FAIL_DETAILS}],
    "message": '1 of 2 Toloka operation(s) failed: op-2 (TASK.BATCH_CREATE): {"reason": "pool 77 is closed"}',
}
TIMEOUT = {
    "status": "timeout",
    "operation_ids": ["op-1", "op-2"],
    "pending": ["op-2"],
    "message": "1 of 2 Toloka operation(s) still running at the deadline 2026-11-23T10:00:00+00:00: op-2",
}
ERROR = {
    "status": "error",
    "operation_ids": ["op-1", "op-2"],
    "message": "Polling Toloka operations op-1, op-2 failed: TolokaAuthenticationError: Bad token",
}


def test_execute_complete_success_returns_ids() -> None:
    assert sensor().execute_complete(CONTEXT, SUCCESS) == ["op-1", "op-2"]


def test_execute_complete_failed() -> None:
    with pytest.raises(TolokaOperationFailedError, match="pool 77 is closed") as info:
        sensor().execute_complete(CONTEXT, FAILED)
    assert info.value.operation_ids == ["op-2"] and info.value.details == {"op-2": FAIL_DETAILS}


def test_execute_complete_error() -> None:
    with pytest.raises(TolokaError, match="Bad token"):
        sensor().execute_complete(CONTEXT, ERROR)


def test_execute_complete_timeout() -> None:
    with pytest.raises(AirflowSensorTimeout, match="op-2"):
        sensor().execute_complete(CONTEXT, TIMEOUT)


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        "success",
        {"status": 1},
        {"status": "success"},
        {"status": "success", "operation_ids": "op-1"},
        {"status": "weird", "operation_ids": ["op-1"]},
    ],
)
def test_execute_complete_rejects_malformed_events(event: Any) -> None:
    with pytest.raises(TolokaError):
        sensor().execute_complete(CONTEXT, event)


@pytest.mark.parametrize(
    ("flags", "event", "outcome"),
    [
        ({"soft_fail": True}, TIMEOUT, AirflowSkipException),
        ({"soft_fail": True}, FAILED, TolokaOperationFailedError),
        ({"soft_fail": True}, ERROR, TolokaError),
        ({"never_fail": True}, TIMEOUT, AirflowSkipException),
        ({"never_fail": True}, FAILED, AirflowSkipException),
        ({"never_fail": True}, ERROR, AirflowSkipException),
        ({}, TIMEOUT, AirflowSensorTimeout),
    ],
)
def test_soft_fail_and_never_fail_when_resumed(
    flags: dict[str, bool], event: dict[str, Any], outcome: type[Exception]
) -> None:
    """Through resume_execution, as the task runner calls it: same rules as poking."""
    s = sensor(deferrable=True, **flags)
    with pytest.raises(outcome) as info:
        s.resume_execution("execute_complete", {"event": event}, CONTEXT)
    assert type(info.value) is outcome or outcome is TolokaError
    assert not isinstance(info.value, AirflowSkipException) or outcome is AirflowSkipException


def test_resumed_success_is_not_touched_by_flags() -> None:
    for flags in ({}, {"soft_fail": True}, {"never_fail": True}):
        s = sensor(deferrable=True, **flags)
        assert s.resume_execution("execute_complete", {"event": SUCCESS}, CONTEXT) == ["op-1", "op-2"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "error", "outcome"),
    [
        ({}, "Trigger timeout", AirflowSensorTimeout),
        ({"soft_fail": True}, "Trigger timeout", AirflowSkipException),
        ({}, "Trigger failure", TaskDeferralError),
        ({"soft_fail": True}, "Trigger failure", TaskDeferralError),  # a crashed trigger is not a timeout
        ({"never_fail": True}, "Trigger failure", AirflowSkipException),
    ],
)
def test_triggerer_side_failures(flags: dict[str, bool], error: str, outcome: type[Exception]) -> None:
    """``__fail__`` is how the triggerer reports a deferral timeout or a trigger that raised."""
    s = sensor(deferrable=True, **flags)
    with pytest.raises(outcome):
        s.resume_execution("__fail__", {"error": error}, CONTEXT)
