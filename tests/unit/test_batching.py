"""Batching without a server: request bodies, error indexes across batches, the spool, ids and results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_toloka.batching import TASK_SUITES, TASKS, BatchSpool, iter_batches
from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.models import Task


def tasks(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    return ({"pool_id": "p", "input_values": {"i": i}} for i in range(start, start + n))


def test_body_is_the_json_of_the_models_tagged_with_input_indexes() -> None:
    items: list[Any] = [
        {"pool_id": 7, "input_values": {"a": "ж\n", "f": 0.5, "none": None}, "overlap": 2},
        Task(pool_id="p", input_values={"b": [1, True]}, created=datetime(2024, 1, 2, tzinfo=timezone.utc)),
        {"pool_id": "p", "input_values": {}, "extra_field": {"kept": 1}, "message_on_unknown_solution": None},
        {"pool_id": "p", "input_values": {}, "__item_idx": "the caller's"},
    ]
    (batch,) = iter_batches(TASKS, items, 10)
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

    batches = iter_batches(TASKS, source(), 5)
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
            list(iter_batches(TASKS, source, 1000))
        assert str(info.value) == (
            "item 250, field 'overlap': Input should be greater than or equal to 1 (and 1 more problem(s))"
        )
    items[240], items[230] = bad, "a string"
    with pytest.raises(TolokaInputError, match=r"^item 230: expected a Task or a dict, got str$"):
        list(iter_batches(TASKS, items, 1000))


def test_list_errors_come_before_any_batch_and_keep_input_order() -> None:
    items: list[Any] = [*tasks(7), 5, {"input_values": {}}]
    batches = iter_batches(TASKS, items, 3)
    with pytest.raises(TolokaInputError, match=r"^item 7: expected a Task or a dict, got int$"):
        next(batches)
    with pytest.raises(TolokaInputError, match=r"^item 11, field 'tasks': Field required"):
        list(
            iter_batches(
                TASK_SUITES, [{"pool_id": "p", "tasks": [{"input_values": {}}]}] * 11 + [{"pool_id": "p"}], 4
            )
        )


def test_spool_gives_back_the_same_batches() -> None:
    direct = list(iter_batches(TASKS, list(tasks(23)), 10))
    spool = BatchSpool(10)
    try:
        for batch in iter_batches(TASKS, tasks(23), 10):
            spool.add(batch)
        assert (spool.count, list(spool.pool_ids), len(spool)) == (23, ["p"], 3)
        again = list(iter_batches(TASKS, spool, 10))
        assert [(b.number, b.first_index, len(b), b.body) for b in again] == [
            (b.number, b.first_index, len(b), b.body) for b in direct
        ]
        with pytest.raises(ValueError, match="hold 10 items, not 5"):
            list(iter_batches(TASKS, spool, 5))
    finally:
        spool.close()
