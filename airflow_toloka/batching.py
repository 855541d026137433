"""Batching: what is created, how input items become request bodies cut by count and by bytes, and the
operation id of each batch.

Everything here is a plain function or a small class that needs no server and no hook, so it is tested on its
own (``tests/unit/test_batching.py``). Its only I/O is :class:`BatchSpool`'s temporary file, where validated
request bodies wait until the whole input has been checked. The hook (:mod:`airflow_toloka.hooks.toloka`) sends
what this module builds; :mod:`airflow_toloka.upload_results` reads what Toloka answered. Why the hot paths look
the way they do is written down in ``docs/performance.md``.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from airflow_toloka.exceptions import (
    TolokaInputError,
)
from airflow_toloka.models import (
    TASK_SUITES,
    TASKS,
    USER_BONUSES,
    BaseTask,
    ObjectKind,
    TaskSuite,
    TolokaModel,
    compact_json,
)

__all__ = [
    "ASYNC_BATCH_LIMIT",
    "ITEM_IDX",
    "KINDS",
    "MAX_INPUT_BYTES",
    "MAX_OUTPUT_BYTES",
    "MAX_RESUBMITS",
    "SYNC_BATCH_LIMIT",
    "TASKS",
    "TASK_SUITES",
    "USER_BONUSES",
    "Batch",
    "BatchSpool",
    "CreateOptions",
    "ItemCheck",
    "ObjectKind",
    "batch_limit",
    "count_batches",
    "encode_batches",
    "encode_one",
    "goes_to_pools",
    "iter_batches",
    "kind_of",
    "operation_id",
    "resolve_batch_size",
    "spool_batches",
    "successor_id",
    "validate_chunk",
]

ASYNC_BATCH_LIMIT = 10_000
SYNC_BATCH_LIMIT = 5_000
"""Toloka's most tasks or suites per request, async and sync; other kinds have their own (:func:`batch_limit`)."""
# Bonuses: Toloka takes at most 100 per sync request. Its async limit is not documented, so an async batch is
# kept at 1,000: well inside what the task endpoints take, small enough that one operation's log is read quickly
# and a refused batch (a duplicate, a malformed item) holds back little, and large enough that Toloka's 10,000
# bonus requests a day still pay ten million bonuses (docs/toloka-api.md M2).
_LIMITS: dict[str, tuple[int, int]] = {USER_BONUSES.name: (1_000, 100)}
# Toloka's limits on the data of one request: all ``input_values`` together, and all solutions' ``output_values``
# (docs/performance.md, "Batching by bytes").
MAX_INPUT_BYTES = 1_048_576
MAX_OUTPUT_BYTES = 4_194_304
# Every item of a request carries its input position, so results map back to the caller's input through the
# operation log whatever order Toloka writes it in.
ITEM_IDX = "__item_idx"
# Fixed namespace so that the same work always maps to the same Toloka operation ids, on any machine.
_OPERATION_NAMESPACE = uuid.UUID("6f3b1c1e-0d4a-5b7e-9a51-7a0f1ca7b0e1")
# How often one batch may be submitted again after its operation FAILed, across all tries of an upload.
MAX_RESUBMITS = 100
# Items per validator call: see docs/performance.md, "Validating in chunks".
_VALIDATE_CHUNK = 100

T = TypeVar("T")
R = TypeVar("R")
ItemCheck = Callable[[Any, int], None]
"""A check of one validated item and its input index that raises :class:`TolokaInputError`."""


KINDS: dict[str, ObjectKind] = {k.name: k for k in (TASKS, TASK_SUITES, USER_BONUSES)}
"""What the batched, idempotent upload creates, by name."""
_POOLED = frozenset({TASKS.name, TASK_SUITES.name})


def kind_of(kind: ObjectKind | str) -> ObjectKind:
    """The :class:`ObjectKind` for a kind or its name.

    :param kind: an :class:`ObjectKind`, ``"tasks"``, ``"task_suites"`` or ``"user_bonuses"``.
    :return: the kind.
    :raises ValueError: for an unknown name.
    """
    if isinstance(kind, ObjectKind):
        return kind
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}") from None


@dataclass(frozen=True)
class CreateOptions:
    """The upload flags Toloka takes in the query string; ``None`` leaves a flag to Toloka's default.

    :param allow_defaults: take overlap from the pool defaults for items without one.
    :param open_pool: open the pool once the items are created.
    :param skip_invalid_items: create the valid items and report the rejected ones instead of failing.
    """

    allow_defaults: bool | None = None
    open_pool: bool | None = None
    skip_invalid_items: bool | None = None

    def _flags(self) -> list[tuple[str, bool]]:
        flags = (
            ("allow_defaults", self.allow_defaults),
            ("open_pool", self.open_pool),
            ("skip_invalid_items", self.skip_invalid_items),
        )
        return [(name, value) for name, value in flags if value is not None]

    def query(self, *, async_mode: bool, operation_id: str | None = None) -> dict[str, str]:
        """The query string of a create request.

        :param async_mode: whether Toloka runs the request as an async operation.
        :param operation_id: the idempotency id of an async operation.
        :return: query parameters, booleans in Toloka's lowercase form.
        """
        query = {name: str(value).lower() for name, value in self._flags()}
        query["async_mode"] = str(async_mode).lower()
        if operation_id is not None:
            query["operation_id"] = operation_id
        return query

    def fingerprint(self) -> bytes:
        """The flags as bytes for :func:`operation_id`: other flags make other operations.

        :return: the set flags, sorted, as compact JSON.
        """
        return _dumps(sorted(self._flags()))


@dataclass
class Batch:
    """One request's worth of validated input: its position in the input and its serialised body.

    :param number: position of the batch in the upload, from 0.
    :param first_index: input index of the batch's first item.
    :param count: items in the batch.
    :param body: the JSON array sent to Toloka.
    :param pool_ids: pools the items go to, in first-seen order.
    """

    number: int
    first_index: int
    count: int
    body: bytes
    pool_ids: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.count


def goes_to_pools(kind: ObjectKind) -> bool:
    """Whether items of ``kind`` name a pool they go to (tasks, suites), so the pool's input check applies.

    :param kind: what is uploaded.
    :return: True for tasks and task suites.
    """
    return kind.name in _POOLED


def batch_limit(kind: ObjectKind, async_mode: bool) -> int:
    """The most items of ``kind`` one request may carry.

    :param kind: what is uploaded.
    :param async_mode: async operation or sync request.
    :return: tasks and suites 10,000 async, 5,000 sync; bonuses 1,000 async (Toloka documents no limit), 100 sync.
    """
    async_limit, sync_limit = _LIMITS.get(kind.name, (ASYNC_BATCH_LIMIT, SYNC_BATCH_LIMIT))
    return async_limit if async_mode else sync_limit


def resolve_batch_size(requested: int | None, async_mode: bool, kind: ObjectKind = TASKS) -> int:
    """The batch size to use: Toloka's per-request limit unless a smaller one was asked for.

    :param requested: the caller's batch size, or None for the limit.
    :param async_mode: async operations take more items than sync requests (:func:`batch_limit`).
    :param kind: what is uploaded.
    :return: the batch size.
    :raises ValueError: when ``requested`` is outside 1..limit.
    """
    limit = batch_limit(kind, async_mode)
    if requested is None:
        return limit
    if not 1 <= requested <= limit:
        mode = "async" if async_mode else "sync"
        raise ValueError(f"batch_size must be between 1 and {limit} in {mode} mode, got {requested}")
    return requested


@functools.cache
def _list_adapter(model: type[TolokaModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def validate_chunk(kind: ObjectKind, first_index: int, chunk: list[Any]) -> list[Any]:
    """Validate consecutive input items in one call.

    :param kind: what the items are.
    :param first_index: input index of ``chunk[0]``.
    :param chunk: dicts or models.
    :return: the validated models.
    :raises TolokaInputError: naming the first bad item's input index and field, as one-by-one checks would.
    """
    model = kind.model
    for offset, item in enumerate(chunk):
        if type(item) is not dict and not isinstance(item, (model, Mapping)):
            validate_chunk(kind, first_index, chunk[:offset])  # an earlier bad item is reported first
            raise TolokaInputError(
                f"expected a {model.__name__} or a dict, got {type(item).__name__}",
                index=first_index + offset,
            )
    try:
        return _list_adapter(model).validate_python(chunk)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        offset = min(int(err["loc"][0]) for err in errors)
        mine = [err for err in errors if err["loc"][0] == offset]
        loc = ".".join(str(p) for p in mine[0]["loc"][1:])
        more = f" (and {len(mine) - 1} more problem(s))" if len(mine) > 1 else ""
        raise TolokaInputError(
            f"{mine[0]['msg']}{more}", index=first_index + offset, field=loc or None
        ) from None


def encode_one(kind: ObjectKind, item: Any) -> bytes:
    """Validate one item and render it as a request body of its own (no input-index tag).

    :param kind: what the item is.
    :param item: a dict or model.
    :return: the JSON body.
    :raises TolokaInputError: when the item is invalid.
    """
    wire = validate_chunk(kind, 0, [item])[0].to_json_dict()
    wire.pop(ITEM_IDX, None)
    return _dumps(wire)


def _item_json(kind: ObjectKind, obj: Any, index: int) -> bytes:
    """One validated model as JSON, tagged with its input index (pydantic-core writes it, no dict between)."""
    extra = obj.__pydantic_extra__
    if extra and ITEM_IDX in extra:
        # The caller's own tag is overwritten where it stands, so the body stays what it always was.
        wire = obj.to_json_dict()
        wire[ITEM_IDX] = str(index)
        return _dumps(wire)
    serializer = (
        kind.model.__pydantic_serializer__ if type(obj) is kind.model else obj.__pydantic_serializer__
    )
    raw: bytes = serializer.to_json(obj, exclude_none=True, by_alias=True)
    tag = b'"__item_idx":"%d"}' % index
    return raw[:-1] + (b"," + tag if len(raw) > 2 else tag)


def _data_sizes(obj: Any) -> tuple[int, int]:
    """The JSON bytes of one item's ``input_values`` and of its solutions' ``output_values`` (none for a bonus)."""
    inputs = outputs = 0
    tasks = obj.tasks if isinstance(obj, TaskSuite) else (obj,) if isinstance(obj, BaseTask) else ()
    for task in tasks:
        inputs += len(to_json(task.input_values))
        for solution in task.known_solutions or ():
            outputs += len(to_json(solution.output_values))
        for solution in getattr(task, "baseline_solutions", None) or ():
            outputs += len(to_json(solution.output_values))
    return inputs, outputs


def encode_batches(
    kind: ObjectKind,
    items: Iterable[Any],
    batch_size: int,
    max_input_bytes: int = MAX_INPUT_BYTES,
    max_output_bytes: int = MAX_OUTPUT_BYTES,
    check: ItemCheck | None = None,
) -> Iterator[Batch]:
    """Validate input and cut it into request bodies, lazily, by count and by bytes.

    A batch ends at ``batch_size`` items, or before the item that would take the batch's ``input_values`` past
    ``max_input_bytes`` or its solutions' ``output_values`` past ``max_output_bytes`` (Toloka's per-request
    limits). An item over a limit on its own goes in a batch of its own, and Toloka decides about it.
    Validation never reads past the batch being built, so a generator's bad item fails only when its batch is
    reached. The same input gives the same bodies, which keeps operation ids deterministic.

    :param kind: what the items are.
    :param items: dicts or models, any iterable.
    :param batch_size: most items per batch.
    :param max_input_bytes: most bytes of ``input_values`` per batch.
    :param max_output_bytes: most bytes of solutions' ``output_values`` per batch.
    :param check: a further check of each validated item and its input index (its pool's input spec).
    :return: the batches in input order.
    :raises TolokaInputError: at the first invalid item.
    """
    source = iter(items)
    parts: list[bytes] = []
    pools: dict[str, None] = {}
    inputs = outputs = number = first = index = 0

    def cut() -> Batch:
        nonlocal parts, pools, inputs, outputs, number, first
        batch = Batch(number, first, len(parts), b"[" + b",".join(parts) + b"]", tuple(pools))
        number, first = number + 1, first + len(parts)
        parts, pools, inputs, outputs = [], {}, 0, 0
        return batch

    while True:
        chunk = list(islice(source, min(_VALIDATE_CHUNK, batch_size - len(parts))))
        for obj in validate_chunk(kind, index, chunk):
            if check is not None:
                check(obj, index)
            raw = _item_json(kind, obj, index)
            item_in, item_out = _data_sizes(obj)
            index += 1
            if parts and (inputs + item_in > max_input_bytes or outputs + item_out > max_output_bytes):
                yield cut()
            parts.append(raw)
            pool_id = getattr(obj, "pool_id", None)
            if pool_id is not None:
                pools[str(pool_id)] = None
            inputs, outputs = inputs + item_in, outputs + item_out
        if parts and (len(parts) >= batch_size or not chunk):
            yield cut()
        if not chunk:
            return


def iter_batches(
    kind: ObjectKind, items: Iterable[Any], batch_size: int, check: ItemCheck | None = None
) -> Iterator[Batch]:
    """The batches of an upload, every item validated before the first batch is given out.

    :param kind: what the items are.
    :param items: a list, any other iterable of dicts or models, or a :class:`BatchSpool` (checked already).
    :param batch_size: most items per batch.
    :param check: a further check of each validated item and its input index.
    :return: the batches in input order.
    :raises TolokaInputError: for input that is not an iterable of items, or an invalid item.
    :raises ValueError: for a spool cut at another batch size.
    """
    if isinstance(items, BatchSpool):
        if items.batch_size != batch_size:
            raise ValueError(f"spooled batches hold {items.batch_size} items, not {batch_size}")
        yield from items
        return
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise TolokaInputError(
            f"{kind.name} must be a list or other iterable of {kind.model.__name__} objects or dicts, "
            f"got {type(items).__name__}"
        )
    if isinstance(items, Sequence):
        yield from list(
            encode_batches(kind, items, batch_size, check=check)
        )  # all validated before the first
        return
    # Any other iterable is read once and validated whole into a spool, not memory, before the first batch.
    with spool_batches(kind, items, batch_size, check) as spool:
        yield from spool


def spool_batches(
    kind: ObjectKind, items: Iterable[Any], batch_size: int, check: ItemCheck | None = None
) -> BatchSpool:
    """Validate all input into a :class:`BatchSpool`: nothing is sent until every item passed.

    :param kind: what the items are.
    :param items: dicts or models, any iterable; read once.
    :param batch_size: most items per batch.
    :param check: a further check of each validated item and its input index.
    :return: the spool (the caller closes it).
    :raises TolokaInputError: at the first invalid item (the spool is gone then).
    """
    spool = BatchSpool(batch_size)
    try:
        for batch in encode_batches(kind, items, batch_size, check=check):
            spool.add(batch)
    except BaseException:
        spool.close()
        raise
    return spool


class BatchSpool:
    """Validated request bodies parked in a temporary file.

    The operator's validation pass writes here and the upload sends the same bytes (docs/performance.md,
    "Spooling request bodies").

    :param batch_size: the batch size the bodies were cut at.
    """

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.count = 0
        self.pool_ids: dict[str, None] = {}
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives until close()
        # first index, count, offset, length, pools
        self._index: list[tuple[int, int, int, int, tuple[str, ...]]] = []

    def add(self, batch: Batch) -> None:
        """Park one batch.

        :param batch: the next batch of the upload.
        """
        offset = self._file.seek(0, 2)
        self._file.write(batch.body)
        self._index.append((batch.first_index, batch.count, offset, len(batch.body), batch.pool_ids))
        self.count += batch.count
        self.pool_ids.update(dict.fromkeys(batch.pool_ids))

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[Batch]:
        for number, (first, count, offset, length, pools) in enumerate(self._index):
            self._file.seek(offset)
            yield Batch(number, first, count, self._file.read(length), pools)

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __enter__(self) -> BatchSpool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def operation_id(key: str, kind: ObjectKind, batch: Batch, options: CreateOptions) -> str:
    """The deterministic operation id of one batch.

    :param key: the upload's idempotency key.
    :param kind: what the batch creates.
    :param batch: the batch (its number and body count).
    :param options: the upload flags (other flags, other operation).
    :return: a UUID string: same key, batch number, content and flags give the same Toloka operation.
    """
    digest = hashlib.sha256(batch.body)
    digest.update(options.fingerprint())
    return str(uuid.uuid5(_OPERATION_NAMESPACE, f"{key}/{kind.name}/{batch.number}/{digest.hexdigest()}"))


def successor_id(op_id: str) -> str:
    """The id a batch is submitted under after its operation ``op_id`` FAILed.

    :param op_id: the failed operation's id.
    :return: the next id of the chain, the same on every machine.
    """
    return str(uuid.uuid5(_OPERATION_NAMESPACE, f"{op_id}/after-fail"))


def count_batches(items: Iterable[Any], size: int) -> int | None:
    """How many batches an input makes, when that is known without reading it.

    :param items: the input.
    :param size: the batch size.
    :return: the number of batches, or None for a generator.
    """
    if isinstance(items, BatchSpool):
        return len(items)
    return -(-len(items) // size) if isinstance(items, Sequence) else None


def _dumps(obj: Any) -> bytes:
    return compact_json(obj).encode()
