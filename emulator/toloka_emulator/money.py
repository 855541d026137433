"""The requester's money: the available balance, money reserved for work awaiting review, what was spent and why.

Toloka charges for three things (docs/toloka-api.md M): the reward of each task suite, a fee on top of every
reward and bonus, and bonuses. With auto-accept a suite is paid at submit; with manual review its price is
reserved at submit, then spent on acceptance or released on rejection. Bonuses are paid at once.

Choices where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md M):

- the fee is ``max(amount * fee_rate, fee_min)`` per reward and per bonus, with the numbers Toloka's guide once
  published (30 %, at least $0.001), both configurable; today's rate is not public.
- ``balance`` is the available money: what is reserved is not part of it.
- a payment the available balance cannot cover is a 409 ``NOT_ENOUGH_BALANCE`` and debits nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toloka_emulator.wire import ApiError

__all__ = ["Account"]


class Account:
    """The requester's account: available ``balance``, ``reserved`` money, and what was spent.

    Besides what Toloka shows, the account keeps ``committed``: the price of the suites Tolokers are working on
    (ACTIVE assignments). It is not taken from the balance, since Toloka charges only at submit, but issuing
    checks against what is left after it, so ten Tolokers starting at once cannot overdraw the account.

    :param balance: the starting available balance, in USD.
    :param fee_rate: the live fee rate (a callable, so a runtime config change applies at once).
    :param fee_min: the live minimum fee per reward or bonus.
    """

    def __init__(
        self,
        balance: float,
        fee_rate: Callable[[], float] = lambda: 0.3,
        fee_min: Callable[[], float] = lambda: 0.001,
    ) -> None:
        self._fee_rate = fee_rate
        self._fee_min = fee_min
        self.balance = float(balance)
        self.reserved = 0.0
        self.committed = 0.0
        self.spent = 0.0
        self.fees = 0.0
        self.rewards_by_pool: dict[str, float] = {}
        self.bonus_count = 0
        self.bonus_amount = 0.0
        # assignment id -> (pool id, reward, fee) reserved for it, so a later fee change cannot unbalance
        # the reserve when the work is accepted or rejected
        self._held: dict[str, tuple[str, float, float]] = {}

    # ------------------------------------------------------------------ prices

    def fee(self, amount: float) -> float:
        """Toloka's fee on a reward or a bonus; nothing paid, no fee.

        :param amount: the reward or bonus, in USD.
        :return: ``max(amount * fee_rate, fee_min)``, or 0 for a zero amount.
        """
        if amount <= 0:
            return 0.0
        return max(amount * self._fee_rate(), self._fee_min())

    def cost(self, amount: float) -> float:
        """What paying ``amount`` takes from the balance.

        :param amount: the reward or bonus, in USD.
        :return: the amount plus its fee.
        """
        return amount + self.fee(amount)

    def can_pay(self, amount: float) -> bool:
        """Whether the available balance covers ``amount`` and its fee.

        :param amount: the reward or bonus, in USD.
        :return: whether it does.
        """
        return self.balance + _EPSILON >= self.cost(amount)

    # ------------------------------------------------------------------ bonuses

    def pay_bonus(self, amount: float) -> None:
        """Pay a bonus: debit it and its fee at once.

        :param amount: the bonus, in USD.
        :raises ApiError: 409 ``NOT_ENOUGH_BALANCE`` when the available balance is short (nothing is debited).
        """
        fee = self.fee(amount)
        self._check_covers(amount + fee)
        self._spend(amount, fee)
        self.bonus_count += 1
        self.bonus_amount += amount

    # ------------------------------------------------------------------ assignments

    def can_issue(self, cost: float) -> bool:
        """Whether one more suite of this price fits beside the work in progress.

        :param cost: the suite's reward plus fee (:meth:`cost`).
        :return: whether the balance covers it after what is committed to ACTIVE suites.
        """
        return self.balance - self.committed + _EPSILON >= cost

    def commit(self, cost: float) -> None:
        """A suite was issued: count its price against later issuing until it is finished.

        :param cost: its reward plus fee.
        """
        self.committed += cost

    def uncommit(self, cost: float) -> None:
        """A suite is finished (submitted, skipped or expired): its price no longer holds up issuing.

        :param cost: what :meth:`commit` was given.
        """
        self.committed = max(0.0, self.committed - cost)

    def pay_reward(self, pool_id: str, reward: float) -> None:
        """Pay submitted work of an auto-accept pool now.

        Work done is always paid, so this never refuses; issuing keeps the balance from going below zero unless
        the balance was lowered (config, bonuses) while the suite was being worked on.

        :param pool_id: the pool, for the per-pool rewards.
        :param reward: the assignment's reward.
        """
        fee = self.fee(reward)
        self._spend(reward, fee)
        self._reward(pool_id, reward)

    def reserve(self, assignment_id: str, pool_id: str, reward: float) -> None:
        """Hold the price of submitted work awaiting review: it leaves the available balance, not the account.

        Like :meth:`pay_reward` it never refuses.

        :param assignment_id: the SUBMITTED assignment.
        :param pool_id: its pool.
        :param reward: its reward.
        """
        fee = self.fee(reward)
        self._held[assignment_id] = (pool_id, reward, fee)
        self.balance -= reward + fee
        self.reserved += reward + fee

    def accept(self, assignment_id: str, pool_id: str, reward: float) -> None:
        """Pay accepted work: what was reserved for it is spent, else it is paid from the balance now.

        Nothing is reserved for work accepted after a rejection (the reserve went back then) or for work
        ``/_emulator/fill`` made.

        :param assignment_id: the assignment being accepted.
        :param pool_id: its pool.
        :param reward: its reward.
        :raises ApiError: 409 ``NOT_ENOUGH_BALANCE`` when nothing was reserved and the balance is short.
        """
        held = self._held.pop(assignment_id, None)
        if held is None:
            fee = self.fee(reward)
            self._check_covers(reward + fee)
            self._spend(reward, fee)
            self._reward(pool_id, reward)
            return
        pool_id, reward, fee = held
        self.reserved -= reward + fee
        self.spent += reward + fee
        self.fees += fee
        self._reward(pool_id, reward)

    def release(self, assignment_id: str) -> None:
        """Rejected work is not paid: what was reserved for it is available again.

        :param assignment_id: the assignment being rejected.
        """
        held = self._held.pop(assignment_id, None)
        if held is not None:
            _, reward, fee = held
            self.reserved -= reward + fee
            self.balance += reward + fee

    # ------------------------------------------------------------------ control

    def set_balance(self, balance: float) -> None:
        """Set the available balance (a top-up or a drain); what is reserved stays reserved.

        :param balance: the new available balance, in USD.
        """
        self.balance = float(balance)

    def stats(self) -> dict[str, Any]:
        """The ``money`` part of ``/_emulator/stats``.

        :return: ``balance``, ``reserved``, ``spent`` (every debit, fees included), ``fees``, ``rewards_by_pool``
            (without fees) and ``bonuses`` ``{count, amount}``; amounts rounded to 6 places.
        """
        return {
            "balance": round(self.balance, 6),
            "reserved": round(self.reserved, 6),
            "spent": round(self.spent, 6),
            "fees": round(self.fees, 6),
            "rewards_by_pool": {pool: round(v, 6) for pool, v in self.rewards_by_pool.items()},
            "bonuses": {"count": self.bonus_count, "amount": round(self.bonus_amount, 6)},
        }

    def _check_covers(self, total: float) -> None:
        if self.balance + _EPSILON < total:
            raise ApiError(
                409,
                "NOT_ENOUGH_BALANCE",
                f"Not enough money: {total:.6f} needed, {self.balance:.6f} available",
                {"needed": round(total, 6), "balance": round(self.balance, 6)},
            )

    def _spend(self, amount: float, fee: float) -> None:
        self.balance -= amount + fee
        self.spent += amount + fee
        self.fees += fee

    def _reward(self, pool_id: str, reward: float) -> None:
        self.rewards_by_pool[pool_id] = self.rewards_by_pool.get(pool_id, 0.0) + reward


# money is float dollars: a balance that is exactly enough must not fail on the last bit of rounding
_EPSILON = 1e-9
