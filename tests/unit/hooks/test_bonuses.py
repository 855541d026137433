"""User bonuses through the hook against a scripted loopback Toloka: what is sent, under which operation ids, and
what a repeated, lost or refused request does."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_toloka.batching import USER_BONUSES, CreateOptions, iter_batches, operation_id
from airflow_toloka.exceptions import (
    TolokaEntityConflictError,
    TolokaInputError,
    TolokaRemoteUnavailableError,
    TolokaValidationError,
)
from airflow_toloka.models import UserBonus
from tests.unit.hooks.common import fast_hook
from tests.unit.scripted_server import Reply, ScriptedServer

ROUTE = "POST /api/v1/user-bonuses"
NO = CreateOptions(skip_invalid_items=False)


def bonus_op(op_id: str, status: str = "SUCCESS") -> dict[str, Any]:
    return {"id": op_id, "type": "USER_BONUS.BATCH_CREATE", "status": status, "progress": 100}


def created(idx: int, bonus_id: str) -> dict[str, Any]:
    return {
        "type": "USER_BONUS_PERSIST",
        "success": True,
        "input": {"__item_idx": str(idx)},
        "output": {"user_bonus_id": bonus_id},
    }


def rejected(idx: int, field: str, code: str) -> dict[str, Any]:
    return {
        "type": "USER_BONUS_VALIDATE",
        "success": False,
        "input": {"__item_idx": str(idx)},
        "output": {field: {"code": code, "message": f"{field} is wrong"}},
    }


def bonuses(n: int) -> list[dict[str, Any]]:
    return [{"user_id": f"u{i}", "amount": 0.5, "without_message": True} for i in range(n)]


def query(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}


def posts(server: ScriptedServer) -> list[tuple[dict[str, str], Any]]:
    return [(query(r.path), json.loads(r.body)) for r in server.requests if r.method == "POST"]


def test_bonuses_go_as_async_operations_under_ids_of_the_key_and_content(server: ScriptedServer) -> None:
    server.script(ROUTE, Reply(202, bonus_op("op-a")), Reply(202, bonus_op("op-b")))
    server.script("GET /api/v1/operations/op-a/log", Reply(200, [created(1, "b1"), created(0, "b0")]))
    server.script("GET /api/v1/operations/op-b/log", Reply(200, [created(2, "b2")]))
    items = bonuses(3)
    result = fast_hook(max_in_flight=1).create_user_bonuses(items, batch_size=2, idempotency_key="run-1")
    assert result.items == {0: "b0", 1: "b1", 2: "b2"} and result.operation_ids == ["op-a", "op-b"]
    expected = [operation_id("run-1", USER_BONUSES, b, NO) for b in iter_batches(USER_BONUSES, items, 2)]
    sent = posts(server)
    assert [q["operation_id"] for q, _ in sent] == expected
    assert all(q["async_mode"] == "true" and q["skip_invalid_items"] == "false" for q, _ in sent)
    assert sent[0][1][0] == {"user_id": "u0", "amount": 0.5, "without_message": True, "__item_idx": "0"}
    # a bonus goes to no pool: no pool is read for an input check
    assert not any(r.path.startswith("/api/v1/pools") for r in server.requests)


def test_a_retried_call_with_the_same_key_reattaches_instead_of_paying_again(server: ScriptedServer) -> None:
    exists = Reply(409, {"code": "OPERATION_ALREADY_EXISTS", "message": "exists"})
    server.script(ROUTE, Reply(202, bonus_op("op-a")), exists)
    server.script("GET /api/v1/operations/op-a/log", Reply(200, [created(0, "b0")]))
    first = fast_hook().create_user_bonuses(bonuses(1), idempotency_key="run-1")
    op_id = posts(server)[0][0]["operation_id"]
    server.script(f"GET /api/v1/operations/{op_id}", Reply(200, bonus_op(op_id)))
    server.script(f"GET /api/v1/operations/{op_id}/log", Reply(200, [created(0, "b0")]))
    again = fast_hook().create_user_bonuses(bonuses(1), idempotency_key="run-1")
    assert again.items == first.items == {0: "b0"}
    assert [q["operation_id"] for q, _ in posts(server)] == [
        op_id,
        op_id,
    ]  # the same operation, not a new one


def test_another_key_is_another_payment(server: ScriptedServer) -> None:
    server.script(ROUTE, Reply(202, bonus_op("op-a")))
    server.script("GET /api/v1/operations/op-a/log", Reply(200, [created(0, "b0")]))
    fast_hook().create_user_bonuses(bonuses(1), idempotency_key="run-1")
    fast_hook().create_user_bonuses(bonuses(1), idempotency_key="run-2")
    first, second = (q["operation_id"] for q, _ in posts(server))
    assert first != second


def test_a_lost_answer_is_sent_again_under_the_same_operation_id(server: ScriptedServer) -> None:
    server.script(ROUTE, Reply(500, {"code": "INTERNAL_ERROR"}), Reply(202, bonus_op("op-a")))
    server.script("GET /api/v1/operations/op-a/log", Reply(200, [created(0, "b0")]))
    result = fast_hook().create_user_bonuses(bonuses(1), idempotency_key="run-1")
    assert result.items == {0: "b0"}
    first, second = (q["operation_id"] for q, _ in posts(server))
    assert first == second  # Toloka runs an operation id once, so the repeat cannot pay twice


def test_sync_mode_sends_at_most_100_and_never_repeats_what_may_have_arrived(server: ScriptedServer) -> None:
    page = {"items": {str(i): {"id": f"b{i}", "user_id": f"u{i}", "amount": 0.5} for i in range(100)}}
    rest = {"items": {str(i): {"id": f"c{i}", "user_id": "u", "amount": 0.5} for i in range(50)}}
    server.script(ROUTE, Reply(201, page), Reply(201, rest))
    result = fast_hook(max_in_flight=1).create_user_bonuses(bonuses(150), async_mode=False)
    assert result.created_count == 150 and result.items[100] == "c0" and result.pool_ids == []
    sent = posts(server)
    assert [len(body) for _, body in sent] == [100, 50]
    assert all(q["async_mode"] == "false" and "operation_id" not in q for q, _ in sent)
    server.requests.clear()
    server.script(ROUTE, Reply(500, {"code": "INTERNAL_ERROR", "message": "boom"}))
    with pytest.raises(TolokaRemoteUnavailableError):
        fast_hook().create_user_bonuses(bonuses(1), async_mode=False)
    assert server.count(ROUTE) == 1  # Toloka may have paid it: repeating could pay twice


def test_rejected_bonuses_are_named_by_input_index(server: ScriptedServer) -> None:
    server.script(ROUTE, Reply(202, bonus_op("op-a", "FAIL")))
    server.script(
        "GET /api/v1/operations/op-a/log",
        Reply(
            200,
            [
                rejected(2, "user_id", "ENTITY_DOES_NOT_EXIST"),
                rejected(0, "amount", "VALUE_GREATER_THAN_MAX"),
            ],
        ),
    )
    with pytest.raises(TolokaValidationError, match=r"2 item\(s\) rejected by Toloka, 0 created") as info:
        fast_hook().create_user_bonuses(bonuses(3), idempotency_key="k")
    assert "item 0: amount VALUE_GREATER_THAN_MAX" in str(info.value)
    assert "item 2: user_id ENTITY_DOES_NOT_EXIST" in str(info.value)
    assert set(info.value.payload) == {"0", "2"}


def test_skip_invalid_items_pays_the_valid_and_reports_the_rest(server: ScriptedServer) -> None:
    server.script(ROUTE, Reply(202, bonus_op("op-a")))
    server.script(
        "GET /api/v1/operations/op-a/log",
        Reply(200, [created(0, "b0"), rejected(1, "user_id", "ENTITY_DOES_NOT_EXIST"), created(2, "b2")]),
    )
    result = fast_hook().create_user_bonuses(bonuses(3), skip_invalid_items=True, idempotency_key="k")
    assert result.items == {0: "b0", 2: "b2"}
    assert result.validation_errors[1]["user_id"].code == "ENTITY_DOES_NOT_EXIST"
    assert query(server.requests[0].path)["skip_invalid_items"] == "true"


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": {"code": "ENTITY_CONFLICT", "message": "multiple bonuses with the same amount"}},
        {
            "code": "VALIDATION_ERROR",
            "message": "conflict",
            "payload": {
                "user_id": {"code": "ENTITY_CONFLICT", "message": "multiple bonuses with the same amount"}
            },
        },
    ],
    ids=["bare", "wrapped"],
)
def test_duplicate_bonuses_are_a_clear_error_in_either_shape(server: ScriptedServer, body: Any) -> None:
    server.script(ROUTE, Reply(409, body))
    twins = [{"user_id": "u", "amount": 1, "without_message": True}] * 2
    with pytest.raises(TolokaEntityConflictError, match=r"ENTITY_CONFLICT.*two identical bonuses"):
        fast_hook().create_user_bonuses(twins, idempotency_key="k")
    assert server.count(ROUTE) == 1


def test_one_bonus_async_and_sync(server: ScriptedServer) -> None:
    stored = {"id": "b0", "user_id": "u0", "amount": 0.5, "created": "2026-12-06T07:00:00.000"}
    server.script(ROUTE, Reply(202, bonus_op("op-a")))
    server.script("GET /api/v1/operations/op-a/log", Reply(200, [created(0, "b0")]))
    server.script("GET /api/v1/user-bonuses/b0", Reply(200, stored))
    bonus = fast_hook().create_user_bonus(UserBonus(user_id="u0", amount=0.5, without_message=True))
    assert bonus.id == "b0" and query(server.requests[0].path)["async_mode"] == "true"
    server.requests.clear()
    server.script(ROUTE, Reply(201, stored))
    bonus = fast_hook().create_user_bonus({"user_id": "u0", "amount": 0.5}, async_mode=False)
    assert bonus.id == "b0" and query(server.requests[0].path) == {"async_mode": "false"}
    assert json.loads(server.requests[0].body) == {"user_id": "u0", "amount": 0.5}


def test_one_operation_takes_at_most_1000_bonuses(server: ScriptedServer) -> None:
    with pytest.raises(TolokaInputError, match="at most 1000"):
        fast_hook().create_user_bonuses_async(bonuses(1001))
    assert server.requests == []
    server.script(ROUTE, Reply(202, bonus_op("op-1", "RUNNING")))
    op = fast_hook().create_user_bonuses_async(bonuses(2), skip_invalid_items=True, operation_id="op-1")
    assert op.id == "op-1" and op.status == "RUNNING"
    assert query(server.requests[0].path) == {
        "skip_invalid_items": "true",
        "async_mode": "true",
        "operation_id": "op-1",
    }


def test_a_failed_operation_that_paid_some_is_read_not_sent_again(server: ScriptedServer) -> None:
    server.script(ROUTE, Reply(409, {"code": "OPERATION_ALREADY_EXISTS", "message": "exists"}))
    server.script("GET /api/v1/operations/op-1", Reply(200, bonus_op("op-1", "FAIL")))
    server.script(
        "GET /api/v1/operations/op-1/log", Reply(200, [created(0, "b0"), rejected(1, "amount", "X")])
    )
    op = fast_hook().create_user_bonuses_async(bonuses(2), operation_id="op-1")
    assert op.id == "op-1" and server.count(ROUTE) == 1


def test_bonuses_are_read_lazily_page_by_page_by_id(server: ScriptedServer) -> None:
    first = {"items": [{"id": "1", "user_id": "u", "amount": 1}, {"id": "2", "user_id": "u", "amount": 2}]}
    server.script(
        "GET /api/v1/user-bonuses",
        Reply(200, {**first, "has_more": True}),
        Reply(200, {"items": [{"id": "3", "user_id": "u", "amount": 3}], "has_more": False}),
    )
    found = fast_hook().get_user_bonuses(user_id="u")
    assert server.requests == []  # nothing read until asked
    assert [b.id for b in found] == ["1", "2", "3"]
    pages = [query(r.path) for r in server.requests]
    assert pages[0] == {"user_id": "u", "limit": "300", "sort": "id"}
    assert pages[1] == {"user_id": "u", "limit": "300", "sort": "id", "id_gt": "2"}
    server.script("GET /api/v1/user-bonuses/3", Reply(200, {"id": "3", "user_id": "u", "amount": 3}))
    assert fast_hook().get_user_bonus("3").amount == 3
