"""Pools: create, find again, clone, open, close, archive; their input specs; and waiting for the crowd.

:class:`TolokaPoolsHook` sits between :class:`~airflow_toloka.hooks.objects.TolokaObjectsHook` and the full
:class:`~airflow_toloka.hooks.toloka.TolokaHook`; the pool trigger and sensor need only this part. Creating and
cloning follow the find-or-create rules of :mod:`airflow_toloka.hooks.objects`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_toloka.events import PoolEvent, pool_state
from airflow_toloka.exceptions import (
    TRANSIENT_ERRORS,
    TolokaDoesNotExistError,
    TolokaError,
    TolokaOperationFailedError,
    TolokaRemoteUnavailableError,
    TolokaTimeoutError,
)
from airflow_toloka.hooks.base import Request, seg
from airflow_toloka.hooks.objects import POOLS, TolokaObjectsHook, create_body, json_bytes, tag_of, with_tag
from airflow_toloka.hooks.operations import Timeout
from airflow_toloka.models import Operation, Pool, format_datetime

__all__ = ["TolokaPoolsHook"]


class TolokaPoolsHook(TolokaObjectsHook):
    """Manage pools with toloka-kit's method names, and wait until the crowd has labeled one.

    Methods named ``*_async`` start an operation and return it without waiting (toloka-kit's meaning); those
    named ``a*`` are coroutines for triggers.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    # ------------------------------------------------------------------ pools

    def create_pool(self, pool: Pool | Mapping[str, Any], *, idempotency_key: str | None = None) -> Pool:
        """Create a pool (CLOSED), or return the one an earlier try created with the same key.

        :param pool: the pool (``project_id``, ``private_name``, ``reward_per_assignment``, ``will_expire`` …).
        :param idempotency_key: tags the pool so that a retry finds it instead of creating a second one.
        :return: the pool as Toloka stored it.
        :raises TolokaValidationError: when Toloka rejects the spec (the message names the fields).
        """
        body = create_body(pool, Pool)
        return self._create(POOLS, body, idempotency_key, {"project_id": body.project_id})

    def get_pool(self, pool_id: str) -> Pool:
        """Read a pool.

        :param pool_id: the pool id.
        :return: the pool.
        :raises TolokaDoesNotExistError: when there is no such pool.
        """
        return self._request("GET", f"{POOLS.path}/{seg(pool_id)}", model=Pool)

    async def aget_pool(self, pool_id: str) -> Pool:
        """Async twin of :meth:`get_pool`, for triggers.

        :param pool_id: the pool id.
        :return: the pool.
        :raises TolokaDoesNotExistError: when there is no such pool.
        """
        return await self._arequest("GET", f"{POOLS.path}/{seg(pool_id)}", model=Pool)

    def get_pools(self, **filters: Any) -> Iterator[Pool]:
        """Every pool matching Toloka's search filters (``project_id``, ``status``, ``id_gt`` …), lazily.

        :param filters: query parameters of ``GET /pools``.
        :return: the pools in id order, one page in memory at a time.
        """
        return self._find(POOLS, filters)  # type: ignore[return-value]

    def update_pool(self, pool_id: str, pool: Pool | Mapping[str, Any]) -> Pool:
        """Replace a pool's editable fields (``PUT``: send the whole pool; it must not be OPEN).

        :param pool_id: the pool id.
        :param pool: the new pool.
        :return: the pool as Toloka stored it.
        :raises TolokaConflictError: when the pool is OPEN.
        :raises TolokaValidationError: when Toloka rejects it.
        """
        body = create_body(pool, Pool).to_json_dict()
        return self._request("PUT", f"{POOLS.path}/{seg(pool_id)}", body=json_bytes(body), model=Pool)

    def clone_pool(
        self,
        pool_id: str,
        *,
        idempotency_key: str | None = None,
        since: datetime | None = None,
        timeout: Timeout = timedelta(minutes=10),
    ) -> Pool:
        """Clone a pool (an empty, CLOSED copy in the same project), at most once per key.

        With a key, a pool tagged with it is returned instead of cloning again. With ``since`` too (when the
        first try started), an untagged clone of ``pool_id`` made since then (a try that died between the clone
        and its tagging) is adopted. Cloning is not idempotent in Toloka: a clone whose answer was lost is
        looked for the same way before anything is sent again.

        :param pool_id: the pool to copy.
        :param idempotency_key: tags the copy so that a retry finds it.
        :param since: the earliest time a clone of this try could have been made.
        :param timeout: how long to wait for the ``POOL.CLONE`` operation.
        :return: the new pool.
        :raises TolokaOperationFailedError: when the clone operation fails.
        """
        source = self.get_pool(pool_id)
        if idempotency_key is not None:
            found = self._find_tagged(POOLS, idempotency_key, {"project_id": source.project_id})
            if found is not None:
                return found  # type: ignore[return-value]
            adopted = self._adopt_clone(pool_id, idempotency_key, since)
            if adopted is not None:
                return adopted
        started = datetime.now(timezone.utc) - timedelta(seconds=1)
        try:
            op = self.clone_pool_async(pool_id)
        except TolokaRemoteUnavailableError:
            adopted = self._adopt_clone(pool_id, idempotency_key or "", started)
            if adopted is None:
                raise
            return adopted
        done = self.finish_operation(op, timeout)
        return self._tag(self._cloned(done), idempotency_key)

    def clone_pool_async(self, pool_id: str) -> Operation:
        """Start cloning a pool.

        :param pool_id: the pool to copy.
        :return: the ``POOL.CLONE`` operation; on success its ``details.pool_id`` is the new pool.
        """
        path = f"{POOLS.path}/{seg(pool_id)}/clone"
        return self._send(Request("POST", path, idempotent=False, model=Operation))

    def open_pool(self, pool_id: str, timeout: Timeout = timedelta(minutes=10)) -> Pool:
        """Open a pool to Tolokers and wait until it is open; an open pool stays as it is.

        :param pool_id: the pool id.
        :param timeout: how long to wait for the operation.
        :return: the pool.
        :raises TolokaConflictError: when it cannot be opened (``EMPTY_POOL``, archived …).
        :raises TolokaOperationFailedError: when the operation fails.
        """
        return self._act(POOLS, pool_id, "open", timeout)  # type: ignore[return-value]

    def open_pool_async(self, pool_id: str) -> Operation | None:
        """Start opening a pool.

        :param pool_id: the pool id.
        :return: the ``POOL.OPEN`` operation, or None when the pool is open already.
        :raises TolokaConflictError: when it cannot be opened (``EMPTY_POOL``, archived …).
        """
        return self._action(POOLS, pool_id, "open")

    def close_pool(self, pool_id: str, timeout: Timeout = timedelta(minutes=10)) -> Pool:
        """Close a pool (reason MANUAL) and wait; a closed pool stays as it is.

        :param pool_id: the pool id.
        :param timeout: how long to wait for the operation.
        :return: the pool.
        :raises TolokaOperationFailedError: when the operation fails.
        """
        return self._act(POOLS, pool_id, "close", timeout)  # type: ignore[return-value]

    def close_pool_async(self, pool_id: str) -> Operation | None:
        """Start closing a pool.

        :param pool_id: the pool id.
        :return: the ``POOL.CLOSE`` operation, or None when the pool is closed already.
        """
        return self._action(POOLS, pool_id, "close")

    def close_pool_for_update(self, pool_id: str, timeout: Timeout = timedelta(minutes=10)) -> Pool:
        """Close a pool for editing (reason FOR_UPDATE; Toloka reopens it after 15 minutes) and wait.

        :param pool_id: the pool id.
        :param timeout: how long to wait for the operation.
        :return: the pool.
        :raises TolokaOperationFailedError: when the operation fails.
        """
        return self._act(POOLS, pool_id, "close-for-update", timeout)  # type: ignore[return-value]

    def close_pool_for_update_async(self, pool_id: str) -> Operation | None:
        """Start closing a pool for editing.

        :param pool_id: the pool id.
        :return: the ``POOL.CLOSE`` operation, or None when the pool is closed already.
        """
        return self._action(POOLS, pool_id, "close-for-update")

    def archive_pool(self, pool_id: str, timeout: Timeout = timedelta(minutes=10)) -> Pool:
        """Archive a closed pool and wait; an archived pool stays as it is.

        :param pool_id: the pool id.
        :param timeout: how long to wait for the operation.
        :return: the pool.
        :raises TolokaConflictError: when the pool is not closed.
        :raises TolokaOperationFailedError: when the operation fails.
        """
        return self._act(POOLS, pool_id, "archive", timeout)  # type: ignore[return-value]

    def archive_pool_async(self, pool_id: str) -> Operation | None:
        """Start archiving a pool.

        :param pool_id: the pool id.
        :return: the ``POOL.ARCHIVE`` operation, or None when the pool is archived already.
        :raises TolokaConflictError: when the pool is not closed.
        """
        return self._action(POOLS, pool_id, "archive")

    def get_input_spec(self, pool_id: str) -> dict[str, Any] | None:
        """The input fields tasks of a pool (or training) must have: its project's ``task_spec.input_spec``.

        :param pool_id: a pool or training id (they share one id space).
        :return: field name -> field spec, or None when the project declares none.
        :raises TolokaDoesNotExistError: when there is no such pool or training.
        """
        try:
            project_id = self.get_pool(pool_id).project_id
        except TolokaDoesNotExistError:
            project_id = self.get_training(pool_id).project_id
        try:
            return self.get_project(project_id).input_spec
        except TolokaDoesNotExistError as exc:
            # Not "no such pool": the pool exists, the answer about its project is what is odd.
            raise TolokaError(
                f"pool {pool_id} names project {project_id}, which Toloka does not find: {exc}"
            ) from None

    # ------------------------------------------------------------------ waiting for the crowd

    def has_active_assignments(self, pool_id: str) -> bool:
        """Whether a Toloker still holds an assignment of the pool (one may finish after the pool closed).

        :param pool_id: the pool id.
        :return: True when at least one assignment is ACTIVE.
        """
        page = self._request("GET", "/api/v1/assignments", params=_active(pool_id))
        return bool(page.get("items")) if isinstance(page, Mapping) else False

    async def ahas_active_assignments(self, pool_id: str) -> bool:
        """Async twin of :meth:`has_active_assignments`, for triggers.

        :param pool_id: the pool id.
        :return: True when at least one assignment is ACTIVE.
        """
        page = await self._arequest("GET", "/api/v1/assignments", params=_active(pool_id))
        return bool(page.get("items")) if isinstance(page, Mapping) else False

    def wait_pool(
        self,
        pool_id: str,
        *,
        success_reasons: tuple[str, ...] = ("COMPLETED",),
        poll_interval: float = 60.0,
        timeout: Timeout = None,
    ) -> Pool:
        """Poll a pool until the crowd is done with it: CLOSED for a success reason and nothing ACTIVE.

        Outages and rate limits do not end the wait; FOR_UPDATE keeps it going (Toloka reopens the pool).

        :param pool_id: the pool id.
        :param success_reasons: close reasons that count as done (default COMPLETED; add MANUAL to accept a
            pool someone closed).
        :param poll_interval: seconds between polls.
        :param timeout: how long to wait; None waits for ever.
        :return: the finished pool.
        :raises TolokaError: when the pool closed for another reason (EXPIRED, NOT_ENOUGH_BALANCE …) or was
            archived first.
        :raises TolokaTimeoutError: when it is still running at the timeout.
        """
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            try:
                pool = self.get_pool(pool_id)
                state = pool_state(pool, success_reasons)
                if state == "closed" and self.has_active_assignments(pool_id):
                    state = "waiting"
                event = PoolEvent.observed(pool_id, pool, state)
                if event is not None:
                    error = event.error()
                    if error is not None:
                        raise error
                    return pool
            except TRANSIENT_ERRORS as exc:
                self.log.warning("Polling Toloka pool %s failed (%s); polling again", pool_id, exc)
            if deadline is not None and time.monotonic() >= deadline:
                raise TolokaTimeoutError(
                    f"Toloka pool {pool_id} not finished after {seconds:.0f}s; the crowd goes on labeling it",
                    operation_ids=[],
                )
            time.sleep(poll_interval if deadline is None else min(poll_interval, deadline - time.monotonic()))

    # ------------------------------------------------------------------ clones

    def _adopt_clone(self, source_id: str, key: str, since: datetime | None) -> Pool | None:
        """An untagged clone of ``source_id`` made since ``since``, tagged now: a try's lost clone."""
        if since is None:
            return None
        params = {"type": "POOL.CLONE", "submitted_gte": format_datetime(since), "limit": 500}
        page = self._request("GET", "/api/v1/operations", params=params)
        for raw in page.get("items", []) if isinstance(page, Mapping) else []:
            op = Operation.model_validate(raw)
            if str((op.parameters or {}).get("pool_id")) != str(source_id) or op.status == "FAIL":
                continue
            try:
                pool = self._cloned(self.finish_operation(op, timedelta(minutes=10)))
            except (TolokaDoesNotExistError, TolokaOperationFailedError):
                continue
            if tag_of(pool) is None:
                self.log.info("Adopting clone %s of pool %s made by an earlier try", pool.id, source_id)
                return self._tag(pool, key or None)
        return None

    def _cloned(self, op: Operation | None) -> Pool:
        new_id = (
            (op.details or {}).get("pool_id") if op is not None and isinstance(op.details, Mapping) else None
        )
        if not new_id:
            raise TolokaError(f"POOL.CLONE {op.id if op else ''} finished without details.pool_id")
        return self.get_pool(str(new_id))

    def _tag(self, pool: Pool, key: str | None) -> Pool:
        if key is None or tag_of(pool) == key or pool.id is None:
            return pool
        return self.update_pool(pool.id, with_tag(pool, key))


def _active(pool_id: str) -> dict[str, Any]:
    return {"pool_id": pool_id, "status": "ACTIVE", "limit": 1}
