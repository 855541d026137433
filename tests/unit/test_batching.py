"""Batching: request bodies, error indexes across batches, the operator's spool, and reading operation logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_toloka.exceptions import TolokaInputError, TolokaOperationFailedError
from airflow_toloka.hooks.toloka import TASK_SUITES, TASKS, BatchSpool, TolokaHook
from airflow_toloka.models import Operation, Task
from tests.unit.scripted_server import Reply, ScriptedServer

OP = {"id": "op-1", "type": "TASK.BATCH_CREATE", "status": "SUCCESS", "progress": 100}


def tasks(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    return ({"pool_id": "p", "input_values": {"i": i}} for i in range(start, start + n))


def test_body_is_the_json_of_the_models_tagged_with_input_indexes() -> None:
    items: list[Any] = [
        {"pool_id": 7, "input_values": {"a": "ж\n", "f": 0.5, "none": None}, "overlap": 2},
        Task(pool_id="p", input_values={"b": [1, True]}, created=datetime(2024, 1, 2, tzinfo=timezone.utc)),
        {"pool_id": "p", "input_values": {}, "extra_field": {"kept": 1}, "message_on_unknown_solution": None},
        {"pool_id": "p", "input_values": {}, "__item_idx": "the caller's"},
    ]
    (batch,) = TolokaHook().iter_batches(TASKS, items, 10)
    expected = [
        {**Task.model_validate(x).to_json_dict(), "__item_idx": str(i)} if isinstance(x, dict) else None
        for i, x in enumerate(items)
    ]
    expected[1] = {**items[1].to_json_dict(), "__item_idx": "1"}
    assert batch.body == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(batch.body)[1]["created"] == "2024-01-02T00:00:00.000"
    assert (batch.count, batch.pool_ids) == (4, ("7", "p"))


def test_generator_errors_name_the_input_index_across_batches() -> None:
    def source() -> Iterator[Any]:
        yield from tasks(12)
        yield {"pool_id": "p", "input_values": "oops", "overlap": 0}

    batches = TolokaHook().iter_batches(TASKS, source(), 5)
    assert [b.first_index for b in (next(batches), next(batches))] == [0, 5]  # lazily, batch by batch
    with pytest.raises(TolokaInputError, match=r"item 12, field 'overlap': .* \(and 1 more problem") as info:
        next(batches)
    assert (info.value.index, info.value.field) == (12, "overlap")


def test_chunked_validation_reports_the_first_bad_item_in_input_order() -> None:
    # items are validated a hundred per call: errors are mapped back to the input index, first bad item first
    bad = {"pool_id": "p", "input_values": "oops", "overlap": 0}
    items: list[Any] = [*tasks(400)]
    items[250], items[320] = bad, bad
    for source in (items, iter(items)):
        with pytest.raises(TolokaInputError) as info:
            list(TolokaHook().iter_batches(TASKS, source, 1000))
        assert str(info.value) == (
            "item 250, field 'overlap': Input should be greater than or equal to 1 (and 1 more problem(s))"
        )
    items[240], items[230] = bad, "a string"
    with pytest.raises(TolokaInputError, match=r"^item 230: expected a Task or a dict, got str$"):
        list(TolokaHook().iter_batches(TASKS, items, 1000))


def test_list_errors_come_before_any_batch_and_keep_input_order() -> None:
    items: list[Any] = [*tasks(7), 5, {"input_values": {}}]
    batches = TolokaHook().iter_batches(TASKS, items, 3)
    with pytest.raises(TolokaInputError, match=r"^item 7: expected a Task or a dict, got int$"):
        next(batches)
    with pytest.raises(TolokaInputError, match=r"^item 11, field 'tasks': Field required"):
        list(
            TolokaHook().iter_batches(
                TASK_SUITES, [{"pool_id": "p", "tasks": [{"input_values": {}}]}] * 11 + [{"pool_id": "p"}], 4
            )
        )


def test_spool_gives_back_the_same_batches() -> None:
    hook = TolokaHook()
    direct = list(hook.iter_batches(TASKS, list(tasks(23)), 10))
    spool = BatchSpool(10)
    try:
        for batch in hook.iter_batches(TASKS, tasks(23), 10):
            spool.add(batch)
        assert (spool.count, list(spool.pool_ids), len(spool)) == (23, ["p"], 3)
        again = list(hook.iter_batches(TASKS, spool, 10))
        assert [(b.number, b.first_index, len(b), b.body) for b in again] == [
            (b.number, b.first_index, len(b), b.body) for b in direct
        ]
        with pytest.raises(ValueError, match="hold 10 items, not 5"):
            list(hook.iter_batches(TASKS, spool, 5))
    finally:
        spool.close()


def _log(ids: range) -> list[dict[str, Any]]:
    return [
        {
            "type": "TASK_CREATE",
            "success": True,
            "input": {"pool_id": "p", "input_values": {"i": i, "nested": {"x": [i]}}, "__item_idx": str(i)},
            "output": {"task_id": f"t{i}"},
        }
        for i in ids
    ] + [{"type": "POOL_OPEN", "success": True, "input": {"pool_id": "p"}, "output": {}}]


def test_successful_log_maps_ids_and_max_ids_keeps_only_counts(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/op-1/log", Reply(200, _log(range(0, 3))))
    server.script("GET /api/v1/operations/op-2/log", Reply(200, _log(range(3, 5))))
    ops = [Operation(**OP), Operation(**{**OP, "id": "op-2"})]
    hook = TolokaHook()
    result = hook.operation_results(TASKS, ops)
    assert result.items == {i: f"t{i}" for i in range(5)} and result.created_count == 5
    assert result.pool_ids == ["p"] and sorted(result.operation_ids) == ["op-1", "op-2"]
    assert hook.operation_results(TASKS, ops, max_ids=5).items == result.items
    counted = hook.operation_results(TASKS, ops, max_ids=4)
    assert counted.items == {} and counted.created_count == 5 and counted.pool_ids == ["p"]


def test_log_of_unexpected_shape_is_read_in_full(server: ScriptedServer) -> None:
    # a successful item without the id key falls back to the full reading, which fails as it always did
    server.script(
        "GET /api/v1/operations/op-1/log", Reply(200, [{"success": True, "input": {"__item_idx": "0"}}])
    )
    with pytest.raises(KeyError, match="task_id"):
        TolokaHook().operation_results(TASKS, [Operation(**OP)])
    server.script("GET /api/v1/operations/op-1/log", Reply(200, None))
    assert TolokaHook().operation_results(TASKS, [Operation(**OP)]).items == {}


def test_failed_operation_without_item_steps_is_an_error(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/op-1/log", Reply(200, []))
    failed = Operation(**{**OP, "status": "FAIL", "details": {"reason": "x"}})
    with pytest.raises(TolokaOperationFailedError, match="op-1"):
        TolokaHook().operation_results(TASKS, [failed])
