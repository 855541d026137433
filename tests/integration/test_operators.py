"""CreateTasksOperator / CreateTaskSuitesOperator executed directly against the emulator."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_toloka.exceptions import TolokaError, TolokaInputError, TolokaTimeoutError, TolokaValidationError
from airflow_toloka.operators import CreateTasksOperator, CreateTaskSuitesOperator
from airflow_toloka.triggers import TolokaOperationTrigger

TOKEN = "test-token"


def context(map_index: int = -1) -> dict[str, Any]:
    ti = MagicMock(dag_id="d", run_id="r", task_id="t", map_index=map_index, try_number=1)
    return {"ti": ti}


def pushed(ctx: dict[str, Any]) -> dict[str, Any]:
    return {c.kwargs["key"]: c.kwargs["value"] for c in ctx["ti"].xcom_push.call_args_list}


def items(n: int, pool: str | None = None) -> list[dict[str, Any]]:
    base = [{"input_values": {"image": f"https://e.com/{i}.jpg"}, "overlap": 1} for i in range(n)]
    return [{**b, "pool_id": pool} for b in base] if pool else base


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    pass


def test_defers_after_pushing_operation_ids(toloka_emulator: Any) -> None:
    toloka_emulator.configure(rate=50)
    op = CreateTasksOperator(
        task_id="t", tasks=items(120), pool_id=77, deferrable=True, batch_size=50, timeout=600
    )
    ctx = context()
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    trigger = info.value.trigger
    assert isinstance(trigger, TolokaOperationTrigger)
    assert info.value.method_name == "execute_complete" and info.value.timeout is None
    xcoms = pushed(ctx)
    assert len(xcoms["operation_ids"]) == 3 and xcoms["pool_ids"] == ["77"]
    assert xcoms["toloka_url"] == toloka_emulator.url
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_toloka.triggers.operation.TolokaOperationTrigger"
    assert kwargs["operation_ids"] == xcoms["operation_ids"] and TOKEN not in json.dumps(kwargs)
    assert 590 < kwargs["end_time"] - time.time() <= 600

    toloka_emulator.configure(rate=1_000_000)
    op.hook.wait_operations(xcoms["operation_ids"], timeout=30)  # what the trigger does before it fires
    summary = op.execute_complete(context(), {"status": "success", "operation_ids": xcoms["operation_ids"]})
    assert (summary["created"], summary["failed"], summary["total"]) == (120, 0, 120)
    assert summary["pool_ids"] == ["77"] and len(summary["ids"]) == 120
    assert toloka_emulator.stats()["tasks_by_pool"] == {"77": 120}


def test_worker_side_wait_returns_summary_and_caps_ids(toloka_emulator: Any) -> None:
    op = CreateTasksOperator(
        task_id="t", tasks=items(30, "5"), deferrable=False, max_ids_in_xcom=10, poll_interval=0.2
    )
    summary = op.execute(context())
    assert summary["status"] == "SUCCESS" and summary["created"] == 30 and summary["ids"] is None


def test_same_task_run_twice_creates_nothing_new(toloka_emulator: Any) -> None:
    op = CreateTasksOperator(task_id="t", tasks=items(25, "5"), batch_size=10, poll_interval=0.2)
    first = op.execute(context())
    second = op.execute(context())
    assert first["ids"] == second["ids"] and toloka_emulator.stats()["tasks_by_pool"] == {"5": 25}
    CreateTasksOperator(task_id="t", tasks=items(25, "5"), batch_size=10, poll_interval=0.2).execute(
        context(3)
    )
    assert toloka_emulator.stats()["tasks_by_pool"] == {"5": 50}  # another map index is other work


def test_wait_for_completion_false_only_submits(toloka_emulator: Any) -> None:
    op = CreateTasksOperator(task_id="t", tasks=items(5, "6"), wait_for_completion=False)
    summary = op.execute(context())
    assert summary["status"] == "SUBMITTED" and len(summary["operation_ids"]) == 1


def test_bad_item_fails_before_anything_is_sent(toloka_emulator: Any) -> None:
    bad = [*items(3, "5"), {"input_values": "not a dict", "pool_id": "5"}]
    with pytest.raises(TolokaInputError, match=r"item 3, field 'input_values'"):
        CreateTasksOperator(task_id="t", tasks=bad).execute(context())
    with pytest.raises(TolokaInputError, match=r"item 0, field 'pool_id'"):
        CreateTasksOperator(task_id="t", tasks=items(2)).execute(context())
    assert not any(k.startswith("POST") for k in toloka_emulator.stats()["requests"])


def test_bad_file_row_fails_before_anything_is_sent(toloka_emulator: Any, tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("INPUT:image\toverlap\n" + "".join(f"u{i}\t1\n" for i in range(20_000)) + "u\t0\n")
    with pytest.raises(TolokaInputError, match=r"t.tsv, data row 20001.*field 'overlap'"):
        CreateTasksOperator(task_id="t", tasks_path=str(path), pool_id="5").execute(context())
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    with pytest.raises(TolokaInputError, match="input is empty"):
        CreateTasksOperator(task_id="t", tasks_path=str(empty), pool_id="5").execute(context())
    assert not any(k.startswith("POST") for k in toloka_emulator.stats()["requests"])


def test_file_upload_writes_per_item_results(toloka_emulator: Any, tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("INPUT:image\toverlap\n" + "".join(f"https://e.com/{i}\t1\n" for i in range(2_500)))
    results = tmp_path / "out" / "results.jsonl"
    op = CreateTasksOperator(
        task_id="t",
        tasks_path=str(path),
        pool_id="8",
        batch_size=1_000,
        results_path=str(results),
        poll_interval=0.2,
        max_ids_in_xcom=5_000,
    )
    summary = op.execute(context())
    assert summary["created"] == 2_500 and summary["results_path"] == str(results)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(2_500)) and all(r["id"] for r in rows)
    assert rows[7]["id"] == summary["ids"][7]


def test_task_suites_from_jsonl(toloka_emulator: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        "".join(json.dumps({"tasks": [{"input_values": {"t": i}}], "overlap": 1}) + "\n" for i in range(9))
    )
    summary = CreateTaskSuitesOperator(
        task_id="t", task_suites_path=str(path), pool_id="9", poll_interval=0.2
    ).execute(context())
    assert summary["kind"] == "task_suites" and summary["created"] == 9
    assert toloka_emulator.stats()["task_suites_by_pool"] == {"9": 9}


def test_sync_mode_is_refused_because_a_retry_could_duplicate() -> None:
    with pytest.raises(ValueError, match="async_mode=False cannot be made safe to retry"):
        CreateTasksOperator(task_id="t", tasks=items(6_000, "10"), async_mode=False)


def test_execute_complete_turns_events_into_results_or_errors(toloka_emulator: Any) -> None:
    op = CreateTasksOperator(task_id="t", tasks=items(1, "5"))
    with pytest.raises(TolokaTimeoutError, match="op-a") as info:
        op.execute_complete(
            context(), {"status": "timeout", "operation_ids": ["op-a", "op-b"], "pending": ["op-a"]}
        )
    assert info.value.operation_ids == ["op-a"]
    with pytest.raises(TolokaError, match="boom"):
        op.execute_complete(context(), {"status": "error", "operation_ids": [], "message": "boom"})
    with pytest.raises(TolokaError, match="malformed"):
        op.execute_complete(context(), None)


def test_constructor_rejects_contradictions() -> None:
    with pytest.raises(TolokaInputError, match="exactly one of tasks= or tasks_path="):
        CreateTasksOperator(task_id="t", tasks=items(1, "1"), tasks_path="x.tsv").execute(context())
    with pytest.raises(ValueError, match="batch_size must be between 1 and 10000"):
        CreateTasksOperator(task_id="t", tasks=items(1, "1"), batch_size=20_000).execute(context())


def test_rejected_items_fail_or_are_reported(toloka_emulator: Any) -> None:
    # a task with no overlap (and no allow_defaults) passes the local model but Toloka rejects it
    bad = [*items(4, "5"), {"pool_id": "5", "input_values": {"image": "x"}}]
    with pytest.raises(TolokaValidationError, match=r"item 4: overlap"):
        CreateTasksOperator(task_id="t", tasks=bad, poll_interval=0.2).execute(context())
    summary = CreateTasksOperator(task_id="t", tasks=bad, skip_invalid_items=True, poll_interval=0.2).execute(
        context()
    )
    assert (summary["created"], summary["failed"]) == (4, 1) and summary["ids"][4] is None


class _StateStore:
    """Stands in for Airflow 3.3's task_state_store accessor (get/set of JSON values per task instance)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.data[key] = value


def test_a_retry_reattaches_to_operations_still_running(toloka_emulator: Any) -> None:
    toloka_emulator.configure(rate=20)
    store = _StateStore()
    ctx = {**context(), "task_state_store": store}
    op = CreateTasksOperator(task_id="t", tasks=items(40, "5"), deferrable=True, batch_size=20)
    with pytest.raises(TaskDeferred):
        op.execute(ctx)
    ids = store.data["toloka_operation_ids"]
    assert len(ids) == 2
    posts_before = toloka_emulator.stats()["requests"]["POST /api/v1/tasks"]
    retry = {**context(), "task_state_store": store}
    with pytest.raises(TaskDeferred) as info:
        CreateTasksOperator(task_id="t", tasks=items(40, "5"), deferrable=True, batch_size=20).execute(retry)
    assert info.value.trigger.serialize()[1]["operation_ids"] == ids
    assert toloka_emulator.stats()["requests"]["POST /api/v1/tasks"] == posts_before  # nothing resubmitted
    assert pushed(retry)["pool_ids"] == ["5"]  # the pool link of the re-attached upload still works


def test_large_upload_counts_created_items_without_keeping_ids(
    toloka_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_toloka.batching import (
        BatchSpool,
    )

    closed: list[int] = []
    real_close = BatchSpool.close
    monkeypatch.setattr(BatchSpool, "close", lambda self: closed.append(self.count) or real_close(self))
    bad = [*items(25, "5"), {"pool_id": "5", "input_values": {"image": "x"}}]  # no overlap: rejected
    op = CreateTasksOperator(
        task_id="t", tasks=bad, batch_size=10, skip_invalid_items=True, max_ids_in_xcom=3, poll_interval=0.2
    )
    summary = op.execute(context())
    assert (summary["created"], summary["failed"], summary["total"], summary["ids"]) == (25, 1, 26, None)
    assert closed == [26]  # the spooled request bodies are gone once submitted
    with pytest.raises(
        TolokaValidationError,
        match=r"1 item\(s\) rejected by Toloka, 20 created, 5 not created \(their batches were refused whole\); item 25",
    ):
        # its batch is all-or-nothing without skip_invalid_items
        CreateTasksOperator(task_id="t", tasks=bad, batch_size=10, max_ids_in_xcom=3).execute(context())


def test_deferred_large_upload_reads_counters_not_logs_and_keeps_its_pools(toloka_emulator: Any) -> None:
    toloka_emulator.configure(rate=50)
    op = CreateTasksOperator(
        task_id="t", tasks=items(60), pool_id=77, deferrable=True, batch_size=20, max_ids_in_xcom=10
    )
    ctx = context()
    with pytest.raises(TaskDeferred):
        op.execute(ctx)
    ids = pushed(ctx)["operation_ids"]
    toloka_emulator.configure(rate=1_000_000)
    hook = op.hook
    hook.wait_operations(ids, timeout=30)
    resumed = context()
    resumed["ti"].xcom_pull.return_value = pushed(ctx)["pool_ids"]  # what the first half pushed
    summary = op.execute_complete(resumed, {"status": "success", "operation_ids": ids})
    assert (summary["created"], summary["total"], summary["ids"]) == (60, 60, None)
    assert summary["pool_ids"] == ["77"] and summary["operation_ids"] == ids
    assert resumed["ti"].xcom_pull.call_args.kwargs == {"task_ids": "t", "key": "pool_ids", "map_indexes": -1}
    assert toloka_emulator.stats()["requests"].get("GET /api/v1/operations/{id}/log", 0) == 0


def test_a_file_is_uploaded_exactly_as_written(toloka_emulator: Any, tmp_path: Path) -> None:
    rows = ["review one", '"Great" product, would buy', "São Paulo", '"bad quote start', "after", 'ends "']
    path = tmp_path / "reviews.tsv"
    path.write_bytes(("INPUT:text\toverlap\n" + "".join(f"{r}\t1\n" for r in rows)).encode("latin-1"))
    upload = CreateTasksOperator(task_id="t", tasks_path=str(path), pool_id="5", poll_interval=0.2)
    with pytest.raises(TolokaInputError, match=r"reviews\.tsv, line 4: not valid utf-8-sig text"):
        upload.execute(context())
    assert toloka_emulator.stats()["tasks_by_pool"] == {}
    upload = CreateTasksOperator(
        task_id="t", tasks_path=str(path), pool_id="5", poll_interval=0.2, encoding="latin-1"
    )
    summary = upload.execute(context())
    assert (summary["created"], summary["total"]) == (6, 6)
    hook = upload.hook
    assert [hook.get_task(i).input_values["text"] for i in summary["ids"]] == rows


def test_the_default_key_follows_the_logical_date(toloka_emulator: Any) -> None:
    def run(run_id: str, logical_date: datetime | None) -> dict[str, Any]:
        ctx = context()
        ctx["ti"].run_id = run_id
        ctx["logical_date"] = logical_date
        return CreateTasksOperator(task_id="t", tasks=items(5, "5"), poll_interval=0.2).execute(ctx)

    date = datetime(2026, 11, 30, tzinfo=timezone.utc)
    run("scheduled__2026-11-30", date)
    run("manual__2026-11-30T08:00", date)  # the same date triggered again: found, not uploaded twice
    assert toloka_emulator.stats()["tasks_by_pool"] == {"5": 5}
    run("manual__a", None)  # runs without a logical date are told apart by their run ids
    run("manual__b", None)
    run("manual__b", None)
    assert toloka_emulator.stats()["tasks_by_pool"] == {"5": 15}


def test_counts_and_the_results_file_cover_every_input_item(toloka_emulator: Any, tmp_path: Path) -> None:
    # 26 items in batches of 10; item 25 is rejected, so its batch (20-25) is refused whole
    bad = [*items(25, "5"), {"pool_id": "5", "input_values": {"image": "x"}}]
    results = tmp_path / "r.jsonl"
    op = CreateTasksOperator(
        task_id="t", tasks=bad, batch_size=10, deferrable=True, results_path=str(results), poll_interval=0.2
    )
    with pytest.raises(TaskDeferred) as info:
        op.execute(context())
    assert info.value.kwargs == {"total": 26}  # the input count travels through the deferral
    ids = info.value.trigger.serialize()[1]["operation_ids"]
    op.hook.wait_operations(ids, timeout=30)
    with pytest.raises(TolokaValidationError, match="1 item"):
        op.execute_complete(context(), {"status": "failed", "operation_ids": ids}, total=26)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(26))
    assert sum("id" in r for r in rows) == 20 and "errors" in rows[25]
    assert [r.get("status") for r in rows[20:25]] == ["not_created"] * 5
    with pytest.raises(ValueError, match="results_path is written once the upload is finished"):
        CreateTasksOperator(task_id="t", tasks=bad, results_path=str(results), wait_for_completion=False)


def test_tolokas_rejections_of_file_rows_name_the_file_and_row(toloka_emulator: Any, tmp_path: Path) -> None:
    path = tmp_path / "rows.tsv"
    path.write_text(
        "INPUT:image\toverlap\nhttps://e.com/1.jpg\t1\nhttps://e.com/2.jpg\t\nhttps://e.com/3.jpg\t1\n"
    )
    upload = CreateTasksOperator(task_id="t", tasks_path=str(path), pool_id="5", poll_interval=0.2)
    with pytest.raises(TolokaValidationError, match=r"rows\.tsv, data row 2: overlap VALUE_REQUIRED") as info:
        upload.execute(context())
    assert "item 1" not in str(info.value)


def test_file_options_reach_the_reader_and_the_hook(toloka_emulator: Any, tmp_path: Path) -> None:
    path = tmp_path / "images.txt"  # a name the format cannot be guessed from
    path.write_text("url\tweight\nhttps://e.com/1.jpg\t1\nhttps://e.com/2.jpg\t2\n")
    upload = CreateTasksOperator(
        task_id="t",
        tasks_path=str(path),
        file_format="tsv",
        column_map={"url": "INPUT:image", "weight": "overlap"},
        pool_id="5",
        max_in_flight=2,
        poll_interval=0.2,
    )
    summary = upload.execute(context())
    assert summary["created"] == 2 and upload.hook.max_in_flight == 2
    tasks = [upload.hook.get_task(i) for i in summary["ids"]]
    assert [(t.input_values, t.overlap) for t in tasks] == [
        ({"image": "https://e.com/1.jpg"}, 1),
        ({"image": "https://e.com/2.jpg"}, 2),
    ]


def test_a_retry_with_changed_input_sends_nothing(toloka_emulator: Any) -> None:
    store = _StateStore()

    def attempt(n: int, key: str | None = None) -> dict[str, Any]:
        upload = CreateTasksOperator(
            task_id="t", tasks=items(n, "5"), batch_size=10, poll_interval=0.2, idempotency_key=key
        )
        return upload.execute({**context(), "task_state_store": store})

    assert attempt(30)["created"] == 30
    posts = toloka_emulator.stats()["requests"]["POST /api/v1/tasks"]
    # two rows appended between tries: the last batch would change, and 30 items would be created again
    with pytest.raises(TolokaInputError, match=r"the input changed since an earlier try .* in 3 batch"):
        attempt(32)
    assert toloka_emulator.stats()["requests"]["POST /api/v1/tasks"] == posts  # nothing was sent
    assert attempt(30)["created"] == 30  # the same input again: re-attached, nothing new
    assert toloka_emulator.stats()["tasks_by_pool"] == {"5": 30}
    assert attempt(32, key="second-upload")["created"] == 32  # a new upload, on purpose
    assert toloka_emulator.stats()["tasks_by_pool"] == {"5": 62}


def test_links_of_an_upload_that_failed_before_pushing_look_nothing_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Airflow builds the links when the task ends; a lookup of an XCom never pushed logs "XCom not found".
    from airflow.sdk.execution_time.xcom import XCom

    from airflow_toloka.operators import TolokaOperationLink, TolokaPoolLink

    reads: list[str] = []
    monkeypatch.setattr(XCom, "get_value", lambda *, ti_key, key: reads.append(key))
    bad_input = CreateTasksOperator(task_id="t", tasks=[{"pool_id": "5"}])  # no input_values: refused locally
    no_conn = CreateTasksOperator(task_id="t", tasks=items(1, "5"), toloka_conn_id="no_such_connection")
    for op in (bad_input, no_conn):  # the second fails before it pushed anything at all
        with pytest.raises(Exception):  # noqa: B017 - each fails its own way; the links are the point
            op.execute(context())
        assert TolokaPoolLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
        assert TolokaOperationLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert reads == []


def test_paths_may_be_object_storage_paths(toloka_emulator: Any, tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    (tmp_path / "in.tsv").write_text("INPUT:text\none\ntwo\n")
    summary = CreateTasksOperator(
        task_id="t",
        pool_id="5",
        tasks_path=ObjectStoragePath(f"file://{tmp_path}/in.tsv"),
        results_path=ObjectStoragePath(f"file://{tmp_path}/out/results.jsonl"),
        allow_defaults=True,
        poll_interval=0.1,
    ).execute(context())
    assert summary["created"] == 2 and summary["results_path"] == f"file://{tmp_path}/out/results.jsonl"
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 2
