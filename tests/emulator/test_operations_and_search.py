"""Operation progress over time, and GET /tasks, /task-suites search: filters, sort, limit, has_more."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.emulator.api import Api
from toloka_emulator import EmulatorProcess


@pytest.fixture
def api(toloka_emulator: EmulatorProcess) -> Api:
    return Api(toloka_emulator.url)


def tasks(n: int, pool: str = "5", overlap: int = 1, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"pool_id": pool, "input_values": {"i": i}, "overlap": overlap, "__item_idx": str(i - start)}
        for i in range(start, start + n)
    ]


# ---------------------------------------------------------------------------------------------- operations


def test_operation_goes_pending_running_success_and_objects_appear_at_the_end(
    api: Api, toloka_emulator: EmulatorProcess
) -> None:
    toloka_emulator.configure(pending_seconds=0.5, rate=50)  # 50 items: 0.5 s pending + 1 s running
    op = api.post("/tasks", tasks(50), async_mode=True).json()
    assert op["status"] == "PENDING" and op["progress"] == 0 and "started" not in op
    seen: dict[str, list[int]] = {}
    counts_while_running: set[int] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = api.get_json(f"/operations/{op['id']}")
        seen.setdefault(now["status"], []).append(now["progress"])
        if now["status"] == "RUNNING":
            assert "started" in now and "finished" not in now
            count = toloka_emulator.stats()["objects"]["tasks"]
            log = api.get_json(f"/operations/{op['id']}/log")
            if (
                api.get_json(f"/operations/{op['id']}")["status"] == "RUNNING"
            ):  # still, so no race with the end
                counts_while_running.add(count)
                assert log == []  # logged all at once, when done
        if now["status"] == "SUCCESS":
            assert now["progress"] == 100 and now["finished"] >= now["started"] >= now["submitted"]
            break
        time.sleep(0.03)
    assert list(seen) == ["PENDING", "RUNNING", "SUCCESS"]
    running = seen["RUNNING"]
    assert running == sorted(running) and all(0 <= p < 100 for p in running)
    assert len(running) < 3 or running[-1] > running[0]
    assert counts_while_running == {0}
    assert toloka_emulator.stats()["objects"]["tasks"] == 50
    assert len(api.get_json(f"/operations/{op['id']}/log")) == 50


def test_a_higher_rate_speeds_up_running_operations(api: Api, toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(pending_seconds=0, rate=10)  # 100 items: 10 s
    op = api.post("/tasks", tasks(100), async_mode=True).json()
    before = api.until(op["id"], lambda o: o["status"] == "RUNNING")
    assert before["progress"] < 50
    toloka_emulator.configure(rate=1_000_000)
    after = api.wait(op["id"], timeout=1)  # at 10 items/s the rest would take seconds
    assert after["status"] == "SUCCESS" and toloka_emulator.stats()["objects"]["tasks"] == 100


def test_a_lower_rate_does_not_hold_back_accepted_work(api: Api, toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(pending_seconds=0.1, rate=1_000)
    fast = api.post("/tasks", tasks(10), async_mode=True).json()
    toloka_emulator.configure(rate=1)
    slow = api.post("/tasks", tasks(10, start=10), async_mode=True).json()
    assert api.wait(fast["id"])["status"] == "SUCCESS"  # accepted at 1,000 items/s, finished at that rate
    assert api.get_json(f"/operations/{slow['id']}")["status"] in ("PENDING", "RUNNING")  # 10 s at 1 item/s


def test_zero_pending_and_high_rate_finish_almost_at_once(api: Api, toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(pending_seconds=0, rate=1_000_000)
    op = api.post("/tasks", tasks(10), async_mode=True).json()
    assert api.wait(op["id"], timeout=1)["status"] == "SUCCESS"


def test_find_operations(api: Api) -> None:
    ids = [api.post("/tasks", tasks(2), async_mode=True).json()["id"] for _ in range(3)]
    found = api.get_json("/operations", type="TASK.BATCH_CREATE", limit=2)
    assert len(found["items"]) == 2 and found["has_more"] is True
    assert {op["id"] for op in api.get_json("/operations")["items"]} == set(ids)


# ---------------------------------------------------------------------------------------------- search


@pytest.fixture
def pool_with_tasks(api: Api) -> list[dict[str, Any]]:
    """120 tasks in pool 5 (overlap 1 for even inputs, 2 for odd), plus noise in pool 6."""
    created = api.post("/tasks", [t | {"overlap": 1 + i % 2} for i, t in enumerate(tasks(120))]).json()
    api.post("/tasks", tasks(10, pool="6"))
    return [created["items"][str(i)] for i in range(120)]


def test_default_limit_is_50_sorted_by_id(api: Api, pool_with_tasks: list[dict[str, Any]]) -> None:
    page = api.get_json("/tasks", pool_id="5")
    assert len(page["items"]) == 50 and page["has_more"] is True
    assert [t["id"] for t in page["items"]] == [t["id"] for t in pool_with_tasks[:50]]


def test_paging_by_id_gt_like_toloka_kit(api: Api, pool_with_tasks: list[dict[str, Any]]) -> None:
    ids = [t["id"] for t in pool_with_tasks]
    params: dict[str, Any] = {"pool_id": "5", "id_gte": ids[10], "id_lte": ids[109], "sort": "id"}
    got: list[str] = []
    while True:
        page = api.get_json("/tasks", **params)
        got += [t["id"] for t in page["items"]]
        if not page["has_more"]:
            break
        params["id_gt"] = got[-1]
    assert got == ids[10:110]


def test_id_bounds_compare_as_strings(api: Api, pool_with_tasks: list[dict[str, Any]]) -> None:
    ids = [t["id"] for t in pool_with_tasks]
    assert [t["id"] for t in api.get_json("/tasks", pool_id="5", id_gt=ids[5], id_lt=ids[9])["items"]] == ids[
        6:9
    ]
    assert len(api.get_json("/tasks", pool_id="5", id_gte=ids[5], id_lte=ids[9])["items"]) == 5
    assert api.get_json("/tasks", pool_id="5", id_gt=ids[-1]) == {"items": [], "has_more": False}


def test_sort_descending_and_limit(api: Api, pool_with_tasks: list[dict[str, Any]]) -> None:
    page = api.get_json("/tasks", pool_id="5", sort="-id", limit=3)
    assert [t["id"] for t in page["items"]] == [t["id"] for t in pool_with_tasks[::-1][:3]]
    assert page["has_more"] is True
    everything = api.get_json("/tasks", pool_id="5", sort="-created,id", limit=100_000)
    assert len(everything["items"]) == 120 and everything["has_more"] is False
    assert api.session.get(f"{api.base}/api/v1/tasks", params={"sort": "color"}).status_code == 400
    assert api.session.get(f"{api.base}/api/v1/tasks", params={"limit": 100_001}).status_code == 400


def test_overlap_and_created_filters(api: Api, pool_with_tasks: list[dict[str, Any]]) -> None:
    assert len(api.get_json("/tasks", pool_id="5", overlap=2, limit=1000)["items"]) == 60
    assert len(api.get_json("/tasks", pool_id="5", overlap_gte=2, limit=1000)["items"]) == 60
    created = pool_with_tasks[0]["created"]
    assert len(api.get_json("/tasks", pool_id="5", created_gte=created, limit=1000)["items"]) == 120
    assert api.get_json("/tasks", pool_id="5", created_lt=created)["items"] == []
    later = (datetime.fromisoformat(created) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert api.get_json("/tasks", pool_id="5", created_gt=later)["items"] == []  # no milliseconds is fine too
    bad = api.session.get(f"{api.base}/api/v1/tasks", params={"created_gt": "yesterday"})
    assert bad.status_code == 400


def test_without_pool_id_every_pool_is_searched(api: Api, pool_with_tasks: list[dict[str, Any]]) -> None:
    page = api.get_json("/tasks", limit=1000)
    assert len(page["items"]) == 130
    ids = [t["id"] for t in page["items"]]
    assert ids == sorted(ids)


def test_task_suite_search_and_get(api: Api) -> None:
    suites = [{"pool_id": "9", "tasks": [{"input_values": {"k": i}}], "overlap": 1} for i in range(7)]
    created = api.post("/task-suites", suites).json()["items"]
    page = api.get_json("/task-suites", pool_id="9", limit=5)
    assert len(page["items"]) == 5 and page["has_more"] is True
    one = created["3"]
    assert api.get_json(f"/task-suites/{one['id']}") == one
    assert api.get_json("/task-suites", task_id="nope")["items"] == []
    missing = api.session.get(f"{api.base}/api/v1/task-suites/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "DOES_NOT_EXIST"
    assert api.session.get(f"{api.base}/api/v1/tasks/nope").status_code == 404
