"""In-memory Toloka: pools, tasks, task suites, operations and their logs, plus per-item validation.

Everything here is plain dict code on purpose: 100k tasks in 10 async batches must cost the emulator well under a
couple of seconds, so no pydantic model is built per item. The state is only touched from the event loop of a
single uvicorn worker, hence no locks.

Operations advance lazily: every request first calls :meth:`EmulatorState.advance`, which completes the operations
whose scheduled finish time has passed (PENDING for ``pending_seconds``, then RUNNING at ``rate`` items/s). Objects
of an async upload are created, and become visible to ``GET /tasks``, only when their operation completes.

Pools file (``--pools FILE``, JSON)::

    {
      "auto_create": false,
      "pools": [
        {
          "id": "101",
          "status": "CLOSED",
          "project_id": "1",
          "private_name": "Images",
          "input_spec": {"image": {"type": "url", "required": true}, "label": {"type": "string", "required": false}},
          "output_spec": {"result": {"type": "string"}},
          "defaults": {"default_overlap_for_new_tasks": 3, "default_overlap_for_new_task_suites": 3}
        }
      ]
    }

- ``auto_create`` (default ``false`` when a file is given): whether unknown pool ids spring into existence (OPEN,
  permissive input spec) on first use, as they always do without a pools file.
- ``id`` (required; a number is accepted) and ``status`` ``OPEN``/``CLOSED``/``ARCHIVED`` (default ``CLOSED``,
  like a freshly created Toloka pool).
- ``input_spec``: field name -> ``{"type", "required"}``. Types (case-insensitive): ``string``, ``integer``,
  ``float``, ``boolean``, ``url``, ``file``, ``coordinates``, ``json`` and ``array_<scalar>``; ``required``
  defaults to ``true`` as in Toloka. Without ``input_spec`` any input field of any type is accepted.
- ``defaults``: used when an upload has ``allow_defaults=true`` and an item has no overlap. A pool without a
  default makes such items fail with ``overlap`` ``VALUE_REQUIRED``. Auto-created pools default to overlap 1.

Choices where Toloka's real behaviour is unconfirmed (see shared/toloka-api.md):

- unknown pool -> per-item ``pool_id`` ``ENTITY_DOES_NOT_EXIST``; ARCHIVED pool -> per-item ``pool_id``
  ``INAPPROPRIATE_STATUS`` (params ``["OPEN", "CLOSED"]``); a non-object item -> ``{"": OBJECT_EXPECTED}``.
- sync error payloads: ``{"<idx>": {field: error}}`` for arrays, ``{field: error}`` for a single object.
- async, ``skip_invalid_items=true`` with every item invalid -> FAIL (like the sync error); a FAIL log holds only
  the ``*_VALIDATE`` entries of the invalid items (valid ones were not created, so they have no entry).
- ``operation_id`` is keyed on alone (the body is not compared) and is ignored in sync mode; any non-empty string
  is accepted. An empty array is accepted (201 with no items / an operation with zero counts).
- the log of an unfinished operation is ``[]``: all entries appear when it completes, in a shuffled order
  (seeded by the operation id) with ``POOL_OPEN`` steps last.
- query booleans other than lowercase ``true``/``false`` are a 400 ``VALIDATION_ERROR``.
- ``overlap`` together with ``infinite_overlap=true`` is ``overlap`` ``VALUE_NOT_ALLOWED``; an infinite-overlap
  object has ``overlap: null`` and no ``remaining_overlap``.
- suite tasks get no ids (a client-sent ``id`` is dropped), so ``GET /task-suites?task_id=`` finds nothing.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_toloka.models import format_datetime

__all__ = [
    "RUNTIME_FIELDS",
    "TASKS",
    "TASK_SUITES",
    "ApiError",
    "EmulatorConfig",
    "EmulatorState",
    "Kind",
    "load_pools_spec",
]

MAX_OVERLAP = 30_000
ITEM_IDX = "__item_idx"
VALUE_REQUIRED = "Value must be present and not equal to null"


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
        """The runtime-changeable part, as ``GET /_emulator/config`` shows it."""
        return {name: getattr(self, name) for name in RUNTIME_FIELDS}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``POST /_emulator/config``; raises :class:`ApiError` on unknown names or bad values."""
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


class ApiError(Exception):
    """A Toloka error response: ``{"request_id", "code", "message", "payload"?}`` with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.payload = payload
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"request_id": str(uuid.uuid4()), "code": self.code, "message": self.message}
        if self.payload is not None:
            data["payload"] = self.payload
        return data


@dataclass(frozen=True)
class Kind:
    """What differs between tasks and task suites on the wire."""

    name: str  # key in stats["objects"]
    path: str
    operation_type: str
    create_step: str
    validate_step: str
    output_key: str
    default_overlap_key: str
    label: str


TASKS = Kind(
    "tasks",
    "/api/v1/tasks",
    "TASK.BATCH_CREATE",
    "TASK_CREATE",
    "TASK_VALIDATE",
    "task_id",
    "default_overlap_for_new_tasks",
    "Task",
)
TASK_SUITES = Kind(
    "task_suites",
    "/api/v1/task-suites",
    "TASK_SUITE.BATCH_CREATE",
    "TASK_SUITE_CREATE",
    "TASK_SUITE_VALIDATE",
    "task_suite_id",
    "default_overlap_for_new_task_suites",
    "Task suite",
)


# ---------------------------------------------------------------------------------------------- pools


@dataclass
class Pool:
    id: str
    status: str
    created: str
    input_spec: dict[str, dict[str, Any]] | None  # None: any field, any type
    output_spec: dict[str, Any] | None
    defaults: dict[str, Any]
    project_id: str = "1"
    private_name: str = ""
    last_started: str | None = None
    last_stopped: str | None = None
    last_close_reason: str | None = None
    prefix: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "project_id": self.project_id,
            "private_name": self.private_name or f"Emulator pool {self.id}",
            "may_contain_adult_content": False,
            "reward_per_assignment": 0.01,
            "assignment_max_duration_seconds": 600,
            "auto_accept_solutions": True,
            "will_expire": "2099-12-31T00:00:00.000",
            "defaults": dict(self.defaults),
            "status": self.status,
            "type": "REGULAR",
            "created": self.created,
        }
        for key in ("last_started", "last_stopped", "last_close_reason"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.input_spec is not None:
            data["input_spec"] = self.input_spec
        if self.output_spec is not None:
            data["output_spec"] = self.output_spec
        return data


_POOL_STATUSES = ("OPEN", "CLOSED", "ARCHIVED")


def load_pools_spec(path: str | Path) -> dict[str, Any]:
    """Read and check a pools file (format in the module docstring); raises ValueError naming the problem."""
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"pools file {path}: {exc}") from None
    _check_pools_spec(spec, str(path))
    return spec


def _check_pools_spec(spec: Any, where: str) -> None:
    if not isinstance(spec, dict) or not isinstance(spec.get("pools", []), list):
        raise ValueError(f"{where}: expected an object with a 'pools' list")
    for n, pool in enumerate(spec.get("pools", [])):
        if not isinstance(pool, dict) or pool.get("id") in (None, ""):
            raise ValueError(f"{where}: pools[{n}] needs an 'id'")
        if str(pool.get("status", "CLOSED")).upper() not in _POOL_STATUSES:
            raise ValueError(f"{where}: pools[{n}].status must be one of {', '.join(_POOL_STATUSES)}")
        input_spec = pool.get("input_spec")
        if input_spec is not None:
            if not isinstance(input_spec, dict):
                raise ValueError(f"{where}: pools[{n}].input_spec must be an object")
            for name, fspec in input_spec.items():
                ftype = str((fspec or {}).get("type", "")).lower() if isinstance(fspec, dict) else ""
                if ftype not in _TYPE_CHECKS:
                    raise ValueError(f"{where}: pools[{n}].input_spec.{name}: unknown type {ftype!r}")


def _pool_prefix(pool_id: str) -> str:
    """The 10-hex part of task ids: the pool id in hex as Toloka does, or a stable hash for odd pool ids."""
    if pool_id.isdigit():
        return f"{int(pool_id):010x}"
    return hashlib.blake2b(pool_id.encode(), digest_size=5).hexdigest()


# ---------------------------------------------------------------------------------------------- field checks

_URL = re.compile(r"^(https?|ftp)://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_COORDS = re.compile(r"^\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*$")


def _err(code: str, message: str, params: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "message": message}
    if params is not None:
        out["params"] = params
    return out


def _scalar_check(kind: str) -> Callable[[Any], dict[str, Any] | None]:
    def check(v: Any) -> dict[str, Any] | None:
        if kind in ("string", "file"):
            return None if isinstance(v, str) else _err("STRING_EXPECTED", "Value must be a string")
        if kind == "integer":
            ok = isinstance(v, int) and not isinstance(v, bool)
            return None if ok else _err("INTEGER_EXPECTED", "Value must be an integer")
        if kind == "float":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            return None if ok else _err("FLOAT_EXPECTED", "Value must be a number")
        if kind == "boolean":
            return None if isinstance(v, bool) else _err("BOOLEAN_EXPECTED", "Value must be a boolean")
        if kind == "url":
            ok = isinstance(v, str) and _URL.match(v) is not None
            return None if ok else _err("INVALID_URL_SYNTAX", "Value must be a valid URL")
        if kind == "coordinates":
            ok = isinstance(v, str) and _COORDS.match(v) is not None
            return None if ok else _err("INVALID_COORDINATES_SYNTAX", "Value must be 'latitude,longitude'")
        return None  # json: anything goes

    return check


def _array_check(kind: str) -> Callable[[Any], dict[str, Any] | None]:
    inner = _scalar_check(kind)

    def check(v: Any) -> dict[str, Any] | None:
        if not isinstance(v, list):
            return _err("ARRAY_EXPECTED", "Value must be an array")
        for element in v:
            problem = inner(element)
            if problem is not None:
                return problem
        return None

    return check


_SCALARS = ("string", "integer", "float", "boolean", "url", "file", "coordinates")
_TYPE_CHECKS: dict[str, Callable[[Any], dict[str, Any] | None]] = {k: _scalar_check(k) for k in _SCALARS}
_TYPE_CHECKS["json"] = _scalar_check("json")
_TYPE_CHECKS.update({f"array_{k}": _array_check(k) for k in _SCALARS})


@dataclass(frozen=True)
class _FieldSpec:
    required: bool
    check: Callable[[Any], dict[str, Any] | None]


def _compile_spec(spec: dict[str, dict[str, Any]] | None) -> dict[str, _FieldSpec] | None:
    if spec is None:
        return None
    return {
        name: _FieldSpec(bool(f.get("required", True)), _TYPE_CHECKS[str(f.get("type", "")).lower()])
        for name, f in spec.items()
    }


# ---------------------------------------------------------------------------------------------- operations


@dataclass(eq=False)
class _Operation:
    id: str
    type: str
    parameters: dict[str, Any]
    submitted: float  # monotonic
    start_at: float
    finish_at: float
    details: dict[str, Any] | None = None
    on_complete: Callable[[_Operation], None] | None = None
    final_status: str = "SUCCESS"
    done: bool = False
    items: int = 0
    # progress is linear from (anchor_at, anchor_fraction) to (finish_at, 1); a rate change moves the anchor
    anchor_at: float = 0.0
    anchor_fraction: float = 0.0
    log: list[dict[str, Any]] | None = None
    log_json: bytes | None = None
    # batch uploads: (raw item, normalized item or None, errors or None)
    kind: Kind | None = None
    entries: list[tuple[Any, dict[str, Any] | None, dict[str, Any] | None]] = field(default_factory=list)

    def fraction(self, now: float) -> float:
        """How much of the work is done at ``now`` (0..1)."""
        if now <= self.anchor_at:
            return self.anchor_fraction
        span = self.finish_at - self.anchor_at
        if span <= 0:
            return 1.0
        return self.anchor_fraction + (1 - self.anchor_fraction) * min(1.0, (now - self.anchor_at) / span)


# ---------------------------------------------------------------------------------------------- the state


class EmulatorState:
    """The whole emulated Toloka account: objects, operations, counters and the live config."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        if config.pools_spec is None and config.pools_file:
            config.pools_spec = load_pools_spec(config.pools_file)
        if config.pools_spec is not None:
            _check_pools_spec(config.pools_spec, "pools spec")
        self.rng = random.Random(config.seed)
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(timezone.utc).replace(tzinfo=None)
        self._id_secs = 0
        self._id_counter = random.Random(config.seed).getrandbits(40)
        self.reset()

    # ------------------------------------------------------------------ bookkeeping

    def reset(self) -> None:
        """Forget every object, operation and counter; pools go back to what the config says. Config stays."""
        self.objects: dict[str, dict[str, dict[str, Any]]] = {TASKS.name: {}, TASK_SUITES.name: {}}
        self.by_pool: dict[str, dict[str, list[str]]] = {TASKS.name: {}, TASK_SUITES.name: {}}
        self.operations: dict[str, _Operation] = {}
        self._running: list[_Operation] = []
        self._next_finish = float("inf")
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.faults: dict[str, int] = {"429": 0, "500": 0, "503": 0, "drop": 0}
        self.pools: dict[str, Pool] = {}
        spec = self.config.pools_spec
        self.auto_create = True if spec is None else bool(spec.get("auto_create", False))
        for raw in (spec or {}).get("pools", []):
            self._add_pool(
                str(raw["id"]),
                status=str(raw.get("status", "CLOSED")).upper(),
                input_spec=raw.get("input_spec"),
                output_spec=raw.get("output_spec"),
                defaults=dict(raw.get("defaults") or {}),
                project_id=str(raw.get("project_id", "1")),
                private_name=str(raw.get("private_name", "")),
            )
        self._compiled_specs: dict[str, dict[str, _FieldSpec] | None] = {
            pid: _compile_spec(pool.input_spec) for pid, pool in self.pools.items()
        }

    def _add_pool(self, pool_id: str, *, status: str, **kwargs: Any) -> Pool:
        defaults = kwargs.pop("defaults", None)
        if defaults is None:  # auto-created pools
            defaults = {"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1}
        now = self.now_str()
        pool = Pool(
            id=pool_id,
            status=status,
            created=now,
            defaults=dict(defaults),
            prefix=_pool_prefix(pool_id),
            last_started=now if status == "OPEN" else None,
            **kwargs,
        )
        self.pools[pool_id] = pool
        return pool

    def now(self) -> float:
        return time.monotonic()

    def wall(self, mono: float) -> datetime:
        return self._wall0 + timedelta(seconds=mono - self._mono0)

    def now_str(self) -> str:
        return format_datetime(self.wall(time.monotonic()))

    def stats(self) -> dict[str, Any]:
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
        """
        self.advance()
        old_rate = self.config.rate
        self.config.update(changes)
        if "seed" in changes:
            self.rng = random.Random(self.config.seed)
        if self.config.rate != old_rate:
            now, rate = self.now(), self.config.rate
            for op in self._running:
                if now < op.start_at:
                    op.finish_at = min(op.finish_at, op.start_at + op.items / rate)
                    continue
                frac = op.fraction(now)
                finish = now + (1 - frac) * op.items / rate
                if finish < op.finish_at:
                    op.anchor_at, op.anchor_fraction, op.finish_at = now, frac, finish
            self._next_finish = min((op.finish_at for op in self._running), default=float("inf"))
        return self.config.runtime()

    # ------------------------------------------------------------------ pools

    def pool(self, pool_id: str, *, create: bool = True) -> Pool | None:
        """The pool, auto-created OPEN with a permissive spec on first use when the config says so."""
        pool = self.pools.get(pool_id)
        if pool is None and create and self.auto_create and pool_id:
            pool = self._add_pool(pool_id, status="OPEN", input_spec=None, output_spec=None)
            self._compiled_specs[pool_id] = None
        return pool

    def get_pool(self, pool_id: str) -> dict[str, Any]:
        pool = self.pool(pool_id)
        if pool is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Pool {pool_id} does not exist")
        return pool.to_json()

    def _pool_has_objects(self, pool_id: str) -> bool:
        return bool(self.by_pool[TASKS.name].get(pool_id) or self.by_pool[TASK_SUITES.name].get(pool_id))

    def pool_action(self, pool_id: str, action: str) -> dict[str, Any] | None:
        """``open``/``close``: an operation (202), or None (204) when the pool is already in that state."""
        pool = self.pool(pool_id)
        if pool is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Pool {pool_id} does not exist")
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

        def complete(op: _Operation) -> None:
            stamp = format_datetime(self.wall(op.finish_at))
            pool.status = target
            if target == "OPEN":
                pool.last_started = stamp
            else:
                pool.last_stopped, pool.last_close_reason = stamp, "MANUAL"

        op = self._new_operation(
            str(uuid.uuid4()), f"POOL.{action.upper()}", {"pool_id": pool_id}, items=0, on_complete=complete
        )
        return self.operation_json(op)

    def _open_pools(self, pool_ids: list[str], stamp: str) -> list[dict[str, Any]]:
        """``open_pool=true`` after an upload: open the CLOSED pools that got objects; one log step each."""
        steps: list[dict[str, Any]] = []
        for pool_id in pool_ids:
            pool = self.pools.get(pool_id)
            if pool is None or pool.status != "CLOSED":
                continue
            pool.status, pool.last_started = "OPEN", stamp
            steps.append({"type": "POOL_OPEN", "success": True, "input": {"pool_id": pool_id}, "output": {}})
        return steps

    # ------------------------------------------------------------------ operations

    def _new_operation(
        self,
        op_id: str,
        op_type: str,
        parameters: dict[str, Any],
        *,
        items: int,
        details: dict[str, Any] | None = None,
        on_complete: Callable[[_Operation], None] | None = None,
    ) -> _Operation:
        now = self.now()
        start = now + self.config.pending_seconds
        op = _Operation(
            id=op_id,
            type=op_type,
            parameters=parameters,
            submitted=now,
            start_at=start,
            finish_at=start + items / self.config.rate,
            details=details,
            on_complete=on_complete,
            items=items,
            anchor_at=start,
        )
        self.operations[op_id] = op
        self._running.append(op)
        self._next_finish = min(self._next_finish, op.finish_at)
        return op

    def advance(self) -> None:
        """Complete, in finish-time order, every operation whose time has come."""
        now = self.now()
        if now < self._next_finish:
            return
        due = sorted((op for op in self._running if op.finish_at <= now), key=lambda op: op.finish_at)
        for op in due:
            op.done = True
            if op.on_complete is not None:
                op.on_complete(op)
        self._running = [op for op in self._running if not op.done]
        self._next_finish = min((op.finish_at for op in self._running), default=float("inf"))

    def _status(self, op: _Operation, now: float) -> str:
        if op.done:
            return op.final_status
        return "PENDING" if now < op.start_at else "RUNNING"

    def operation_json(self, op: _Operation) -> dict[str, Any]:
        now = self.now()
        status = self._status(op, now)
        data: dict[str, Any] = {
            "id": op.id,
            "type": op.type,
            "status": status,
            "submitted": format_datetime(self.wall(op.submitted)),
        }
        if status != "PENDING":
            data["started"] = format_datetime(self.wall(op.start_at))
        if op.done:
            data["finished"] = format_datetime(self.wall(op.finish_at))
            progress = 100
        elif status == "PENDING":
            progress = 0
        else:
            progress = min(99, max(0, int(100 * op.fraction(now))))
        data["progress"] = progress
        data["parameters"] = op.parameters
        if op.details is not None:
            data["details"] = op.details
        return data

    def get_operation(self, op_id: str) -> dict[str, Any]:
        op = self.operations.get(op_id)
        if op is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Operation {op_id} does not exist")
        return self.operation_json(op)

    def operation_log_json(self, op_id: str) -> bytes:
        """The log as JSON; ``[]`` until the operation has finished (the emulator logs all items at once)."""
        op = self.operations.get(op_id)
        if op is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Operation {op_id} does not exist")
        if not op.done or op.log is None:
            return b"[]"
        if op.log_json is None:
            op.log_json = json.dumps(op.log, separators=(",", ":")).encode()
        return op.log_json

    def find_operations(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /operations``: filters ``type``, ``status``, ``id_gt``; newest ``limit`` (default 50, max 500)."""
        limit = _int_param(query, "limit", 50, 1, 500)
        wanted_type, wanted_status, id_gt = query.get("type"), query.get("status"), query.get("id_gt")
        now = self.now()
        rows = []
        for op in self.operations.values():
            if wanted_type and op.type != wanted_type:
                continue
            if wanted_status and self._status(op, now) != wanted_status:
                continue
            if id_gt and not op.id > id_gt:
                continue
            rows.append(op)
        rows.sort(key=lambda op: op.id)
        return {"items": [self.operation_json(op) for op in rows[:limit]], "has_more": len(rows) > limit}

    # ------------------------------------------------------------------ creation

    def create(self, kind: Kind, body: bytes, query: Mapping[str, str]) -> tuple[int, Any]:
        """``POST /tasks`` or ``/task-suites``: returns (HTTP status, JSON-able body) or raises ApiError."""
        async_mode = _bool_param(query, "async_mode")
        allow_defaults = _bool_param(query, "allow_defaults")
        skip_invalid = _bool_param(query, "skip_invalid_items")
        open_pool = _bool_param(query, "open_pool")
        operation_id = query.get("operation_id") or None
        if async_mode and operation_id is not None and operation_id in self.operations:
            raise ApiError(
                409,
                "OPERATION_ALREADY_EXISTS",
                f"Operation with id {operation_id} already exists",
                {"operation_id": operation_id},
            )
        if not body.strip():
            raise ApiError(400, "VALIDATION_ERROR", "Request body is required")
        try:
            data = json.loads(body)
        except ValueError:
            raise ApiError(400, "VALIDATION_ERROR", "Request body is not valid JSON") from None
        single = isinstance(data, dict)
        if single:
            items: list[Any] = [data]
        elif isinstance(data, list):
            items = data
        else:
            raise ApiError(400, "VALIDATION_ERROR", "Request body must be a JSON object or array")
        if not async_mode and len(items) > self.config.sync_limit:
            raise ApiError(
                413,
                "ENTITY_TOO_LARGE",
                f"Too many items in a synchronous request: {len(items)} > {self.config.sync_limit}",
                {"max_items": self.config.sync_limit},
            )
        validate = self._validate_task if kind is TASKS else self._validate_suite
        checked = [(item, *validate(item, allow_defaults)) for item in items]
        invalid = sum(1 for _, norm, _ in checked if norm is None)
        if async_mode:
            return 202, self._create_async(
                kind, checked, invalid, operation_id, allow_defaults, skip_invalid, open_pool
            )
        if invalid and (single or not skip_invalid or invalid == len(items)):
            if single:
                payload: Any = checked[0][2]
            else:
                payload = {str(i): errs for i, (_, norm, errs) in enumerate(checked) if norm is None}
            raise ApiError(400, "VALIDATION_ERROR", "Validation failed", payload)
        stamp_mono = self.now()
        errors = {str(i): errs for i, (_, norm, errs) in enumerate(checked) if norm is None}
        valid = [(str(i), norm) for i, (_, norm, _) in enumerate(checked) if norm is not None]
        objects = self._store(kind, [norm for _, norm in valid], stamp_mono)
        created = {key: obj for (key, _), obj in zip(valid, objects, strict=True)}
        if open_pool:
            self._open_pools(_pools_of(created.values()), format_datetime(self.wall(stamp_mono)))
        if single:
            return 201, created["0"]
        return 201, {"items": created, "validation_errors": errors}

    def _create_async(
        self,
        kind: Kind,
        checked: list[tuple[Any, dict[str, Any] | None, dict[str, Any] | None]],
        invalid: int,
        operation_id: str | None,
        allow_defaults: bool,
        skip_invalid: bool,
        open_pool: bool,
    ) -> dict[str, Any]:
        total = len(checked)
        fails = invalid > 0 and (not skip_invalid or invalid == total)
        details = {
            "total_count": total,
            "valid_count": total - invalid,
            "not_valid_count": invalid,
            "success_count": 0,
            "failed_count": 0,
            "items_count": total,
        }
        op = self._new_operation(
            operation_id or str(uuid.uuid4()),
            kind.operation_type,
            {"skip_invalid_items": skip_invalid, "allow_defaults": allow_defaults, "open_pool": open_pool},
            items=total,
            details=details,
            on_complete=self._complete_upload,
        )
        op.kind, op.entries = kind, checked
        op.final_status = "FAIL" if fails else "SUCCESS"
        return self.operation_json(op)

    def _complete_upload(self, op: _Operation) -> None:
        """Create the valid objects of a finished upload and write its log (not in input order, on purpose)."""
        kind = op.kind
        assert kind is not None
        success = op.final_status == "SUCCESS"
        log: list[dict[str, Any]] = [
            {"type": kind.validate_step, "success": False, "input": raw, "output": errs}
            for raw, norm, errs in op.entries
            if norm is None
        ]
        created: list[dict[str, Any]] = []
        if success:
            valid = [(raw, norm) for raw, norm, _ in op.entries if norm is not None]
            created = self._store(kind, [norm for _, norm in valid], op.finish_at)
            step, key = kind.create_step, kind.output_key
            log.extend(
                {"type": step, "success": True, "input": raw, "output": {key: obj["id"]}}
                for (raw, _), obj in zip(valid, created, strict=True)
            )
        # Toloka does not promise log order; clients must map entries back through ``__item_idx``.
        random.Random(op.id).shuffle(log)
        if success and op.parameters["open_pool"]:
            log.extend(self._open_pools(_pools_of(created), format_datetime(self.wall(op.finish_at))))
        assert op.details is not None
        op.details["success_count"] = len(created)
        op.details["failed_count"] = len(op.entries) - len(created)
        op.log, op.entries = log, []

    def _store(self, kind: Kind, norms: list[dict[str, Any]], mono: float) -> list[dict[str, Any]]:
        """Create objects that share one creation time; ids grow monotonically, so a pool's id list stays sorted."""
        when = self.wall(mono)
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

    # ------------------------------------------------------------------ validation

    def _check_pool(self, item: dict[str, Any], errs: dict[str, Any]) -> Pool | None:
        raw = item.get("pool_id")
        if raw is None:
            errs["pool_id"] = _err("VALUE_REQUIRED", VALUE_REQUIRED)
            return None
        if isinstance(raw, bool) or not isinstance(raw, (str, int)) or raw == "":
            errs["pool_id"] = _err("STRING_EXPECTED", "Value must be a pool id string")
            return None
        pool_id = str(raw)
        pool = self.pool(pool_id)
        if pool is None:
            errs["pool_id"] = _err("ENTITY_DOES_NOT_EXIST", f"Pool {pool_id} does not exist")
            return None
        if pool.status == "ARCHIVED":
            errs["pool_id"] = _err(
                "INAPPROPRIATE_STATUS",
                f"Pool {pool_id} is ARCHIVED; objects can be added to OPEN or CLOSED pools only",
                ["OPEN", "CLOSED"],
            )
            return None
        return pool

    def _check_input(self, pool: Pool | None, values: Any, prefix: str, errs: dict[str, Any]) -> None:
        if values is None:
            errs[prefix] = _err("VALUE_REQUIRED", VALUE_REQUIRED)
            return
        if not isinstance(values, dict):
            errs[prefix] = _err("OBJECT_EXPECTED", "Value must be an object")
            return
        spec = self._compiled_specs.get(pool.id) if pool is not None else None
        if spec is None:
            return
        # missing fields first, then unknown or mistyped ones: the order of Toloka's documented examples
        for name, required in spec.items():
            if required.required and values.get(name) is None:
                errs[f"{prefix}.{name}"] = _err("VALUE_REQUIRED", VALUE_REQUIRED)
        for name, value in values.items():
            fspec = spec.get(name)
            if fspec is None:
                errs[f"{prefix}.{name}"] = _err("VALUE_NOT_ALLOWED", "Unknown field name")
            elif value is not None:
                problem = fspec.check(value)
                if problem is not None:
                    errs[f"{prefix}.{name}"] = problem

    @staticmethod
    def _check_solutions(
        item: dict[str, Any], key: str, weight: str, prefix: str, errs: dict[str, Any]
    ) -> None:
        solutions = item.get(key)
        if solutions is None:
            return
        if not isinstance(solutions, list):
            errs[prefix + key] = _err("ARRAY_EXPECTED", "Value must be an array")
            return
        for n, sol in enumerate(solutions):
            path = f"{prefix}{key}.{n}"
            if not isinstance(sol, dict):
                errs[path] = _err("OBJECT_EXPECTED", "Value must be an object")
                continue
            out = sol.get("output_values")
            if out is None:
                errs[f"{path}.output_values"] = _err("VALUE_REQUIRED", VALUE_REQUIRED)
            elif not isinstance(out, dict):
                errs[f"{path}.output_values"] = _err("OBJECT_EXPECTED", "Value must be an object")
            w = sol.get(weight)
            if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1):
                errs[f"{path}.{weight}"] = _err(
                    "VALUE_OUT_OF_BOUNDS", "Value must be between 0 and 1", [0, 1]
                )

    @staticmethod
    def _check_users(item: dict[str, Any], key: str, errs: dict[str, Any]) -> list[Any]:
        users = item.get(key)
        if users is None:
            return []
        if not isinstance(users, list):
            errs[key] = _err("ARRAY_EXPECTED", "Value must be an array")
            return []
        if not all(isinstance(u, str) for u in users):
            errs[key] = _err("STRING_EXPECTED", "Array elements must be strings")
        elif len(set(users)) != len(users):
            errs[key] = _err("DUPLICATE_VALUE_IN_ARRAY", "Array must not contain duplicate values")
        return users

    @staticmethod
    def _check_overlap(
        item: dict[str, Any], pool: Pool | None, kind: Kind, allow_defaults: bool, errs: dict[str, Any]
    ) -> tuple[int | None, bool]:
        infinite = item.get("infinite_overlap")
        if infinite is None:
            infinite = False
        elif not isinstance(infinite, bool):
            errs["infinite_overlap"] = _err("BOOLEAN_EXPECTED", "Value must be a boolean")
            return None, False
        overlap = item.get("overlap")
        if infinite:
            if overlap is not None:
                errs["overlap"] = _err(
                    "VALUE_NOT_ALLOWED", "overlap must be null when infinite_overlap is true"
                )
            return None, True
        if overlap is None:
            if allow_defaults and pool is None:
                return None, False  # the pool_id error already says why no default applies
            default = pool.defaults.get(kind.default_overlap_key) if (allow_defaults and pool) else None
            if default is None:
                errs["overlap"] = _err("VALUE_REQUIRED", VALUE_REQUIRED)
                return None, False
            return default, False
        if isinstance(overlap, bool) or not isinstance(overlap, int):
            errs["overlap"] = _err("INTEGER_EXPECTED", "Value must be an integer")
        elif overlap < 1:
            errs["overlap"] = _err("VALUE_LESS_THAN_MIN", "Value must be greater than or equal to 1", [1])
        elif overlap > MAX_OVERLAP:
            errs["overlap"] = _err(
                "VALUE_GREATER_THAN_MAX", f"Value must be less than or equal to {MAX_OVERLAP}", [MAX_OVERLAP]
            )
        return overlap, False

    def _normalized(
        self, item: dict[str, Any], pool: Pool, head: dict[str, Any], tail: dict[str, Any]
    ) -> dict[str, Any]:
        # Unknown top-level keys (traits, localization_config, ...) are kept; __item_idx and read-only ones not.
        out = {"pool_id": pool.id, **head}
        for key, value in item.items():
            if key not in out and key not in tail and key not in _NOT_STORED:
                out[key] = value
        out.update(tail)
        return out

    def _validate_task(
        self, item: Any, allow_defaults: bool
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if not isinstance(item, dict):
            return None, {"": _err("OBJECT_EXPECTED", "Each item must be a JSON object")}
        errs: dict[str, Any] = {}
        pool = self._check_pool(item, errs)
        values = item.get("input_values")
        self._check_input(pool, values, "input_values", errs)
        overlap, infinite = self._check_overlap(item, pool, TASKS, allow_defaults, errs)
        self._check_solutions(item, "known_solutions", "correctness_weight", "", errs)
        self._check_solutions(item, "baseline_solutions", "confidence_weight", "", errs)
        reserved = self._check_users(item, "reserved_for", errs)
        unavailable = self._check_users(item, "unavailable_for", errs)
        if errs or pool is None:
            return None, errs
        head: dict[str, Any] = {
            "input_values": values,
            "overlap": overlap,
            "infinite_overlap": infinite,
        }
        if not infinite:
            head["remaining_overlap"] = overlap
        tail = {"reserved_for": reserved, "unavailable_for": unavailable}
        return self._normalized(item, pool, head, tail), None

    def _validate_suite(
        self, item: Any, allow_defaults: bool
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if not isinstance(item, dict):
            return None, {"": _err("OBJECT_EXPECTED", "Each item must be a JSON object")}
        errs: dict[str, Any] = {}
        pool = self._check_pool(item, errs)
        tasks = item.get("tasks")
        if tasks is None:
            errs["tasks"] = _err("VALUE_REQUIRED", VALUE_REQUIRED)
        elif not isinstance(tasks, list):
            errs["tasks"] = _err("ARRAY_EXPECTED", "Value must be an array")
        elif not tasks:
            errs["tasks"] = _err("ARRAY_SIZE_LESS_THAN_MIN", "Array must contain at least 1 element", [1])
        else:
            for n, task in enumerate(tasks):
                prefix = f"tasks.{n}"
                if not isinstance(task, dict):
                    errs[prefix] = _err("OBJECT_EXPECTED", "Value must be an object")
                    continue
                self._check_input(pool, task.get("input_values"), f"{prefix}.input_values", errs)
                self._check_solutions(task, "known_solutions", "correctness_weight", f"{prefix}.", errs)
                if task.get("baseline_solutions") is not None:
                    errs[f"{prefix}.baseline_solutions"] = _err(
                        "VALUE_NOT_ALLOWED", "baseline_solutions are not allowed in task suites"
                    )
        overlap, infinite = self._check_overlap(item, pool, TASK_SUITES, allow_defaults, errs)
        reserved = self._check_users(item, "reserved_for", errs)
        unavailable = self._check_users(item, "unavailable_for", errs)
        order = item.get("issuing_order_override")
        if order is None:
            order = 0
        elif isinstance(order, bool) or not isinstance(order, (int, float)):
            errs["issuing_order_override"] = _err("FLOAT_EXPECTED", "Value must be a number")
        mixed = item.get("mixed")
        if errs or pool is None:
            return None, errs
        head: dict[str, Any] = {
            "tasks": [{k: v for k, v in t.items() if k != "id"} for t in tasks],  # type: ignore[union-attr]
            "overlap": overlap,
            "infinite_overlap": infinite,
        }
        if not infinite:
            head["remaining_overlap"] = overlap
        tail = {
            "reserved_for": reserved,
            "unavailable_for": unavailable,
            "issuing_order_override": order,
            "mixed": mixed if isinstance(mixed, bool) else False,
            "automerged": False,
        }
        return self._normalized(item, pool, head, tail), None

    # ------------------------------------------------------------------ reading

    def get_object(self, kind: Kind, object_id: str) -> dict[str, Any]:
        obj = self.objects[kind.name].get(object_id)
        if obj is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"{kind.label} {object_id} does not exist")
        return obj

    def search(self, kind: Kind, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /tasks`` / ``/task-suites``: filters, ``sort`` and ``limit`` as in Toloka; ids compare as strings."""
        limit = _int_param(query, "limit", 50, 1, 100_000)
        sort_keys = _sort_param(query.get("sort"))
        id_gt, id_gte, id_lt, id_lte = (query.get(k) for k in ("id_gt", "id_gte", "id_lt", "id_lte"))
        checks: list[Callable[[dict[str, Any]], bool]] = []
        for op_name, test in _COMPARISONS.items():
            stamp = query.get(f"created_{op_name}")
            if stamp is not None:
                since = _datetime_param(f"created_{op_name}", stamp)
                checks.append(lambda o, t=test, b=since: t(o["created"], b))  # type: ignore[misc]
        overlap = query.get("overlap")
        if overlap is not None:
            want = _int_param(query, "overlap", 0, 0, MAX_OVERLAP)
            checks.append(lambda o: o.get("overlap") == want)
        for op_name, test in _COMPARISONS.items():
            if query.get(f"overlap_{op_name}") is not None:
                bound = _int_param(query, f"overlap_{op_name}", 0, 0, 10**9)
                checks.append(lambda o, t=test, b=bound: o.get("overlap") is not None and t(o["overlap"], b))  # type: ignore[misc]
        task_id = query.get("task_id") if kind is TASK_SUITES else None
        if task_id is not None:
            checks.append(lambda o: any(t.get("id") == task_id for t in o.get("tasks", ())))

        store = self.objects[kind.name]
        pool_id = query.get("pool_id")
        # a pool's ids are sorted already: they grow in creation order
        ids = self.by_pool[kind.name].get(pool_id, []) if pool_id is not None else sorted(store)
        lo, hi = 0, len(ids)
        if id_gt is not None:
            lo = max(lo, bisect.bisect_right(ids, id_gt))
        if id_gte is not None:
            lo = max(lo, bisect.bisect_left(ids, id_gte))
        if id_lt is not None:
            hi = min(hi, bisect.bisect_left(ids, id_lt))
        if id_lte is not None:
            hi = min(hi, bisect.bisect_right(ids, id_lte))
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


_NOT_STORED = frozenset({ITEM_IDX, "id", "created", "remaining_overlap", "origin_task_id", "automerged"})

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _pools_of(objects: Any) -> list[str]:
    return list(dict.fromkeys(obj["pool_id"] for obj in objects))


def _bool_param(query: Mapping[str, str], name: str) -> bool:
    """Toloka's query booleans are lowercase ``true``/``false``; anything else is a client bug worth a 400."""
    value = query.get(name)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise ApiError(
        400,
        "VALIDATION_ERROR",
        f"Query parameter {name} must be 'true' or 'false'",
        {name: _err("BOOLEAN_EXPECTED", "Value must be 'true' or 'false'")},
    )


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"{name} must be an integer",
            {name: _err("INTEGER_EXPECTED", "Not an integer")},
        ) from None
    if value < low:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"{name} is too small",
            {name: _err("VALUE_LESS_THAN_MIN", f"Min {low}", [low])},
        )
    if value > high:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"{name} is too large",
            {name: _err("VALUE_GREATER_THAN_MAX", f"Max {high}", [high])},
        )
    return value


def _datetime_param(name: str, raw: str) -> str:
    """Normalise a query timestamp to the stored ``YYYY-MM-DDTHH:MM:SS.mmm`` so plain string comparison works."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"{name} must be a date-time",
            {name: _err("INVALID_DATE_TIME_SYNTAX", "Expected YYYY-MM-DDThh:mm:ss[.sss]")},
        ) from None
    return format_datetime(value)


def _sort_param(raw: str | None) -> list[tuple[str, bool]]:
    if not raw:
        return []
    keys: list[tuple[str, bool]] = []
    for part in raw.split(","):
        part = part.strip()
        desc = part.startswith("-")
        name = part.lstrip("-")
        if name not in ("id", "created"):
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"Cannot sort by {name!r}",
                {"sort": _err("UNKNOWN_ENUM_VALUE", "Sort by id or created")},
            )
        keys.append((name, desc))
    return keys
