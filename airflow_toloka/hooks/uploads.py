"""Batched, idempotent creation of any uploadable kind (tasks, task suites, user bonuses) under operation ids.

:class:`UploadsMixin` is not an area of the API but the machinery :class:`~airflow_toloka.hooks.tasks.TasksMixin`
and :class:`~airflow_toloka.hooks.bonuses.BonusesMixin` share: each batch is POSTed as an async operation whose
id is derived from an idempotency key, the batch number, its content and the flags, so sending the same work
again attaches to the operations already made instead of creating (or paying) anything twice. What it sends is
built by :mod:`airflow_toloka.batching` and what Toloka answered is read by :mod:`airflow_toloka.upload_results`
(pure functions); this mixin only sends and collects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from airflow_toloka.batching import (
    MAX_RESUBMITS,
    Batch,
    CreateOptions,
    ItemCheck,
    ObjectKind,
    batch_limit,
    count_batches,
    encode_one,
    goes_to_pools,
    iter_batches,
    kind_of,
    operation_id,
    resolve_batch_size,
    successor_id,
)
from airflow_toloka.concurrency import Progress, bounded_map
from airflow_toloka.exceptions import (
    TolokaConflictError,
    TolokaDoesNotExistError,
    TolokaError,
    TolokaInputError,
    TolokaRemoteUnavailableError,
    TolokaValidationError,
)
from airflow_toloka.hooks.base import Request, seg
from airflow_toloka.hooks.operations import OperationsMixin, Timeout
from airflow_toloka.models import BatchCreateResult, Operation
from airflow_toloka.upload_results import (
    log_decoder,
    result_from_counters,
    result_from_log,
    result_from_sync_response,
)

__all__ = ["UploadsMixin"]


class UploadsMixin(OperationsMixin):
    """The upload machinery of tasks, task suites and user bonuses: batches under deterministic operation ids,
    re-attached on a retry, and their results by input index.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: batches submitted and awaited concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def create_objects(
        self,
        kind: ObjectKind | str,
        items: Iterable[Any],
        *,
        options: CreateOptions | None = None,
        async_mode: bool = True,
        batch_size: int | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = timedelta(hours=1),
    ) -> BatchCreateResult:
        """Create many objects in batches and map each input position to the created id.

        Batches get deterministic operation ids from ``idempotency_key`` (random when omitted), the batch
        number, its content and the flags, so the same work sent again with the same key creates nothing new.
        A list is validated completely before the first request; a generator batch by batch.

        :param kind: ``tasks`` or ``task_suites``.
        :param items: models or dicts, any iterable.
        :param options: the upload flags; with ``skip_invalid_items`` rejected items are reported in
            ``validation_errors`` instead of raised (an error is raised only if nothing was created).
        :param async_mode: use Toloka operations (default) or synchronous requests of at most 5,000 items.
        :param batch_size: items per request (at most Toloka's limit, the default).
        :param idempotency_key: what makes a resubmission of the same work find its earlier operations.
        :param timeout: how long to wait for each batch's operation.
        :return: created ids and rejections by input index.
        :raises TolokaInputError: for invalid or empty input.
        :raises TolokaValidationError: when Toloka rejects items and ``skip_invalid_items`` is not set.
        :raises TolokaTimeoutError: when an operation is still running at the timeout.
        """
        kind, options = kind_of(kind), options or CreateOptions()
        size = resolve_batch_size(batch_size, async_mode, kind)
        key = idempotency_key or str(uuid.uuid4())
        progress = Progress(self.log, f"{kind.name} created", count_batches(items, size))
        result = BatchCreateResult()

        def run(batch: Batch) -> tuple[Batch, BatchCreateResult]:
            if not async_mode:
                return batch, self._create_sync_batch(kind, batch, options)
            op = self._submit(kind, batch, options, operation_id(key, kind, batch, options))
            return batch, self._result_from_log(kind, self.wait_operations([op], timeout=timeout)[0])

        batches = iter_batches(kind, items, size, self._item_check(kind, options))
        for batch, partial in bounded_map(batches, run, self.max_in_flight):
            result.merge(partial)
            done = f" ({len(result.items)} created, {len(result.validation_errors)} rejected)"
            progress.batch_done(len(batch), done)
        if not progress.items:
            raise TolokaInputError(f"no {kind.label} to create: the input was empty")
        result.raise_for_rejected(options.skip_invalid_items, total=progress.items)
        return result

    def submit_batches(
        self,
        kind: ObjectKind | str,
        items: Iterable[Any],
        *,
        idempotency_key: str,
        options: CreateOptions | None = None,
        batch_size: int | None = None,
    ) -> list[Operation]:
        """Submit all batches as async operations without waiting for them (what deferrable operators use).

        :param kind: ``tasks`` or ``task_suites``.
        :param items: models, dicts or a :class:`~airflow_toloka.batching.BatchSpool`.
        :param idempotency_key: what makes a resubmission find the operations of an earlier try.
        :param options: the upload flags.
        :param batch_size: items per operation.
        :return: the operations, in batch order.
        :raises TolokaInputError: for invalid input.
        """
        kind, options = kind_of(kind), options or CreateOptions()
        size = resolve_batch_size(batch_size, True, kind)
        progress = Progress(self.log, f"{kind.name} submitted", count_batches(items, size))

        def submit(batch: Batch) -> tuple[Batch, Operation]:
            return batch, self._submit(
                kind, batch, options, operation_id(idempotency_key, kind, batch, options)
            )

        numbered: list[tuple[int, Operation]] = []
        batches = iter_batches(kind, items, size, self._item_check(kind, options))
        for batch, op in bounded_map(batches, submit, self.max_in_flight):
            numbered.append((batch.number, op))
            progress.batch_done(len(batch))
        # Batch order, whatever finished first.
        return [op for _, op in sorted(numbered, key=lambda pair: pair[0])]

    def operation_results(
        self, kind: ObjectKind | str, operations: Sequence[Operation | str], *, max_ids: int | None = None
    ) -> BatchCreateResult:
        """What finished upload operations created and rejected, by input index (nothing is re-fetched).

        With ``max_ids``, past that many items created ids are only counted (``created_count``), not kept; and
        when every operation's counters say it created more than that and rejected nothing, no log is read.

        :param kind: ``tasks`` or ``task_suites``.
        :param operations: finished operations or their ids.
        :param max_ids: most created ids worth keeping; None keeps all.
        :return: the merged result.
        :raises TolokaError: when an operation is still running.
        :raises TolokaOperationFailedError: when an operation failed without rejecting any item.
        """
        kind = kind_of(kind)
        ops = [op if isinstance(op, Operation) else self.get_operation(op) for op in operations]
        running = [op.id for op in ops if not op.is_completed]
        if running:
            raise TolokaError(f"Toloka operations still running, wait for them first: {', '.join(running)}")
        counted = None if max_ids is None else result_from_counters(ops, max_ids)
        if counted is not None:
            return counted
        result = BatchCreateResult()
        keep_ids = True

        def collect(op: Operation) -> BatchCreateResult:
            return self._result_from_log(kind, op, keep_ids=keep_ids)

        for partial in bounded_map(iter(ops), collect, self.max_in_flight):
            result.merge(partial)
            if max_ids is not None and (
                not keep_ids or result.created_count + len(result.validation_errors) > max_ids
            ):
                keep_ids = False
                result.forget_ids()
        return result

    def input_checker(self, options: CreateOptions) -> ItemCheck:
        """The check of each item against what its pool takes, made before anything is sent.

        The pools say what they take: :class:`~airflow_toloka.hooks.pools.PoolsMixin` provides it in
        :class:`~airflow_toloka.hooks.toloka.TolokaHook`.

        :param options: the upload flags.
        :return: the check.
        :raises NotImplementedError: in a hook without pools.
        """
        raise NotImplementedError

    def _item_check(self, kind: ObjectKind, options: CreateOptions) -> ItemCheck | None:
        """The pool's input check for tasks and suites; bonuses go to no pool."""
        return self.input_checker(options) if goes_to_pools(kind) else None

    def _create_one(
        self,
        kind: ObjectKind,
        item: Any,
        options: CreateOptions,
        *,
        async_mode: bool = True,
        idempotency_key: str | None = None,
    ) -> Any:
        """Create one object and read it back; async (the default) under an operation id, so a retry with the
        same key creates it once."""
        if not async_mode:
            # A sync request carries no operation id: there is nothing for an idempotency key to key.
            request = Request(
                "POST", kind.path, options.query(async_mode=False), encode_one(kind, item), False
            )
            return kind.model.model_validate(self._send(request))
        # One item either is created or fails: never skipped, whatever the pool would allow.
        options = replace(options, skip_invalid_items=False)
        result = self.create_objects(
            kind, [item], options=options, batch_size=1, idempotency_key=idempotency_key
        )
        return self._request("GET", f"{kind.path}/{seg(result.items[0])}", model=kind.model)

    def _submit_one(
        self,
        kind: ObjectKind,
        items: Iterable[Any],
        options: CreateOptions,
        *,
        operation_id: str | None = None,
    ) -> Operation:
        limit = batch_limit(kind, True)
        batches = list(iter_batches(kind, items, limit + 1, self._item_check(kind, options)))
        if not batches:
            raise TolokaInputError(f"no {kind.label} to create")
        if len(batches) > 1 or len(batches[0]) > limit:
            raise TolokaInputError(
                f"create_{kind.name}_async takes at most {limit} items (and one request's worth of "
                f"bytes) per operation; use create_{kind.name}() or submit_batches() for more"
            )
        # An id the caller did not choose makes the operation unrepeatable, as in toloka-kit.
        return self._submit(kind, batches[0], options, operation_id or str(uuid.uuid4()))

    def _submit(self, kind: ObjectKind, batch: Batch, options: CreateOptions, op_id: str) -> Operation:
        """POST one batch as an async operation; an id Toloka already knows returns the existing operation.

        A FAILed operation created nothing, so re-attaching to it would pin every retry to the old failure: the
        batch goes again under the next id of a deterministic chain, which HA peers and later tries agree on.
        """
        for _ in range(MAX_RESUBMITS):
            query = options.query(async_mode=True, operation_id=op_id)
            try:
                return self._send(Request("POST", kind.path, query, batch.body, True, model=Operation))
            except TolokaConflictError as exc:
                if exc.code != "OPERATION_ALREADY_EXISTS":
                    raise
                op = self.get_operation(op_id)
                if op.type and op.type != kind.operation_type:
                    raise
            if op.status != "FAIL" or self._created_any(kind, op):
                # A FAILed operation that created some items is read, never repeated: it may have paid bonuses.
                self.log.info("Toloka operation %s already submitted earlier; reusing it", op_id)
                return op
            self.log.info("Toloka operation %s failed earlier and created nothing; submitting again", op_id)
            op_id = successor_id(op_id)
        raise TolokaError(f"batch {batch.number} failed in {MAX_RESUBMITS} operations; last one {op_id}")

    def _created_any(self, kind: ObjectKind, op: Operation) -> bool:
        """Whether a FAILed operation's log shows any object of ``kind`` created (Toloka documents that a FAIL
        creates nothing; a bonus paid in one must still never be paid again). A log Toloka no longer keeps
        (about a month) shows nothing."""
        try:
            log = self.get_operation_log(op.id)
        except TolokaDoesNotExistError:
            return False
        return any(entry.success and kind.id_key in (entry.output or {}) for entry in log)

    def _create_sync_batch(self, kind: ObjectKind, batch: Batch, options: CreateOptions) -> BatchCreateResult:
        # Sync mode is not idempotent on Toloka's side, so only failures that certainly did nothing are retried.
        request = Request("POST", kind.path, options.query(async_mode=False), batch.body, idempotent=False)
        try:
            return result_from_sync_response(batch, self._send(request))
        except TolokaRemoteUnavailableError as exc:
            last = batch.first_index + batch.count - 1
            raise TolokaRemoteUnavailableError(
                f"a sync request creating {kind.label} (input items {batch.first_index}..{last}) got no clear "
                f"answer ({exc}); Toloka may or may not have created them, and a sync request is never repeated. "
                "Check what was created before running again, or use async_mode=True, whose operation ids make "
                "a repeat safe",
                http_status=exc.http_status,
                code=exc.code,
            ) from exc
        except TolokaValidationError as exc:
            payload = exc.payload
            if not isinstance(payload, Mapping) or not payload or not all(str(k).isdigit() for k in payload):
                raise
            return result_from_sync_response(batch, payload)

    def _result_from_log(
        self, kind: ObjectKind, op: Operation, *, keep_ids: bool = True
    ) -> BatchCreateResult:
        log = self._request("GET", f"/api/v1/operations/{seg(op.id)}/log", decode=log_decoder(kind))
        return result_from_log(kind, op, log, keep_ids=keep_ids, logger=self.log)
