"""Pools: create, find again, clone, open, close, archive; their input specs; and waiting for the crowd.

:class:`PoolsMixin` is one area of :class:`~airflow_toloka.hooks.toloka.TolokaHook`, on the machinery of
:class:`~airflow_toloka.hooks.objects.ObjectsMixin`: creating and cloning follow its find-or-create rules.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from airflow_toloka.batching import CreateOptions, ItemCheck
from airflow_toloka.events import PoolEvent, pool_state, success_reasons_of
from airflow_toloka.exceptions import (
    TRANSIENT_ERRORS,
    TolokaDoesNotExistError,
    TolokaError,
    TolokaInputError,
    TolokaTimeoutError,
)
from airflow_toloka.hooks.base import seg
from airflow_toloka.hooks.objects import ObjectsMixin, create_body, tag_of
from airflow_toloka.hooks.operations import Timeout
from airflow_toloka.models import (
    POOLS,
    PROJECTS,
    TRAININGS,
    Operation,
    Pool,
    Project,
    TolokaModel,
    Training,
)
from airflow_toloka.specs import InputSpecChecker, resolve_will_expire

__all__ = ["PoolsMixin"]


class PoolsMixin(ObjectsMixin):
    """Pools with toloka-kit's method names, what a pool (or training) takes in an upload, and waiting until the
    crowd has labeled a pool.

    Methods named ``*_async`` start an operation and return it without waiting (toloka-kit's meaning); those
    named ``a*`` are coroutines for triggers.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def create_pool(self, pool: Pool | Mapping[str, Any], *, idempotency_key: str | None = None) -> Pool:
        """Create a pool (CLOSED), or return the one an earlier try created with the same key.

        :param pool: the pool (``project_id``, ``private_name``, ``reward_per_assignment``, ``will_expire`` …).
        :param idempotency_key: tags the pool so that a retry finds it instead of creating a second one.
        :return: the pool as Toloka stored it.
        :raises TolokaValidationError: when Toloka rejects the spec (the message names the fields).
        """
        body = create_body(pool, Pool)
        return self._create(POOLS, body, idempotency_key, {"project_id": body.project_id})

    def create_or_update_pool(self, pool: Pool | Mapping[str, Any], *, idempotency_key: str) -> Pool:
        """Create a pool (CLOSED), or bring the one made earlier under the key in line with ``pool``.

        The pool found (whatever its status: an ARCHIVED one is a finished run's) is compared with the given one,
        field by field as given (see :func:`~airflow_toloka.specs.changed_fields`). Unchanged, it is returned as
        it is. Changed and CLOSED, it is replaced (``PUT``) by the found pool with the given fields on top, and
        the changed fields are logged. Changed and OPEN or ARCHIVED, where Toloka allows no ``PUT``, nothing is
        changed and the error names the pool, its status and the fields. A ``will_expire`` given as a
        ``timedelta`` ("that long from now") is set on a new pool only: it would differ on every run, so it is
        neither compared with nor changed on a pool found again.

        :param pool: the pool as it should be (``project_id``, ``private_name``, ``reward_per_assignment`` …).
        :param idempotency_key: what identifies it (a run, a date).
        :return: the pool created, found unchanged, or updated.
        :raises TolokaInputError: when the pool found differs and is not CLOSED.
        :raises TolokaValidationError: when Toloka rejects the spec.
        """
        data = pool.to_json_dict() if isinstance(pool, TolokaModel) else dict(pool)
        relative = isinstance(data.get("will_expire"), timedelta)
        if "will_expire" in data:
            data["will_expire"] = resolve_will_expire(data["will_expire"])
        body = create_body(data, Pool)
        return self._create_or_update(  # type: ignore[return-value]
            POOLS,
            body,
            idempotency_key,
            {"project_id": body.project_id},
            update=self.update_pool,
            editable=("CLOSED",),
            keep=("will_expire",) if relative else (),
        )

    def get_pool(self, pool_id: str) -> Pool:
        """Read a pool.

        :param pool_id: the pool id.
        :return: the pool.
        :raises TolokaDoesNotExistError: when there is no such pool.
        """
        return self._get(POOLS, pool_id)  # type: ignore[no-any-return]

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

    def aget_pools(self, **filters: Any) -> AsyncIterator[Pool]:
        """Async twin of :meth:`get_pools`, for triggers.

        :param filters: query parameters of ``GET /pools``.
        :return: an async iterator over the pools in id order, one page in memory at a time.
        """
        return self._afind(POOLS, filters)  # type: ignore[return-value]

    def update_pool(self, pool_id: str, pool: Pool | Mapping[str, Any]) -> Pool:
        """Replace a pool's editable fields (``PUT``: send the whole pool; it must not be OPEN).

        :param pool_id: the pool id.
        :param pool: the new pool.
        :return: the pool as Toloka stored it.
        :raises TolokaConflictError: when the pool is OPEN.
        :raises TolokaValidationError: when Toloka rejects it.
        """
        return self._put(POOLS, pool_id, pool)  # type: ignore[no-any-return]

    def clone_pool(self, pool_id: str, timeout: Timeout = timedelta(minutes=10)) -> Pool:
        """Clone a pool with Toloka's endpoint (an empty, CLOSED copy in the same project) and wait for it.

        Like Toloka's endpoint it is not idempotent, and a request whose answer was lost is not repeated. For a
        run's pool made at most once, :meth:`copy_pool` makes a tagged copy instead.

        :param pool_id: the pool to copy.
        :param timeout: how long to wait for the ``POOL.CLONE`` operation.
        :return: the new pool.
        :raises TolokaOperationFailedError: when the clone operation fails.
        """
        return self._clone(POOLS, pool_id, timeout)  # type: ignore[return-value]

    def copy_pool(
        self, pool_id: str, overrides: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
    ) -> Pool:
        """Create a pool with a template's settings and some changed, at most once per key.

        What :meth:`clone_pool` does, made exactly-once: the copy is created already tagged with the key (a clone
        can only be tagged after it exists, and a try dying in between would leave an untagged clone behind), so
        a retry finds it. Overrides are applied before creating; a copy found again is returned as it is.

        :param pool_id: the template pool.
        :param overrides: fields to set on the copy (``private_name``, ``will_expire`` …).
        :param idempotency_key: tags the copy so that a retry finds it.
        :return: the new (or found) pool, CLOSED.
        :raises TolokaValidationError: when Toloka rejects the resulting spec.
        """
        body = self.get_pool(pool_id).read_only_free()
        body.update(overrides or {})
        return self.create_pool(body, idempotency_key=idempotency_key)

    def clone_pool_async(self, pool_id: str) -> Operation:
        """Start cloning a pool.

        :param pool_id: the pool to copy.
        :return: the ``POOL.CLONE`` operation; on success its ``details.pool_id`` is the new pool.
        """
        return self._start_clone(POOLS, pool_id)

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
        return self._input_spec_of(self._pool_or_training(pool_id))

    def get_upload_spec(self, pool_id: str) -> dict[str, Any] | None:
        """:meth:`get_input_spec` for an upload: a pool Toloka adds nothing to is refused here, before sending.

        :param pool_id: a pool or training id.
        :return: field name -> field spec, or None when the project declares none.
        :raises TolokaInputError: when the pool is ARCHIVED (see :meth:`get_upload_target`).
        :raises TolokaDoesNotExistError: when there is no such pool or training.
        """
        return self._input_spec_of(self.get_upload_target(pool_id))

    def get_upload_target(self, pool_id: str) -> Pool | Training:
        """The pool (or training) an upload goes to, refused when ARCHIVED: Toloka adds no tasks to it.

        An archived pool tagged with an idempotency key is a finished run's pool found again (a re-run of its
        date); the error says so, and how to start a new run instead of paying the crowd twice.

        :param pool_id: a pool or training id.
        :return: the pool or training.
        :raises TolokaInputError: when it is ARCHIVED, naming it, its key and what to do.
        :raises TolokaDoesNotExistError: when there is no such pool or training.
        """
        target = self._pool_or_training(pool_id)
        if target.status == "ARCHIVED":
            raise TolokaInputError(_archived_upload(target))
        return target

    def _pool_or_training(self, pool_id: str) -> Pool | Training:
        try:
            return self.get_pool(pool_id)
        except TolokaDoesNotExistError:
            return self._get(TRAININGS, pool_id)  # type: ignore[no-any-return]

    def _input_spec_of(self, target: Pool | Training) -> dict[str, Any] | None:
        project_id, pool_id = target.project_id, target.id
        try:
            project: Project = self._get(PROJECTS, str(project_id))
            return project.input_spec
        except TolokaDoesNotExistError as exc:
            # Not "no such pool": the pool exists, the answer about its project is what is odd.
            raise TolokaError(
                f"pool {pool_id} names project {project_id}, which Toloka does not find: {exc}"
            ) from None

    def input_checker(self, options: CreateOptions) -> ItemCheck:
        """The check of each item made before anything is sent: its pool takes tasks, and its values fit.

        Each pool is read once. An ARCHIVED pool is refused whatever the flags: Toloka adds nothing to it, and
        a tagged one is a finished run's pool (see :meth:`get_upload_target`). Without ``skip_invalid_items``
        one bad item fails the whole upload, so every rejection Toloka would make of a malformed item is caught
        here first (the pool's project is read for its input spec); with it, Toloka's per-item report is what
        the caller asked for, also for a pool that does not exist.

        :param options: the upload flags.
        :return: the check.
        """
        if options.skip_invalid_items:
            return InputSpecChecker(self._refuse_archived).check
        return InputSpecChecker(self.get_upload_spec).check

    def _refuse_archived(self, pool_id: str) -> None:
        """No input spec to check against, only a pool that takes nothing to refuse."""
        # A pool that does not exist is Toloka's to report, item by item, as skip_invalid_items asks.
        with contextlib.suppress(TolokaDoesNotExistError):
            self.get_upload_target(pool_id)

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

    def observe_pool(self, pool_id: str, success_reasons: Iterable[str]) -> tuple[Pool, PoolEvent | None]:
        """Read a pool once and say whether the wait for it is over: the one rule every pool wait follows.

        Done is CLOSED (or ARCHIVED) for a success reason with no assignment still ACTIVE (a Toloker may submit
        what they took before the close); a failure reason ends the wait too (:func:`~airflow_toloka.events.
        pool_state`).

        :param pool_id: the pool id.
        :param success_reasons: close reasons that count as done (upper case, :func:`~airflow_toloka.events.
            success_reasons_of`).
        :return: the pool, and its ``success`` or ``failed`` event, or None while the crowd works on.
        :raises TolokaError: for a pool that does not exist, or a read that failed.
        """
        pool = self.get_pool(pool_id)
        state = pool_state(pool, success_reasons)
        if state == "closed" and self.has_active_assignments(pool_id):
            state = "waiting"
        return pool, PoolEvent.observed(pool_id, pool, state)

    async def aobserve_pool(
        self, pool_id: str, success_reasons: Iterable[str]
    ) -> tuple[Pool, PoolEvent | None]:
        """Async twin of :meth:`observe_pool`, for triggers.

        :param pool_id: the pool id.
        :param success_reasons: close reasons that count as done.
        :return: the pool, and its event or None while the crowd works on.
        :raises TolokaError: for a pool that does not exist, or a read that failed.
        """
        pool = await self.aget_pool(pool_id)
        state = pool_state(pool, success_reasons)
        if state == "closed" and await self.ahas_active_assignments(pool_id):
            state = "waiting"
        return pool, PoolEvent.observed(pool_id, pool, state)

    def wait_pool(
        self,
        pool_id: str,
        *,
        success_reasons: Iterable[str] | str = ("COMPLETED",),
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
        reasons = success_reasons_of(success_reasons)
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            try:
                pool, event = self.observe_pool(pool_id, reasons)
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
            time.sleep(
                poll_interval
                if deadline is None
                else max(0.0, min(poll_interval, deadline - time.monotonic()))
            )


def _archived_upload(target: Pool | Training) -> str:
    """Why nothing is uploaded to an archived pool, and, for one a run made, how to start a new run."""
    kind = "training" if isinstance(target, Training) else "pool"
    text = f"Toloka {kind} {target.id} ({target.private_name}) is ARCHIVED and takes no new tasks; nothing was sent."
    key = tag_of(target)
    if key is None:
        return f"{text} Upload to an OPEN or CLOSED {kind}."
    return (
        f"{text} It was made under idempotency key {key!r}: this is a re-run of a run that finished, and its "
        f"{kind} is reused, not made again, so the crowd is not paid twice. To label again, start a new {kind}: "
        f"give CreatePoolOperator a new idempotency_key (e.g. {key + '/2'!r})."
    )


def _active(pool_id: str) -> dict[str, Any]:
    return {"pool_id": pool_id, "status": "ACTIVE", "limit": 1}
