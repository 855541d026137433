"""Money against the emulator: the balance, what opening a pool costs, the guard that keeps a pool closed, and
bonuses paid exactly once whatever is repeated or lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import MagicMock

import pytest

from airflow_toloka.batching import USER_BONUSES
from airflow_toloka.exceptions import (
    TolokaCostError,
    TolokaEntityConflictError,
    TolokaRemoteUnavailableError,
    TolokaValidationError,
)
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import OpenPoolOperator
from tests.specs import IMAGES_PROJECT, pool_spec
from toloka_emulator import EmulatorProcess

# No crowd: nothing takes the work of an opened pool, so only what a test does moves money.
pytestmark = pytest.mark.toloka_emulator(crowd=0)
CONTROL = {"known_solutions": [{"output_values": {"result": "cat"}}]}


@pytest.fixture
def hook(toloka_emulator: EmulatorProcess, toloka_emulator_conn: str) -> TolokaHook:
    return TolokaHook(retry_delay=0.01, poll_interval=0.05)


def image(i: int, **extra: Any) -> dict[str, Any]:
    return {"input_values": {"image": f"https://example.com/{i}.jpg"}, **extra}


def money(emulator: EmulatorProcess) -> dict[str, Any]:
    return emulator.stats()["money"]  # type: ignore[no-any-return]


def context() -> dict[str, Any]:
    return {"ti": MagicMock(dag_id="d", run_id="r", task_id="open", map_index=-1, try_number=1)}


def pushed(ctx: dict[str, Any]) -> dict[str, Any]:
    return {c.kwargs["key"]: c.kwargs["value"] for c in ctx["ti"].xcom_push.call_args_list}


@pytest.fixture
def task_pool(hook: TolokaHook) -> str:
    """A closed pool costing 9 * (0.05 + 0.015) = 0.585 to open.

    Four tasks of the default overlap 3 and one of overlap 5 make 17 task slots, two a suite: 9 suites; two
    control tasks ride along.
    """
    project = hook.create_project(IMAGES_PROJECT)
    pool = hook.create_pool(pool_spec(str(project.id), overlap=3, suite=2, reward_per_assignment=0.05))
    tasks = [{**image(i), "pool_id": pool.id} for i in range(4)]
    tasks.append({**image(4), "pool_id": pool.id, "overlap": 5})
    tasks += [{**image(5 + i), **CONTROL, "pool_id": pool.id, "overlap": 10} for i in range(2)]
    hook.create_tasks(tasks, allow_defaults=True)
    return str(pool.id)


# ---------------------------------------------------------------------- the requester and the estimate


@pytest.mark.toloka_emulator(balance=123.45)
def test_the_requester_shows_the_balance(hook: TolokaHook) -> None:
    requester = hook.get_requester()
    assert requester.balance == 123.45 and requester.id


def test_a_task_pool_costs_its_suites_with_the_fee(hook: TolokaHook, task_pool: str) -> None:
    estimate = hook.estimate_pool_cost(task_pool)
    assert (estimate.items, estimate.control_tasks, estimate.overlap_units) == (5, 2, 17)
    assert (estimate.assignments, estimate.real_tasks_count, estimate.uploaded_as) == (9, 2, "tasks")
    assert estimate.as_dict()["total"] == 0.585 and estimate.as_dict()["fees"] == 0.135
    assert hook.get_pool(task_pool).status == "CLOSED"  # estimating changes nothing


def test_a_suite_pool_costs_one_assignment_per_suite_overlap(hook: TolokaHook) -> None:
    project = hook.create_project(IMAGES_PROJECT)
    spec = {k: v for k, v in pool_spec(str(project.id), overlap=2).items() if k != "mixer_config"}
    pool = hook.create_pool({**spec, "reward_per_assignment": 0.1})
    suites = [{"pool_id": pool.id, "tasks": [image(i), image(i + 10)], "overlap": 3} for i in range(3)]
    suites.append({"pool_id": pool.id, "tasks": [{**image(99), **CONTROL}]})  # the pool's default overlap, 2
    hook.create_task_suites(suites, allow_defaults=True)
    estimate = hook.estimate_pool_cost(str(pool.id), fee_rate=0.2, fee_min=0.001)
    assert (estimate.assignments, estimate.uploaded_as) == (11, "task_suites")
    assert estimate.as_dict()["total"] == pytest.approx(11 * 0.12)


# ---------------------------------------------------------------------- the guard of OpenPoolOperator


@pytest.mark.parametrize("deferrable", [False, True])
def test_above_max_cost_the_pool_stays_closed(hook: TolokaHook, task_pool: str, deferrable: bool) -> None:
    ctx = context()
    operator = OpenPoolOperator(task_id="open", pool_id=task_pool, max_cost=0.5, deferrable=deferrable)
    with pytest.raises(
        TolokaCostError, match=r"\$0\.5850 .*above max_cost \$0\.5 \(max_cost \$0\.5, balance \$"
    ):
        operator.execute(ctx)
    assert hook.get_pool(task_pool).status == "CLOSED"
    assert pushed(ctx)["estimated_cost"]["total"] == 0.585


@pytest.mark.toloka_emulator(balance=0.5)
def test_above_the_balance_the_pool_stays_closed_until_topped_up(
    hook: TolokaHook, task_pool: str, toloka_emulator: EmulatorProcess
) -> None:
    with pytest.raises(
        TolokaCostError, match=r"\$0\.5850 .*above the balance \$0\.5 \(max_cost none"
    ) as info:
        OpenPoolOperator(task_id="open", pool_id=task_pool).execute(context())
    assert "$0.5850" in str(info.value) and "$0.5" in str(info.value)
    assert hook.get_pool(task_pool).status == "CLOSED"
    toloka_emulator.configure(balance=10)
    result = OpenPoolOperator(task_id="open", pool_id=task_pool, poll_interval=0.05).execute(context())
    assert result["status"] == "OPEN" and result["estimated_cost"]["total"] == 0.585


def test_below_the_limit_and_the_balance_the_pool_opens(hook: TolokaHook, task_pool: str) -> None:
    ctx = context()
    operator = OpenPoolOperator(task_id="open", pool_id=task_pool, max_cost=0.585, poll_interval=0.05)
    result = operator.execute(ctx)
    assert result["status"] == "OPEN" == hook.get_pool(task_pool).status
    assert result["estimated_cost"] == pushed(ctx)["estimated_cost"]
    assert result["estimated_cost"]["assignments"] == 9
    # open already: nothing more to pay, nothing estimated, whatever the limit
    again = OpenPoolOperator(task_id="open", pool_id=task_pool, max_cost=0).execute(context())
    assert again["status"] == "OPEN" and again["estimated_cost"] is None


# ---------------------------------------------------------------------- bonuses


@pytest.fixture
def users(toloka_emulator: EmulatorProcess) -> list[str]:
    toloka_emulator.configure(crowd=3)  # Tolokers to pay; no pool is open, so they do nothing else
    ids: list[str] = toloka_emulator.stats()["crowd"]["user_ids"]
    return ids


def bonuses(users: list[str], n: int, amount: float = 0.5) -> list[dict[str, Any]]:
    # distinct comments: two equal bonuses for one Toloker in one request are refused
    return [
        {
            "user_id": users[i % len(users)],
            "amount": amount,
            "private_comment": f"row {i}",
            "without_message": True,
        }
        for i in range(n)
    ]


def paid(emulator: EmulatorProcess) -> tuple[int, float]:
    bonus = emulator.stats()["money"]["bonuses"]
    return bonus["count"], bonus["amount"]


def test_one_bonus_async_and_sync(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    before = money(toloka_emulator)["balance"]
    one = hook.create_user_bonus(
        {
            "user_id": users[0],
            "amount": 1.5,
            "public_title": {"EN": "Thanks"},
            "public_message": {"EN": "Great"},
        }
    )
    assert one.id and one.amount == 1.5 and one.created and one.public_title == {"EN": "Thanks"}
    sync = hook.create_user_bonus(
        {"user_id": users[1], "amount": 0.25, "without_message": True}, async_mode=False
    )
    assert sync.id and hook.get_user_bonus(str(sync.id)).user_id == users[1]
    assert paid(toloka_emulator) == (2, 1.75)
    assert money(toloka_emulator)["balance"] == pytest.approx(before - 1.75 * 1.3)


def test_many_bonuses_map_back_to_their_input(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    items = bonuses(users, 250)
    result = hook.create_user_bonuses(items, batch_size=100, idempotency_key="pay-1")
    assert len(result.items) == 250 and len(result.operation_ids) == 3 and not result.validation_errors
    for i in (0, 99, 100, 249):
        assert hook.get_user_bonus(result.items[i]).private_comment == f"row {i}"
    assert paid(toloka_emulator) == (250, 125.0)
    listed = list(hook.get_user_bonuses(user_id=users[0]))  # 84 of them: one page
    assert len(listed) == 84 and all(b.user_id == users[0] for b in listed)
    everything = list(hook.get_user_bonuses())  # in id order
    assert [b.id for b in everything] == sorted(result.items.values())


def test_listing_pages_by_id(hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess) -> None:
    hook.create_user_bonuses(bonuses(users, 650), idempotency_key="pay-1")
    found = hook.get_user_bonuses()
    first = next(found)
    assert toloka_emulator.stats()["requests"].get("GET /api/v1/user-bonuses") == 1  # lazily: one page so far
    rest = list(found)
    assert len(rest) + 1 == 650 and len({first.id, *(b.id for b in rest)}) == 650
    assert toloka_emulator.stats()["requests"]["GET /api/v1/user-bonuses"] == 3  # 300 + 300 + 50


def test_a_retried_call_with_the_same_key_pays_once(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    items = bonuses(users, 30)
    first = hook.create_user_bonuses(items, batch_size=10, idempotency_key="dag/run-1/pay")
    again = hook.create_user_bonuses(items, batch_size=10, idempotency_key="dag/run-1/pay")
    assert again.items == first.items and sorted(again.operation_ids) == sorted(first.operation_ids)
    assert paid(toloka_emulator) == (30, 15.0)  # the retry paid nothing
    other_run = hook.create_user_bonuses(items, batch_size=10, idempotency_key="dag/run-2/pay")
    assert set(other_run.items.values()).isdisjoint(first.items.values())
    assert paid(toloka_emulator) == (60, 30.0)  # another key is another payment


@pytest.mark.toloka_emulator(fault_drop=1, fault_routes=["POST /api/v1/user-bonuses"], fault_limit=1)
def test_a_lost_answer_is_sent_again_and_pays_once(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    result = hook.create_user_bonuses(bonuses(users, 5), idempotency_key="pay-1")
    stats = toloka_emulator.stats()
    assert stats["faults"]["drop"] == 1  # the first answer was lost
    assert stats["requests"]["POST /api/v1/user-bonuses"] == 2  # and the POST sent again, same operation id
    assert len(result.items) == 5 and paid(toloka_emulator) == (5, 2.5)


@pytest.mark.toloka_emulator(fault_drop=1, fault_routes=["POST /api/v1/user-bonuses"], fault_limit=1)
def test_a_sync_request_whose_answer_is_lost_is_not_repeated(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    with pytest.raises(
        TolokaRemoteUnavailableError, match=r"input items 0\.\.4.*may or may not have created"
    ):
        hook.create_user_bonuses(bonuses(users, 5), async_mode=False)
    assert toloka_emulator.stats()["requests"]["POST /api/v1/user-bonuses"] == 1
    assert paid(toloka_emulator) == (5, 2.5)  # Toloka paid them; repeating would have paid twice


def test_an_operation_started_alone(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    op = hook.create_user_bonuses_async(
        bonuses(users, 4), operation_id="6a1f2c3d-0000-4000-8000-000000000001"
    )
    assert op.id == "6a1f2c3d-0000-4000-8000-000000000001" and op.type == USER_BONUSES.operation_type
    done = hook.wait_operation(op, timeout=timedelta(seconds=30))
    assert done.status == "SUCCESS"
    result = hook.operation_results(USER_BONUSES, [done])
    assert sorted(result.items) == [0, 1, 2, 3]
    # the same id again re-attaches: nothing new is paid
    assert hook.create_user_bonuses_async(bonuses(users, 4), operation_id=op.id).id == op.id
    hook.wait_operation(op.id, timeout=timedelta(seconds=30))
    assert paid(toloka_emulator) == (4, 2.0)


def rejectable(users: list[str]) -> list[dict[str, Any]]:
    """Bonuses 1 (an unknown Toloker) and 2 (above $100) are Toloka's to reject; 0 and 3 are fine."""
    items = bonuses(users, 4)
    items[1]["user_id"] = "0" * 32
    items[2]["amount"] = 150
    return items


def test_rejected_bonuses_are_named_by_input_index_and_nothing_is_paid(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    with pytest.raises(TolokaValidationError) as info:
        hook.create_user_bonuses(rejectable(users), batch_size=2, idempotency_key="pay-1")
    message = str(info.value)
    assert (
        "item 1: user_id ENTITY_DOES_NOT_EXIST" in message
        and "item 2: amount VALUE_GREATER_THAN_MAX" in message
    )
    assert paid(toloka_emulator) == (0, 0.0)  # each batch held a rejected bonus: neither paid


def test_skip_invalid_items_pays_the_valid_ones(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    result = hook.create_user_bonuses(
        rejectable(users), skip_invalid_items=True, batch_size=2, idempotency_key="k"
    )
    assert sorted(result.items) == [0, 3]
    assert result.validation_errors[1]["user_id"].code == "ENTITY_DOES_NOT_EXIST"
    assert result.validation_errors[2]["amount"].code == "VALUE_GREATER_THAN_MAX"
    assert paid(toloka_emulator) == (2, 1.0)


def test_two_equal_bonuses_in_one_request_are_refused_whole(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    twins = [{"user_id": users[0], "amount": 1, "without_message": True}] * 2
    with pytest.raises(TolokaEntityConflictError, match="ENTITY_CONFLICT"):
        hook.create_user_bonuses([*bonuses(users, 2), *twins], idempotency_key="k")
    assert paid(toloka_emulator) == (0, 0.0)


def test_sync_mode_sends_at_most_100_a_request(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    result = hook.create_user_bonuses(bonuses(users, 150), async_mode=False)
    assert len(result.items) == 150
    assert toloka_emulator.stats()["requests"]["POST /api/v1/user-bonuses"] == 2
    assert paid(toloka_emulator) == (150, 75.0)


@pytest.mark.toloka_emulator(balance=1)
def test_a_payment_the_balance_cannot_cover_is_paid_by_a_retry_after_a_top_up(
    hook: TolokaHook, users: list[str], toloka_emulator: EmulatorProcess
) -> None:
    items = bonuses(users, 2)  # 2 * 0.65 = 1.30 > 1
    with pytest.raises(TolokaValidationError, match="NOT_ENOUGH_BALANCE"):
        hook.create_user_bonuses(items, idempotency_key="pay-1")
    assert paid(toloka_emulator) == (0, 0.0)
    toloka_emulator.configure(balance=10)
    result = hook.create_user_bonuses(items, idempotency_key="pay-1")  # the failed operation paid nothing
    assert len(result.items) == 2 and paid(toloka_emulator) == (2, 1.0)
    hook.create_user_bonuses(items, idempotency_key="pay-1")
    assert paid(toloka_emulator) == (2, 1.0)  # and once paid, never again
