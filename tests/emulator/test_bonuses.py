"""``/user-bonuses``: sync and async creation, validation, idempotency, money, search, and a lost answer.

``time_scale`` 0 and a long ``pending_seconds``: an async request completes only when a test advances the clock,
so every wait is on the emulator's state.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.emulator.api import Api
from tests.emulator.lifecycle import make_pool
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.toloka_emulator(time_scale=0, pending_seconds=60, rate=1, crowd=4)

BONUSES = "/user-bonuses"


@pytest.fixture
def api(toloka_emulator: EmulatorProcess) -> Api:
    return Api(toloka_emulator.url)


@pytest.fixture
def users(toloka_emulator: EmulatorProcess) -> list[str]:
    ids: list[str] = toloka_emulator.stats()["crowd"]["user_ids"]
    assert len(ids) == 4 and all(len(u) == 32 and int(u, 16) >= 0 for u in ids)
    return ids


def bonus(user: str, amount: Any = 1.0, **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "amount": amount, "public_title": {"EN": "Thanks"}, **extra}


def cost(amount: float) -> float:
    """What a bonus takes from the balance with the default fee (30 %, at least $0.001)."""
    return amount + max(amount * 0.3, 0.001)


def paid(emu: EmulatorProcess) -> dict[str, Any]:
    """The stored bonuses and the account's bonus payments, which must agree."""
    stats = emu.stats()
    stored, payments = stats["user_bonuses"], stats["money"]["bonuses"]
    assert (stored["count"], stored["amount"]) == (payments["count"], payments["amount"])
    return {**stored, "balance": stats["money"]["balance"]}


def error(resp: requests.Response, status: int, code: str) -> Any:
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code
    return resp.json().get("payload")


def run(api: Api, emu: EmulatorProcess, op: dict[str, Any]) -> dict[str, Any]:
    """Complete an async request: past PENDING (60 s) and RUNNING (1 item/s)."""
    emu.advance(60 + op["details"]["total_count"] + 1)
    done: dict[str, Any] = api.get_json(f"/operations/{op['id']}")
    assert done["status"] in ("SUCCESS", "FAIL")
    return done


def log_by_index(api: Api, op_id: str) -> dict[str, dict[str, Any]]:
    return {entry["input"]["__item_idx"]: entry for entry in api.get_json(f"/operations/{op_id}/log")}


# ---------------------------------------------------------------------------------------------- sync


def test_a_sync_object_is_created_paid_once_and_readable(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    before = paid(toloka_emulator)["balance"]
    body = bonus(users[0], 1.5, private_comment="run 1", assignment_id="a1", without_message=False, extra=1)
    resp = api.post(BONUSES, {**body, "id": "mine", "created": "2000-01-01T00:00:00"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["id"].isdigit() and len(created["id"]) == 10 and created["created"] > "2000"
    assert {k: v for k, v in created.items() if k not in ("id", "created")} == {
        "user_id": users[0],
        "amount": 1.5,
        "public_title": {"EN": "Thanks"},
        "private_comment": "run 1",
        "assignment_id": "a1",
        "without_message": False,
    }
    assert api.get_json(f"{BONUSES}/{created['id']}") == created
    after = paid(toloka_emulator)
    assert (after["count"], after["amount"], after["by_user"]) == (1, 1.5, {users[0]: 1.5})
    assert after["balance"] == pytest.approx(before - cost(1.5))


def test_a_sync_array_answers_items_and_validation_errors_by_position(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    body = [bonus(users[0]), bonus(users[1], 0.001), bonus(users[1], "2.50")]
    resp = api.post(BONUSES, body, skip_invalid_items=True)
    assert resp.status_code == 201, resp.text
    result = resp.json()
    assert set(result["items"]) == {"0", "2"} and result["items"]["2"]["amount"] == 2.5
    assert result["validation_errors"] == {
        "1": {
            "amount": {
                "code": "VALUE_LESS_THAN_MIN",
                "message": "Value must be greater or equal to 0.005",
                "params": [0.005],
            }
        }
    }
    assert paid(toloka_emulator)["by_user"] == {users[0]: 1.0, users[1]: 2.5}
    empty = api.post(BONUSES, [])
    assert (empty.status_code, empty.json()) == (201, {"items": {}, "validation_errors": {}})


def test_without_skip_invalid_items_one_bad_item_pays_nothing(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    before = paid(toloka_emulator)
    for skip in ({}, {"skip_invalid_items": False}):
        payload = error(
            api.post(BONUSES, [bonus(users[0]), bonus("f" * 32)], **skip), 400, "VALIDATION_ERROR"
        )
        assert payload == {
            "1": {"user_id": {"code": "ENTITY_DOES_NOT_EXIST", "message": "Entity does not exist"}}
        }
    assert paid(toloka_emulator) == before and before["count"] == 0


def test_every_item_invalid_is_an_error_even_when_skipping(
    api: Api, toloka_emulator: EmulatorProcess
) -> None:
    payload = error(api.post(BONUSES, [{"amount": 1}, 7], skip_invalid_items=True), 400, "VALIDATION_ERROR")
    assert {k: list(v) for k, v in payload.items()} == {"0": ["user_id"], "1": [""]}
    assert payload["1"][""]["code"] == "OBJECT_EXPECTED"
    assert paid(toloka_emulator)["count"] == 0


def test_at_most_100_bonuses_in_a_sync_request(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    many = [bonus(users[0], 0.01, private_comment=str(i)) for i in range(101)]
    payload = error(api.post(BONUSES, many), 400, "VALIDATION_ERROR")
    assert payload[""]["code"] == "ARRAY_SIZE_GREATER_THAN_MAX" and payload[""]["params"] == [100]
    assert paid(toloka_emulator)["count"] == 0
    assert api.post(BONUSES, many[:100]).status_code == 201
    assert paid(toloka_emulator)["count"] == 100


def test_sync_mode_ignores_operation_id_so_a_repeat_pays_again(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    op_id = str(uuid.uuid4())
    for _ in range(2):
        assert api.post(BONUSES, bonus(users[0]), operation_id=op_id).status_code == 201
    assert paid(toloka_emulator)["count"] == 2
    assert api.get(f"/operations/{op_id}").status_code == 404


# ---------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "field", "code", "params"),
    [
        ({"user_id": None}, "user_id", "VALUE_REQUIRED", None),
        ({"user_id": 5}, "user_id", "STRING_EXPECTED", None),
        ({"user_id": "0" * 32}, "user_id", "ENTITY_DOES_NOT_EXIST", None),
        ({"amount": None}, "amount", "VALUE_REQUIRED", None),
        ({"amount": "a lot"}, "amount", "FLOAT_EXPECTED", None),
        ({"amount": True}, "amount", "FLOAT_EXPECTED", None),
        ({"amount": [1]}, "amount", "FLOAT_EXPECTED", None),
        ({"amount": 0.0049}, "amount", "VALUE_LESS_THAN_MIN", [0.005]),
        ({"amount": -1}, "amount", "VALUE_LESS_THAN_MIN", [0.005]),
        ({"amount": 100.01}, "amount", "VALUE_GREATER_THAN_MAX", [100]),
        ({"public_title": "Thanks"}, "public_title", "OBJECT_EXPECTED", None),
        ({"public_message": {"EN": 1}}, "public_message.EN", "STRING_EXPECTED", None),
        ({"private_comment": 1}, "private_comment", "STRING_EXPECTED", None),
        ({"assignment_id": 1}, "assignment_id", "STRING_EXPECTED", None),
        ({"without_message": "yes"}, "without_message", "BOOLEAN_EXPECTED", None),
    ],
)
def test_each_bad_field_has_its_code(
    api: Api,
    toloka_emulator: EmulatorProcess,
    users: list[str],
    change: dict[str, Any],
    field: str,
    code: str,
    params: list[Any] | None,
) -> None:
    item = {k: v for k, v in {**bonus(users[0]), **change}.items() if v is not None}
    payload = error(api.post(BONUSES, item), 400, "VALIDATION_ERROR")
    assert list(payload) == [field] and payload[field]["code"] == code and payload[field]["message"]
    assert payload[field].get("params") == params
    assert paid(toloka_emulator)["count"] == 0


def test_the_amount_bounds_are_inclusive_and_a_decimal_string_is_a_number(api: Api, users: list[str]) -> None:
    for amount, stored in ((0.005, 0.005), (100, 100.0), ("1.50", 1.5)):
        resp = api.post(BONUSES, bonus(users[0], amount))
        assert resp.status_code == 201 and resp.json()["amount"] == stored, resp.text


def test_tolokers_with_assignments_and_retired_workers_are_known(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    pool = make_pool(api)
    resp = api.session.post(
        f"{api.base}/_emulator/fill",
        params={"pool_id": pool["id"], "assignments": 3, "tasks_per_assignment": 1},
    )
    assert resp.status_code == 200, resp.text
    filled = {a["user_id"] for a in api.get_json("/assignments", pool_id=pool["id"])["items"]}
    assert filled and not filled & set(users)
    toloka_emulator.configure(crowd=1)  # three of the four retire
    assert toloka_emulator.stats()["crowd"]["user_ids"] == users[:1]
    body = [bonus(u) for u in sorted(filled)] + [bonus(users[3])]
    assert api.post(BONUSES, body).status_code == 201
    assert set(paid(toloka_emulator)["by_user"]) == filled | {users[3]}


def test_identical_bonuses_in_one_request_are_409_in_both_modes(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    twins = [bonus(users[0], 1), bonus(users[1]), bonus(users[0], 1.0)]
    op_id = str(uuid.uuid4())
    for params in ({}, {"async_mode": True, "operation_id": op_id}):
        resp = api.post(BONUSES, twins, skip_invalid_items=True, **params)
        assert resp.status_code == 409, resp.text
        body = resp.json()
        assert body["code"] == "CONFLICT_STATE" and body["message"]
        assert (
            list(body["payload"]) == ["user_id"] and body["payload"]["user_id"]["code"] == "ENTITY_CONFLICT"
        )
    assert api.get(f"/operations/{op_id}").status_code == 404
    assert paid(toloka_emulator)["count"] == 0
    # another comment (or title, message, amount) makes them different bonuses
    assert api.post(BONUSES, [twins[0], {**twins[2], "private_comment": "again"}]).status_code == 201


# ---------------------------------------------------------------------------------------------- async


def test_an_async_request_runs_as_an_operation_and_pays_on_success(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    op_id = str(uuid.uuid4())
    body = [{**bonus(users[0], 2), "__item_idx": "0"}, {**bonus("x"), "__item_idx": "1"}]
    body.append({**bonus(users[1], "0.50"), "__item_idx": "2", "unknown": True})
    resp = api.post(BONUSES, body, async_mode=True, skip_invalid_items=True, operation_id=op_id)
    assert resp.status_code == 202, resp.text
    op = resp.json()
    assert (op["id"], op["type"], op["status"]) == (op_id, "USER_BONUS.BATCH_CREATE", "PENDING")
    assert op["parameters"] == {"skip_invalid_items": True}
    counts = {"total_count": 3, "valid_count": 2, "not_valid_count": 1, "success_count": 0, "failed_count": 0}
    assert op["details"] == counts
    assert api.get_json(f"/operations/{op_id}/log") == [] and paid(toloka_emulator)["count"] == 0
    toloka_emulator.advance(60)
    assert api.get_json(f"/operations/{op_id}")["status"] == "RUNNING"
    assert paid(toloka_emulator)["count"] == 0  # paid when it succeeds, not before
    done = run(api, toloka_emulator, op)
    assert done["status"] == "SUCCESS" and done["details"] == {
        **counts,
        "success_count": 2,
        "failed_count": 1,
    }
    log = log_by_index(api, op_id)
    assert {i: (e["type"], e["success"]) for i, e in log.items()} == {
        "0": ("USER_BONUS_PERSIST", True),
        "1": ("USER_BONUS_VALIDATE", False),
        "2": ("USER_BONUS_PERSIST", True),
    }
    assert log["2"]["input"] == body[2]  # as received
    assert log["1"]["output"] == {
        "user_id": {"code": "ENTITY_DOES_NOT_EXIST", "message": "Entity does not exist"}
    }
    created = api.get_json(f"{BONUSES}/{log['2']['output']['user_bonus_id']}")
    assert created["amount"] == 0.5 and "unknown" not in created and "__item_idx" not in created
    assert paid(toloka_emulator)["by_user"] == {users[0]: 2.0, users[1]: 0.5}
    run(api, toloka_emulator, op)  # completing happens once: nothing more is paid
    assert paid(toloka_emulator)["count"] == 2


def test_an_async_single_object_and_a_random_operation_id(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    op = api.post(BONUSES, bonus(users[2]), async_mode=True).json()
    uuid.UUID(op["id"])
    assert op["details"]["total_count"] == 1 and op["parameters"] == {"skip_invalid_items": False}
    assert run(api, toloka_emulator, op)["status"] == "SUCCESS"
    assert paid(toloka_emulator)["by_user"] == {users[2]: 1.0}


@pytest.mark.parametrize(
    ("skip", "items"),
    [(False, ["ok", "bad"]), (True, ["bad", "bad"])],
    ids=["one-invalid-without-skip", "all-invalid-with-skip"],
)
def test_async_with_invalid_items_fails_and_pays_nothing(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str], skip: bool, items: list[str]
) -> None:
    body = [
        {**bonus(users[0] if kind == "ok" else "nobody", 1 + i), "__item_idx": str(i)}
        for i, kind in enumerate(items)
    ]
    op = api.post(BONUSES, body, async_mode=True, skip_invalid_items=skip).json()
    assert op["details"]["not_valid_count"] == items.count("bad")
    done = run(api, toloka_emulator, op)
    assert done["status"] == "FAIL" and (
        done["details"]["success_count"],
        done["details"]["failed_count"],
    ) == (0, 2)
    log = log_by_index(api, op["id"])
    assert {i for i, kind in enumerate(items) if kind == "bad"} == {int(i) for i in log}
    assert all(e["type"] == "USER_BONUS_VALIDATE" and not e["success"] for e in log.values())
    assert paid(toloka_emulator)["count"] == 0


def test_a_reused_operation_id_is_409_and_pays_once(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    op_id = str(uuid.uuid4())
    first = api.post(BONUSES, [bonus(users[0])], async_mode=True, operation_id=op_id)
    assert first.status_code == 202
    again = api.post(BONUSES, [bonus(users[0])], async_mode=True, operation_id=op_id)
    assert error(again, 409, "OPERATION_ALREADY_EXISTS") == {"operation_id": op_id}
    run(api, toloka_emulator, first.json())
    error(
        api.post(BONUSES, [bonus(users[1])], async_mode=True, operation_id=op_id),
        409,
        "OPERATION_ALREADY_EXISTS",
    )
    # an id taken by any other operation is taken for bonuses too
    task_op = api.post("/tasks", [{"pool_id": "9", "input_values": {}}], async_mode=True).json()["id"]
    error(
        api.post(BONUSES, bonus(users[0]), async_mode=True, operation_id=task_op),
        409,
        "OPERATION_ALREADY_EXISTS",
    )
    assert paid(toloka_emulator)["by_user"] == {users[0]: 1.0}


# ---------------------------------------------------------------------------------------------- money


def test_a_sync_request_the_balance_cannot_cover_pays_none_of_it(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    toloka_emulator.configure(balance=2.0)  # one bonus of 1 costs 1.3: the first fits, the second does not
    payload = error(api.post(BONUSES, [bonus(users[0]), bonus(users[1])]), 409, "NOT_ENOUGH_BALANCE")
    assert payload == {"needed": 2.6, "balance": 2.0}
    assert paid(toloka_emulator) == {"count": 0, "amount": 0.0, "by_user": {}, "balance": 2.0}
    assert api.post(BONUSES, bonus(users[1])).status_code == 201
    error(api.post(BONUSES, bonus(users[0])), 409, "NOT_ENOUGH_BALANCE")
    assert paid(toloka_emulator)["balance"] == pytest.approx(2.0 - cost(1.0))


def test_a_balance_that_exactly_covers_a_request_pays_it(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    # two bonuses of 0.01 cost 0.013 each; 0.026 - 0.013 is a hair below 0.013 in floating point, and the
    # account's rounding slack still pays the second
    toloka_emulator.configure(balance=0.026)
    assert api.post(BONUSES, [bonus(users[0], 0.01), bonus(users[1], 0.01)]).status_code == 201
    assert paid(toloka_emulator)["count"] == 2


def test_an_async_request_is_checked_against_the_balance_when_it_completes(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    toloka_emulator.configure(balance=2.0)
    body = [{**bonus(users[0]), "__item_idx": "0"}]
    first = api.post(BONUSES, body, async_mode=True).json()
    second = api.post(BONUSES, body, async_mode=True).json()  # both fit the balance when submitted
    assert (run(api, toloka_emulator, first)["status"], run(api, toloka_emulator, second)["status"]) == (
        "SUCCESS",
        "FAIL",
    )
    assert api.get_json(f"/operations/{second['id']}")["details"]["success_count"] == 0
    entry = log_by_index(api, second["id"])["0"]
    assert (entry["type"], entry["success"]) == ("USER_BONUS_PERSIST", False)
    assert entry["output"]["amount"]["code"] == "NOT_ENOUGH_BALANCE"
    assert paid(toloka_emulator)["count"] == 1


def test_an_async_request_the_balance_cannot_cover_pays_none_of_it(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    toloka_emulator.configure(balance=2.0)
    body = [{**bonus(u), "__item_idx": str(i)} for i, u in enumerate(users[:2])]
    op = api.post(BONUSES, body, async_mode=True).json()
    done = run(api, toloka_emulator, op)
    assert done["status"] == "FAIL" and done["details"]["failed_count"] == 2
    assert paid(toloka_emulator) == {"count": 0, "amount": 0.0, "by_user": {}, "balance": 2.0}


# ---------------------------------------------------------------------------------------------- search


def make(api: Api, emu: EmulatorProcess, users: list[str]) -> list[dict[str, Any]]:
    """Five bonuses from three requests, 10 s apart on the clock."""
    made: list[dict[str, Any]] = []
    for batch in (
        [
            bonus(users[0], 1, private_comment="a", assignment_id="x1"),
            bonus(users[1], 2, private_comment="a"),
        ],
        [bonus(users[0], 3, private_comment="b")],
        [bonus(users[2], 4, assignment_id="x1"), bonus(users[0], 5)],
    ):
        resp = api.post(BONUSES, batch)
        assert resp.status_code == 201, resp.text
        made += [resp.json()["items"][str(i)] for i in range(len(batch))]
        emu.advance(10)
    return made


def ids(page: dict[str, Any]) -> list[str]:
    return [b["id"] for b in page["items"]]


def test_search_filters_sorts_and_pages(api: Api, toloka_emulator: EmulatorProcess, users: list[str]) -> None:
    made = make(api, toloka_emulator, users)
    every = [b["id"] for b in made]
    assert every == sorted(every) and len({len(i) for i in every}) == 1  # string order = creation order
    assert api.get_json(BONUSES) == {"items": made, "has_more": False}
    assert ids(api.get_json(BONUSES, user_id=users[0])) == [every[0], every[2], every[4]]
    assert ids(api.get_json(BONUSES, assignment_id="x1")) == [every[0], every[3]]
    assert ids(api.get_json(BONUSES, private_comment="a", user_id=users[1])) == [every[1]]
    assert ids(api.get_json(BONUSES, sort="-id")) == every[::-1]
    # one request shares one created stamp: within it, -id decides
    by_created = ids(api.get_json(BONUSES, sort="created,-id"))
    assert by_created == [every[1], every[0], every[2], every[4], every[3]]
    assert ids(api.get_json(BONUSES, sort="-created,id")) == [
        every[3],
        every[4],
        every[2],
        every[0],
        every[1],
    ]
    assert ids(api.get_json(BONUSES, created_gte=made[2]["created"])) == every[2:]
    assert ids(api.get_json(BONUSES, created_lt=made[2]["created"])) == every[:2]
    assert (
        ids(api.get_json(BONUSES, created_gt=made[2]["created"], created_lte=made[4]["created"])) == every[3:]
    )
    page = api.get_json(BONUSES, limit=2)
    assert (ids(page), page["has_more"]) == (every[:2], True)
    page = api.get_json(BONUSES, limit=2, id_gt=every[1])
    assert (ids(page), page["has_more"]) == (every[2:4], True)
    assert api.get_json(BONUSES, limit=2, id_gt=every[3])["has_more"] is False


def test_id_ranges_compare_as_strings(api: Api, toloka_emulator: EmulatorProcess, users: list[str]) -> None:
    every = [b["id"] for b in make(api, toloka_emulator, users)]
    assert ids(api.get_json(BONUSES, id_gte=every[1], id_lte=every[3])) == every[1:4]
    assert ids(api.get_json(BONUSES, id_gt=every[1], id_lt=every[3])) == [every[2]]
    # "9" is greater than any 10-digit id starting with 4 as a string, though smaller as a number
    assert ids(api.get_json(BONUSES, id_lt="9")) == every
    assert ids(api.get_json(BONUSES, id_gt="9")) == []


def test_the_default_limit_is_50_and_the_maximum_300(api: Api, users: list[str]) -> None:
    assert (
        api.post(BONUSES, [bonus(users[0], 0.01, private_comment=str(i)) for i in range(51)]).status_code
        == 201
    )
    page = api.get_json(BONUSES)
    assert len(page["items"]) == 50 and page["has_more"] is True
    assert len(api.get_json(BONUSES, limit=300)["items"]) == 51
    for bad in ({"limit": 301}, {"limit": 0}, {"sort": "amount"}, {"created_gt": "yesterday"}):
        assert api.get(BONUSES, **bad).status_code == 400, bad


def test_one_bonus_or_404(api: Api, users: list[str]) -> None:
    created = api.post(BONUSES, bonus(users[0])).json()
    assert api.get_json(f"{BONUSES}/{created['id']}") == created
    error(api.get(f"{BONUSES}/4999999999"), 404, "DOES_NOT_EXIST")


# ---------------------------------------------------------------------------------------------- a lost answer


@pytest.mark.toloka_emulator(pending_seconds=0, rate=100_000)
def test_a_dropped_answer_then_a_retry_pays_the_bonus_once(
    api: Api, toloka_emulator: EmulatorProcess, users: list[str]
) -> None:
    toloka_emulator.configure(fault_drop=1.0, fault_routes=["POST /api/v1/user-bonuses"], fault_limit=1)
    op_id = str(uuid.uuid4())
    body = [{**bonus(users[0], 3), "__item_idx": "0"}]
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.post(BONUSES, body, async_mode=True, operation_id=op_id)
    # the client does not know whether it got through, so it sends the same request again
    error(api.post(BONUSES, body, async_mode=True, operation_id=op_id), 409, "OPERATION_ALREADY_EXISTS")
    assert api.wait(op_id)["status"] == "SUCCESS"  # other routes were never faulted
    assert api.get_json(f"/operations/{op_id}/log")[0]["success"] is True
    stats = toloka_emulator.stats()
    assert stats["faults"]["drop"] == 1
    assert paid(toloka_emulator)["by_user"] == {users[0]: 3.0}
    # the limit is spent: the next bonus request is answered
    assert api.post(BONUSES, bonus(users[1]), async_mode=True).status_code == 202
