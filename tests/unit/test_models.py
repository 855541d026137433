from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from airflow_toloka.exceptions import (
    TolokaAuthenticationError,
    TolokaConflictError,
    TolokaError,
    TolokaRemoteUnavailableError,
    TolokaTooManyRequestsError,
    TolokaValidationError,
    error_from_response,
)
from airflow_toloka.models import BatchCreateResult, FieldValidationError, Operation, Task, TaskSuite


def test_task_keeps_unknown_fields_and_stringifies_pool_id() -> None:
    task = Task.model_validate(
        {"pool_id": 21, "input_values": {"image": "x"}, "localization_config": {"a": 1}}
    )
    assert task.pool_id == "21"
    assert task.to_json_dict() == {
        "pool_id": "21",
        "input_values": {"image": "x"},
        "localization_config": {"a": 1},
    }


def test_control_task_round_trip() -> None:
    wire = {
        "pool_id": "1",
        "input_values": {"image": "u"},
        "known_solutions": [{"output_values": {"result": "cat"}, "correctness_weight": 1}],
        "infinite_overlap": True,
        "message_on_unknown_solution": "It is a cat",
    }
    assert Task.model_validate(wire).to_json_dict() == {
        **wire,
        "known_solutions": [{"output_values": {"result": "cat"}, "correctness_weight": 1.0}],
    }


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"input_values": {}}, ("pool_id",)),
        ({"pool_id": "1", "input_values": ["a"]}, ("input_values",)),
        ({"pool_id": "1", "input_values": {}, "overlap": 0}, ("overlap",)),
        ({"pool_id": "1", "input_values": {}, "reserved_for": ["a", "a"]}, ("reserved_for",)),
        (
            {
                "pool_id": "1",
                "input_values": {},
                "known_solutions": [{"output_values": {}, "correctness_weight": 2}],
            },
            ("known_solutions", 0, "correctness_weight"),
        ),
    ],
)
def test_task_rejects_bad_input(data: dict, loc: tuple) -> None:
    with pytest.raises(ValidationError) as info:
        Task.model_validate(data)
    assert info.value.errors()[0]["loc"] == loc


def test_task_suite_requires_tasks() -> None:
    with pytest.raises(ValidationError):
        TaskSuite.model_validate({"pool_id": "1", "tasks": []})
    suite = TaskSuite.model_validate({"pool_id": 5, "tasks": [{"input_values": {"a": 1}}], "overlap": 2})
    assert suite.to_json_dict() == {"pool_id": "5", "tasks": [{"input_values": {"a": 1}}], "overlap": 2}


def test_datetimes_use_toloka_format() -> None:
    op = Operation.model_validate(
        {"id": "x", "status": "RUNNING", "submitted": "2023-03-28T11:06:09.827", "new_field": 1}
    )
    assert op.submitted == datetime(2023, 3, 28, 11, 6, 9, 827000)
    assert op.to_json_dict()["submitted"] == "2023-03-28T11:06:09.827"
    assert op.to_json_dict()["new_field"] == 1
    aware = Operation(id="y", status="SUCCESS", finished=datetime(2024, 1, 1, 12, tzinfo=timezone.utc))
    assert aware.to_json_dict()["finished"] == "2024-01-01T12:00:00.000"
    assert aware.is_completed and not op.is_completed


def test_raise_for_rejected_names_items_and_fields() -> None:
    result = BatchCreateResult(
        items={0: "a"},
        validation_errors={3: {"input_values.image": FieldValidationError(code="VALUE_REQUIRED")}},
    )
    result.raise_for_rejected(skip_invalid_items=True)  # partial success is fine when skipping
    with pytest.raises(TolokaValidationError, match=r"item 3: input_values.image VALUE_REQUIRED") as info:
        result.raise_for_rejected(skip_invalid_items=False)
    assert info.value.payload == {"3": {"input_values.image": {"code": "VALUE_REQUIRED"}}}
    with pytest.raises(TolokaValidationError):
        BatchCreateResult(validation_errors=result.validation_errors).raise_for_rejected(True)


def test_error_mapping_by_code_then_status() -> None:
    body = (
        b'{"code": "VALIDATION_ERROR", "message": "bad", "request_id": "r1", "payload": {"x": {"code": "C"}}}'
    )
    err = error_from_response(400, body, {})
    assert isinstance(err, TolokaValidationError)
    assert (err.http_status, err.code, err.message, err.request_id) == (400, "VALIDATION_ERROR", "bad", "r1")
    assert "request_id=r1" in str(err) and "VALIDATION_ERROR" in str(err)
    assert isinstance(
        error_from_response(401, b'{"code":"AUTHENTICATION_ERROR"}', {}), TolokaAuthenticationError
    )
    assert isinstance(
        error_from_response(409, b'{"code":"OPERATION_ALREADY_EXISTS"}', {}), TolokaConflictError
    )
    assert isinstance(error_from_response(502, b"<html>bad gateway</html>", {}), TolokaRemoteUnavailableError)
    assert isinstance(
        error_from_response(500, b'{"code":"INTERNAL_ERROR"}', {}), TolokaRemoteUnavailableError
    )


def test_too_many_requests_reads_retry_after_or_quota_interval() -> None:
    err = error_from_response(
        429, b'{"code":"TOO_MANY_REQUESTS","payload":{"interval":"MIN"}}', {"Retry-After": "2"}
    )
    assert isinstance(err, TolokaTooManyRequestsError) and err.retry_after == 2.0
    err = error_from_response(429, b'{"code":"TOO_MANY_REQUESTS","payload":{"interval":"MIN"}}', {})
    assert isinstance(err, TolokaTooManyRequestsError) and err.retry_after == 60.0


def test_results_of_different_uploads_are_never_merged_by_position() -> None:
    first = BatchCreateResult(items={0: "a", 1: "b"}, operation_ids=["op-1"])
    first.merge(BatchCreateResult(items={2: "c"}, validation_errors={3: {}}, operation_ids=["op-2"]))
    assert first.created_count == 3 and first.operation_ids == ["op-1", "op-2"]
    other_upload = BatchCreateResult(items={1: "x"}, operation_ids=["op-9"])
    with pytest.raises(
        TolokaError, match=r"op-9 and op-1, op-2 both report input item 1: .*different uploads"
    ):
        first.merge(other_upload)
    with pytest.raises(TolokaError, match="input item 3"):
        first.merge(BatchCreateResult(items={3: "y"}, operation_ids=["op-8"]))


def test_requester_and_user_bonus_read_toloka_answers() -> None:
    from decimal import Decimal

    from airflow_toloka.models import Requester, UserBonus

    requester = Requester.model_validate(
        {"id": "r", "balance": 120.35, "public_name": {"EN": "Acme"}, "company": {"id": "9"}}
    )
    assert requester.balance == 120.35 and requester.public_name == {"EN": "Acme"}
    bonus = UserBonus.model_validate(
        {"id": "4000000412", "user_id": "u", "amount": 0.5, "created": "2025-03-04T09:12:44.120", "new": 1}
    )
    assert bonus.amount == Decimal("0.5") and bonus.created == datetime(2025, 3, 4, 9, 12, 44, 120000)
    assert bonus.to_json_dict() == {
        "id": "4000000412",
        "user_id": "u",
        "amount": 0.5,
        "created": "2025-03-04T09:12:44.120",
        "new": 1,
    }
    with pytest.raises(ValidationError, match=r"greater than or equal to 0\.005"):
        UserBonus(user_id="u", amount=Decimal("0.001"))


def test_duplicate_bonus_conflict_is_one_error_in_both_shapes() -> None:
    from airflow_toloka.exceptions import TolokaEntityConflictError

    field = {
        "code": "ENTITY_CONFLICT",
        "message": "not allowed to apply multiple bonuses with the same amount",
    }
    bare = error_from_response(409, json.dumps({"user_id": field}), {})
    wrapped = error_from_response(
        409,
        json.dumps({"code": "VALIDATION_ERROR", "message": "conflict", "payload": {"user_id": field}}),
        {},
    )
    for error in (bare, wrapped):
        assert isinstance(error, TolokaEntityConflictError) and isinstance(error, TolokaConflictError)
        assert error.payload == {"user_id": field} and error.http_status == 409
        assert "ENTITY_CONFLICT" in str(error) and "nothing of it was created or paid" in str(error)
    assert bare.code is None and wrapped.code == "VALIDATION_ERROR"
    # another 409 stays what it was
    other = error_from_response(409, json.dumps({"code": "CONFLICT_STATE", "message": "open"}), {})
    assert type(other) is TolokaConflictError
