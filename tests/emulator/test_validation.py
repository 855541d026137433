"""Per-item validation and pool state, against an emulator started with a pools file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.api import Api
from toloka_emulator import EmulatorProcess

SPEC = {
    "image": {"type": "url", "required": True},
    "label": {"type": "string", "required": False},
    "n": {"type": "integer", "required": False},
    "score": {"type": "float", "required": False},
    "flag": {"type": "boolean", "required": False},
    "meta": {"type": "json", "required": False},
}
POOLS = {
    "auto_create": False,
    "pools": [
        {"id": "101", "status": "OPEN", "input_spec": SPEC, "output_spec": {"result": {"type": "string"}}},
        {
            "id": "102",
            "status": "CLOSED",
            "input_spec": SPEC,
            "defaults": {"default_overlap_for_new_tasks": 3, "default_overlap_for_new_task_suites": 5},
        },
        {"id": "103", "status": "ARCHIVED", "input_spec": SPEC},
        # no input_spec: permissive, hence another project than the pools above
        {"id": "104", "status": "CLOSED", "project_id": "2"},
    ],
}
REQUIRED = "Value must be present and not equal to null"


@pytest.fixture(scope="module")
def spec_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    path = Path(tmp_path_factory.mktemp("pools")) / "pools.json"
    path.write_text(json.dumps(POOLS))
    with EmulatorProcess(extra_args=["--pools", str(path), "--pending-seconds", "0"]) as emulator:
        yield emulator


@pytest.fixture
def api(spec_emulator: EmulatorProcess) -> Api:
    spec_emulator.reset()
    return Api(spec_emulator.url, "ApiKey some-key")


def item(pool: str = "101", overlap: Any = 1, **values: Any) -> dict[str, Any]:
    return {"pool_id": pool, "input_values": {"image": "https://e.com/1.jpg", **values}, "overlap": overlap}


def test_valid_item_with_every_type(api: Api) -> None:
    values: dict[str, Any] = {"label": "cat", "n": 3, "score": 2, "flag": True, "meta": {"any": [1, "x"]}}
    resp = api.post("/tasks", item(**values))
    assert resp.status_code == 201, resp.text
    assert resp.json()["input_values"]["meta"] == {"any": [1, "x"]}
    assert api.post("/tasks", item(label=None)).status_code == 201  # optional fields may be null


def test_unknown_and_missing_input_fields(api: Api) -> None:
    errors = api.errors({"pool_id": "101", "input_values": {"imagis": "https://e.com/1.jpg"}, "overlap": 1})
    assert errors == {
        "input_values.imagis": {"code": "VALUE_NOT_ALLOWED", "message": "Unknown field name"},
        "input_values.image": {"code": "VALUE_REQUIRED", "message": REQUIRED},
    }


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"image": "not a url"}, "INVALID_URL_SYNTAX"),
        ({"image": 5}, "INVALID_URL_SYNTAX"),
        ({"label": 5}, "STRING_EXPECTED"),
        ({"n": 1.5}, "INTEGER_EXPECTED"),
        ({"n": True}, "INTEGER_EXPECTED"),
        ({"score": "1"}, "FLOAT_EXPECTED"),
        ({"flag": "true"}, "BOOLEAN_EXPECTED"),
    ],
)
def test_input_type_mismatches(api: Api, values: dict[str, Any], code: str) -> None:
    field = next(iter(values))
    assert api.codes(item(**values)) == {f"input_values.{field}": code}


def test_input_values_must_be_an_object(api: Api) -> None:
    assert api.codes({"pool_id": "101", "input_values": ["x"], "overlap": 1}) == {
        "input_values": "OBJECT_EXPECTED"
    }
    assert api.codes({"pool_id": "101", "overlap": 1}) == {"input_values": "VALUE_REQUIRED"}


@pytest.mark.parametrize(
    ("overlap", "extra", "code"),
    [
        (0, {}, "VALUE_LESS_THAN_MIN"),
        (30001, {}, "VALUE_GREATER_THAN_MAX"),
        ("2", {}, "INTEGER_EXPECTED"),
        (None, {}, "VALUE_REQUIRED"),
        (3, {"infinite_overlap": True}, "VALUE_NOT_ALLOWED"),
    ],
)
def test_overlap_rules(api: Api, overlap: Any, extra: dict[str, Any], code: str) -> None:
    assert api.codes({**item(overlap=overlap), **extra}) == {"overlap": code}


def test_overlap_bounds_and_infinite_overlap_are_accepted(api: Api) -> None:
    assert api.post("/tasks", item(overlap=30000)).status_code == 201
    infinite = api.post("/tasks", {**item(overlap=None), "infinite_overlap": True})
    assert infinite.status_code == 201
    assert (infinite.json()["overlap"], infinite.json()["infinite_overlap"]) == (None, True)


def test_allow_defaults_uses_the_pool_default_and_explicit_overlap_wins(api: Api) -> None:
    no_overlap = {"pool_id": "102", "input_values": {"image": "https://e.com/1.jpg"}}
    assert api.post("/tasks", no_overlap, allow_defaults=True).json()["overlap"] == 3
    assert api.post("/tasks", {**no_overlap, "overlap": 7}, allow_defaults=True).json()["overlap"] == 7
    assert api.codes(no_overlap) == {"overlap": "VALUE_REQUIRED"}  # defaults not allowed
    # pool 101 has no defaults at all
    assert api.codes(item(overlap=None), allow_defaults=True) == {"overlap": "VALUE_REQUIRED"}
    suite = {"pool_id": "102", "tasks": [{"input_values": {"image": "https://e.com/1.jpg"}}]}
    assert api.post("/task-suites", suite, allow_defaults=True).json()["overlap"] == 5


def test_pool_id_problems(api: Api) -> None:
    assert api.errors(item(pool="999"))["pool_id"]["code"] == "ENTITY_DOES_NOT_EXIST"
    archived = api.errors(item(pool="103"))["pool_id"]
    assert archived["code"] == "INAPPROPRIATE_STATUS" and "ARCHIVED" in archived["message"]
    assert api.codes({"input_values": {}, "overlap": 1}) == {"pool_id": "VALUE_REQUIRED"}
    assert api.post("/tasks", {**item(), "pool_id": 101}).json()["pool_id"] == "101"


def test_solutions_and_user_lists(api: Api) -> None:
    good = {
        **item(),
        "known_solutions": [{"output_values": {"result": "cat"}, "correctness_weight": 1}],
        "baseline_solutions": [{"output_values": {"result": "cat"}, "confidence_weight": 0.5}],
        "reserved_for": ["a", "b"],
    }
    created = api.post("/tasks", good).json()
    assert created["known_solutions"] == good["known_solutions"] and created["reserved_for"] == ["a", "b"]
    assert api.codes({**item(), "known_solutions": [{"output_values": "cat"}]}) == {
        "known_solutions.0.output_values": "OBJECT_EXPECTED"
    }
    assert api.codes({**item(), "unavailable_for": ["a", "a"]}) == {
        "unavailable_for": "DUPLICATE_VALUE_IN_ARRAY"
    }
    assert api.codes({**item(), "reserved_for": "a"}) == {"reserved_for": "ARRAY_EXPECTED"}


def test_suite_rules(api: Api) -> None:
    def suite(tasks: Any) -> dict[str, Any]:
        return {"pool_id": "101", "tasks": tasks, "overlap": 1}

    assert api.codes(suite([]), "/task-suites") == {"tasks": "ARRAY_SIZE_LESS_THAN_MIN"}
    assert api.codes(suite(None), "/task-suites") == {"tasks": "VALUE_REQUIRED"}
    assert api.codes(suite("x"), "/task-suites") == {"tasks": "ARRAY_EXPECTED"}
    tasks = [
        {"input_values": {"image": "https://e.com/1.jpg"}},
        {"input_values": {"imagis": "x"}, "baseline_solutions": [{"output_values": {"result": "a"}}]},
    ]
    assert api.codes(suite(tasks), "/task-suites") == {
        "tasks.1.input_values.imagis": "VALUE_NOT_ALLOWED",
        "tasks.1.input_values.image": "VALUE_REQUIRED",
        "tasks.1.baseline_solutions": "VALUE_NOT_ALLOWED",
    }


def test_pool_without_input_spec_accepts_any_fields(api: Api) -> None:
    resp = api.post("/tasks", {"pool_id": "104", "input_values": {"whatever": [1, 2]}, "overlap": 1})
    assert resp.status_code == 201


def test_batch_errors_are_keyed_by_index_with_field_paths(api: Api) -> None:
    items = [item(), item(pool="999"), {**item(), "input_values": {"image": "x"}}, item()]
    resp = api.post("/tasks", items, skip_invalid_items=True)
    assert resp.status_code == 201
    body = resp.json()
    assert list(body["items"]) == ["0", "3"]
    assert set(body["validation_errors"]) == {"1", "2"}
    assert body["validation_errors"]["2"] == {
        "input_values.image": {"code": "INVALID_URL_SYNTAX", "message": "Value must be a valid URL"}
    }


# ---------------------------------------------------------------------------------------------- pools


def test_get_pool(api: Api) -> None:
    pool = api.get("/pools/102").json()
    assert (pool["id"], pool["status"], pool["project_id"]) == ("102", "CLOSED", "1")
    assert pool["defaults"]["default_overlap_for_new_tasks"] == 3
    assert pool["created"]
    assert api.get("/pools/999").status_code == 404  # no auto-creation with this pools file


def test_open_pool_on_upload_opens_a_closed_pool(api: Api, spec_emulator: EmulatorProcess) -> None:
    items = [{**item(pool="102"), "__item_idx": str(i)} for i in range(2)]
    op = api.post("/tasks", items, async_mode=True, open_pool=True).json()
    assert api.wait(op["id"])["status"] == "SUCCESS"
    log = api.get(f"/operations/{op['id']}/log").json()
    assert [e["type"] for e in log].count("TASK_CREATE") == 2
    steps = [e for e in log if e["type"] == "POOL_OPEN"]
    assert steps == [{"type": "POOL_OPEN", "success": True, "input": {"pool_id": "102"}, "output": {}}]
    pool = api.get("/pools/102").json()
    assert pool["status"] == "OPEN" and pool["last_started"]
    assert spec_emulator.stats()["pools"]["102"] == "OPEN"


def test_open_pool_in_sync_mode(api: Api) -> None:
    assert api.post("/tasks", [item(pool="102")], open_pool=True).status_code == 201
    assert api.get("/pools/102").json()["status"] == "OPEN"


def test_failed_upload_does_not_open_the_pool(api: Api) -> None:
    op = api.post("/tasks", [item(pool="102", overlap=None)], async_mode=True, open_pool=True).json()
    assert api.wait(op["id"])["status"] == "FAIL"
    assert api.get("/pools/102").json()["status"] == "CLOSED"


def test_pool_open_and_close_endpoints(api: Api) -> None:
    empty = api.post("/pools/102/open")
    assert empty.status_code == 409 and empty.json()["code"] == "EMPTY_POOL"
    assert api.post("/tasks", item(pool="102")).status_code == 201
    opening = api.post("/pools/102/open")
    assert opening.status_code == 202
    op = opening.json()
    assert op["type"] == "POOL.OPEN" and op["parameters"] == {"pool_id": "102"}
    assert api.wait(op["id"])["status"] == "SUCCESS"
    assert api.get("/pools/102").json()["status"] == "OPEN"
    again = api.post("/pools/102/open")
    assert again.status_code == 204 and again.content == b""
    closing = api.post("/pools/102/close")
    assert closing.status_code == 202 and closing.json()["type"] == "POOL.CLOSE"
    api.wait(closing.json()["id"])
    pool = api.get("/pools/102").json()
    assert pool["status"] == "CLOSED" and pool["last_close_reason"] == "MANUAL"
    assert api.post("/pools/102/close").status_code == 204
    archived = api.post("/pools/103/open")
    assert archived.status_code == 409 and archived.json()["code"] == "INAPPROPRIATE_STATUS"
    assert api.post("/pools/999/open").status_code == 404


def test_reset_restores_pools_from_the_file(api: Api, spec_emulator: EmulatorProcess) -> None:
    api.post("/tasks", [item(pool="102")], open_pool=True)
    assert api.get("/pools/102").json()["status"] == "OPEN"
    spec_emulator.reset()
    assert api.get("/pools/102").json()["status"] == "CLOSED"


def test_a_bad_pools_file_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "pools.json"
    path.write_text(json.dumps({"pools": [{"id": "1", "input_spec": {"x": {"type": "blob"}}}]}))
    with pytest.raises(RuntimeError, match="unknown type 'blob'"):
        EmulatorProcess(extra_args=["--pools", str(path)], startup_timeout=10).start()
