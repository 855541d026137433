"""Tasks and task suites: creating them in batches, idempotently, and reading what was created.

Each method builds what it sends with :mod:`airflow_toloka.batching` and reads what Toloka answered with
:mod:`airflow_toloka.upload_results` (pure functions); this mixin only sends and collects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_toloka.batching import (
    ASYNC_BATCH_LIMIT,
    MAX_RESUBMITS,
    TASK_SUITES,
    TASKS,
    Batch,
    CreateOptions,
    ItemCheck,
    ObjectKind,
    count_batches,
    encode_one,
    iter_batches,
    kind_of,
    operation_id,
    resolve_batch_size,
    successor_id,
)
from airflow_toloka.concurrency import (
    Progress,
    bounded_map,
)
from airflow_toloka.exceptions import (
    TolokaConflictError,
    TolokaError,
    TolokaInputError,
    TolokaValidationError,
)
from airflow_toloka.hooks.base import Request, seg
from airflow_toloka.hooks.operations import OperationsMixin, Timeout
from airflow_toloka.models import BatchCreateResult, Operation, Task, TaskSuite
from airflow_toloka.upload_results import (
    log_decoder,
    result_from_counters,
    result_from_log,
    result_from_sync_response,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["TasksMixin"]

_OPTION_NAMES = ("allow_defaults", "open_pool", "skip_invalid_items")


class _CreateKwargs(TypedDict, total=False):
    allow_defaults: bool | None
    open_pool: bool | None
    skip_invalid_items: bool | None
    async_mode: bool
    batch_size: int | None
    idempotency_key: str | None
    timeout: Timeout


class _CreateOneKwargs(TypedDict, total=False):
    allow_defaults: bool | None
    open_pool: bool | None
    async_mode: bool
    idempotency_key: str | None


class _SubmitKwargs(TypedDict, total=False):
    allow_defaults: bool | None
    open_pool: bool | None
    skip_invalid_items: bool | None
    operation_id: str | None


def _options(kwargs: Mapping[str, Any]) -> tuple[CreateOptions, dict[str, Any]]:
    """Split toloka-kit-style keyword arguments into the upload flags and the rest."""
    flags = {name: kwargs[name] for name in _OPTION_NAMES if name in kwargs}
    rest = {name: value for name, value in kwargs.items() if name not in _OPTION_NAMES}
    return CreateOptions(**flags), rest


class TasksMixin(OperationsMixin):
    """Tasks and task suites with toloka-kit's method names: create them in batches under deterministic operation
    ids, read them, and turn finished uploads into results by input index.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: batches submitted and awaited concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def get_task(self, task_id: str) -> Task:
        """Read a task.

        :param task_id: the task id.
        :return: the task as Toloka stored it.
        :raises TolokaDoesNotExistError: when Toloka has no such task.
        """
        return self._request("GET", f"{TASKS.path}/{seg(task_id)}", model=Task)

    def get_tasks(self, **filters: Any) -> Iterator[Task]:
        """Every task matching Toloka's search (``pool_id``, ``created_gte`` …), lazily, paged by id.

        :param filters: query parameters of ``GET /tasks``.
        :return: the tasks in id order.
        """
        for page in self._pages(TASKS.path, {**filters, "limit": 10_000}):
            yield from (Task.model_validate(raw) for raw in page)

    def get_task_suite(self, task_suite_id: str) -> TaskSuite:
        """Read a task suite.

        :param task_suite_id: the task suite id.
        :return: the suite as Toloka stored it.
        :raises TolokaDoesNotExistError: when Toloka has no such suite.
        """
        return self._request("GET", f"{TASK_SUITES.path}/{seg(task_suite_id)}", model=TaskSuite)

    def create_task(self, task: Task | Mapping[str, Any], **kwargs: Unpack[_CreateOneKwargs]) -> Task:
        """Create one task; takes ``allow_defaults``, ``open_pool``, ``async_mode``, ``idempotency_key``.

        :param task: the task.
        :return: the task as Toloka stored it.
        :raises TolokaInputError: when the task is invalid (nothing is sent).
        :raises TolokaValidationError: when Toloka rejects it.
        """
        return self._create_one(TASKS, task, kwargs)  # type: ignore[no-any-return]

    def create_task_suite(
        self, task_suite: TaskSuite | Mapping[str, Any], **kwargs: Unpack[_CreateOneKwargs]
    ) -> TaskSuite:
        """:meth:`create_task` for one task suite, with the same keywords.

        :param task_suite: the suite.
        :return: the suite as Toloka stored it.
        :raises TolokaError: as :meth:`create_task` does.
        """
        return self._create_one(TASK_SUITES, task_suite, kwargs)  # type: ignore[no-any-return]

    def create_tasks(
        self, tasks: Iterable[Task | Mapping[str, Any]], **kwargs: Unpack[_CreateKwargs]
    ) -> BatchCreateResult:
        """Create many tasks in batches; see :meth:`create_objects` for the keywords.

        :param tasks: tasks as models or dicts, any iterable (a generator is never held whole).
        :return: created ids and rejections by input index.
        :raises TolokaInputError: for invalid input (nothing of a list is sent).
        :raises TolokaValidationError: when Toloka rejects items and ``skip_invalid_items`` is not set.
        """
        options, rest = _options(kwargs)
        return self.create_objects(TASKS, tasks, options=options, **rest)

    def create_task_suites(
        self, task_suites: Iterable[TaskSuite | Mapping[str, Any]], **kwargs: Unpack[_CreateKwargs]
    ) -> BatchCreateResult:
        """Create many task suites in batches: :meth:`create_tasks` for suites, same keywords and errors.

        :param task_suites: suites as models or dicts, any iterable.
        :return: created ids and rejections by input index.
        :raises TolokaError: as :meth:`create_tasks` does.
        """
        options, rest = _options(kwargs)
        return self.create_objects(TASK_SUITES, task_suites, options=options, **rest)

    def create_tasks_async(
        self, tasks: Iterable[Task | Mapping[str, Any]], **kwargs: Unpack[_SubmitKwargs]
    ) -> Operation:
        """Start one ``TASK.BATCH_CREATE`` operation (at most 10,000 tasks) and return without waiting.

        Takes ``allow_defaults``, ``open_pool``, ``skip_invalid_items`` and ``operation_id`` (random if omitted).

        :param tasks: the tasks.
        :return: the operation.
        :raises TolokaInputError: for invalid or too many items (nothing is sent).
        """
        options, rest = _options(kwargs)
        return self._submit_one(TASKS, tasks, options, **rest)

    def create_task_suites_async(
        self, task_suites: Iterable[TaskSuite | Mapping[str, Any]], **kwargs: Unpack[_SubmitKwargs]
    ) -> Operation:
        """:meth:`create_tasks_async` for suites: one ``TASK_SUITE.BATCH_CREATE`` operation, not awaited.

        :param task_suites: at most 10,000 suites.
        :return: the operation.
        :raises TolokaError: as :meth:`create_tasks_async` does.
        """
        options, rest = _options(kwargs)
        return self._submit_one(TASK_SUITES, task_suites, options, **rest)

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
        size = resolve_batch_size(batch_size, async_mode)
        key = idempotency_key or str(uuid.uuid4())
        progress = Progress(self.log, f"{kind.name} created", count_batches(items, size))
        result = BatchCreateResult()

        def run(batch: Batch) -> tuple[Batch, BatchCreateResult]:
            if not async_mode:
                return batch, self._create_sync_batch(kind, batch, options)
            op = self._submit(kind, batch, options, operation_id(key, kind, batch, options))
            return batch, self._result_from_log(kind, self.wait_operations([op], timeout=timeout)[0])

        batches = iter_batches(kind, items, size, self.input_checker(options))
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
        size = resolve_batch_size(batch_size, True)
        progress = Progress(self.log, f"{kind.name} submitted", count_batches(items, size))

        def submit(batch: Batch) -> tuple[Batch, Operation]:
            return batch, self._submit(
                kind, batch, options, operation_id(idempotency_key, kind, batch, options)
            )

        numbered: list[tuple[int, Operation]] = []
        batches = iter_batches(kind, items, size, self.input_checker(options))
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

    def _create_one(self, kind: ObjectKind, item: Any, kwargs: Mapping[str, Any]) -> Any:
        options, rest = _options(kwargs)
        if not rest.get("async_mode", True):
            # A sync request carries no operation id: there is nothing for an idempotency key to key.
            request = Request(
                "POST", kind.path, options.query(async_mode=False), encode_one(kind, item), False
            )
            return kind.model.model_validate(self._send(request))
        # One item either is created or fails: never skipped, whatever the pool would allow.
        options = replace(options, skip_invalid_items=False)
        result = self.create_objects(kind, [item], options=options, batch_size=1, **rest)
        return self._request("GET", f"{kind.path}/{seg(result.items[0])}", model=kind.model)

    def _submit_one(
        self,
        kind: ObjectKind,
        items: Iterable[Any],
        options: CreateOptions,
        *,
        operation_id: str | None = None,
    ) -> Operation:
        batches = list(iter_batches(kind, items, ASYNC_BATCH_LIMIT + 1, self.input_checker(options)))
        if not batches:
            raise TolokaInputError(f"no {kind.label} to create")
        if len(batches) > 1 or len(batches[0]) > ASYNC_BATCH_LIMIT:
            raise TolokaInputError(
                f"{kind.name}_async takes at most {ASYNC_BATCH_LIMIT} items (and one request's worth of "
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
            if op.status != "FAIL":
                self.log.info("Toloka operation %s already submitted earlier; reusing it", op_id)
                return op
            self.log.info("Toloka operation %s failed earlier and created nothing; submitting again", op_id)
            op_id = successor_id(op_id)
        raise TolokaError(f"batch {batch.number} failed in {MAX_RESUBMITS} operations; last one {op_id}")

    def _create_sync_batch(self, kind: ObjectKind, batch: Batch, options: CreateOptions) -> BatchCreateResult:
        # Sync mode is not idempotent on Toloka's side, so only failures that certainly did nothing are retried.
        request = Request("POST", kind.path, options.query(async_mode=False), batch.body, idempotent=False)
        try:
            return result_from_sync_response(batch, self._send(request))
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
