"""Money without I/O: what opening a pool will cost at most, and what bonuses cost with Toloka's fee.

All arithmetic is in :class:`~decimal.Decimal` (USD), so no float rounding creeps into a budget; sums are rounded
up to a hundredth of a cent (:data:`PRECISION`), so an estimate never understates. The hook reads the pool and
its tasks (:meth:`~airflow_toloka.hooks.requester.RequesterMixin.estimate_pool_cost`); everything here is a plain
function of what it read (``tests/unit/test_money.py``).

Toloka's fee ("markup") is a share of each payment with a minimum. Its docs once published "30%, but not less
than $0.001" and later removed the numbers; today's rate is not public (docs/toloka-api.md M10), so the rate and
the minimum are parameters, defaulting to those last published numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from airflow_toloka.exceptions import TolokaCostError
from airflow_toloka.models import Pool

__all__ = [
    "DEFAULT_FEE_MIN",
    "DEFAULT_FEE_RATE",
    "PRECISION",
    "Amount",
    "OverlapTally",
    "PoolCostEstimate",
    "bonuses_cost",
    "count_assignments",
    "estimate_cost",
    "fee_per_payment",
    "max_reward",
    "refusal",
    "to_money",
]

DEFAULT_FEE_RATE = 0.30
"""Toloka's fee as a share of each payment: the last rate its docs published (docs/toloka-api.md M10)."""
DEFAULT_FEE_MIN = 0.001
"""The smallest fee of one payment, USD: the last minimum Toloka's docs published."""
PRECISION = Decimal("0.0001")
"""Sums are rounded up to this (USD): finer than any price Toloka takes ($0.005), so no estimate understates."""

Amount = Decimal | float | int | str
"""A sum of money as callers give it: a float is read by its shortest text (:func:`to_money`)."""


def to_money(value: Amount, what: str = "amount") -> Decimal:
    """An amount as an exact Decimal: a float by its shortest text (``0.1`` is 0.1, not 0.1000000000000000055…).

    :param value: a number or its text.
    :param what: the name for the message.
    :return: the Decimal.
    :raises TolokaCostError: for something that is not a finite number of at least 0.
    """
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        raise TolokaCostError(f"{what} must be a number, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise TolokaCostError(f"{what} must be a finite number of at least 0, got {value!r}")
    return amount


def _up(value: Decimal) -> Decimal:
    return value.quantize(PRECISION, rounding=ROUND_CEILING)


def fee_per_payment(amount: Amount, fee_rate: Amount, fee_min: Amount) -> Decimal:
    """Toloka's fee on one payment (a suite's reward or a bonus): ``max(amount * fee_rate, fee_min)``, and no fee on
    a payment of 0 (a pool of control tasks only pays nothing).

    :param amount: the payment, USD.
    :param fee_rate: the fee as a share (0.30 is 30 %).
    :param fee_min: the smallest fee, USD.
    :return: the fee, exact.
    :raises TolokaCostError: for a negative or non-numeric input.
    """
    paid = to_money(amount)
    if paid == 0:
        return Decimal(0)
    return max(paid * to_money(fee_rate, "fee_rate"), to_money(fee_min, "fee_min"))


def bonuses_cost(
    amounts: Iterable[Amount], *, fee_rate: Amount = DEFAULT_FEE_RATE, fee_min: Amount = DEFAULT_FEE_MIN
) -> Decimal:
    """What bonuses take from the balance with the fee on each (the minimum applied per bonus, the upper bound:
    Toloka does not say whether it applies per bonus).

    :param amounts: the bonuses, USD.
    :param fee_rate: the fee as a share.
    :param fee_min: the smallest fee of one bonus, USD.
    :return: the total, rounded up to :data:`PRECISION`.
    """
    total = Decimal(0)
    for amount in amounts:
        total += to_money(amount) + fee_per_payment(amount, fee_rate, fee_min)
    return _up(total)


def max_reward(pool: Pool) -> Decimal:
    """The most one assignment of the pool pays: ``reward_per_assignment``, or more for a Toloker whose skill falls
    in a ``dynamic_pricing_config`` interval that pays more.

    :param pool: the pool.
    :return: the reward, USD.
    :raises TolokaCostError: when the pool has no ``reward_per_assignment``.
    """
    if pool.reward_per_assignment is None:
        raise TolokaCostError(
            f"Toloka pool {pool.id} has no reward_per_assignment: its cost cannot be estimated"
        )
    reward = to_money(pool.reward_per_assignment, "reward_per_assignment")
    pricing = getattr(pool, "dynamic_pricing_config", None)
    intervals = pricing.get("intervals") if isinstance(pricing, Mapping) else None
    for interval in intervals or ():
        if isinstance(interval, Mapping) and interval.get("reward_per_assignment") is not None:
            reward = max(reward, to_money(interval["reward_per_assignment"], "reward_per_assignment"))
    return reward


@dataclass
class OverlapTally:
    """The assignments still to be made of a pool's tasks or suites, counted page by page as they are read.

    For tasks (a pool with a mixer), each general task adds its remaining overlap in task slots; control tasks
    (with ``known_solutions``) ride along in suites and add none. For suites, each suite's remaining overlap is
    that many assignments. An item's remaining overlap is Toloka's ``remaining_overlap``, else its ``overlap``, else
    the pool's default, else 1 (Toloka's own default).

    :param pool_id: the pool, for messages.
    :param default_overlap: the pool's ``defaults.default_overlap_for_new_tasks`` (or ``…_task_suites``).
    """

    pool_id: str
    default_overlap: int | None = None
    items: int = 0
    control_tasks: int = 0
    units: int = 0
    max_units: int = 0
    _infinite: str | None = field(default=None, repr=False)

    def add(self, items: Iterable[Mapping[str, Any]], *, tasks: bool) -> None:
        """Count one page.

        :param items: tasks or suites as Toloka sends them.
        :param tasks: True for tasks (control tasks left out), False for suites.
        :raises TolokaCostError: for an item with infinite overlap, whose cost has no upper bound.
        """
        for item in items:
            if tasks and item.get("known_solutions"):
                self.control_tasks += 1
                continue
            remaining = self._remaining(item)
            self.items += 1
            self.units += remaining
            self.max_units = max(self.max_units, remaining)

    def _remaining(self, item: Mapping[str, Any]) -> int:
        if item.get("infinite_overlap"):
            raise TolokaCostError(
                f"Toloka pool {self.pool_id}: {item.get('id', 'an item')} has infinite overlap, so what opening the "
                "pool costs has no upper bound; give it a finite overlap, or open the pool without a cost check "
                "(max_cost=None, check_balance=False)"
            )
        for key in ("remaining_overlap", "overlap"):
            if item.get(key) is not None:
                return max(0, int(item[key]))
        return self.default_overlap if self.default_overlap is not None else 1


def count_assignments(units: int, max_units: int, real_tasks_count: int | None) -> int:
    """The assignments a pool's remaining work makes at most.

    Suites (``real_tasks_count`` None): one per unit. Tasks: ``real_tasks_count`` general tasks a suite, so
    ``ceil(units / real_tasks_count)``; and a suite holds a task at most once, so never fewer than the largest
    remaining overlap of one task (one task of overlap 5 makes 5 suites, whatever the suite size).

    :param units: the remaining overlap summed over general tasks (or suites).
    :param max_units: the largest remaining overlap of one of them.
    :param real_tasks_count: general tasks per suite (the pool's ``mixer_config``), None for a pool of suites.
    :return: the number of assignments.
    """
    if real_tasks_count is None:
        return units
    return max(math.ceil(units / real_tasks_count), max_units)


@dataclass(frozen=True)
class PoolCostEstimate:
    """What opening a pool as it is will cost at most: ``total = assignments * (reward + fee)``, with
    ``fee = max(reward * fee_rate, fee_min)`` per assignment; money in USD, rounded up to :data:`PRECISION`.

    What went in is kept beside the result: ``items`` (general tasks or suites counted), ``control_tasks`` (left
    out), ``overlap_units`` (their remaining overlap, summed), ``real_tasks_count`` (tasks a suite; None for a
    pool of suites), the reward and the fee settings.
    """

    pool_id: str
    uploaded_as: str
    assignments: int
    reward_per_assignment: Decimal
    fee_per_assignment: Decimal
    rewards: Decimal
    fees: Decimal
    total: Decimal
    fee_rate: Decimal
    fee_min: Decimal
    items: int
    control_tasks: int
    overlap_units: int
    real_tasks_count: int | None

    def as_dict(self) -> dict[str, Any]:
        """The estimate as JSON-able values (money as floats), for XCom and logs.

        :return: every field by name.
        """
        return {k: float(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}

    def describe(self) -> str:
        """One line for a log or an error: the total and how it is made.

        :return: e.g. ``$13.0000 (40 assignments * ($0.2500 reward + $0.0750 fee))``.
        """
        return (
            f"${self.total} ({self.assignments} assignments * (${self.reward_per_assignment} reward + "
            f"${_up(self.fee_per_assignment)} fee))"
        )


def estimate_cost(
    tally: OverlapTally,
    reward: Amount,
    real_tasks_count: int | None,
    *,
    fee_rate: Amount = DEFAULT_FEE_RATE,
    fee_min: Amount = DEFAULT_FEE_MIN,
) -> PoolCostEstimate:
    """The cost of a pool's remaining work: ``assignments * (reward + max(reward * fee_rate, fee_min))``.

    :param tally: the pool's tasks or suites, counted.
    :param reward: the most one assignment pays (:func:`max_reward`).
    :param real_tasks_count: general tasks per suite, None for a pool of suites.
    :param fee_rate: the fee as a share.
    :param fee_min: the smallest fee of one assignment, USD.
    :return: the estimate.
    :raises TolokaCostError: for a negative or non-numeric reward or fee setting.
    """
    paid = to_money(reward, "reward_per_assignment")
    rate, least = to_money(fee_rate, "fee_rate"), to_money(fee_min, "fee_min")
    fee = fee_per_payment(paid, rate, least)
    assignments = count_assignments(tally.units, tally.max_units, real_tasks_count)
    rewards, fees = _up(assignments * paid), _up(assignments * fee)
    return PoolCostEstimate(
        pool_id=tally.pool_id,
        uploaded_as="task_suites" if real_tasks_count is None else "tasks",
        assignments=assignments,
        reward_per_assignment=paid,
        fee_per_assignment=fee,
        rewards=rewards,
        fees=fees,
        total=rewards + fees,
        fee_rate=rate,
        fee_min=least,
        items=tally.items,
        control_tasks=tally.control_tasks,
        overlap_units=tally.units,
        real_tasks_count=real_tasks_count,
    )


def refusal(estimate: PoolCostEstimate, *, max_cost: Amount | None, balance: Amount | None) -> str | None:
    """Why a pool must not be opened: its estimate is above ``max_cost`` or above the balance.

    :param estimate: what opening will cost at most.
    :param max_cost: the caller's limit, USD; None sets none.
    :param balance: the requester's available balance, USD; None when not checked.
    :return: the reason, naming the estimate, the balance and the limit; None when opening is within both.
    """
    limit = None if max_cost is None else to_money(max_cost, "max_cost")
    available = None if balance is None else Decimal(str(balance))
    over = []
    if limit is not None and estimate.total > limit:
        over.append(f"above max_cost ${limit}")
    if available is not None and estimate.total > available:
        over.append(f"above the balance ${available}")
    if not over:
        return None
    return (
        f"Toloka pool {estimate.pool_id} was not opened: opening it would cost up to {estimate.describe()}, "
        f"{' and '.join(over)} (max_cost {'none' if limit is None else f'${limit}'}, balance "
        f"{'not checked' if available is None else f'${available}'}); it stays closed. Top up the account, raise "
        "max_cost, or lower the pool's overlap or reward"
    )
