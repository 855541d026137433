"""Analytics: the figures Toloka computes about a pool (progress, spend), for logs while a wait goes on.

:class:`AnalyticsMixin` is one area of :class:`~airflow_toloka.hooks.toloka.TolokaHook`, on
:class:`~airflow_toloka.hooks.operations.OperationsMixin`: Toloka answers an analytics request with an
``ANALYTICS`` operation whose ``details`` hold the figures (docs/toloka-api.md M9). Every request starts one more
operation, so a wait asks once per poll at most, and decides "done" from the pool's status, never from these.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_toloka.events import PROGRESS_METRICS, PoolProgress, progress_from_analytics
from airflow_toloka.exceptions import (
    TolokaOperationFailedError,
    TolokaTimeoutError,
    TolokaUnexpectedResponseError,
)
from airflow_toloka.hooks.base import Request, seg
from airflow_toloka.hooks.operations import OperationsMixin
from airflow_toloka.models import Operation, compact_json

__all__ = ["ANALYTICS_PATH", "MAX_ANALYTICS_REQUESTS", "PROGRESS_TIMEOUT", "AnalyticsMixin"]

ANALYTICS_PATH = "/api/staging/analytics-2"
"""Not under ``/api/v1``: Toloka serves analytics from its staging API (docs/toloka-api.md M9)."""
MAX_ANALYTICS_REQUESTS = 10
"""Requests one analytics call may hold (toloka-kit's limit)."""
PROGRESS_TIMEOUT = 5.0
"""Seconds a progress read may take, its operation included: it only feeds a log line."""

# The pauses between polls of an ANALYTICS operation: Toloka usually finishes one in well under a second.
_FIRST_PAUSE = 0.05
_LONGEST_PAUSE = 1.0
# Seconds past its timeout an async progress read is cancelled, should a request outlive its own budget.
_GRACE = 1.0


class AnalyticsMixin(OperationsMixin):
    """Toloka's analytics with toloka-kit's method name (``get_analytics``), and a pool's progress read from them.

    Methods named ``a*`` are coroutines for triggers.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def get_analytics(self, requests: Sequence[Mapping[str, Any]]) -> Operation:
        """Start computing analytics (``POST /api/staging/analytics-2``); Toloka answers with an operation.

        :param requests: at most 10 of ``{"subject": "POOL", "subject_id": "<pool id>", "name": "<metric>"}``
            (``active_workers_by_filter_count`` also takes ``interval_hours``).
        :return: the ``ANALYTICS`` operation; once SUCCESS, its ``details.value[i].result`` answers
            ``requests[i]``.
        :raises ValueError: for no request, more than 10, or one without ``subject``, ``subject_id`` or ``name``.
        :raises TolokaValidationError: for a metric or subject Toloka does not know.
        """
        return self._send(_analytics(requests))  # type: ignore[no-any-return]

    async def aget_analytics(self, requests: Sequence[Mapping[str, Any]]) -> Operation:
        """Async twin of :meth:`get_analytics`, for triggers.

        :param requests: at most 10 analytics requests.
        :return: the ``ANALYTICS`` operation.
        :raises ValueError: for no request, more than 10, or a malformed one.
        :raises TolokaValidationError: for a metric or subject Toloka does not know.
        """
        return await self._asend(_analytics(requests))  # type: ignore[no-any-return]

    def get_pool_progress(self, pool_id: str, *, timeout: float = PROGRESS_TIMEOUT) -> PoolProgress:
        """What the crowd has done in a pool and what it cost: one analytics call, its operation polled.

        Bounded by ``timeout`` in all, retries included: a caller that only logs the figures never waits long.

        :param pool_id: the pool id.
        :param timeout: seconds the whole read may take.
        :return: the progress (figures Toloka did not report are None).
        :raises TolokaTimeoutError: when the operation is not finished in time.
        :raises TolokaOperationFailedError: when the operation FAILs.
        :raises TolokaUnexpectedResponseError: for figures of another shape.
        :raises TolokaError: when Toloka refuses the request or cannot be reached.
        """
        deadline = time.monotonic() + timeout
        op: Operation = self._send(_analytics(_progress_requests(pool_id), budget=timeout))
        pause = _FIRST_PAUSE
        while not op.is_completed:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _late(pool_id, op, timeout)
            time.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE)
            op = self._send(_operation(op.id, max(deadline - time.monotonic(), 0.1)))
        return _progress_of(pool_id, op)

    async def aget_pool_progress(self, pool_id: str, *, timeout: float = PROGRESS_TIMEOUT) -> PoolProgress:
        """Async twin of :meth:`get_pool_progress`, for triggers; it waits in ``asyncio.sleep``, never blocking.

        :param pool_id: the pool id.
        :param timeout: seconds the whole read may take.
        :return: the progress.
        :raises TolokaTimeoutError: when the operation is not finished in time.
        :raises TolokaOperationFailedError: when the operation FAILs.
        :raises TolokaUnexpectedResponseError: for figures of another shape.
        :raises TolokaError: when Toloka refuses the request or cannot be reached.
        """
        try:
            # Each request keeps to what is left of ``timeout`` and says why it failed; this bound is the backstop.
            return await asyncio.wait_for(self._aprogress(pool_id, timeout), timeout + _GRACE)
        except TolokaTimeoutError:
            raise
        except asyncio.TimeoutError:
            raise TolokaTimeoutError(
                f"Toloka's analytics of pool {pool_id} not ready within {timeout:g}s", operation_ids=[]
            ) from None

    async def _aprogress(self, pool_id: str, timeout: float) -> PoolProgress:
        deadline = time.monotonic() + timeout
        op: Operation = await self._asend(_analytics(_progress_requests(pool_id), budget=timeout))
        pause = _FIRST_PAUSE
        while not op.is_completed:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _late(pool_id, op, timeout)
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE)
            op = await self._asend(_operation(op.id, max(deadline - time.monotonic(), 0.1)))
        return _progress_of(pool_id, op)


def _analytics(requests: Sequence[Mapping[str, Any]], budget: float | None = None) -> Request:
    """The analytics call; repeating it only starts another read-only operation, so it may be retried."""
    if isinstance(requests, Mapping) or not requests:
        raise ValueError("analytics takes a non-empty list of requests")
    if len(requests) > MAX_ANALYTICS_REQUESTS:
        raise ValueError(
            f"analytics takes at most {MAX_ANALYTICS_REQUESTS} requests a call, got {len(requests)}"
        )
    for request in requests:
        if not isinstance(request, Mapping) or not all(
            request.get(k) for k in ("subject", "subject_id", "name")
        ):
            raise ValueError(f"an analytics request needs subject, subject_id and name: {request!r}")
    body = compact_json([dict(r) for r in requests]).encode()
    return Request("POST", ANALYTICS_PATH, body=body, idempotent=True, model=Operation, budget=budget)


def _operation(operation_id: str, budget: float) -> Request:
    return Request("GET", f"/api/v1/operations/{seg(operation_id)}", model=Operation, budget=budget)


def _progress_requests(pool_id: str) -> list[dict[str, str]]:
    return [{"subject": "POOL", "subject_id": str(pool_id), "name": name} for name in PROGRESS_METRICS]


def _progress_of(pool_id: str, op: Operation) -> PoolProgress:
    what = f"{ANALYTICS_PATH} (operation {op.id})"
    if op.status != "SUCCESS":
        raise TolokaOperationFailedError(
            f"Toloka's analytics of pool {pool_id} failed: operation {op.id}: {op.details}",
            operation_ids=[op.id],
            details=op.details,
        )
    try:
        return progress_from_analytics(op.details)
    except ValueError as exc:
        raise TolokaUnexpectedResponseError(what, "the analytics figures", op.details, str(exc)) from None


def _late(pool_id: str, op: Operation, timeout: float) -> TolokaTimeoutError:
    return TolokaTimeoutError(
        f"Toloka's analytics of pool {pool_id} not ready within {timeout:g}s (operation {op.id} is {op.status})",
        operation_ids=[op.id],
    )
