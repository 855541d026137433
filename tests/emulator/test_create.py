"""POST /tasks and /task-suites: response shape by body shape and mode, skip_invalid_items, idempotency, logs."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.emulator.api import Api
from toloka_emulator import EmulatorProcess

ID = re.compile(r"^[0-9a-f]{10}--[0-9a-f]{24}$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$")
DETAIL_KEYS = {
    "total_count",
    "valid_count",
    "not_valid_count",
    "success_count",
    "failed_count",
    "items_count",
}


@pytest.fixture
def api(toloka_emulator: EmulatorProcess) -> Api:
    return Api(toloka_emulator.url)


def task(i: int, pool: Any = "7", **extra: Any) -> dict[str, Any]:
    return {"pool_id": pool, "input_values": {"image": f"https://e.com/{i}.jpg"}, "overlap": 1, **extra}


def suite(i: int, pool: Any = "8", n: int = 2) -> dict[str, Any]:
    return {"pool_id": pool, "tasks": [{"input_values": {"t": f"{i}-{k}"}} for k in range(n)], "overlap": 2}


# ---------------------------------------------------------------------------------------------- shapes


def test_single_task_sync_returns_the_created_task(api: Api, toloka_emulator: EmulatorProcess) -> None:
    resp = api.post("/tasks", task(0, pool=12, unknown_key={"kept": True}, __item_idx="0"))
    assert resp.status_code == 201
    obj = resp.json()
    assert ID.match(obj["id"]) and obj["id"].startswith("000000000c--")  # pool 12 in hex
    assert STAMP.match(obj["created"])
    assert obj["pool_id"] == "12"  # a JSON number comes back as a string
    assert obj["input_values"] == {"image": "https://e.com/0.jpg"}
    assert (obj["overlap"], obj["infinite_overlap"], obj["remaining_overlap"]) == (1, False, 1)
    assert obj["reserved_for"] == [] and obj["unavailable_for"] == []
    assert obj["unknown_key"] == {"kept": True} and "__item_idx" not in obj
    assert api.get(f"/tasks/{obj['id']}").json() == obj
    assert toloka_emulator.stats()["tasks_by_pool"] == {"12": 1}


def test_array_sync_returns_items_keyed_by_index(api: Api) -> None:
    resp = api.post("/tasks", [task(i) for i in range(3)])
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {"items", "validation_errors"}
    assert body["validation_errors"] == {}
    assert list(body["items"]) == ["0", "1", "2"]
    assert [body["items"][k]["input_values"]["image"] for k in "012"] == [
        f"https://e.com/{i}.jpg" for i in range(3)
    ]
    ids = [body["items"][k]["id"] for k in "012"]
    assert ids == sorted(ids) and len(set(ids)) == 3


@pytest.mark.parametrize("single", [True, False])
def test_async_returns_a_batch_create_operation(
    api: Api, toloka_emulator: EmulatorProcess, single: bool
) -> None:
    body: Any = task(0, __item_idx="0") if single else [task(i, __item_idx=str(i)) for i in range(4)]
    resp = api.post("/tasks", body, async_mode=True)
    assert resp.status_code == 202
    op = resp.json()
    assert op["type"] == "TASK.BATCH_CREATE" and op["status"] in ("PENDING", "RUNNING")
    uuid.UUID(op["id"])  # generated when the client sends no operation_id
    assert op["parameters"] == {"skip_invalid_items": False, "allow_defaults": False, "open_pool": False}
    assert set(op["details"]) == DETAIL_KEYS
    assert STAMP.match(op["submitted"])
    done = api.wait(op["id"])
    n = 1 if single else 4
    assert done["status"] == "SUCCESS" and done["progress"] == 100
    assert STAMP.match(done["started"]) and STAMP.match(done["finished"])
    assert done["details"] == {
        "total_count": n,
        "valid_count": n,
        "not_valid_count": 0,
        "success_count": n,
        "failed_count": 0,
        "items_count": n,
    }
    log = api.get(f"/operations/{op['id']}/log").json()
    assert len(log) == n
    assert {e["input"]["__item_idx"] for e in log} == {str(i) for i in range(n)}
    assert all(e["type"] == "TASK_CREATE" and e["success"] for e in log)
    assert toloka_emulator.stats()["objects"]["tasks"] == n


def test_task_suites_sync_async_and_single(api: Api, toloka_emulator: EmulatorProcess) -> None:
    one = api.post("/task-suites", suite(0))
    assert one.status_code == 201
    obj = one.json()
    assert obj["tasks"] == [{"input_values": {"t": "0-0"}}, {"input_values": {"t": "0-1"}}]
    assert (obj["issuing_order_override"], obj["mixed"], obj["automerged"]) == (0, False, False)
    assert (obj["overlap"], obj["remaining_overlap"], obj["pool_id"]) == (2, 2, "8")
    many = api.post("/task-suites", [suite(i) for i in range(3)])
    assert many.status_code == 201 and list(many.json()["items"]) == ["0", "1", "2"]
    op = api.post(
        "/task-suites", [{**suite(i), "__item_idx": str(i)} for i in range(5)], async_mode=True
    ).json()
    assert op["type"] == "TASK_SUITE.BATCH_CREATE"
    assert api.wait(op["id"])["status"] == "SUCCESS"
    log = api.get(f"/operations/{op['id']}/log").json()
    assert {e["type"] for e in log} == {"TASK_SUITE_CREATE"}
    assert all(set(e["output"]) == {"task_suite_id"} for e in log)
    got = api.get(f"/task-suites/{log[0]['output']['task_suite_id']}").json()
    assert got["tasks"][1]["input_values"]["t"].endswith("-1")
    assert toloka_emulator.stats()["task_suites_by_pool"] == {"8": 9}


# ---------------------------------------------------------------------------------------------- invalid items


def bad(i: int) -> dict[str, Any]:
    return {"pool_id": "7", "input_values": {"image": f"https://e.com/{i}.jpg"}}  # no overlap


OVERLAP_REQUIRED = {
    "overlap": {"code": "VALUE_REQUIRED", "message": "Value must be present and not equal to null"}
}


def test_sync_all_or_nothing_by_default(api: Api, toloka_emulator: EmulatorProcess) -> None:
    resp = api.post("/tasks", [task(0), bad(1), task(2)])
    assert resp.status_code == 400
    err = resp.json()
    assert err["code"] == "VALIDATION_ERROR" and uuid.UUID(err["request_id"])
    assert err["payload"] == {"1": OVERLAP_REQUIRED}
    assert toloka_emulator.stats()["objects"]["tasks"] == 0


def test_sync_skip_invalid_items_creates_the_valid_ones(api: Api, toloka_emulator: EmulatorProcess) -> None:
    resp = api.post("/tasks", [task(0), bad(1), task(2)], skip_invalid_items=True)
    assert resp.status_code == 201
    body = resp.json()
    assert list(body["items"]) == ["0", "2"]
    assert body["validation_errors"] == {"1": OVERLAP_REQUIRED}
    assert toloka_emulator.stats()["objects"]["tasks"] == 2


def test_sync_every_item_invalid_is_an_error_even_when_skipping(
    api: Api, toloka_emulator: EmulatorProcess
) -> None:
    resp = api.post("/tasks", [bad(0), bad(1)], skip_invalid_items=True)
    assert resp.status_code == 400
    assert set(resp.json()["payload"]) == {"0", "1"}
    assert toloka_emulator.stats()["objects"]["tasks"] == 0


def test_single_invalid_object_gets_a_field_payload(api: Api) -> None:
    resp = api.post("/tasks", bad(0), skip_invalid_items=True)
    assert resp.status_code == 400
    assert resp.json()["payload"] == OVERLAP_REQUIRED


def test_async_without_skip_fails_and_creates_nothing(api: Api, toloka_emulator: EmulatorProcess) -> None:
    items = [task(0, __item_idx="0"), {**bad(1), "__item_idx": "1"}, task(2, __item_idx="2")]
    op = api.post("/tasks", items, async_mode=True).json()
    done = api.wait(op["id"])
    assert done["status"] == "FAIL"
    assert done["details"] == {
        "total_count": 3,
        "valid_count": 2,
        "not_valid_count": 1,
        "success_count": 0,
        "failed_count": 3,
        "items_count": 3,
    }
    log = api.get(f"/operations/{op['id']}/log").json()
    assert log == [{"type": "TASK_VALIDATE", "success": False, "input": items[1], "output": OVERLAP_REQUIRED}]
    assert toloka_emulator.stats()["objects"]["tasks"] == 0


def test_async_skip_invalid_items_is_a_partial_success(api: Api, toloka_emulator: EmulatorProcess) -> None:
    items = [task(0, __item_idx="0"), {**bad(1), "__item_idx": "1"}, task(2, __item_idx="2")]
    op = api.post("/tasks", items, async_mode=True, skip_invalid_items=True).json()
    done = api.wait(op["id"])
    assert done["status"] == "SUCCESS"
    assert (done["details"]["success_count"], done["details"]["failed_count"]) == (2, 1)
    log = {e["input"]["__item_idx"]: e for e in api.get(f"/operations/{op['id']}/log").json()}
    assert log["1"]["type"] == "TASK_VALIDATE" and log["1"]["output"] == OVERLAP_REQUIRED
    assert log["0"]["success"] and log["2"]["success"]
    assert (
        api.get(f"/tasks/{log['2']['output']['task_id']}").json()["input_values"] == items[2]["input_values"]
    )
    assert toloka_emulator.stats()["objects"]["tasks"] == 2


def test_sync_batches_over_5000_items_are_too_large(api: Api, toloka_emulator: EmulatorProcess) -> None:
    resp = api.post("/tasks", [task(i) for i in range(5001)])
    assert resp.status_code == 413 and resp.json()["code"] == "ENTITY_TOO_LARGE"
    assert api.post("/tasks", [task(i) for i in range(5000)]).status_code == 201
    assert api.post("/tasks", [task(i) for i in range(5001)], async_mode=True).status_code == 202


@pytest.mark.parametrize("body", [b"{not json", b"42", b""])
def test_a_body_that_is_not_an_object_or_array_is_rejected(api: Api, body: bytes) -> None:
    resp = api.session.post(
        f"{api.base}/api/v1/tasks", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_ERROR"


def test_query_booleans_must_be_lowercase(api: Api) -> None:
    resp = api.post("/tasks", task(0), async_mode="True")
    assert resp.status_code == 400
    assert resp.json()["payload"]["async_mode"]["code"] == "BOOLEAN_EXPECTED"


# ---------------------------------------------------------------------------------------------- idempotency


def test_a_known_operation_id_creates_nothing_and_409s(api: Api, toloka_emulator: EmulatorProcess) -> None:
    op_id = str(uuid.uuid4())
    first = api.post("/tasks", [task(i) for i in range(3)], async_mode=True, operation_id=op_id)
    assert first.status_code == 202 and first.json()["id"] == op_id
    again = api.post("/tasks", [task(i) for i in range(3)], async_mode=True, operation_id=op_id)
    assert again.status_code == 409
    assert again.json()["code"] == "OPERATION_ALREADY_EXISTS"
    # a suite upload under the same id is refused too, and the original keeps its type
    assert api.post("/task-suites", [suite(0)], async_mode=True, operation_id=op_id).status_code == 409
    assert api.wait(op_id)["type"] == "TASK.BATCH_CREATE"
    assert toloka_emulator.stats()["objects"] == {"tasks": 3, "task_suites": 0, "operations": 1}


def test_operation_id_is_ignored_in_sync_mode(api: Api, toloka_emulator: EmulatorProcess) -> None:
    op_id = str(uuid.uuid4())
    for _ in range(2):
        assert api.post("/tasks", [task(0)], operation_id=op_id).status_code == 201
    assert api.get(f"/operations/{op_id}").status_code == 404
    assert toloka_emulator.stats()["objects"]["tasks"] == 2


# ---------------------------------------------------------------------------------------------- logs


def test_log_is_not_in_input_order_and_echoes_inputs_exactly(api: Api) -> None:
    items = [task(i, __item_idx=str(i), traits_all_of=["x"]) for i in range(50)]
    op = api.post("/tasks", items, async_mode=True).json()
    api.wait(op["id"])
    log = api.get(f"/operations/{op['id']}/log").json()
    order = [e["input"]["__item_idx"] for e in log]
    assert sorted(order, key=int) == [str(i) for i in range(50)]
    assert order != [str(i) for i in range(50)]
    by_idx = {e["input"]["__item_idx"]: e for e in log}
    assert all(by_idx[str(i)]["input"] == items[i] for i in range(50))
    # ids grow in creation order, and creation follows the input order
    ids = [by_idx[str(i)]["output"]["task_id"] for i in range(50)]
    assert ids == sorted(ids)
    assert api.get(f"/tasks/{ids[0]}").json()["traits_all_of"] == ["x"]


def test_unknown_operation_and_log_are_404(api: Api) -> None:
    for path in ("/operations/nope", "/operations/nope/log"):
        resp = api.get(path)
        assert resp.status_code == 404 and resp.json()["code"] == "DOES_NOT_EXIST"


def test_open_pool_on_an_auto_created_pool_is_a_no_op(api: Api) -> None:
    op = api.post("/tasks", [task(0, __item_idx="0")], async_mode=True, open_pool=True).json()
    assert op["parameters"]["open_pool"] is True
    api.wait(op["id"])
    log = api.get(f"/operations/{op['id']}/log").json()
    assert [e["type"] for e in log] == ["TASK_CREATE"]  # auto-created pools are OPEN already


def test_a_request_over_tolokas_data_limits_is_refused_whole(
    api: Api, toloka_emulator: EmulatorProcess
) -> None:
    big = "x" * 400_000
    tasks = [{"pool_id": "1", "input_values": {"text": big}, "overlap": 1} for _ in range(3)]
    for async_mode in (True, False):
        resp = api.post("/tasks", tasks, async_mode=async_mode, operation_id=f"big-{async_mode}")
        assert resp.status_code == 413 and resp.json()["code"] == "ENTITY_TOO_LARGE"
        assert "1200033 bytes of input_values" in resp.json()["message"]
    solution = {"output_values": {"label": "y" * 1_500_000}}
    controls = [{"pool_id": "1", "input_values": {"i": i}, "known_solutions": [solution]} for i in range(3)]
    resp = api.post("/tasks", controls, async_mode=False)
    assert resp.status_code == 413 and "4500036 bytes of output_values" in resp.json()["message"]
    assert toloka_emulator.stats()["tasks_by_pool"] == {}
    assert api.post("/tasks", tasks[:2], async_mode=False).status_code == 201  # 800 KB: within the limit
