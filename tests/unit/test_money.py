"""Money without a server: fees, assignments a pool makes, the estimate and the refusal to open."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from airflow_toloka.exceptions import TolokaCostError
from airflow_toloka.models import Pool
from airflow_toloka.money import (
    DEFAULT_FEE_MIN,
    DEFAULT_FEE_RATE,
    OverlapTally,
    bonuses_cost,
    count_assignments,
    estimate_cost,
    fee_per_payment,
    max_reward,
    refusal,
    to_money,
)


def test_the_defaults_are_the_last_published_fee() -> None:
    assert (DEFAULT_FEE_RATE, DEFAULT_FEE_MIN) == (0.30, 0.001)


def test_floats_become_the_decimal_they_read_as() -> None:
    assert to_money(0.1) == Decimal("0.1") and to_money("1.50") == Decimal("1.50") and to_money(3) == 3
    for bad in (-0.01, "abc", float("nan"), float("inf")):
        with pytest.raises(TolokaCostError):
            to_money(bad)


def test_fee_is_a_share_with_a_minimum_and_none_on_nothing() -> None:
    assert fee_per_payment("0.10", "0.30", "0.001") == Decimal("0.030")
    assert fee_per_payment("0.002", "0.30", "0.001") == Decimal("0.001")  # 0.0006 is below the minimum
    assert fee_per_payment(0, "0.30", "0.001") == 0


def test_suites_make_one_assignment_per_remaining_overlap() -> None:
    assert count_assignments(units=7, max_units=3, real_tasks_count=None) == 7


def test_tasks_fill_suites_of_real_tasks_count() -> None:
    assert count_assignments(units=10, max_units=1, real_tasks_count=3) == 4  # ceil(10 / 3)
    assert count_assignments(units=9, max_units=3, real_tasks_count=3) == 3
    # a suite holds a task once: one task of overlap 5 makes 5 suites, whatever their size
    assert count_assignments(units=5, max_units=5, real_tasks_count=3) == 5


def test_remaining_overlap_then_overlap_then_the_pool_default_then_one() -> None:
    tally = OverlapTally("p", default_overlap=3)
    tally.add(
        [
            {"id": "a", "overlap": 5, "remaining_overlap": 2},  # partly done: what remains
            {"id": "b", "overlap": 4},
            {"id": "c"},  # the pool's default
            {"id": "d", "remaining_overlap": 0},  # done
        ],
        tasks=True,
    )
    assert (tally.items, tally.units, tally.max_units) == (4, 2 + 4 + 3 + 0, 4)
    no_default = OverlapTally("p")
    no_default.add([{"id": "e"}], tasks=False)
    assert no_default.units == 1


def test_control_tasks_add_nothing_in_a_task_pool_but_count_in_suites() -> None:
    control = {"id": "g", "overlap": 10, "known_solutions": [{"output_values": {"r": "cat"}}]}
    tasks = OverlapTally("p")
    tasks.add([control, {"id": "t", "overlap": 2}], tasks=True)
    assert (tasks.items, tasks.control_tasks, tasks.units) == (1, 1, 2)
    suites = OverlapTally("p")
    suites.add([{"id": "s", "overlap": 2, "tasks": [control]}], tasks=False)
    assert (suites.items, suites.units) == (1, 2)


def test_infinite_overlap_has_no_upper_bound() -> None:
    with pytest.raises(TolokaCostError, match=r"pool 7: t9 has infinite overlap.*no upper bound"):
        OverlapTally("7").add([{"id": "t9", "infinite_overlap": True}], tasks=True)


def test_estimate_total_is_assignments_times_reward_plus_fee() -> None:
    tally = OverlapTally("7", default_overlap=3)
    tally.add([{"id": str(i)} for i in range(10)], tasks=True)  # 30 task slots
    estimate = estimate_cost(tally, "0.05", 3, fee_rate="0.30", fee_min="0.001")
    assert estimate.assignments == 10
    assert (estimate.rewards, estimate.fees, estimate.total) == (
        Decimal("0.5000"),
        Decimal("0.1500"),
        Decimal("0.6500"),
    )
    assert estimate.uploaded_as == "tasks" and estimate.real_tasks_count == 3 and estimate.overlap_units == 30
    assert "0.6500" in estimate.describe() and "10 assignments" in estimate.describe()


def test_estimate_fee_minimum_and_rounding_up() -> None:
    tally = OverlapTally("7")
    tally.add([{"id": "s", "overlap": 3}], tasks=False)
    # 0.005 * 0.30 = 0.0015 is above the 0.001 minimum: 3 fees of 0.0015 = 0.0045
    estimate = estimate_cost(tally, 0.005, None)
    assert (estimate.rewards, estimate.fees, estimate.total) == (
        Decimal("0.0150"),
        Decimal("0.0045"),
        Decimal("0.0195"),
    )
    # a third of a cent is rounded up, never down
    odd = estimate_cost(tally, "0.00333333", None, fee_rate=0, fee_min=0)
    assert odd.rewards == Decimal("0.0100") and odd.total == Decimal("0.0100")
    minimum = estimate_cost(tally, "0.002", None, fee_rate="0.30", fee_min="0.001")
    assert minimum.fee_per_assignment == Decimal("0.001") and minimum.fees == Decimal("0.0030")


def test_estimate_as_dict_is_json_for_xcom() -> None:
    tally = OverlapTally("7")
    tally.add([{"id": "s", "overlap": 2}], tasks=False)
    data = estimate_cost(tally, "0.25", None).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["total"] == 0.65 and data["assignments"] == 2 and data["pool_id"] == "7"
    assert data["fee_rate"] == 0.3 and data["fee_min"] == 0.001 and data["real_tasks_count"] is None


def test_max_reward_takes_the_highest_dynamic_price() -> None:
    pool = Pool(project_id="1", private_name="p", reward_per_assignment=0.05)
    assert max_reward(pool) == Decimal("0.05")
    pricing = {"type": "SKILL", "skill_id": "3", "intervals": [{"from": 80, "reward_per_assignment": 0.08}]}
    assert max_reward(pool.model_copy(update={"dynamic_pricing_config": pricing})) == Decimal("0.08")
    with pytest.raises(TolokaCostError, match="no reward_per_assignment"):
        max_reward(Pool(project_id="1", private_name="p"))


def test_refusal_names_the_estimate_the_balance_and_the_limit() -> None:
    tally = OverlapTally("7")
    tally.add([{"id": "s", "overlap": 10}], tasks=False)
    estimate = estimate_cost(tally, "1", None)  # 10 * (1 + 0.30) = 13
    assert refusal(estimate, max_cost=13, balance=13) is None  # at the limit is within it
    assert refusal(estimate, max_cost=None, balance=None) is None
    over_limit = refusal(estimate, max_cost=12.99, balance=100)
    assert over_limit is not None
    assert "$13.0000" in over_limit and "max_cost $12.99" in over_limit and "balance $100" in over_limit
    assert "above the balance" not in over_limit and "stays closed" in over_limit
    over_balance = refusal(estimate, max_cost=None, balance=5.5)
    assert over_balance is not None
    assert "above the balance $5.5" in over_balance and "max_cost none" in over_balance
    both = refusal(estimate, max_cost=1, balance=2)
    assert both is not None and "above max_cost $1 and above the balance $2" in both


def test_bonuses_cost_adds_the_fee_per_bonus() -> None:
    assert bonuses_cost([1, "0.5"]) == Decimal("1.9500")
    assert bonuses_cost(["0.005"]) == Decimal("0.0065")  # 0.0015 fee, above the minimum
    assert bonuses_cost(["0.005"], fee_rate=0, fee_min="0.001") == Decimal("0.0060")
