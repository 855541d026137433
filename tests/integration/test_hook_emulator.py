"""The hook against the local Toloka emulator over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.exceptions import (
    TolokaInputError,
    TolokaRemoteUnavailableError,
    TolokaTimeoutError,
)
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.models import Task, TaskSuite
from toloka_emulator import EmulatorProcess


def tasks(n: int, pool: str = "11", start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield {"pool_id": pool, "input_values": {"image": f"https://example.com/{i}.jpg"}, "overlap": 1}


def posts(stats: dict[str, Any], route: str = "POST /api/v1/tasks") -> int:
    return stats["requests"].get(route, 0)


@pytest.fixture
def hook(toloka_emulator: Any, toloka_emulator_conn: str) -> TolokaHook:
    return TolokaHook(retry_delay=0.01, poll_interval=0.2)


def test_25k_tasks_in_3_batches_map_back_to_input_order(hook: TolokaHook, toloka_emulator: Any) -> None:
    result = hook.create_tasks(list(tasks(25_000)), batch_size=10_000)
    assert len(result.items) == 25_000 and not result.validation_errors
    stats = toloka_emulator.stats()
    assert posts(stats) == 3
    assert (
        stats["requests"].get("GET /api/v1/operations/{operation_id}/log", 0)
        + stats["requests"].get("GET /api/v1/operations/{id}/log", 0)
        == 3
    )
    assert stats["objects"]["tasks"] == 25_000
    # the mapping is right: index i got the task created from input i
    for i in (0, 9_999, 10_000, 24_999):
        assert hook.get_task(result.items[i]).input_values == {"image": f"https://example.com/{i}.jpg"}


def test_100k_tasks_from_a_generator_in_at_most_11_posts_without_refetch(
    hook: TolokaHook, toloka_emulator: Any
) -> None:
    result = hook.create_tasks(tasks(100_000))
    assert len(result.items) == 100_000
    stats = toloka_emulator.stats()
    assert posts(stats) <= 11
    assert not any(route.startswith("GET /api/v1/tasks") for route in stats["requests"])  # no re-fetch
    assert stats["objects"]["tasks"] == 100_000
    assert len(set(result.items.values())) == 100_000


def test_big_tasks_are_cut_into_requests_toloka_accepts(hook: TolokaHook, toloka_emulator: Any) -> None:
    # 300 KB of input each: three fit one request's 1 MiB, a fourth would be refused with 413
    big = (
        {"pool_id": "11", "input_values": {"text": f"{i}" + "x" * 300_000}, "overlap": 1} for i in range(7)
    )
    for async_mode in (True, False):
        result = hook.create_tasks(big if async_mode else list(big_list()), async_mode=async_mode)
        assert len(result.items) == 7
    assert posts(toloka_emulator.stats()) == 6  # 3 + 3 + 1 items, twice
    assert toloka_emulator.stats()["responses"].get("413", 0) == 0


def big_list() -> Iterator[dict[str, Any]]:
    return (
        {"pool_id": "11", "input_values": {"text": f"{i}" + "y" * 300_000}, "overlap": 1} for i in range(7)
    )


def test_resubmitting_the_same_work_creates_nothing_new(hook: TolokaHook, toloka_emulator: Any) -> None:
    first = hook.create_tasks(list(tasks(12_000)), idempotency_key="nightly-1", batch_size=5_000)
    again = hook.create_tasks(list(tasks(12_000)), idempotency_key="nightly-1", batch_size=5_000)
    assert again.items == first.items
    assert toloka_emulator.stats()["objects"]["tasks"] == 12_000
    other = hook.create_tasks(list(tasks(10, start=50_000)), idempotency_key="nightly-1", batch_size=5_000)
    assert len(other.items) == 10 and toloka_emulator.stats()["objects"]["tasks"] == 12_010


def test_faults_on_a_fifth_of_requests_still_create_exactly_the_right_tasks(
    hook: TolokaHook, toloka_emulator: Any
) -> None:
    toloka_emulator.configure(
        fault_429=0.05, fault_500=0.05, fault_503=0.05, fault_drop=0.05, retry_after=0.05
    )
    result = hook.create_tasks(tasks(30_000), batch_size=2_000)
    assert len(result.items) == 30_000
    stats = toloka_emulator.stats()
    assert sum(stats["faults"].values()) > 0  # faults really happened
    assert stats["objects"]["tasks"] == 30_000  # and none of them duplicated or lost a task


def test_sync_mode_splits_at_the_sync_limit(hook: TolokaHook, toloka_emulator: Any) -> None:
    result = hook.create_tasks(tasks(12_000), async_mode=False)
    assert len(result.items) == 12_000
    stats = toloka_emulator.stats()
    assert posts(stats) == 3 and stats["objects"]["tasks"] == 12_000


def test_single_task_and_suites(hook: TolokaHook, toloka_emulator: Any) -> None:
    task = hook.create_task({"pool_id": 12, "input_values": {"image": "x"}, "overlap": 2})
    assert task.id and task.pool_id == "12" and task.overlap == 2
    sync_task = hook.create_task(Task(pool_id="12", input_values={"image": "y"}, overlap=1), async_mode=False)
    assert sync_task.id and sync_task.input_values == {"image": "y"}
    suites = [
        TaskSuite(pool_id="13", tasks=[{"input_values": {"t": f"{i}-{k}"}} for k in range(3)], overlap=1)
        for i in range(7)
    ]
    result = hook.create_task_suites(suites)
    assert len(result.items) == 7
    assert hook.get_task_suite(result.items[6]).tasks[2].input_values == {"t": "6-2"}
    assert toloka_emulator.stats()["objects"]["task_suites"] == 7


def test_async_operation_wait_and_log(hook: TolokaHook, toloka_emulator: Any) -> None:
    op = hook.create_tasks_async(list(tasks(5)), operation_id="3f0c2c8e-2f49-4a53-8c2e-0d3a2ad1e111")
    assert op.id == "3f0c2c8e-2f49-4a53-8c2e-0d3a2ad1e111"
    done = hook.wait_operation(op, timeout=timedelta(seconds=30))
    assert done.status == "SUCCESS"
    log = hook.get_operation_log(op.id)
    assert len(log) == 5 and all(item.success and item.output and "task_id" in item.output for item in log)


def test_wait_operation_times_out_naming_the_operation(hook: TolokaHook, toloka_emulator: Any) -> None:
    toloka_emulator.configure(rate=10)
    op = hook.create_tasks_async(list(tasks(1_000)))
    with pytest.raises(TolokaTimeoutError, match=op.id) as info:
        hook.wait_operation(op, timeout=1)
    assert info.value.operation_ids == [op.id]


# ---------------------------------------------------------------- a pool with an input spec


@pytest.fixture(scope="module")
def spec_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    pools = {
        "auto_create": False,
        "pools": [
            {
                "id": "101",
                "status": "OPEN",
                "input_spec": {"image": {"type": "url", "required": True}},
                "defaults": {"default_overlap_for_new_tasks": 3, "default_overlap_for_new_task_suites": 3},
            }
        ],
    }
    path = Path(tmp_path_factory.mktemp("pools")) / "pools.json"
    path.write_text(json.dumps(pools))
    with EmulatorProcess(extra_args=["--pools", str(path)]) as emulator:
        yield emulator


@pytest.fixture
def spec_hook(spec_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> TolokaHook:
    spec_emulator.reset()
    conn = {"conn_type": "toloka", "host": spec_emulator.url, "password": "test-token"}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    return TolokaHook(retry_delay=0.01, poll_interval=0.2)


def mixed(n: int) -> list[dict[str, Any]]:
    items = [{"pool_id": "101", "input_values": {"image": f"https://e.com/{i}.jpg"}} for i in range(n)]
    items[3] = {"pool_id": "101", "input_values": {"imagis": "https://e.com/x.jpg"}}
    items[n - 1] = {"pool_id": "999", "input_values": {"image": "https://e.com/y.jpg"}}
    return items


@pytest.mark.parametrize("async_mode", [True, False])
def test_skip_invalid_items_reports_rejected_items_by_input_index(
    spec_hook: TolokaHook, spec_emulator: EmulatorProcess, async_mode: bool
) -> None:
    result = spec_hook.create_tasks(
        mixed(2_500), allow_defaults=True, skip_invalid_items=True, async_mode=async_mode, batch_size=1_000
    )
    assert len(result.items) == 2_498
    assert set(result.validation_errors) == {3, 2_499}
    assert result.validation_errors[3]["input_values.image"].code == "VALUE_REQUIRED"
    assert result.validation_errors[3]["input_values.imagis"].code == "VALUE_NOT_ALLOWED"
    assert "pool_id" in result.validation_errors[2_499]
    assert spec_emulator.stats()["objects"]["tasks"] == 2_498


def test_rejected_items_fail_with_their_index_and_field(
    spec_hook: TolokaHook, spec_emulator: EmulatorProcess
) -> None:
    # The pool's input spec (read from its project) catches the item before anything is sent ...
    with pytest.raises(TolokaInputError, match=r"item 3, field 'input_values.image': VALUE_REQUIRED"):
        spec_hook.create_tasks(mixed(10), allow_defaults=True)
    stats = spec_emulator.stats()
    assert stats["objects"]["tasks"] == 0 and stats["requests"].get("POST /api/v1/tasks", 0) == 0
    assert stats["requests"]["GET /api/v1/projects/{id}"] == 1  # read once for the whole upload
    # ... and what only Toloka sees is still reported per item when asked to skip.
    result = spec_hook.create_tasks(mixed(10), allow_defaults=True, skip_invalid_items=True)
    assert result.validation_errors[3]["input_values.image"].code == "VALUE_REQUIRED"
    assert len(result.items) == 10 - len(result.validation_errors)


def test_long_uploads_log_a_line_per_batch(
    hook: TolokaHook,
    toloka_emulator: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ops = hook.submit_batches("tasks", list(tasks(2_500)), idempotency_key="progress", batch_size=1_000)
    assert len(ops) == 3
    hook.create_tasks(list(tasks(2_500, start=10_000)), batch_size=1_000)
    out = capsys.readouterr().out + caplog.text
    for n in (1, 2, 3):
        assert f"Toloka tasks submitted: batch {n}/3" in out
        assert f"Toloka tasks created: batch {n}/3" in out
    assert "2500 items" in out and "items/s" in out


def test_a_generator_is_validated_whole_before_the_first_request(
    hook: TolokaHook, toloka_emulator: Any
) -> None:
    def source() -> Iterator[dict[str, Any]]:
        yield from tasks(150)
        yield {"pool_id": "11", "input_values": {}, "overlap": 0}  # in the second batch

    with pytest.raises(TolokaInputError, match=r"^item 150, field 'overlap'"):
        hook.create_tasks(source(), batch_size=100)
    assert posts(toloka_emulator.stats()) == 0  # batch 1 was not sent ahead of the bad item


@pytest.mark.parametrize("fault", ["fault_500", "fault_drop"])
def test_a_post_processed_but_unanswered_is_not_created_twice(
    toloka_emulator: Any, toloka_emulator_conn: str, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Toloka creates the batch, then the answer is a 500 or a dropped connection: the next try re-attaches.
    # Without the pool lookup before sending (every request fails here), the fault hits the POST.
    toloka_emulator.configure(**{fault: 1.0})
    hook = TolokaHook(retry_limit=0, poll_interval=0.2)
    monkeypatch.setattr(hook, "input_checker", lambda options: None)
    with pytest.raises(TolokaRemoteUnavailableError):
        hook.create_tasks(list(tasks(50)), idempotency_key="lost-answer", skip_invalid_items=True)
    toloka_emulator.configure(**{fault: 0.0})
    result = hook.create_tasks(list(tasks(50)), idempotency_key="lost-answer", skip_invalid_items=True)
    stats = toloka_emulator.stats()
    assert len(result.items) == 50 and stats["objects"]["tasks"] == 50
    assert stats["responses"]["409"] == 1  # the second POST found the operation the first one started


def test_the_labels_operators_name_an_unknown_pool(spec_hook: TolokaHook, tmp_path: Path) -> None:
    from unittest.mock import MagicMock

    from airflow_toloka.exceptions import TolokaDoesNotExistError
    from airflow_toloka.operators import AggregateResultsOperator, ExportAssignmentsOperator

    ctx = {"ti": MagicMock(dag_id="d", run_id="r", task_id="t", map_index=-1), "outlet_events": MagicMock()}
    out = str(tmp_path / "out.jsonl")
    with pytest.raises(TolokaDoesNotExistError, match="Pool 999 does not exist"):
        ExportAssignmentsOperator(task_id="e", pool_id="999", results_path=out).execute(ctx)  # type: ignore[arg-type]
    with pytest.raises(TolokaDoesNotExistError, match="Pool 999 does not exist"):
        AggregateResultsOperator(task_id="a", pool_id="999", fields=["x"], results_path=out).execute(ctx)  # type: ignore[arg-type]
    assert not (tmp_path / "out.jsonl").exists()
