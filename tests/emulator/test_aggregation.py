"""Server-side aggregation (docs/toloka-api.md L7): validation, WDO and Dawid-Skene on a pool the crowd finished, result
paging, aggregate-by-task and the optional rate limit. Operations finish when a test advances the clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.api import Api
from tests.emulator.lifecycle import (
    act,
    all_assignments,
    make_pool,
    make_project,
    opened_pool,
    patch,
    upload,
)
from toloka_emulator import EmulatorProcess

WDO = {"type": "WEIGHTED_DYNAMIC_OVERLAP", "answer_weight_skill_id": "42", "fields": [{"name": "label"}]}
DS = {"type": "DAWID_SKENE", "fields": [{"name": "label"}]}
OUTPUT = {
    "label": {"type": "string", "required": True, "allowed_values": ["pos", "neg", "neu"]},
    "flag": {"type": "boolean", "required": True},
    "note": {"type": "string", "required": False},
}


def project_with(api: Api, output_spec: dict[str, Any]) -> str:
    body = {
        "public_name": "Sentiment",
        "public_description": "Pick the sentiment",
        "task_spec": {
            "input_spec": {"text": {"type": "string"}, "truth": {"type": "string", "required": False}},
            "output_spec": output_spec,
            "view_spec": {"type": "tb"},
        },
    }
    resp = api.post("/projects", body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


@pytest.fixture
def finished(api: Api, emu: EmulatorProcess) -> tuple[str, dict[str, str]]:
    """30 tasks (truths pos/neg/neu in turn), overlap 5, plus control tasks, finished at accuracy 0.9."""
    emu.configure(crowd=12, crowd_accuracy=0.9)
    mixer = {"real_tasks_count": 3, "golden_tasks_count": 1, "training_tasks_count": 0}
    defaults = {"default_overlap_for_new_tasks": 5, "default_overlap_for_new_task_suites": 5}
    pool = make_pool(api, project_with(api, OUTPUT), mixer_config=mixer, defaults=defaults)
    truths = ("pos", "neg", "neu")
    items = [
        {"pool_id": pool["id"], "input_values": {"text": f"t{i}", "truth": truths[i % 3]}} for i in range(30)
    ]
    resp = api.post("/tasks", items, allow_defaults=True)
    assert resp.status_code == 201, resp.text
    truth = {resp.json()["items"][str(i)]["id"]: truths[i % 3] for i in range(30)}
    golden = [{"output_values": {"label": "neg", "flag": True}}]
    upload(api, pool["id"], 10, truth="neg", known_solutions=golden, infinite_overlap=True)
    act(api, f"/pools/{pool['id']}/open")
    emu.advance(6 * 3600)
    assert api.get_json(f"/pools/{pool['id']}")["last_close_reason"] == "COMPLETED"
    return pool["id"], truth


def aggregate(api: Api, emu: EmulatorProcess, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post("/aggregated-solutions/aggregate-by-pool", body)
    assert resp.status_code == 202, resp.text
    emu.advance(5)  # past pending_seconds + aggregation_seconds
    op = api.get_json(f"/operations/{resp.json()['id']}")
    assert op["status"] == "SUCCESS", op
    return op  # type: ignore[no-any-return]


def results(api: Api, op_id: str, **params: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    query: dict[str, Any] = {"sort": "task_id", "limit": 7, **params}
    while True:
        page = api.get_json(f"/aggregated-solutions/{op_id}", **query)
        got += page["items"]
        if not page["has_more"]:
            return got
        query["task_id_gt"] = got[-1]["task_id"]


def codes(resp: Any) -> dict[str, str]:
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "VALIDATION_ERROR"
    return {path: err["code"] for path, err in resp.json()["payload"].items()}


def test_validation(api: Api) -> None:
    pool = make_pool(api, project_with(api, OUTPUT))["id"]
    post = lambda body: api.post("/aggregated-solutions/aggregate-by-pool", body)  # noqa: E731
    assert codes(post({**WDO, "pool_id": "999999"})) == {"pool_id": "DOES_NOT_EXIST"}
    assert codes(post({**WDO, "pool_id": pool, "fields": [{"name": "nope"}]})) == {
        "fields.0.name": "DOES_NOT_EXIST"
    }
    free_text = post({**WDO, "pool_id": pool, "fields": [{"name": "note"}]})
    assert "note" in free_text.json()["payload"]["fields.0.name"]["message"]
    assert codes(free_text) == {"fields.0.name": "VALUE_NOT_ALLOWED"}
    two = post({**DS, "pool_id": pool, "fields": [{"name": "label"}, {"name": "flag"}]})
    assert codes(two) == {"fields": "VALUE_NOT_ALLOWED"}
    no_skill = {k: v for k, v in WDO.items() if k != "answer_weight_skill_id"}
    assert codes(post({**no_skill, "pool_id": pool})) == {"answer_weight_skill_id": "VALUE_REQUIRED"}
    assert codes(post({**WDO, "type": "MAJORITY_VOTE", "pool_id": pool})) == {"type": "UNKNOWN_ENUM_VALUE"}
    assert codes(post({"type": "DAWID_SKENE", "pool_id": pool})) == {"fields": "VALUE_REQUIRED"}
    assert post([1]).status_code == 400
    # a boolean field and several fields (WDO) are fine; a pool with no accepted answer gives no results
    op = post({**WDO, "pool_id": pool, "fields": [{"name": "label"}, {"name": "flag"}]})
    assert op.status_code == 202, op.text


def test_wdo_and_ds_find_the_truth(
    api: Api, emu: EmulatorProcess, finished: tuple[str, dict[str, str]]
) -> None:
    pid, truth = finished
    for body in (WDO, DS):
        op = aggregate(api, emu, {**body, "pool_id": pid})
        assert op["type"] == "SOLUTION.AGGREGATE" and op["details"] == {}
        params = op["parameters"]
        assert params["pool_id"] == pid and params["algorithm"] == body["type"]
        if body is DS:
            assert params["aggregated_output_fields"] == ["label"] and params["missing_output_fields"] == []
        else:
            assert (
                params["aggregated_fields"] == [{"name": "label"}]
                and params["answer_weight_skill_id"] == "42"
            )
        got = results(api, op["id"])
        by_task = {r["task_id"]: r for r in got}
        assert set(truth) <= set(by_task) and len(got) == len(by_task) > 30  # control tasks answered too
        assert [r["task_id"] for r in got] == sorted(by_task)
        right = sum(by_task[t]["output_values"] == {"label": label} for t, label in truth.items())
        assert right >= 27, (body["type"], right)
        for r in got:
            assert set(r) == {"pool_id", "task_id", "confidence", "output_values"} and r["pool_id"] == pid
            assert 0.0 <= r["confidence"] <= 1.0
        mean = sum(by_task[t]["confidence"] for t in truth) / len(truth)
        assert mean > 0.8, (body["type"], mean)


def test_result_paging_sort_and_bounds(
    api: Api, emu: EmulatorProcess, finished: tuple[str, dict[str, str]]
) -> None:
    pid, _ = finished
    op = aggregate(api, emu, {**WDO, "pool_id": pid})
    every = results(api, op["id"], limit=1000)
    ids = [r["task_id"] for r in every]
    assert results(api, op["id"]) == every  # pages of 7, task_id_gt
    first = api.get_json(f"/aggregated-solutions/{op['id']}")
    assert first["items"] == every and first["has_more"] is False  # default limit 50
    pivot = ids[10]
    page = api.get_json(f"/aggregated-solutions/{op['id']}", task_id_gte=pivot, task_id_lt=ids[20], limit=5)
    assert [r["task_id"] for r in page["items"]] == ids[10:15] and page["has_more"] is True
    lte = api.get_json(f"/aggregated-solutions/{op['id']}", task_id_lte=pivot, limit=1000)["items"]
    assert [r["task_id"] for r in lte] == ids[:11]
    desc = api.get_json(f"/aggregated-solutions/{op['id']}", sort="-task_id", limit=3)
    assert [r["task_id"] for r in desc["items"]] == ids[::-1][:3] and desc["has_more"] is True
    try:
        emu.configure(aggregation_max_limit=4)
        clamped = api.get_json(f"/aggregated-solutions/{op['id']}", limit=100)
        assert len(clamped["items"]) == 4 and clamped["has_more"] is True
    finally:
        emu.restore_config()
    assert api.get(f"/aggregated-solutions/{op['id']}", sort="confidence").status_code == 400
    assert api.get(f"/aggregated-solutions/{op['id']}", limit=0).status_code == 400


def test_unknown_and_unfinished_operations(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=0)
    missing = api.get("/aggregated-solutions/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "DOES_NOT_EXIST"
    pool = make_pool(api, project_with(api, OUTPUT))
    upload(api, pool["id"], 1)
    opened = api.post(f"/pools/{pool['id']}/open").json()
    assert api.get(f"/aggregated-solutions/{opened['id']}").status_code == 404  # not an aggregation
    emu.configure(aggregation_seconds=100)
    started = api.post("/aggregated-solutions/aggregate-by-pool", {**DS, "pool_id": pool["id"]}).json()
    early = api.get(f"/aggregated-solutions/{started['id']}")
    assert early.status_code == 409 and early.json()["payload"]["appropriate_statuses"] == ["SUCCESS"]
    assert early.json()["payload"]["status"] in ("PENDING", "RUNNING")
    emu.advance(101)
    assert api.get_json(f"/operations/{started['id']}")["status"] == "SUCCESS"
    assert api.get_json(f"/aggregated-solutions/{started['id']}") == {"items": [], "has_more": False}


def test_only_accepted_answers_count(api: Api, emu: EmulatorProcess) -> None:
    defaults = {"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1}
    pool, _ = opened_pool(api, n=6, auto_accept_solutions=False, defaults=defaults)
    emu.advance(3600)
    found = all_assignments(api, pool["id"])
    assert len(found) == 3 and {a["status"] for a in found} == {"SUBMITTED"}
    assert patch(api, found[0]["id"], "ACCEPTED").status_code == 200
    assert patch(api, found[1]["id"], "REJECTED", "no").status_code == 200
    op = aggregate(api, emu, {**WDO, "pool_id": pool["id"]})
    got = results(api, op["id"])
    assert {r["task_id"] for r in got} == {t["id"] for t in found[0]["tasks"]}
    assert all(r["confidence"] == 0.5 for r in got)  # one voter of unknown skill, two possible answers


def test_aggregate_by_task(api: Api, emu: EmulatorProcess, finished: tuple[str, dict[str, str]]) -> None:
    pid, truth = finished
    task_id = next(iter(truth))
    by_pool = {r["task_id"]: r for r in results(api, aggregate(api, emu, {**WDO, "pool_id": pid})["id"])}
    resp = api.post("/aggregated-solutions/aggregate-by-task", {**WDO, "pool_id": pid, "task_id": task_id})
    assert resp.status_code == 200, resp.text
    assert resp.json() == by_pool[task_id]
    missing = api.post("/aggregated-solutions/aggregate-by-task", {**WDO, "pool_id": pid, "task_id": "nope"})
    assert missing.status_code == 409 and missing.json()["code"] == "ASSIGNMENTS_AGGREGATION_DENIED"
    assert codes(api.post("/aggregated-solutions/aggregate-by-task", {**WDO, "pool_id": pid})) == {
        "task_id": "VALUE_REQUIRED"
    }


def test_rate_limit_flag(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api, project_with(api, OUTPUT))["id"]
    body = {**DS, "pool_id": pool}
    for _ in range(6):  # off by default
        assert api.post("/aggregated-solutions/aggregate-by-pool", body).status_code == 202
    emu.advance(120)
    emu.configure(aggregation_rate_limit=True)
    for i in range(5):
        if i == 3:  # a refused body is not counted
            assert codes(api.post("/aggregated-solutions/aggregate-by-pool", {**DS, "pool_id": "0"}))
        assert api.post("/aggregated-solutions/aggregate-by-pool", body).status_code == 202
    refused = api.post("/aggregated-solutions/aggregate-by-pool", body)
    assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"
    assert refused.json()["payload"] == {"interval": "MIN"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    by_task = api.post("/aggregated-solutions/aggregate-by-task", {**body, "task_id": "x"})
    assert by_task.status_code == 429
    emu.advance(61)
    assert api.post("/aggregated-solutions/aggregate-by-pool", body).status_code == 202
    for _ in range(24):  # 30 per hour in all
        emu.advance(61)
        assert api.post("/aggregated-solutions/aggregate-by-pool", body).status_code == 202
    emu.advance(61)
    hourly = api.post("/aggregated-solutions/aggregate-by-pool", body)
    assert hourly.status_code == 429 and hourly.json()["payload"] == {"interval": "HOUR"}
    assert int(hourly.headers["Retry-After"]) > 60


def test_a_project_without_output_spec_field(api: Api) -> None:
    pool = make_pool(api, make_project(api))["id"]  # label: string with allowed values
    resp = api.post("/aggregated-solutions/aggregate-by-pool", {**DS, "pool_id": pool})
    assert resp.status_code == 202 and resp.json()["parameters"]["input_fields"] == ["text", "image", "truth"]
