"""Operators that upload tasks and task suites to Toloka, batched, idempotent and optionally deferrable.

The two operators share one base and differ only in what they build and which endpoint they hit. The flow:
validate all input locally (nothing is sent if any item is bad), submit batches with operation ids derived from
dag/run/task/map index (so an Airflow retry, or a worker killed mid-upload, never duplicates tasks), push the
operation and pool ids to XCom, then wait — on the worker, or in the triggerer when ``deferrable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import conf

from airflow_toloka.batching import (
    TASK_SUITES,
    TASKS,
    BatchSpool,
    CreateOptions,
    ObjectKind,
    operation_id,
    resolve_batch_size,
    spool_batches,
)
from airflow_toloka.events import OperationEvent
from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.files import read_items, write_results_jsonl
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.models import BatchCreateResult, Operation
from airflow_toloka.operators.base import TolokaBaseOperator, run_key, write_owner
from airflow_toloka.operators.links import (
    XCOM_OPERATION_IDS,
    XCOM_POOL_IDS,
    XCOM_TOLOKA_URL,
    TolokaOperationLink,
    TolokaPoolLink,
    push_link_values,
)
from airflow_toloka.triggers.operation import defer_until_done
from airflow_toloka.version_compat import task_state_store

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_toloka.lineage import LineageDataset

__all__ = ["CreateTaskSuitesOperator", "CreateTasksOperator", "TolokaOperationLink", "TolokaPoolLink"]

_STATE_KEY = "toloka_operation_ids"
_STATE_POOLS = "toloka_pool_ids"
_STATE_TOTAL = "toloka_total"
# The operation ids the input maps to, kept before anything is sent: a retry compares its input against them.
_STATE_INPUT = "toloka_input_ids"


class _CreateObjectsOperator(TolokaBaseOperator):
    """Shared flow of :class:`CreateTasksOperator` and :class:`CreateTaskSuitesOperator`.

    :param pool_id: pool for items that do not name one.
    :param file_format: ``tsv``, ``csv``, ``json`` or ``jsonl``; guessed from the file name when omitted.
    :param column_map: renames of file columns before mapping (see :mod:`airflow_toloka.files`).
    :param encoding: text encoding of the file; the default reads UTF-8 with or without a byte-order mark.
    :param allow_defaults: take overlap from the pool defaults for items without one.
    :param open_pool: open the pool once the upload succeeded.
    :param skip_invalid_items: create the valid items and report the rejected ones instead of failing
        (the task still fails when nothing at all was created).
    :param async_mode: must stay ``True`` (Toloka operations): synchronous requests carry no operation id, so a
        retry could not find what an earlier try created.
    :param batch_size: items per request (≤10,000 async, ≤5,000 sync).
    :param toloka_conn_id: Airflow connection to Toloka.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param poll_interval: seconds between status polls while waiting.
    :param timeout: how long to wait for Toloka to process the upload.
    :param wait_for_completion: ``False`` submits, pushes the operation ids and returns (pair it with
        :class:`~airflow_toloka.sensors.TolokaOperationSensor`).
    :param results_path: where to write one JSON line per input item (index, id or errors); the path is returned.
    :param max_ids_in_xcom: created ids are returned in input order only up to this many items.
    :param idempotency_key: overrides the default key of the batches, ``dag_id/<logical date>/task_id/map_index``
        (the run id in place of the date for runs without one); set it for pipelines partitioned otherwise.
    :param max_in_flight: batches submitted concurrently.
    """

    kind: ClassVar[ObjectKind]
    operator_extra_links = (TolokaPoolLink(), TolokaOperationLink())
    ui_color = "#f3d34a"

    def __init__(
        self,
        *,
        pool_id: str | int | None = None,
        file_format: str | None = None,
        column_map: Mapping[str, str] | None = None,
        encoding: str = "utf-8-sig",
        allow_defaults: bool | None = None,
        open_pool: bool | None = None,
        skip_invalid_items: bool | None = None,
        async_mode: bool = True,
        batch_size: int | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        timeout: timedelta | float = timedelta(hours=1),
        wait_for_completion: bool = True,
        results_path: Any = None,
        max_ids_in_xcom: int = 1000,
        idempotency_key: str | None = None,
        max_in_flight: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not async_mode:
            raise ValueError(
                "async_mode=False cannot be made safe to retry: Toloka's synchronous requests carry no operation "
                "id, so an Airflow retry after a lost answer would create the same tasks again; use the default "
                "async mode (TolokaHook.create_tasks(async_mode=False) remains for code that handles that itself)"
            )
        if results_path and not wait_for_completion:
            raise ValueError(
                "results_path is written once the upload is finished, and wait_for_completion=False does not wait "
                "for that; drop one of the two (TolokaHook.operation_results reads the results later)"
            )
        # what is read
        self.pool_id, self.file_format, self.column_map, self.encoding = (
            pool_id,
            file_format,
            column_map,
            encoding,
        )
        # how it is sent
        self.allow_defaults, self.open_pool = allow_defaults, open_pool
        self.skip_invalid_items, self.async_mode, self.batch_size = skip_invalid_items, async_mode, batch_size
        self.max_in_flight, self.idempotency_key = max_in_flight, idempotency_key
        # how it is awaited and reported
        self.deferrable, self.poll_interval, self.wait_for_completion = (
            deferrable,
            poll_interval,
            wait_for_completion,
        )
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        self.results_path, self.max_ids_in_xcom = results_path, max_ids_in_xcom
        self.lineage_pool_ids: list[str] = []  # the pools this execution uploaded to, once known

    def _input(self) -> tuple[Any, Any]:
        """The in-memory items and the file path, one of them None (``tasks``/``tasks_path`` and the like)."""
        return getattr(self, self.kind.name), getattr(self, f"{self.kind.name}_path")

    def hook_options(self) -> dict[str, Any]:
        """The upload's concurrency and polling pace, set on the hook.

        :return: ``max_in_flight`` and ``poll_interval``.
        """
        return {"max_in_flight": self.max_in_flight, "poll_interval": self.poll_interval}

    @property
    def options(self) -> CreateOptions:
        """The upload flags as the hook takes them."""
        return CreateOptions(self.allow_defaults, self.open_pool, self.skip_invalid_items)

    # ------------------------------------------------------------------ input

    def _items(self) -> Iterable[Any]:
        """The input with ``pool_id`` filled in, streamed (validation spools it before anything is sent)."""
        items, path = self._input()
        if (items is None) == (path is None):
            name = self.kind.name
            raise TolokaInputError(f"pass exactly one of {name}= or {name}_path=")
        if path is not None:
            rows = read_items(
                path, file_format=self.file_format, column_map=self.column_map, encoding=self.encoding
            )
            return self._with_pool(rows)
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise TolokaInputError(
                f"{self.kind.name} must be a list of dicts or models, got {type(items).__name__}"
            )
        return self._with_pool(items)

    def _with_pool(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            if self.pool_id is not None and isinstance(item, Mapping) and item.get("pool_id") in (None, ""):
                item = {**item, "pool_id": str(self.pool_id)}
            yield item

    def _validated_input(self, size: int) -> BatchSpool:
        """Validate everything before the first request, keeping the request bodies for the upload.

        See docs/performance.md, "Spooling request bodies".
        """
        try:
            spool = spool_batches(self.kind, self._items(), size, self.hook.input_checker(self.options))
        except TolokaInputError as exc:
            if exc.index is None:
                raise
            field = f", field '{exc.field}'" if exc.field else ""
            raise TolokaInputError(f"{self._label(exc.index)}{field}: {exc.reason}") from None
        if spool.count == 0:
            spool.close()
            raise TolokaInputError(f"no {self.kind.label} to upload: the input is empty")
        return spool

    def _label(self, index: int) -> str:
        """How an input item is named in errors: the file and its 1-based data row, or the list index."""
        _, path = self._input()
        return f"{path}, data row {index + 1}" if path is not None else f"item {index}"

    def lineage_datasets(self) -> tuple[list[LineageDataset], list[LineageDataset]]:
        """The input file (none for in-memory items) into the pools it was uploaded to.

        :return: inputs and outputs; before the pools are known (a task that failed validating), the
            ``pool_id`` parameter's pool.
        """
        from airflow_toloka.lineage import file_dataset

        _, path = self._input()
        pools: list[Any] = list(self.lineage_pool_ids) or [self.pool_id]
        return ([file_dataset(path)] if path is not None else []), self.lineage_pools(pools)

    # ------------------------------------------------------------------ execution

    def run(self, context: Context) -> dict[str, Any]:
        """Validate all input, upload it in batches (or re-attach to an earlier try's), and wait.

        :param context: the task context.
        :return: the upload summary (see the class docstring), or ``status: SUBMITTED`` without waiting.
        :raises TolokaInputError: for invalid input, before anything is sent.
        :raises TolokaValidationError: when Toloka rejects items and ``skip_invalid_items`` is not set.
        :raises TolokaTimeoutError: when Toloka is still processing at ``timeout``.
        """
        ti = context["ti"]
        push_link_values(self, ti, {XCOM_TOLOKA_URL: self.hook.base_url})
        ops, pools, total = self._submit_or_resume(context)
        self.lineage_pool_ids = [str(p) for p in pools]
        ids = [op.id for op in ops]
        push_link_values(self, ti, {XCOM_OPERATION_IDS: ids, XCOM_POOL_IDS: pools})
        if not self.wait_for_completion:
            return {"kind": self.kind.name, "status": "SUBMITTED", "operation_ids": ids, "pool_ids": pools}
        return self._wait_or_defer(context, ops, total, pools)

    def _submit_or_resume(self, context: Context) -> tuple[list[Operation], list[Any], int | None]:
        """The upload's operations, its pools and its item count: re-attached to what an earlier try of this
        task instance left running (Airflow 3.3's ``task_state_store``), else validated and submitted now."""
        state = task_state_store(context)  # None on Airflow 3.2: retries rely on the operation ids alone
        ops = self._resume(self.hook, state)
        if ops is not None:
            # The earlier try's pools, so the pool link and the summary of a re-attached upload are not empty.
            saved = state.get(_STATE_POOLS) if state is not None else None
            counted = state.get(_STATE_TOTAL) if state is not None else None
            pools = [str(p) for p in saved] if isinstance(saved, list) else []
            return ops, pools, counted if isinstance(counted, int) else None
        with self._validated_input(resolve_batch_size(self.batch_size, self.async_mode)) as spool:
            key = self.idempotency_key or run_key(context)
            if state is not None:
                self._check_unchanged(state, spool, key)
            ops = self.hook.submit_batches(
                self.kind, spool, idempotency_key=key, options=self.options, batch_size=self.batch_size
            )
        if state is not None:
            state.set(_STATE_KEY, [op.id for op in ops])
            state.set(_STATE_POOLS, list(spool.pool_ids))
            state.set(_STATE_TOTAL, spool.count)
        self.log.info("Submitted %d %s in %d Toloka operation(s)", spool.count, self.kind.name, len(ops))
        return ops, list(spool.pool_ids), spool.count

    def _wait_or_defer(
        self, context: Context, ops: list[Operation], total: int | None, pools: list[Any]
    ) -> dict[str, Any]:
        """Defer to the triggerer while Toloka works (``deferrable``), else wait here; then the summary."""
        ids = [op.id for op in ops]
        if self.deferrable and not all(op.is_completed for op in ops):
            defer_until_done(self, ids, timeout=self.timeout, kwargs={"total": total})
        done = self.hook.wait_operations(ops, timeout=self.timeout)
        return self._finish(context, self._results(done), total, pools)

    def _check_unchanged(self, state: Any, spool: BatchSpool, key: str) -> None:
        """Refuse an input that changed since an earlier try of this task instance; remember this one first.

        A changed batch gets a new operation id, so sending it again would create its unchanged items twice.
        """
        planned = [operation_id(key, self.kind, batch, self.options) for batch in spool]
        earlier = state.get(_STATE_INPUT)
        if isinstance(earlier, dict) and earlier.get("key") == key and earlier.get("ids") != planned:
            raise TolokaInputError(
                f"the input changed since an earlier try of this task submitted it in {len(earlier['ids'])} "
                "batch(es); sending it again would create its unchanged items twice, so nothing was sent: restore "
                "the input, or give this upload a new idempotency_key"
            )
        state.set(_STATE_INPUT, {"key": key, "ids": planned})

    def _results(self, ops: Sequence[Operation | str]) -> BatchCreateResult:
        # Created ids are worth keeping for a results file, else only as many as XCom would get.
        max_ids = None if self.results_path else self.max_ids_in_xcom
        return self.hook.operation_results(self.kind, ops, max_ids=max_ids)

    def _resume(self, hook: TolokaHook, state: Any) -> list[Operation] | None:
        """Re-attach to operations a previous try submitted that Toloka is still processing (Airflow 3.3+)."""
        ids = state.get(_STATE_KEY) if state is not None else None
        if not ids:
            return None
        ops = [hook.get_operation(i) for i in ids]
        if all(op.is_completed for op in ops):
            return None  # resubmitting is free: finished operations come back by their deterministic ids
        self.log.info("Resuming %d Toloka operation(s) submitted by an earlier try", len(ops))
        return ops

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, total: int | None = None
    ) -> dict[str, Any]:
        """Turn the trigger's event into the upload result or a clear failure.

        A ``failed`` event still reads the results: the operations' logs say which items Toloka rejected.

        :param context: the task context.
        :param event: the trigger's payload.
        :param total: how many items the upload had (passed on through the deferral).
        :return: the upload summary.
        :raises TolokaError: for a malformed event or an error while polling.
        :raises TolokaTimeoutError: naming the operations still running at the deadline.
        :raises TolokaValidationError: when Toloka rejected items and ``skip_invalid_items`` is not set.
        """
        parsed = OperationEvent.parse(event)
        error = parsed.error()
        if error is not None and parsed.status != "failed":
            raise error
        try:
            result = self._results(parsed.operation_ids)
            return self._finish(context, result, total, [] if result.pool_ids else _pushed_pools(context))
        finally:
            self.hook.close()

    # ------------------------------------------------------------------ result

    def _finish(
        self,
        context: Context,
        result: BatchCreateResult,
        total: int | None = None,
        pools: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        created = result.created_count
        # The input's count whenever it is known: items of a batch Toloka refused whole are neither created nor
        # rejected one by one, and must still be counted.
        total = total if total is not None else created + len(result.validation_errors)
        summary: dict[str, Any] = {
            "kind": self.kind.name,
            "status": "SUCCESS",
            # Read from the logs; when only counters were read, the pools the upload pushed before waiting.
            "pool_ids": result.pool_ids or list(pools or []),
            "operation_ids": result.operation_ids,
            "total": total,
            "created": created,
            "failed": len(result.validation_errors),
            "ids": [result.items.get(i) for i in range(total)] if total <= self.max_ids_in_xcom else None,
            "results_path": None,
        }
        self.lineage_pool_ids = [str(p) for p in summary["pool_ids"]]
        if self.results_path:
            summary["results_path"] = write_results_jsonl(
                self.results_path, _result_rows(result, total), write_owner(context)
            )
        if result.validation_errors:
            self.log.warning(
                "%d of %d %s rejected, e.g. %s",
                len(result.validation_errors),
                total,
                self.kind.name,
                {
                    self._label(i): {f: e.code for f, e in errs.items()}
                    for i, errs in sorted(result.validation_errors.items())[:10]
                },
            )
        missing = total - created - len(result.validation_errors)
        if missing > 0:
            self.log.warning(
                "%d of %d %s were not created: their batches failed as a whole",
                missing,
                total,
                self.kind.name,
            )
        result.raise_for_rejected(self.skip_invalid_items, total=total, label=self._label)
        self.log.info("Toloka created %d of %d %s", created, total, self.kind.name)
        return summary


def _map_index(context: Context) -> int:
    return getattr(context["ti"], "map_index", -1)


def _pushed_pools(context: Context) -> list[str]:
    """The pool ids this task instance pushed before it deferred."""
    ti = context["ti"]
    pools = ti.xcom_pull(task_ids=ti.task_id, key=XCOM_POOL_IDS, map_indexes=_map_index(context))
    return [str(p) for p in pools] if isinstance(pools, list) else []


_NOT_CREATED = "its batch was refused as a whole (another item in it was rejected, or its operation failed)"


def _result_rows(result: BatchCreateResult, total: int) -> Iterator[dict[str, Any]]:
    """One row per input item: its id, its errors, or why it was not created."""
    for i in range(total):
        if i in result.items:
            yield {"index": i, "id": result.items[i]}
        elif i in result.validation_errors:
            errors = {f: e.model_dump(exclude_none=True) for f, e in result.validation_errors[i].items()}
            yield {"index": i, "errors": errors}
        else:
            yield {"index": i, "status": "not_created", "reason": _NOT_CREATED}


class CreateTasksOperator(_CreateObjectsOperator):
    """Upload tasks (general and control tasks alike) to Toloka pools.

    :param tasks: task dicts or :class:`~airflow_toloka.models.Task` objects, e.g. an upstream ``XComArg``.
    :param tasks_path: a TSV, CSV, JSON or JSONL file on any ``ObjectStoragePath`` (``/data/x.tsv``,
        ``s3://conn@bucket/x.jsonl`` …), read streaming.

    Returns ``{kind, status, pool_ids, operation_ids, total, created, failed, ids, results_path}``.
    """

    kind = TASKS
    template_fields: Sequence[str] = ("tasks", "tasks_path", "pool_id", "results_path", "idempotency_key")

    def __init__(self, *, tasks: Any = None, tasks_path: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tasks = tasks
        self.tasks_path = tasks_path


class CreateTaskSuitesOperator(_CreateObjectsOperator):
    """Upload task suites (pages of tasks shown together) to Toloka pools.

    :param task_suites: suite dicts or :class:`~airflow_toloka.models.TaskSuite` objects.
    :param task_suites_path: a JSON or JSONL file of suites on any ``ObjectStoragePath``.

    Returns the same summary as :class:`CreateTasksOperator`.
    """

    kind = TASK_SUITES
    template_fields: Sequence[str] = (
        "task_suites",
        "task_suites_path",
        "pool_id",
        "results_path",
        "idempotency_key",
    )

    def __init__(self, *, task_suites: Any = None, task_suites_path: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_suites = task_suites
        self.task_suites_path = task_suites_path
