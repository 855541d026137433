"""In-memory Toloka: the config and the account the API handlers act on (pools, tasks, task suites, operations).

Everything here is plain dict code on purpose: 100k tasks in 10 async batches must cost the emulator well under a
couple of seconds, so no pydantic model is built per item. The state is only touched from the event loop of a
single uvicorn worker, hence no locks.

:class:`EmulatorState` is the facade ``app.py`` talks to; the concerns live next door, each module documenting
the choices it makes where Toloka's real behaviour is unconfirmed (see shared/toloka-api.md):

- ``pools``: the pool model and the pools file (``--pools FILE``); its docstring gives the file's format.
- ``validation``: per-item checks of uploads (unknown/ARCHIVED pools, non-object items, infinite overlap,
  suite task ids).
- ``operations``: async uploads and pool open/close as lazily advancing operations, their logs (FAIL when every
  item is invalid, log order, empty log until done).
- ``query``: strict query parameters (booleans).
- ``wire``: error responses and the two object kinds; ``clock``: time.

Choices made here where Toloka's real behaviour is unconfirmed (see shared/toloka-api.md):

- sync error payloads: ``{"<idx>": {field: error}}`` for arrays, ``{field: error}`` for a single object.
- ``operation_id`` is keyed on alone (the body is not compared) and is ignored in sync mode; any non-empty string
  is accepted. An empty array is accepted (201 with no items / an operation with zero counts).
- a request over Toloka's data limits (1 MiB of ``input_values``, 4 MiB of solutions' ``output_values``, each
  measured as compact JSON) is refused whole with 413 ``ENTITY_TOO_LARGE``, the status Toloka documents for too
  many items and the code of the Java SDK, before any operation exists.
"""

from __future__ import annotations

import bisect
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from airflow_toloka.emulator.clock import Clock
from airflow_toloka.emulator.operations import Entry, Operation, Operations
from airflow_toloka.emulator.pools import (
    Pool,
    auto_create_enabled,
    check_pools_spec,
    load_pools_spec,
    new_pool,
    pools_from_spec,
    pools_of,
)
from airflow_toloka.emulator.query import COMPARISONS, bool_param, datetime_param, int_param, sort_param
from airflow_toloka.emulator.validation import (
    MAX_INPUT_BYTES,
    MAX_OUTPUT_BYTES,
    ItemValidator,
    request_data_sizes,
)
from airflow_toloka.emulator.wire import MAX_OVERLAP, TASK_SUITES, TASKS, ApiError, Kind
from airflow_toloka.models import format_datetime

__all__ = [
    "RUNTIME_FIELDS",
    "TASKS",
    "TASK_SUITES",
    "ApiError",
    "EmulatorConfig",
    "EmulatorState",
    "Kind",
    "Pool",
    "load_pools_spec",
]


@dataclass
class EmulatorConfig:
    """Everything the CLI can set; the fields in :data:`RUNTIME_FIELDS` can also change at runtime."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    denied_token: str | None = None
    pools_file: str | None = None
    pools_spec: dict[str, Any] | None = None
    rate: float = 100_000.0
    pending_seconds: float = 0.05
    fault_429: float = 0.0
    fault_500: float = 0.0
    fault_503: float = 0.0
    fault_drop: float = 0.0
    retry_after: float | None = None
    latency_ms: float = 0.0
    seed: int | None = None
    log_level: str = "warning"
    sync_limit: int = 5_000

    def runtime(self) -> dict[str, Any]:
        """The runtime-changeable part.

        :return: field -> value, as ``GET /_emulator/config`` shows it.
        """
        return {name: getattr(self, name) for name in RUNTIME_FIELDS}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``POST /_emulator/config``: all changes or, when any is bad, none.

        :param changes: field -> new value, fields from :data:`RUNTIME_FIELDS` only.
        :raises ApiError: 400 ``VALIDATION_ERROR`` on unknown names or bad values.
        """
        unknown = sorted(set(changes) - set(RUNTIME_FIELDS))
        if unknown:
            raise ApiError(400, "VALIDATION_ERROR", f"Unknown config field(s): {', '.join(unknown)}")
        checked = {name: _check_runtime_value(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)


RUNTIME_FIELDS = (
    "fault_429",
    "fault_500",
    "fault_503",
    "fault_drop",
    "retry_after",
    "latency_ms",
    "rate",
    "pending_seconds",
    "token",
    "denied_token",
    "sync_limit",
    "seed",
)
_PROBABILITIES = {"fault_429", "fault_500", "fault_503", "fault_drop"}


def _check_runtime_value(name: str, value: Any) -> Any:
    bad = ApiError(400, "VALIDATION_ERROR", f"Bad value for {name}: {value!r}")
    if name in ("token", "denied_token"):
        if value is not None and not isinstance(value, str):
            raise bad
        return value or None
    if name in ("seed", "retry_after") and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad
    if name in _PROBABILITIES and not 0.0 <= value <= 1.0:
        raise bad
    if name == "rate" and value <= 0:
        raise bad
    if value < 0:
        raise bad
    if name in ("seed", "sync_limit"):
        return int(value)
    return float(value)


class EmulatorState:
    """The whole emulated Toloka account: pools, objects, operations, counters and the live config.

    :param config: the config; a ``pools_file`` not yet loaded into ``pools_spec`` is loaded here.
    :raises ValueError: when the pools file or spec is malformed.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        if config.pools_spec is None and config.pools_file:
            config.pools_spec = load_pools_spec(config.pools_file)
        if config.pools_spec is not None:
            check_pools_spec(config.pools_spec, "pools spec")
        self.rng = random.Random(config.seed)
        self.clock = Clock()
        # object ids: (seconds, counter) only ever grow, across resets too, so ids stay unique and sorted
        self._id_secs = 0
        self._id_counter = random.Random(config.seed).getrandbits(40)
        self.reset()

    def reset(self) -> None:
        """Forget every object, operation and counter; pools go back to what the config says. Config stays."""
        self.objects: dict[str, dict[str, dict[str, Any]]] = {TASKS.name: {}, TASK_SUITES.name: {}}
        self.by_pool: dict[str, dict[str, list[str]]] = {TASKS.name: {}, TASK_SUITES.name: {}}
        self.operations = Operations(self.clock, self.config)
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.faults: dict[str, int] = {"429": 0, "500": 0, "503": 0, "drop": 0}
        spec = self.config.pools_spec
        self.auto_create = auto_create_enabled(spec)
        self.pools: dict[str, Pool] = pools_from_spec(spec, self.clock.now_stamp)
        self._validator = ItemValidator(self.pool)

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``.

        :return: request, response and fault counters, object counts (also per pool) and pool statuses.
        """
        self.advance()
        return {
            "requests": dict(self.requests),
            "responses": dict(self.responses),
            "faults": dict(self.faults),
            "objects": {
                "tasks": len(self.objects[TASKS.name]),
                "task_suites": len(self.objects[TASK_SUITES.name]),
                "operations": len(self.operations),
            },
            "tasks_by_pool": {p: len(ids) for p, ids in self.by_pool[TASKS.name].items() if ids},
            "task_suites_by_pool": {p: len(ids) for p, ids in self.by_pool[TASK_SUITES.name].items() if ids},
            "pools": {pid: pool.status for pid, pool in self.pools.items()},
        }

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /_emulator/config``.

        A higher ``rate`` also speeds up the unfinished part of operations in flight, so a test can make everything
        finish now; a lower one only slows down operations submitted afterwards, so work already accepted is never
        held back by a later change.

        :param changes: field -> new value.
        :return: the runtime config after the change.
        :raises ApiError: 400 on unknown fields or bad values (then nothing changes).
        """
        self.advance()
        old_rate = self.config.rate
        self.config.update(changes)
        if "seed" in changes:
            self.rng = random.Random(self.config.seed)
        if self.config.rate != old_rate:
            self.operations.retime()
        return self.config.runtime()

    # ------------------------------------------------------------------ pools

    def pool(self, pool_id: str, *, create: bool = True) -> Pool | None:
        """The pool, auto-created OPEN with a permissive spec on first use when the config says so.

        :param pool_id: the pool id.
        :param create: whether an unknown id may be auto-created.
        :return: the pool, or ``None`` when it does not exist.
        """
        pool = self.pools.get(pool_id)
        if pool is None and create and self.auto_create and pool_id:
            pool = self.pools[pool_id] = new_pool(pool_id, "OPEN", self.clock.now_stamp())
        return pool

    def get_pool(self, pool_id: str) -> dict[str, Any]:
        """``GET /pools/{id}``.

        :param pool_id: the pool id.
        :return: the JSON-able pool.
        :raises ApiError: 404 when there is no such pool.
        """
        return self._existing_pool(pool_id).to_json()

    def pool_action(self, pool_id: str, action: str) -> dict[str, Any] | None:
        """``POST /pools/{id}/open`` or ``/close``.

        :param pool_id: the pool id.
        :param action: ``open`` or ``close``.
        :return: the operation (202), or ``None`` (204) when the pool is already in that state.
        :raises ApiError: 404 for an unknown pool, 409 for an ARCHIVED one or for opening one without objects.
        """
        pool = self._existing_pool(pool_id)
        if pool.status == "ARCHIVED":
            raise ApiError(
                409,
                "INAPPROPRIATE_STATUS",
                "This or related resource is in inappropriate status, operation is not allowed",
                {"appropriate_statuses": ["OPEN", "CLOSED"]},
            )
        target = "OPEN" if action == "open" else "CLOSED"
        if pool.status == target:
            return None
        if target == "OPEN" and not self._pool_has_objects(pool_id):
            raise ApiError(409, "EMPTY_POOL", f"Pool {pool_id} has no tasks and cannot be opened")

        def complete(op: Operation) -> None:
            stamp = self.clock.stamp(op.finish_at)
            pool.status = target
            if target == "OPEN":
                pool.last_started = stamp
            else:
                pool.last_stopped, pool.last_close_reason = stamp, "MANUAL"

        op = self.operations.submit(
            str(uuid.uuid4()), f"POOL.{action.upper()}", {"pool_id": pool_id}, items=0, on_complete=complete
        )
        return self.operations.to_json(op)

    def open_pools(self, pool_ids: list[str], stamp: str) -> list[dict[str, Any]]:
        """``open_pool=true`` after an upload: open the CLOSED pools that got objects.

        :param pool_ids: the pools that got objects.
        :param stamp: their new ``last_started``.
        :return: one ``POOL_OPEN`` log step per pool opened.
        """
        steps: list[dict[str, Any]] = []
        for pool_id in pool_ids:
            pool = self.pools.get(pool_id)
            if pool is None or pool.status != "CLOSED":
                continue
            pool.status, pool.last_started = "OPEN", stamp
            steps.append({"type": "POOL_OPEN", "success": True, "input": {"pool_id": pool_id}, "output": {}})
        return steps

    def _existing_pool(self, pool_id: str) -> Pool:
        pool = self.pool(pool_id)
        if pool is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Pool {pool_id} does not exist")
        return pool

    def _pool_has_objects(self, pool_id: str) -> bool:
        return bool(self.by_pool[TASKS.name].get(pool_id) or self.by_pool[TASK_SUITES.name].get(pool_id))

    # ------------------------------------------------------------------ operations

    def advance(self) -> None:
        """Complete every operation whose time has come; called first by every request."""
        self.operations.advance()

    def get_operation(self, op_id: str) -> dict[str, Any]:
        """``GET /operations/{id}``.

        :param op_id: the operation id.
        :return: the JSON-able operation.
        :raises ApiError: 404 when there is no such operation.
        """
        return self.operations.get_json(op_id)

    def operation_log_json(self, op_id: str) -> bytes:
        """``GET /operations/{id}/log``: ``[]`` until the operation has finished.

        :param op_id: the operation id.
        :return: the log as JSON.
        :raises ApiError: 404 when there is no such operation.
        """
        return self.operations.log_json(op_id)

    def find_operations(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /operations``: filters ``type``, ``status``, ``id_gt``; the first ``limit`` (default 50, max 500).

        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a bad ``limit``.
        """
        return self.operations.find(query)

    # ------------------------------------------------------------------ objects

    def create(self, kind: Kind, body: bytes, query: Mapping[str, str]) -> tuple[int, Any]:
        """``POST /tasks`` or ``/task-suites``, sync or async.

        :param kind: tasks or task suites.
        :param body: the raw request body: one object or an array.
        :param query: the request's query parameters.
        :return: (HTTP status, JSON-able body): 201 with the object(s), or 202 with the operation.
        :raises ApiError: 409 for a reused async ``operation_id``, 413 over ``sync_limit`` or over Toloka's data
            limits (1 MiB of ``input_values``, 4 MiB of solutions' ``output_values``), 400 for a malformed
            body or parameter, and in sync mode for items that fail validation (unless skipped).
        """
        async_mode = bool_param(query, "async_mode")
        allow_defaults = bool_param(query, "allow_defaults")
        skip_invalid = bool_param(query, "skip_invalid_items")
        open_pool = bool_param(query, "open_pool")
        operation_id = query.get("operation_id") or None
        if async_mode and operation_id is not None and operation_id in self.operations:
            raise ApiError(
                409,
                "OPERATION_ALREADY_EXISTS",
                f"Operation with id {operation_id} already exists",
                {"operation_id": operation_id},
            )
        single, items = _parse_items(body)
        if not async_mode and len(items) > self.config.sync_limit:
            raise ApiError(
                413,
                "ENTITY_TOO_LARGE",
                f"Too many items in a synchronous request: {len(items)} > {self.config.sync_limit}",
                {"max_items": self.config.sync_limit},
            )
        if len(body) > MAX_INPUT_BYTES:  # a smaller body cannot pass either limit
            inputs, outputs = request_data_sizes(items)
            if inputs > MAX_INPUT_BYTES or outputs > MAX_OUTPUT_BYTES:
                raise ApiError(
                    413,
                    "ENTITY_TOO_LARGE",
                    f"The request's data is too large: {inputs} bytes of input_values (at most "
                    f"{MAX_INPUT_BYTES}), {outputs} bytes of output_values (at most {MAX_OUTPUT_BYTES})",
                    {"max_input_bytes": MAX_INPUT_BYTES, "max_output_bytes": MAX_OUTPUT_BYTES},
                )
        validate = self._validator.validate
        checked: list[Entry] = [(item, *validate(kind, item, allow_defaults)) for item in items]
        if async_mode:
            parameters = {
                "skip_invalid_items": skip_invalid,
                "allow_defaults": allow_defaults,
                "open_pool": open_pool,
            }
            op = self.operations.submit_upload(kind, checked, operation_id, parameters, self)
            return 202, self.operations.to_json(op)
        invalid = sum(1 for _, norm, _ in checked if norm is None)
        if invalid and (single or not skip_invalid or invalid == len(items)):
            if single:
                payload: Any = checked[0][2]
            else:
                payload = {str(i): errs for i, (_, norm, errs) in enumerate(checked) if norm is None}
            raise ApiError(400, "VALIDATION_ERROR", "Validation failed", payload)
        stamp_mono = self.clock.now()
        errors = {str(i): errs for i, (_, norm, errs) in enumerate(checked) if norm is None}
        valid = [(str(i), norm) for i, (_, norm, _) in enumerate(checked) if norm is not None]
        objects = self.store(kind, [norm for _, norm in valid], stamp_mono)
        created = {key: obj for (key, _), obj in zip(valid, objects, strict=True)}
        if open_pool:
            self.open_pools(pools_of(created.values()), self.clock.stamp(stamp_mono))
        if single:
            return 201, created["0"]
        return 201, {"items": created, "validation_errors": errors}

    def store(self, kind: Kind, norms: list[dict[str, Any]], mono: float) -> list[dict[str, Any]]:
        """Create objects that share one creation time.

        Ids grow monotonically, so a pool's id list stays sorted without sorting, which :meth:`search` relies on.

        :param kind: tasks or task suites.
        :param norms: normalised items, whose pools exist.
        :param mono: the creation time, on :attr:`clock`.
        :return: the stored objects, in the order of ``norms``.
        """
        when = self.clock.wall(mono)
        created = format_datetime(when)
        secs = max(self._id_secs, int(when.replace(tzinfo=timezone.utc).timestamp()))
        self._id_secs = secs
        store, by_pool, pools = self.objects[kind.name], self.by_pool[kind.name], self.pools
        counter = self._id_counter
        out: list[dict[str, Any]] = []
        for norm in norms:
            pool_id = norm["pool_id"]
            counter += 1
            object_id = f"{pools[pool_id].prefix}--{secs:08x}{counter:016x}"
            obj = {"id": object_id, "created": created, **norm}
            store[object_id] = obj
            ids = by_pool.get(pool_id)
            if ids is None:
                ids = by_pool[pool_id] = []
            ids.append(object_id)
            out.append(obj)
        self._id_counter = counter
        return out

    def get_object(self, kind: Kind, object_id: str) -> dict[str, Any]:
        """``GET /tasks/{id}`` or ``/task-suites/{id}``.

        :param kind: tasks or task suites.
        :param object_id: the object id.
        :return: the stored object.
        :raises ApiError: 404 when there is no such object.
        """
        obj = self.objects[kind.name].get(object_id)
        if obj is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"{kind.label} {object_id} does not exist")
        return obj

    def search(self, kind: Kind, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /tasks`` / ``/task-suites``: filters, ``sort`` and ``limit`` as in Toloka; ids compare as strings.

        :param kind: tasks or task suites.
        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a malformed parameter.
        """
        limit = int_param(query, "limit", 50, 1, 100_000)
        sort_keys = sort_param(query.get("sort"))
        checks = _object_filters(kind, query)
        store = self.objects[kind.name]
        pool_id = query.get("pool_id")
        # a pool's ids are sorted already: they grow in creation order
        ids = self.by_pool[kind.name].get(pool_id, []) if pool_id is not None else sorted(store)
        lo, hi = _id_range(ids, query)
        natural = sort_keys in ([], [("id", False)])
        found: list[dict[str, Any]] = []
        for object_id in ids[lo:hi]:
            obj = store[object_id]
            if all(check(obj) for check in checks):
                found.append(obj)
                if natural and len(found) > limit:
                    break
        if not natural:
            for key, desc in reversed(sort_keys):
                found.sort(key=lambda o, k=key: o[k], reverse=desc)  # type: ignore[misc]
        return {"items": found[:limit], "has_more": len(found) > limit}


def _parse_items(body: bytes) -> tuple[bool, list[Any]]:
    """An upload body: (whether it is a single object, its items)."""
    if not body.strip():
        raise ApiError(400, "VALIDATION_ERROR", "Request body is required")
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", "Request body is not valid JSON") from None
    if isinstance(data, dict):
        return True, [data]
    if isinstance(data, list):
        return False, data
    raise ApiError(400, "VALIDATION_ERROR", "Request body must be a JSON object or array")


def _object_filters(kind: Kind, query: Mapping[str, str]) -> list[Callable[[dict[str, Any]], bool]]:
    """The search filters other than pool and id range, which narrow the scan before these run."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for op_name, test in COMPARISONS.items():
        stamp = query.get(f"created_{op_name}")
        if stamp is not None:
            since = datetime_param(f"created_{op_name}", stamp)
            checks.append(lambda o, t=test, b=since: t(o["created"], b))  # type: ignore[misc]
    overlap = query.get("overlap")
    if overlap is not None:
        want = int_param(query, "overlap", 0, 0, MAX_OVERLAP)
        checks.append(lambda o: o.get("overlap") == want)
    for op_name, test in COMPARISONS.items():
        if query.get(f"overlap_{op_name}") is not None:
            bound = int_param(query, f"overlap_{op_name}", 0, 0, 10**9)
            checks.append(lambda o, t=test, b=bound: o.get("overlap") is not None and t(o["overlap"], b))  # type: ignore[misc]
    task_id = query.get("task_id") if kind is TASK_SUITES else None
    if task_id is not None:
        checks.append(lambda o: any(t.get("id") == task_id for t in o.get("tasks", ())))
    return checks


def _id_range(ids: list[str], query: Mapping[str, str]) -> tuple[int, int]:
    """The slice of sorted ``ids`` that ``id_gt``/``id_gte``/``id_lt``/``id_lte`` allow, by bisection."""
    id_gt, id_gte, id_lt, id_lte = (query.get(k) for k in ("id_gt", "id_gte", "id_lt", "id_lte"))
    lo, hi = 0, len(ids)
    if id_gt is not None:
        lo = max(lo, bisect.bisect_right(ids, id_gt))
    if id_gte is not None:
        lo = max(lo, bisect.bisect_left(ids, id_gte))
    if id_lt is not None:
        hi = min(hi, bisect.bisect_left(ids, id_lt))
    if id_lte is not None:
        hi = min(hi, bisect.bisect_right(ids, id_lte))
    return lo, hi
