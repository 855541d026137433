"""The trigger-event contract: what a trigger yields is what the operator and the sensor read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_toloka.events import (
    FailedOperation,
    OperationEvent,
    PoolEvent,
    PoolProgress,
    describe_failed,
    progress_from_analytics,
)
from airflow_toloka.exceptions import TolokaError, TolokaOperationFailedError, TolokaTimeoutError
from airflow_toloka.models import Operation, Pool


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


# ---------------------------------------------------------------------- pool progress

ANALYTICS_DETAILS = {
    "value": [
        {
            "request": {"subject": "POOL", "subject_id": "1042", "name": "completion_percentage"},
            "result": {"type": "NORMAL", "value": 63, "infinite": False, "approximate": False},
            "finished": "2026-12-06T08:00:00.12",
        },
        {
            "request": {"name": "submitted_assignments_count"},
            "result": 2000,
            "finished": "2026-12-06T08:00:00",
        },
        {"request": {"name": "approved_assignments_count"}, "result": 1260},
        {"request": {"name": "rejected_assignments_count"}, "result": 12},
        {"request": {"name": "spent_budget"}, "result": 41.2},
        {"request": {"name": "real_tasks_count"}, "result": 500},
    ]
}
PROGRESS = PoolProgress(
    completion_percentage=63.0,
    submitted_assignments=2000,
    approved_assignments=1260,
    rejected_assignments=12,
    spent=41.2,
    real_tasks=500,
)


def test_analytics_details_are_read_by_metric_name() -> None:
    assert progress_from_analytics(ANALYTICS_DETAILS) == PROGRESS
    shuffled = {"value": list(reversed(ANALYTICS_DETAILS["value"]))}
    assert progress_from_analytics(shuffled) == PROGRESS


def test_entries_without_their_request_are_read_in_the_order_asked() -> None:
    bare = {"value": [{"result": entry["result"]} for entry in ANALYTICS_DETAILS["value"]]}
    assert progress_from_analytics(bare) == PROGRESS


def test_completion_flags_and_figures_toloka_left_out() -> None:
    details = {
        "value": [
            {
                "request": {"name": "completion_percentage"},
                "result": {"type": "NORMAL", "value": 12.5, "infinite": True, "approximate": True},
            },
            {"request": {"name": "spent_budget"}, "result": "0.015"},  # a decimal as text keeps its digits
            {"request": {"name": "submitted_assignments_count"}, "result": None},
            {"request": {"name": "approved_assignments_count"}, "result": True},  # not a number
            {"request": {"name": "rejected_assignments_count"}, "result": 2.5},  # not a count
        ]
    }
    progress = progress_from_analytics(details)
    assert progress == PoolProgress(
        completion_percentage=12.5, completion_infinite=True, completion_approximate=True, spent=0.015
    )
    assert progress.line("7") == "pool 7: ~12.5% done (infinite overlap), 0.015 spent"
    assert progress_from_analytics({"value": []}) == PoolProgress()
    assert PoolProgress().line("7") == "pool 7: no figures reported"


@pytest.mark.parametrize("details", [None, [], {"value": None}, {"value": [1]}, {"value": {"a": 1}}])
def test_analytics_details_of_another_shape_are_refused(details: Any) -> None:
    with pytest.raises(ValueError, match="analytics details"):
        progress_from_analytics(details)


@pytest.mark.parametrize(
    ("progress", "line"),
    [
        (
            PROGRESS,
            "pool 1042: 63% done, 1,260 of 2,000 submitted assignments accepted, 12 rejected, 41.20 spent",
        ),
        (
            PoolProgress(
                completion_percentage=62.96, submitted_assignments=2000, approved_assignments=1260, spent=41.2
            ),
            "pool 1042: 63% done, 1,260 of 2,000 submitted assignments accepted, 41.20 spent",
        ),
        (
            PoolProgress(submitted_assignments=5, spent=1234.5),
            "pool 1042: 5 assignments submitted, 1,234.50 spent",
        ),
        (PoolProgress(completion_percentage=0, spent=0), "pool 1042: 0% done, 0.00 spent"),
        (PoolProgress(spent=0.1 + 0.2), "pool 1042: 0.30 spent"),  # float noise is not shown
        (PoolProgress(spent=0.0125), "pool 1042: 0.0125 spent"),
    ],
)
def test_the_progress_line(progress: PoolProgress, line: str) -> None:
    assert progress.line("1042") == line


def test_progress_round_trips_through_json() -> None:
    data = json.loads(json.dumps(PROGRESS.as_dict()))
    assert data == {
        "completion_percentage": 63.0,
        "completion_infinite": False,
        "completion_approximate": False,
        "submitted_assignments": 2000,
        "approved_assignments": 1260,
        "rejected_assignments": 12,
        "spent": 41.2,
        "real_tasks": 500,
    }
    assert PoolProgress.from_dict(data) == PROGRESS
    assert PoolProgress.from_dict(None) is None and PoolProgress.from_dict("x") is None


def test_pool_events_carry_the_progress_and_read_the_old_shape() -> None:
    closed = Pool.model_validate(
        {
            "id": "1042",
            "project_id": "7",
            "private_name": "run",
            "status": "CLOSED",
            "last_close_reason": "COMPLETED",
        }
    )
    event = PoolEvent.observed("1042", closed, "closed")
    assert event is not None
    carrying = event.with_progress(PROGRESS)
    payload = json.loads(json.dumps(carrying.to_payload()))
    assert payload["spent"] == 41.2 and payload["progress"] == PROGRESS.as_dict()
    parsed = PoolEvent.parse(payload)
    assert parsed == carrying and parsed.spent == 41.2
    assert parsed.result() == {
        "pool_id": "1042",
        "close_reason": "COMPLETED",
        "spent": 41.2,
        "progress": PROGRESS.as_dict(),
    }
    # A trigger serialised before an upgrade fires an event without progress: read as it is.
    old = {"status": "success", "pool_id": "1042", "message": "Toloka pool 1042 is CLOSED (COMPLETED)"}
    old["close_reason"] = "COMPLETED"
    assert PoolEvent.parse(old) == event and "spent" not in event.to_payload()
    assert PoolEvent.parse(old).result() == {
        "pool_id": "1042",
        "close_reason": "COMPLETED",
        "spent": None,
        "progress": None,
    }
    timeout = PoolEvent.timed_out("1042", 0.0).with_progress(PROGRESS)
    assert PoolEvent.parse(timeout.to_payload()).progress == PROGRESS
