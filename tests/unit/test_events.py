"""The trigger-event contract: what a trigger yields is what the operator and the sensor read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_toloka.events import FailedOperation, OperationEvent, describe_failed
from airflow_toloka.exceptions import TolokaError, TolokaOperationFailedError, TolokaTimeoutError
from airflow_toloka.models import Operation


def op(op_id: str, status: str, details: Any = None) -> Operation:
    return Operation(id=op_id, type="TASK.BATCH_CREATE", status=status, details=details)


def test_success_round_trips_and_means_no_error() -> None:
    event = OperationEvent.finished(["a", "b"], {"a": op("a", "SUCCESS"), "b": op("b", "SUCCESS")})
    payload = event.to_payload()
    assert payload == {"status": "success", "operation_ids": ["a", "b"]}
    assert OperationEvent.parse(json.loads(json.dumps(payload))) == event
    assert event.error() is None


def test_failed_names_each_failed_operation_with_tolokas_details() -> None:
    ops = {"a": op("a", "FAIL", {"reason": "pool 7 is archived"}), "b": op("b", "SUCCESS")}
    event = OperationEvent.finished(["a", "b"], ops)
    payload = event.to_payload()
    assert payload["failed"] == [
        {"id": "a", "type": "TASK.BATCH_CREATE", "details": {"reason": "pool 7 is archived"}}
    ]
    assert payload["message"] == (
        '1 of 2 Toloka operation(s) failed: a (TASK.BATCH_CREATE): {"reason": "pool 7 is archived"}'
    )
    parsed = OperationEvent.parse(payload)
    assert parsed == event
    error = parsed.error()
    assert isinstance(error, TolokaOperationFailedError) and str(error) == payload["message"]
    assert error.operation_ids == ["a"] and error.details == {"a": {"reason": "pool 7 is archived"}}


def test_timeout_names_the_deadline_and_what_still_runs() -> None:
    event = OperationEvent.timed_out(["a", "b"], ["b"], end_time=0.0)
    payload = event.to_payload()
    assert payload["pending"] == ["b"] and "1970-01-01T00:00:00+00:00: b" in payload["message"]
    assert "Toloka goes on processing them" in payload["message"]
    error = OperationEvent.parse(payload).error()
    assert isinstance(error, TolokaTimeoutError) and error.operation_ids == ["b"]


def test_polling_failure_is_an_error_event() -> None:
    payload = OperationEvent.polling_failed(["a"], ValueError("bad")).to_payload()
    assert payload == {
        "status": "error",
        "operation_ids": ["a"],
        "message": "Polling Toloka operations a failed: ValueError: bad",
    }
    error = OperationEvent.parse(payload).error()
    assert type(error) is TolokaError and "ValueError: bad" in str(error)


def test_events_without_a_message_still_explain_themselves() -> None:
    error = OperationEvent.parse({"status": "timeout", "operation_ids": ["a", "b"], "pending": ["a"]}).error()
    assert isinstance(error, TolokaTimeoutError) and error.operation_ids == ["a"] and "a, b" in str(error)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "malformed"),
        ({}, "malformed"),
        ("success", "malformed"),
        ({"status": 1}, "malformed"),
        ({"status": "weird", "operation_ids": ["a"]}, "unknown status 'weird'"),
        ({"status": "success"}, "no operation ids"),
        ({"status": "success", "operation_ids": "a"}, "no operation ids"),
        ({"status": "success", "operation_ids": ["a", 2]}, "no operation ids"),
    ],
)
def test_malformed_events_are_refused_clearly(event: Any, message: str) -> None:
    with pytest.raises(TolokaError, match=message):
        OperationEvent.parse(event)


def test_describe_failed_without_a_type() -> None:
    assert describe_failed([FailedOperation("x", None, None)], 3) == (
        "1 of 3 Toloka operation(s) failed: x (unknown type): null"
    )
