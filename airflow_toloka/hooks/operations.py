"""Operations: reading them, waiting for them, and the failure a FAILed one means.

:class:`OperationsMixin` is the layer every area of :class:`~airflow_toloka.hooks.toloka.TolokaHook` builds on,
above the transport (:class:`~airflow_toloka.hooks.base.BaseTolokaHook`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from airflow_toloka.exceptions import (
    GOES_ON,
    TRANSIENT_ERRORS,
    TolokaOperationFailedError,
    TolokaTimeoutError,
    TolokaUnexpectedResponseError,
)
from airflow_toloka.hooks.base import BaseTolokaHook, TransportKwargs, seg
from airflow_toloka.models import Operation, OperationLogItem, parse_body

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["OperationsMixin", "Timeout"]

Timeout = timedelta | float | None


class OperationsMixin(BaseTolokaHook):
    """Operations: read them, wait for them, and fail with Toloka's details when one FAILs.

    Every other part of the hook builds on this one: Toloka answers every long request with an operation.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently (batches, log reads).
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget`` of
        :class:`~airflow_toloka.hooks.base.BaseTolokaHook`.
    """

    def __init__(
        self,
        toloka_conn_id: str = BaseTolokaHook.default_conn_name,
        *,
        max_in_flight: int = 4,
        poll_interval: float = 5.0,
        **transport: Unpack[TransportKwargs],
    ) -> None:
        super().__init__(toloka_conn_id, **transport)
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.poll_interval = poll_interval

    def _http_pool_size(self) -> int:
        # Each batch in flight may hold a POST and a status poll at once.
        return self.max_in_flight * 2 + 2

    def get_operation(self, operation_id: str) -> Operation:
        """Read an operation.

        :param operation_id: the operation id.
        :return: the operation as Toloka reports it now.
        :raises TolokaDoesNotExistError: when Toloka has no such operation.
        """
        return self._request("GET", f"/api/v1/operations/{seg(operation_id)}", model=Operation)

    async def aget_operation(self, operation_id: str) -> Operation:
        """Async twin of :meth:`get_operation`, for triggers.

        :param operation_id: the operation id.
        :return: the operation as Toloka reports it now.
        :raises TolokaDoesNotExistError: when Toloka has no such operation.
        """
        return await self._arequest("GET", f"/api/v1/operations/{seg(operation_id)}", model=Operation)

    def get_operation_log(self, operation_id: str) -> list[OperationLogItem]:
        """Read the log of a finished operation: one entry per item created or rejected, and pool steps.

        :param operation_id: the operation id.
        :return: the log entries, in Toloka's order (not input order).
        :raises TolokaDoesNotExistError: when Toloka has no such operation.
        :raises TolokaUnexpectedResponseError: for a log of another shape.
        """
        path = f"/api/v1/operations/{seg(operation_id)}/log"
        raw = self._request("GET", path) or []
        if not isinstance(raw, list):
            raise TolokaUnexpectedResponseError(f"GET {path}", "a list of log entries", raw)
        return [parse_body(OperationLogItem, entry, f"GET {path}") for entry in raw]

    def wait_operation(self, op: Operation | str, timeout: Timeout = timedelta(minutes=10)) -> Operation:
        """Poll an operation until it is SUCCESS or FAIL.

        :param op: the operation or its id.
        :param timeout: how long to wait; None waits for ever.
        :return: the finished operation.
        :raises TolokaTimeoutError: when it is still running at the timeout (Toloka goes on with it).
        """
        return self.wait_operations([op], timeout=timeout)[0]

    def wait_operations(
        self, ops: Sequence[Operation | str], timeout: Timeout = timedelta(minutes=10)
    ) -> list[Operation]:
        """Poll several operations until all are finished, with a short first pause that grows per poll.

        Rate limits, Toloka's 5xx and network errors that outlast a request's retry budget do not end the wait:
        it polls on until ``timeout``.

        :param ops: operations or their ids.
        :param timeout: how long to wait; None waits for ever.
        :return: the finished operations, in the order given.
        :raises TolokaTimeoutError: naming those still running at the timeout.
        """
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        deadline = None if seconds is None else time.monotonic() + seconds
        # Ids not read yet are read in the first round, which an outage may not end either.
        current = [op if isinstance(op, Operation) else Operation(id=op, status="UNREAD") for op in ops]
        pause = 0.0 if any(op.status == "UNREAD" for op in current) else 0.1
        outage: Exception | None = None
        polled = pause > 0  # every operation has been read once: a timeout may end the wait
        while True:
            pending = [i for i, op in enumerate(current) if not op.is_completed]
            if not pending:
                return current
            if polled and deadline is not None and time.monotonic() >= deadline:
                ids = [current[i].id for i in pending]
                failed = f"; the last poll failed: {outage}" if outage else ""
                raise TolokaTimeoutError(
                    f"Toloka operations still running after {seconds:.0f}s: {', '.join(ids)}{failed}. "
                    f"{GOES_ON}",
                    operation_ids=ids,
                )
            nap = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(nap)
            pause, polled = min(max(pause, 0.1) * 1.6, self.poll_interval), True
            try:
                for i in pending:
                    current[i] = self.get_operation(current[i].id)
                outage = None
            except TRANSIENT_ERRORS as exc:
                # Past the retry budget, an outage still says nothing about the operations: poll on.
                outage = exc
                self.log.warning("Polling Toloka failed (%s); polling again until the timeout", exc)

    def finish_operation(self, op: Operation | None, timeout: Timeout) -> Operation | None:
        """Wait for an operation of an action and fail with Toloka's details when it FAILs.

        :param op: the operation, or None for an action Toloka found done already (204).
        :param timeout: how long to wait.
        :return: the finished operation, or None.
        :raises TolokaOperationFailedError: when it FAILs.
        :raises TolokaTimeoutError: when it is still running at the timeout.
        """
        if op is None:
            return None
        done = self.wait_operation(op, timeout=timeout)
        if done.status == "FAIL":
            raise TolokaOperationFailedError(
                f"Toloka operation {done.id} ({done.type}) failed: {done.details}",
                operation_ids=[done.id],
                details=done.details,
            )
        return done
