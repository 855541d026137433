"""TolokaHook's public API against a scripted loopback Toloka: what it sends and how it reads results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_toloka.batching import (
    TASKS,
    successor_id,
)
from airflow_toloka.exceptions import (
    TolokaDoesNotExistError,
    TolokaError,
    TolokaOperationFailedError,
    TolokaRemoteUnavailableError,
    TolokaTimeoutError,
    TolokaUnexpectedResponseError,
)
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.models import Operation
from tests.unit.hooks.common import OP, fast_hook
from tests.unit.scripted_server import TOKEN, Reply, ScriptedServer


def test_sends_auth_and_lowercase_booleans(server: ScriptedServer) -> None:
    server.script("POST /api/v1/tasks", Reply(202, {**OP, "status": "RUNNING"}))
    hook = fast_hook()
    op = hook.create_tasks_async(
        [{"pool_id": 1, "input_values": {"a": 1}}], open_pool=True, operation_id="op-1"
    )
    assert op.id == "op-1"
    seen = server.requests[-1]
    assert seen.headers["Authorization"] == f"OAuth {TOKEN}"
    assert seen.headers["Content-Type"] == "application/json"
    assert (
        "open_pool=true" in seen.path and "async_mode=true" in seen.path and "operation_id=op-1" in seen.path
    )
    assert "allow_defaults" not in seen.path  # unset flags are left to the server's defaults
    assert json.loads(seen.body) == [{"pool_id": "1", "input_values": {"a": 1}, "__item_idx": "0"}]


def test_sync_mode_post_is_not_retried_on_500(server: ScriptedServer) -> None:
    server.script("POST /api/v1/tasks", Reply(500, {"code": "INTERNAL_ERROR", "message": "boom"}))
    with pytest.raises(TolokaRemoteUnavailableError):
        fast_hook().create_tasks([{"pool_id": "1", "input_values": {}}], async_mode=False)
    assert server.count("POST /api/v1/tasks") == 1  # Toloka may have created them: repeating could duplicate


def test_operation_already_exists_returns_the_existing_operation(server: ScriptedServer) -> None:
    server.script("POST /api/v1/tasks", Reply(409, {"code": "OPERATION_ALREADY_EXISTS", "message": "exists"}))
    server.script("GET /api/v1/operations/op-1", Reply(200, OP))
    op = fast_hook().create_tasks_async([{"pool_id": "1", "input_values": {}}], operation_id="op-1")
    assert op.status == "SUCCESS" and server.count("POST /api/v1/tasks") == 1


def test_validation_before_any_request(server: ScriptedServer) -> None:
    tasks = [{"pool_id": "1", "input_values": {}}, {"input_values": {"a": 1}}]
    with pytest.raises(TolokaError, match=r"item 1, field 'pool_id'"):
        fast_hook().create_tasks(tasks)
    assert server.requests == []


def test_log_mapping_accepts_bare_and_wrapped_errors(server: ScriptedServer) -> None:
    server.script(
        "GET /api/v1/operations/op-1/log",
        Reply(
            200,
            [
                {
                    "type": "POOL_OPEN",
                    "success": False,
                    "input": {"pool_id": "1"},
                    "output": {"code": "EMPTY_POOL"},
                },
                {
                    "type": "TASK_CREATE",
                    "success": True,
                    "input": {"pool_id": "1", "__item_idx": "2"},
                    "output": {"task_id": "t2"},
                },
                {
                    "type": "TASK_VALIDATE",
                    "success": False,
                    "input": {"__item_idx": "0"},
                    "output": {"input_values.a": {"code": "VALUE_REQUIRED", "message": "m"}},
                },
                {
                    "type": "TASK_VALIDATE",
                    "success": False,
                    "input": {"__item_idx": "1"},
                    "output": {
                        "code": "VALIDATION_ERROR",
                        "payload": {"overlap": {"code": "VALUE_LESS_THAN_MIN"}},
                    },
                },
            ],
        ),
    )
    result = fast_hook().operation_results(TASKS, [Operation(**OP)])
    assert result.items == {2: "t2"}
    assert result.validation_errors[0]["input_values.a"].code == "VALUE_REQUIRED"
    assert result.validation_errors[1]["overlap"].code == "VALUE_LESS_THAN_MIN"
    assert result.pool_ids == ["1"] and result.operation_ids == ["op-1"]


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
    # a successful item without the id key falls back to the full reading, which names what is missing
    server.script(
        "GET /api/v1/operations/op-1/log", Reply(200, [{"success": True, "input": {"__item_idx": "0"}}])
    )
    with pytest.raises(TolokaUnexpectedResponseError, match=r"entry 0 is a success without output\.task_id"):
        TolokaHook().operation_results(TASKS, [Operation(**OP)])
    server.script("GET /api/v1/operations/op-1/log", Reply(200, None))
    assert TolokaHook().operation_results(TASKS, [Operation(**OP)]).items == {}


@pytest.mark.parametrize(
    ("route", "reply", "call", "message"),
    [
        (
            "POST /api/v1/tasks",
            Reply(200, {}),
            "submit",
            r"POST /api/v1/tasks with \{\} where an Operation was expected \(id: Field required\)",
        ),
        (
            "GET /api/v1/operations/op-1",
            Reply(200, {"id": "op-1"}),
            "get",
            r"where an Operation was expected \(status: Field required\)",
        ),
        ("GET /api/v1/operations/op-1", Reply(200, ["op-1"]), "get", r"where an Operation was expected"),
        (
            "GET /api/v1/operations/op-1/log",
            Reply(200, {"entries": []}),
            "results",
            r"where a list of log entries was expected",
        ),
        (
            "GET /api/v1/operations/op-1/log",
            Reply(200, ["x"]),
            "results",
            r"where log entries with an input object was expected",
        ),
        (
            "GET /api/v1/operations/op-1/log",
            Reply(200, {"entries": []}),
            "log",
            r"where a list of log entries was expected",
        ),
    ],
)
def test_odd_answers_are_explained(
    server: ScriptedServer, route: str, reply: Reply, call: str, message: str
) -> None:
    server.script(route, reply)
    hook = TolokaHook(retry_limit=0)
    with pytest.raises(TolokaUnexpectedResponseError, match=message):
        if call == "submit":
            hook.create_tasks_async([{"pool_id": "1", "input_values": {}}], operation_id="op-1")
        elif call == "get":
            hook.get_operation("op-1")
        elif call == "log":
            hook.get_operation_log("op-1")
        else:
            hook.operation_results(TASKS, [Operation(**OP)])
    assert server.count(route) == 1  # the same answer would come again: not retried


def test_failed_operation_without_item_steps_is_an_error(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/op-1/log", Reply(200, []))
    failed = Operation(**{**OP, "status": "FAIL", "details": {"reason": "x"}})
    with pytest.raises(TolokaOperationFailedError, match="op-1"):
        TolokaHook().operation_results(TASKS, [failed])


def test_counters_spare_the_log_reads_when_no_ids_are_wanted(server: ScriptedServer) -> None:
    counters = {"total_count": 5, "success_count": 5, "failed_count": 0, "not_valid_count": 0}
    ops = [Operation(**{**OP, "id": f"op-{i}", "details": counters}) for i in (1, 2)]
    server.script("GET /api/v1/operations/op-1/log", Reply(200, _log(range(0, 5))))
    server.script("GET /api/v1/operations/op-2/log", Reply(200, _log(range(5, 10))))
    counted = TolokaHook().operation_results(TASKS, ops, max_ids=9)
    assert counted.created_count == 10 and counted.items == {} and counted.operation_ids == ["op-1", "op-2"]
    assert server.requests == []  # not one log entry read
    listed = TolokaHook().operation_results(TASKS, ops, max_ids=10)  # the ids fit: the logs are read
    assert listed.items == {i: f"t{i}" for i in range(10)} and len(server.requests) == 2


def test_toloka_kit_names_refuse_unknown_keywords(server: ScriptedServer) -> None:
    task = {"pool_id": "1", "input_values": {}}
    with pytest.raises(TypeError, match="batch_size"):
        TolokaHook().create_tasks_async([task], batch_size=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="skip_invalid"):
        TolokaHook().create_tasks([task], skip_invalid=True)  # type: ignore[call-arg]
    assert server.requests == []


def test_worker_side_wait_polls_through_an_outage_until_its_timeout(server: ScriptedServer) -> None:
    down = Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE", "message": "maintenance"})
    running = {**OP, "status": "RUNNING", "progress": 10}
    server.script("GET /api/v1/operations/op-1", down, down, Reply(200, running), down, Reply(200, OP))
    hook = TolokaHook(retry_limit=0, poll_interval=0.05)
    assert hook.wait_operation("op-1", timeout=30).status == "SUCCESS"
    assert server.count("GET /api/v1/operations/op-1") == 5
    server.script("GET /api/v1/operations/op-2", Reply(200, {**running, "id": "op-2"}), down)
    with pytest.raises(TolokaTimeoutError, match=r"op-2; the last poll failed: .*REMOTE_SERVICE_UNAVAILABLE"):
        hook.wait_operation("op-2", timeout=0.5)
    server.script(
        "GET /api/v1/operations/op-3",
        Reply(200, {**running, "id": "op-3"}),
        Reply(404, {"code": "DOES_NOT_EXIST"}),
    )
    with pytest.raises(TolokaDoesNotExistError):
        hook.wait_operation("op-3", timeout=30)  # waiting will not bring it back


def test_a_zero_timeout_still_reads_each_operation_once(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/op-1", Reply(200, OP))
    assert TolokaHook().wait_operations(["op-1"], timeout=0)[0].status == "SUCCESS"


def test_a_failed_operation_is_submitted_again_under_its_successor_id(server: ScriptedServer) -> None:
    # A FAIL created nothing: re-attaching to it would pin every retry to the old failure.
    nxt = successor_id("op-1")
    exists = Reply(409, {"code": "OPERATION_ALREADY_EXISTS", "message": "exists"})
    server.script("POST /api/v1/tasks", exists, Reply(202, {**OP, "id": nxt, "status": "RUNNING"}))
    server.script("GET /api/v1/operations/op-1", Reply(200, {**OP, "status": "FAIL"}))
    task = {"pool_id": "1", "input_values": {}}
    assert TolokaHook().create_tasks_async([task], operation_id="op-1").id == nxt
    posted = [r.path for r in server.requests if r.method == "POST"]
    assert len(posted) == 2 and "operation_id=op-1" in posted[0] and f"operation_id={nxt}" in posted[1]
    # the next try walks the same chain and re-attaches to the successor while it runs
    server.script("POST /api/v1/tasks", exists)
    server.script(f"GET /api/v1/operations/{nxt}", Reply(200, {**OP, "id": nxt, "status": "RUNNING"}))
    assert TolokaHook().create_tasks_async([task], operation_id="op-1").status == "RUNNING"
    assert successor_id("op-1") == nxt != successor_id(nxt)  # deterministic, and a chain


def test_a_timeout_says_that_toloka_goes_on(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/op-1", Reply(200, {**OP, "status": "RUNNING"}))
    with pytest.raises(TolokaTimeoutError, match=r"goes on processing them; a retry .* re-attaches"):
        TolokaHook(poll_interval=0.05).wait_operation("op-1", timeout=0.2)
