"""Batching without a server: request bodies, error indexes across batches, the spool, ids and results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_toloka.batching import (
    MAX_INPUT_BYTES,
    TASK_SUITES,
    TASKS,
    Batch,
    BatchSpool,
    CreateOptions,
    encode_batches,
    iter_batches,
    operation_id,
)
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

    batches = encode_batches(TASKS, source(), 5)
    assert [b.first_index for b in (next(batches), next(batches))] == [
        0,
        5,
    ]  # encoding is lazy, batch by batch
    with pytest.raises(TolokaInputError, match=r"item 12, field 'overlap': .* \(and 1 more problem") as info:
        next(batches)
    assert (info.value.index, info.value.field) == (12, "overlap")
    # but an upload validates a generator whole before its first batch: nothing is half-sent
    with pytest.raises(TolokaInputError, match=r"item 12"):
        next(iter_batches(TASKS, source(), 5))


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


def test_operation_ids_are_pinned_across_releases() -> None:
    # An Airflow retry may run on a newer provider: the same batch must keep the same operation id, or the retry
    # would create the batch a second time. These values were computed by the 0.1.0 hook.
    items = [
        {"pool_id": 7, "input_values": {"a": "ж", "f": 0.5}, "overlap": 2},
        {"pool_id": "p", "input_values": {"b": [1, True]}},
    ]
    (batch,) = iter_batches(TASKS, items, 10)
    key = "dag/run/task/-1"
    assert operation_id(key, TASKS, batch, CreateOptions()) == "b41e1755-a4eb-505f-8854-2dda9ef2ee7f"
    flagged = CreateOptions(allow_defaults=True, skip_invalid_items=False)
    assert operation_id(key, TASKS, batch, flagged) == "67da061c-91bc-5f0c-93d0-4eb895c1f8d0"
    assert operation_id(key, TASK_SUITES, batch, CreateOptions()) != operation_id(
        key, TASKS, batch, CreateOptions()
    )


def test_options_query_sends_only_set_flags_in_lowercase() -> None:
    assert CreateOptions().query(async_mode=False) == {"async_mode": "false"}
    options = CreateOptions(open_pool=True, skip_invalid_items=False)
    assert options.query(async_mode=True, operation_id="op") == {
        "open_pool": "true",
        "skip_invalid_items": "false",
        "async_mode": "true",
        "operation_id": "op",
    }


def test_batches_are_cut_by_bytes_as_well_as_count() -> None:
    big = "x" * 300_000  # three of these fit Toloka's 1 MiB of input_values per request, four do not
    items = [{"pool_id": "p", "input_values": {"text": big, "i": i}} for i in range(7)]
    items.insert(3, {"pool_id": "p", "input_values": {"text": "y" * 1_100_000}})  # alone over the limit
    batches = list(iter_batches(TASKS, items, 10))
    assert [b.count for b in batches] == [3, 1, 3, 1]
    indexes = [int(x["__item_idx"]) for b in batches for x in json.loads(b.body)]
    assert indexes == list(range(8)) and [b.first_index for b in batches] == [0, 3, 4, 7]

    def input_bytes(batch: Batch) -> int:
        return sum(len(json.dumps(x["input_values"], separators=(",", ":"))) for x in json.loads(batch.body))

    assert all(input_bytes(b) <= MAX_INPUT_BYTES for b in batches if b.count > 1)
    small = list(encode_batches(TASKS, tasks(25), 10, max_input_bytes=40))  # {"i":N} is 7 or 8 bytes
    assert [b.count for b in small] == [5, 5, 5, 5, 5] and all(input_bytes(b) <= 40 for b in small)
    # Only input_values count: the rest of the body (pool, overlap, tags) does not
    long_pool = [{"pool_id": "p" * 80, "input_values": {"i": i}, "overlap": 3} for i in range(10_000)]
    plain = list(encode_batches(TASKS, long_pool, 10_000))
    assert len(plain) == 1 and len(plain[0].body) > MAX_INPUT_BYTES


def test_batches_are_cut_by_the_bytes_of_known_solutions() -> None:
    def control(i: int) -> dict[str, Any]:
        return {
            "pool_id": "p",
            "input_values": {"i": i},
            "known_solutions": [{"output_values": {"label": "z" * 1_500_000}}],
        }

    batches = list(iter_batches(TASKS, [control(i) for i in range(5)], 10))
    assert [b.count for b in batches] == [2, 2, 1]  # 4 MiB of output_values per request
    suites = [{"pool_id": "p", "tasks": [control(0), control(1)]} for _ in range(3)]
    assert [b.count for b in iter_batches(TASK_SUITES, suites, 10)] == [1, 1, 1]


def test_bonus_bodies_carry_amounts_as_json_numbers_and_no_pool() -> None:
    from decimal import Decimal

    from airflow_toloka.batching import USER_BONUSES
    from airflow_toloka.models import UserBonus

    items: list[Any] = [
        {"user_id": "u1", "amount": 0.1, "without_message": True},
        UserBonus(user_id="u2", amount=Decimal("1.50"), public_title={"EN": "Thanks"}),
        {"user_id": "u3", "amount": "0.005"},
    ]
    (batch,) = iter_batches(USER_BONUSES, items, 10)
    body = json.loads(batch.body)
    assert [b["amount"] for b in body] == [0.1, 1.5, 0.005]  # numbers: Toloka reads no strings here
    assert b'"amount":0.1,' in batch.body and body[1]["__item_idx"] == "1"
    assert batch.pool_ids == ()


def test_a_bonus_below_the_minimum_is_refused_before_sending() -> None:
    from airflow_toloka.batching import USER_BONUSES

    bonuses = [{"user_id": "u1", "amount": 1}, {"user_id": "u2", "amount": 0.004}]
    with pytest.raises(TolokaInputError, match=r"item 1, field 'amount'.*0\.005"):
        list(iter_batches(USER_BONUSES, bonuses, 10))


def test_batch_limits_are_per_kind() -> None:
    from airflow_toloka.batching import USER_BONUSES, batch_limit, goes_to_pools, kind_of, resolve_batch_size

    assert (batch_limit(TASKS, True), batch_limit(TASKS, False)) == (10_000, 5_000)
    assert (batch_limit(TASK_SUITES, True), batch_limit(TASK_SUITES, False)) == (10_000, 5_000)
    assert (batch_limit(USER_BONUSES, True), batch_limit(USER_BONUSES, False)) == (1_000, 100)
    assert resolve_batch_size(None, False, USER_BONUSES) == 100
    assert resolve_batch_size(None, True) == 10_000
    with pytest.raises(ValueError, match="between 1 and 100 in sync mode"):
        resolve_batch_size(101, False, USER_BONUSES)
    assert kind_of("user_bonuses") is USER_BONUSES
    assert goes_to_pools(TASKS) and goes_to_pools(TASK_SUITES) and not goes_to_pools(USER_BONUSES)


def test_bonus_operation_ids_are_of_their_kind() -> None:
    from airflow_toloka.batching import USER_BONUSES

    (batch,) = iter_batches(USER_BONUSES, [{"user_id": "u", "amount": 1}], 10)
    options = CreateOptions(skip_invalid_items=False)
    same = operation_id("k", USER_BONUSES, batch, options)
    assert same == operation_id("k", USER_BONUSES, batch, options)
    assert same != operation_id("k", TASKS, batch, options)
    assert same != operation_id("k", USER_BONUSES, batch, CreateOptions(skip_invalid_items=True))
    assert USER_BONUSES.operation_type == "USER_BONUS.BATCH_CREATE" and USER_BONUSES.id_key == "user_bonus_id"
