"""Tasks and task suites: creating them in batches, idempotently, and reading what was created.

:class:`TasksMixin` gives toloka-kit's method names to the upload machinery of
:class:`~airflow_toloka.hooks.uploads.UploadsMixin` (batches under deterministic operation ids, results by input
index), which user bonuses share.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_toloka.batching import TASK_SUITES, TASKS, CreateOptions
from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.hooks.base import Request, seg
from airflow_toloka.hooks.operations import Timeout
from airflow_toloka.hooks.uploads import UploadsMixin
from airflow_toloka.models import BatchCreateResult, Operation, Task, TaskSuite, compact_json

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


class TasksMixin(UploadsMixin):
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

    def get_task_suites(self, **filters: Any) -> Iterator[TaskSuite]:
        """Every task suite matching Toloka's search (``pool_id``, ``created_gte`` …), lazily, paged by id.

        :param filters: query parameters of ``GET /task-suites``.
        :return: the suites in id order.
        """
        for page in self._pages(TASK_SUITES.path, {**filters, "limit": 10_000}):
            yield from (TaskSuite.model_validate(raw) for raw in page)

    def patch_task_overlap_or_min(self, task_id: str, overlap: int, open_pool: bool = False) -> Task:
        """Set a task's overlap, or the smallest value still possible when more answers were already issued.

        More overlap on a finished task makes it issuable again; a CLOSED pool reopens only with ``open_pool``.
        The same call twice leaves the same overlap, so it is retried like a read.

        :param task_id: the task.
        :param overlap: the answers wanted in all (0 stops issuing it).
        :param open_pool: reopen the task's pool if it is CLOSED.
        :return: the task with its new ``overlap`` and ``remaining_overlap``.
        :raises TolokaDoesNotExistError: when Toloka has no such task.
        :raises TolokaValidationError: when Toloka refuses the overlap.
        """
        return self._set_overlap(TASKS.path, task_id, overlap, open_pool, Task)  # type: ignore[no-any-return]

    def patch_task_suite_overlap_or_min(
        self, task_suite_id: str, overlap: int, open_pool: bool = False
    ) -> TaskSuite:
        """:meth:`patch_task_overlap_or_min` for a task suite.

        :param task_suite_id: the suite.
        :param overlap: the answers wanted in all (0 stops issuing it).
        :param open_pool: reopen the suite's pool if it is CLOSED.
        :return: the suite with its new ``overlap`` and ``remaining_overlap``.
        :raises TolokaDoesNotExistError: when Toloka has no such suite.
        :raises TolokaValidationError: when Toloka refuses the overlap.
        """
        return self._set_overlap(TASK_SUITES.path, task_suite_id, overlap, open_pool, TaskSuite)  # type: ignore[no-any-return]

    def _set_overlap(self, base: str, object_id: str, overlap: int, open_pool: bool, model: type[Any]) -> Any:
        if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
            raise TolokaInputError(f"overlap must be a whole number of answers, 0 or more, not {overlap!r}")
        return self._send(
            Request(
                "PATCH",
                f"{base}/{seg(object_id)}/set-overlap-or-min",
                params={"open_pool": True} if open_pool else None,
                body=compact_json({"overlap": overlap}).encode(),
                idempotent=True,
                model=model,
            )
        )

    def create_task(self, task: Task | Mapping[str, Any], **kwargs: Unpack[_CreateOneKwargs]) -> Task:
        """Create one task; takes ``allow_defaults``, ``open_pool``, ``async_mode``, ``idempotency_key``.

        :param task: the task.
        :return: the task as Toloka stored it.
        :raises TolokaInputError: when the task is invalid (nothing is sent).
        :raises TolokaValidationError: when Toloka rejects it.
        """
        options, rest = _options(kwargs)
        return self._create_one(TASKS, task, options, **rest)  # type: ignore[no-any-return]

    def create_task_suite(
        self, task_suite: TaskSuite | Mapping[str, Any], **kwargs: Unpack[_CreateOneKwargs]
    ) -> TaskSuite:
        """:meth:`create_task` for one task suite, with the same keywords.

        :param task_suite: the suite.
        :return: the suite as Toloka stored it.
        :raises TolokaError: as :meth:`create_task` does.
        """
        options, rest = _options(kwargs)
        return self._create_one(TASK_SUITES, task_suite, options, **rest)  # type: ignore[no-any-return]

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
