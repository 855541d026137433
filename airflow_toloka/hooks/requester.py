"""The requester's account: its balance, and what opening a pool will cost at most.

:class:`RequesterMixin` is one area of :class:`~airflow_toloka.hooks.toloka.TolokaHook`. It reads; the arithmetic
is :mod:`airflow_toloka.money`'s (no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_toloka.exceptions import TolokaCostError
from airflow_toloka.hooks.base import seg
from airflow_toloka.hooks.operations import OperationsMixin
from airflow_toloka.models import POOLS, TASK_SUITES, TASKS, Pool, Requester
from airflow_toloka.money import (
    DEFAULT_FEE_MIN,
    DEFAULT_FEE_RATE,
    Amount,
    OverlapTally,
    PoolCostEstimate,
    estimate_cost,
    max_reward,
)

__all__ = ["RequesterMixin"]

_PAGE = 10_000  # Toloka's largest page of tasks or suites


class RequesterMixin(OperationsMixin):
    """The requester's account with toloka-kit's method names, and the cost of opening a pool.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def get_requester(self) -> Requester:
        """Read the account the token belongs to.

        :return: the requester; ``balance`` is the money available, USD.
        :raises TolokaAuthenticationError: for a token Toloka does not accept.
        """
        return self._request("GET", "/api/v1/requester", model=Requester)  # type: ignore[no-any-return]

    def estimate_pool_cost(
        self,
        pool_id: str,
        *,
        fee_rate: Amount = DEFAULT_FEE_RATE,
        fee_min: Amount = DEFAULT_FEE_MIN,
    ) -> PoolCostEstimate:
        """What opening the pool as it is will cost at most, from its tasks (or suites) still to be done.

        ``total = assignments * (reward + fee)`` with ``fee = max(reward * fee_rate, fee_min)`` per assignment
        (none on a reward of 0), where ``reward`` is ``reward_per_assignment`` (or the highest reward of its
        ``dynamic_pricing_config``) and:

        - a pool with a ``mixer_config`` (tasks mixed into suites): ``assignments = max(ceil(U /
          real_tasks_count), the largest remaining overlap of one task)``, ``U`` the remaining overlap summed over
          its general tasks; control tasks (with ``known_solutions``) ride along and add nothing;
        - a pool of task suites: ``assignments = U``, each suite's remaining overlap being one assignment each.

        An item's remaining overlap is Toloka's ``remaining_overlap``, else its ``overlap``, else the pool's
        ``defaults`` (``default_overlap_for_new_tasks`` / ``…_task_suites``), else 1. The tasks are read page by
        page (10,000 a page); nothing is kept but counts. Toloka does not publish its fee today, so ``fee_rate``
        and ``fee_min`` default to the last numbers its docs gave (30 %, at least $0.001; docs/toloka-api.md M10).

        :param pool_id: the pool.
        :param fee_rate: Toloka's fee as a share of each reward.
        :param fee_min: the smallest fee of one assignment, USD.
        :return: the estimate (:meth:`~airflow_toloka.money.PoolCostEstimate.as_dict` for XCom).
        :raises TolokaCostError: for a task or suite with infinite overlap (no upper bound), a pool without a
            reward, or a mixer without ``real_tasks_count``.
        :raises TolokaDoesNotExistError: when there is no such pool.
        """
        pool: Pool = self._request("GET", f"{POOLS.path}/{seg(pool_id)}", model=Pool)
        defaults = pool.defaults or {}
        real = _real_tasks_count(pool)
        kind = TASK_SUITES if real is None else TASKS
        tally = OverlapTally(str(pool_id), defaults.get(f"default_overlap_for_new_{kind.name}"))
        for page in self._pages(kind.path, {"pool_id": pool_id, "limit": _PAGE}):
            tally.add(page, tasks=real is not None)
        estimate = estimate_cost(tally, max_reward(pool), real, fee_rate=fee_rate, fee_min=fee_min)
        self.log.info("Toloka pool %s: opening it costs at most %s", pool_id, estimate.describe())
        return estimate


def _real_tasks_count(pool: Pool) -> int | None:
    """General tasks per suite of a pool with a mixer; None for a pool of task suites (no mixer)."""
    mixer: Any = pool.mixer_config
    if mixer is None:
        return None
    real = mixer.get("real_tasks_count") if isinstance(mixer, Mapping) else None
    if isinstance(real, bool) or not isinstance(real, int) or real < 1:
        raise TolokaCostError(
            f"Toloka pool {pool.id} has a mixer_config without a real_tasks_count of at least 1 ({real!r}): how "
            "many suites its tasks make, and so its cost, cannot be estimated"
        )
    return real
