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
        self.spent = 0.0
        self.fees = 0.0
        self.rewards_by_pool: dict[str, float] = {}
        self.bonus_count = 0
        self.bonus_amount = 0.0

    def fee(self, amount: float) -> float:
        """Toloka's fee on a reward or a bonus.

        :param amount: the reward or bonus, in USD.
        :return: ``max(amount * fee_rate, fee_min)``.
        """
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
        return self.balance >= self.cost(amount)

    def pay_bonus(self, amount: float) -> None:
        """Pay a bonus: debit it and its fee at once.

        :param amount: the bonus, in USD.
        :raises ApiError: 409 ``NOT_ENOUGH_BALANCE`` when the available balance is short (nothing is debited).
        """
        fee = self.fee(amount)
        self._debit(amount, fee)
        self.bonus_count += 1
        self.bonus_amount += amount

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

    def _debit(self, amount: float, fee: float) -> None:
        total = amount + fee
        if self.balance < total:
            raise ApiError(
                409,
                "NOT_ENOUGH_BALANCE",
                f"Not enough money: {total:.6f} needed, {self.balance:.6f} available",
            )
        self.balance -= total
        self.spent += total
        self.fees += fee
