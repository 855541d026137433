"""Upload results without a server: counters, sync answers and logs into per-item results."""

from __future__ import annotations

from typing import Any

from airflow_toloka.batching import TASKS, iter_batches
from airflow_toloka.models import Operation
from airflow_toloka.upload_results import result_from_counters, result_from_sync_response
from tests.unit.test_batching import tasks


def test_counters_replace_the_logs_only_when_nothing_was_rejected() -> None:
    def op(op_id: str, **details: Any) -> Operation:
        counts = {"success_count": 600, "failed_count": 0, "not_valid_count": 0, **details}
        return Operation(id=op_id, type="TASK.BATCH_CREATE", status="SUCCESS", details=counts)

    result = result_from_counters([op("a"), op("b")], max_ids=1000)
    assert result is not None and result.created_count == 1200 and result.items == {}
    assert result.operation_ids == ["a", "b"]
    assert result_from_counters([op("a")], max_ids=1000) is None  # the ids are wanted
    assert result_from_counters([op("a"), op("b", failed_count=1)], max_ids=10) is None
    assert result_from_counters([op("a"), op("b", not_valid_count=2)], max_ids=10) is None
    assert result_from_counters([op("a"), op("b", success_count="600")], max_ids=10) is None
    assert (
        result_from_counters([Operation(id="c", status="SUCCESS", details={"items_count": 600})], 10) is None
    )
    assert result_from_counters([op("a").model_copy(update={"status": "FAIL"})], max_ids=10) is None


def test_sync_answers_map_to_input_indexes() -> None:
    (batch,) = iter_batches(TASKS, list(tasks(3)), 10)
    batch.first_index = 10
    answer = {
        "items": {"0": {"id": "t0", "pool_id": "p"}, "2": {"id": "t2", "pool_id": "p"}},
        "validation_errors": {"1": {"overlap": {"code": "VALUE_REQUIRED"}}},
    }
    result = result_from_sync_response(batch, answer)
    assert result.items == {10: "t0", 12: "t2"} and result.pool_ids == ["p"]
    assert result.validation_errors[11]["overlap"].code == "VALUE_REQUIRED"
    rejected = result_from_sync_response(batch, {"0": {"pool_id": {"code": "DOES_NOT_EXIST"}}})
    assert rejected.items == {} and rejected.validation_errors[10]["pool_id"].code == "DOES_NOT_EXIST"
