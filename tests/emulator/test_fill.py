"""``POST /_emulator/fill``: finished assignments made at once, for benchmarks."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests

from tests.emulator.api import Api
from tests.emulator.lifecycle import all_assignments, make_pool, upload
from toloka_emulator import EmulatorProcess


@pytest.fixture
def api(toloka_emulator: EmulatorProcess) -> Api:
    return Api(toloka_emulator.url)


def fill(api: Api, **params: Any) -> requests.Response:
    return api.session.post(f"{api.base}/_emulator/fill", params=params)


def test_fill_invents_tasks_and_makes_accepted_assignments(api: Api) -> None:
    pool = make_pool(api)
    resp = fill(api, pool_id=pool["id"], assignments=200, tasks_per_assignment=5)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "pool_id": pool["id"],
        "assignments": 200,
        "tasks_per_assignment": 5,
        "rows": 1000,
        "tasks_created": 334,  # ceil(1000 / overlap 3)
        "status": "ACCEPTED",
    }
    tasks = {t["id"]: t for t in api.get_json("/tasks", pool_id=pool["id"], limit=1000)["items"]}
    assert len(tasks) == 334 and all(
        t["overlap"] == 3 and t["remaining_overlap"] == 0 for t in tasks.values()
    )
    every = all_assignments(api, pool["id"], status="ACCEPTED", limit=64)
    assert len(every) == 200 and [a["id"] for a in every] == sorted(a["id"] for a in every)
    per_task: Counter[str] = Counter()
    for a in every:
        assert len(a["tasks"]) == len(a["solutions"]) == 5 and a["accepted"] == a["submitted"]
        assert len({t["id"] for t in a["tasks"]}) == 5
        for task, solution in zip(a["tasks"], a["solutions"], strict=True):
            per_task[task["id"]] += 1
            assert task["id"] in tasks and solution["output_values"]["label"] in ("pos", "neg")
    assert set(per_task) == set(tasks) and max(per_task.values()) <= 3
    # the invented truth field is what most workers answer (accuracy 0.9 by default)
    right = sum(
        s["output_values"]["label"] == t["input_values"]["truth"]
        for a in every
        for t, s in zip(a["tasks"], a["solutions"], strict=True)
    )
    assert right >= 800


def test_fill_uses_the_pools_tasks_and_can_leave_work_submitted(api: Api) -> None:
    pool = make_pool(api)
    tasks = upload(api, pool["id"], 4, truth="neg")
    resp = fill(api, pool_id=pool["id"], assignments=6, tasks_per_assignment=2, status="SUBMITTED")
    assert resp.json()["tasks_created"] == 0
    every = all_assignments(api, pool["id"])
    assert {a["status"] for a in every} == {"SUBMITTED"} and all("accepted" not in a for a in every)
    assert [t["id"] for a in every for t in a["tasks"]] == [t["id"] for t in tasks] * 3
    assert (
        api.session.patch(
            f"{api.base}/api/v1/assignments/{every[0]['id']}",
            json={"status": "ACCEPTED", "public_comment": ""},
        ).json()["status"]
        == "ACCEPTED"
    )


def test_fill_refuses_bad_requests(api: Api) -> None:
    assert fill(api, pool_id="4242", assignments=1).status_code == 404
    pool = make_pool(api)
    upload(api, pool["id"], 2)
    too_few = fill(api, pool_id=pool["id"], assignments=1, tasks_per_assignment=3)
    assert too_few.status_code == 400 and too_few.json()["code"] == "VALIDATION_ERROR"
    assert fill(api, pool_id=pool["id"], assignments=0).status_code == 400
    assert (
        fill(api, pool_id=pool["id"], assignments=1, tasks_per_assignment=1, status="REJECTED").status_code
        == 400
    )


def test_filled_pools_aggregate_and_page_cheaply(api: Api, toloka_emulator: EmulatorProcess) -> None:
    pool = make_pool(api)
    assert fill(api, pool_id=pool["id"], assignments=3000, tasks_per_assignment=10).status_code == 200
    # paging by id with a status filter: each page costs the page (the whole pool would be 30,000 rows)
    pages = 0
    query: dict[str, Any] = {"pool_id": pool["id"], "status": "ACCEPTED", "sort": "id", "limit": 1000}
    while True:
        page = api.get_json("/assignments", **query)
        pages += 1
        if not page["has_more"]:
            break
        query["id_gt"] = page["items"][-1]["id"]
    assert pages == 3
    body = {"type": "DAWID_SKENE", "pool_id": pool["id"], "fields": [{"name": "label"}]}
    op = api.post("/aggregated-solutions/aggregate-by-pool", body).json()
    toloka_emulator.advance(5)
    assert api.get_json(f"/operations/{op['id']}")["status"] == "SUCCESS"
    got = api.get_json(f"/aggregated-solutions/{op['id']}", limit=100_000)
    assert len(got["items"]) == 10_000 and got["has_more"] is False
