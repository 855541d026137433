"""Per-item validation of task and task-suite uploads, and the field types of pools' input specs.

Plain dict code on purpose: 100k tasks in 10 async batches must cost the emulator well under a couple of seconds,
so no pydantic model is built per item, and an item is read once and copied once (into its normalised form).

Choices where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md):

- unknown pool -> per-item ``pool_id`` ``ENTITY_DOES_NOT_EXIST``; ARCHIVED pool -> per-item ``pool_id``
  ``INAPPROPRIATE_STATUS`` (params ``["OPEN", "CLOSED"]``); a non-object item -> ``{"": OBJECT_EXPECTED}``.
- ``overlap`` together with ``infinite_overlap=true`` is ``overlap`` ``VALUE_NOT_ALLOWED``; an infinite-overlap
  object has ``overlap: null`` and no ``remaining_overlap``.
- suite tasks get no ids (a client-sent ``id`` is dropped), so ``GET /task-suites?task_id=`` finds nothing.
- a task uploaded into a training without an ``overlap`` gets infinite overlap, with or without
  ``allow_defaults`` (trainings have no ``defaults``; docs/toloka-api.md L4 and L15 recommend infinite).
- a pool's input spec is its project's ``task_spec.input_spec`` as it was when the pool was created (see
  ``projects``); field types are matched case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from toloka_emulator.wire import MAX_OVERLAP, TASK_SUITES, TASKS, VALUE_REQUIRED, Kind, field_error

if TYPE_CHECKING:  # pools.py imports FIELD_TYPES from here; the pool is only read
    from toloka_emulator.pools import Pool

__all__ = [
    "FIELD_TYPES",
    "ITEM_IDX",
    "MAX_INPUT_BYTES",
    "MAX_OUTPUT_BYTES",
    "Checked",
    "FieldSpec",
    "ItemValidator",
    "compile_input_spec",
    "request_data_sizes",
]

ITEM_IDX = "__item_idx"
# Toloka's limits on one request's data (docs/toloka-api.md U2.6): all input_values, all solutions' output_values.
MAX_INPUT_BYTES = 1_048_576
MAX_OUTPUT_BYTES = 4_194_304

FieldCheck = Callable[[Any], dict[str, Any] | None]
# (normalised item, None) when valid, (None, field path -> error) when not
Checked = tuple[dict[str, Any] | None, dict[str, Any] | None]

_URL = re.compile(r"^(https?|ftp)://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_COORDS = re.compile(r"^\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*$")


def request_data_sizes(items: list[Any]) -> tuple[int, int]:
    """The JSON bytes of all ``input_values`` and of all solutions' ``output_values`` in one request.

    :param items: the request's tasks or task suites, as parsed (anything that is not an object counts 0).
    :return: (input bytes, output bytes).
    """
    inputs = outputs = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        tasks = item["tasks"] if isinstance(item.get("tasks"), list) else (item,)
        for task in tasks:
            if not isinstance(task, dict):
                continue
            inputs += len(to_json(task.get("input_values")))
            for key in ("known_solutions", "baseline_solutions"):
                for solution in task.get(key) or ():
                    if isinstance(solution, dict):
                        outputs += len(to_json(solution.get("output_values")))
    return inputs, outputs


def _scalar_check(kind: str) -> FieldCheck:
    def check(v: Any) -> dict[str, Any] | None:
        if kind in ("string", "file"):
            return None if isinstance(v, str) else field_error("STRING_EXPECTED", "Value must be a string")
        if kind == "integer":
            ok = isinstance(v, int) and not isinstance(v, bool)
            return None if ok else field_error("INTEGER_EXPECTED", "Value must be an integer")
        if kind == "float":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            return None if ok else field_error("FLOAT_EXPECTED", "Value must be a number")
        if kind == "boolean":
            return None if isinstance(v, bool) else field_error("BOOLEAN_EXPECTED", "Value must be a boolean")
        if kind == "url":
            ok = isinstance(v, str) and _URL.match(v) is not None
            return None if ok else field_error("INVALID_URL_SYNTAX", "Value must be a valid URL")
        if kind == "coordinates":
            ok = isinstance(v, str) and _COORDS.match(v) is not None
            return (
                None
                if ok
                else field_error("INVALID_COORDINATES_SYNTAX", "Value must be 'latitude,longitude'")
            )
        return None  # json: anything goes

    return check


def _array_check(kind: str) -> FieldCheck:
    inner = _scalar_check(kind)

    def check(v: Any) -> dict[str, Any] | None:
        if not isinstance(v, list):
            return field_error("ARRAY_EXPECTED", "Value must be an array")
        for element in v:
            problem = inner(element)
            if problem is not None:
                return problem
        return None

    return check


_SCALARS = ("string", "integer", "float", "boolean", "url", "file", "coordinates")
_TYPE_CHECKS: dict[str, FieldCheck] = {k: _scalar_check(k) for k in _SCALARS}
_TYPE_CHECKS["json"] = _scalar_check("json")
_TYPE_CHECKS.update({f"array_{k}": _array_check(k) for k in _SCALARS})

FIELD_TYPES = frozenset(_TYPE_CHECKS)
"""The input-spec field types the emulator knows, lowercase."""


@dataclass(frozen=True)
class FieldSpec:
    """One input field of a pool, ready to check values: whether it is required, and its type check."""

    required: bool
    check: FieldCheck


def compile_input_spec(spec: dict[str, dict[str, Any]] | None) -> dict[str, FieldSpec] | None:
    """Turn a pool's ``input_spec`` into per-field checks.

    :param spec: field name -> ``{"type", "required"}``, already checked (see ``pools.check_pools_spec``).
    :return: field name -> :class:`FieldSpec`, or ``None`` when the pool accepts any input.
    :raises KeyError: for a type not in :data:`FIELD_TYPES` (a spec that skipped the check).
    """
    if spec is None:
        return None
    return {
        name: FieldSpec(bool(f.get("required", True)), _TYPE_CHECKS[str(f.get("type", "")).lower()])
        for name, f in spec.items()
    }


class ItemValidator:
    """Checks upload items against their pools and normalises the valid ones into what is stored.

    Errors are collected in one fixed order (pool first, user lists last), so the keys of an error payload come
    in the same order for the same mistakes.

    :param find_pool: pool id -> pool, or ``None`` when it does not exist; it may create the pool, as the
        emulator's auto-create mode does. Pools' input specs must not change once looked up: they are compiled
        once per pool id.
    """

    def __init__(self, find_pool: Callable[[str], Pool | None]) -> None:
        self._find_pool = find_pool
        self._specs: dict[str, dict[str, FieldSpec] | None] = {}

    def validate(self, kind: Kind, item: Any, allow_defaults: bool) -> Checked:
        """Check one item of an upload.

        :param kind: :data:`~toloka_emulator.wire.TASKS` or ``TASK_SUITES``.
        :param item: the item as the client sent it (any JSON value).
        :param allow_defaults: the upload's ``allow_defaults``: a missing overlap takes the pool's default.
        :return: ``(normalised item, None)`` when valid, else ``(None, field path -> error)``.
        """
        if not isinstance(item, dict):
            return None, {"": field_error("OBJECT_EXPECTED", "Each item must be a JSON object")}
        errs: dict[str, Any] = {}
        pool = self._check_pool(item, errs)
        content = self._task if kind is TASKS else self._suite
        norm = content(item, pool, allow_defaults, errs)
        return (None, errs) if norm is None else (norm, None)

    def _task(
        self, item: dict[str, Any], pool: Pool | None, allow_defaults: bool, errs: dict[str, Any]
    ) -> dict[str, Any] | None:
        values = item.get("input_values")
        self._check_input(pool, values, "input_values", errs)
        overlap, infinite = _check_overlap(item, pool, TASKS, allow_defaults, errs)
        _check_solutions(item, "known_solutions", "correctness_weight", "", errs)
        _check_solutions(item, "baseline_solutions", "confidence_weight", "", errs)
        tail = _check_user_lists(item, errs)
        if errs or pool is None:
            return None
        return _normalized(item, pool, _overlap_head("input_values", values, overlap, infinite), tail)

    def _suite(
        self, item: dict[str, Any], pool: Pool | None, allow_defaults: bool, errs: dict[str, Any]
    ) -> dict[str, Any] | None:
        tasks = self._check_suite_tasks(pool, item.get("tasks"), errs)
        overlap, infinite = _check_overlap(item, pool, TASK_SUITES, allow_defaults, errs)
        tail = _check_user_lists(item, errs)
        order = item.get("issuing_order_override")
        if order is None:
            order = 0
        elif isinstance(order, bool) or not isinstance(order, (int, float)):
            errs["issuing_order_override"] = field_error("FLOAT_EXPECTED", "Value must be a number")
        if errs or pool is None:
            return None
        mixed = item.get("mixed")
        tail["issuing_order_override"] = order
        tail["mixed"] = mixed if isinstance(mixed, bool) else False
        tail["automerged"] = False
        # a client-sent id is dropped: the emulator gives suite tasks no ids (see the module docstring)
        suite_tasks = [{k: v for k, v in t.items() if k != "id"} for t in tasks]
        return _normalized(item, pool, _overlap_head("tasks", suite_tasks, overlap, infinite), tail)

    def _check_pool(self, item: dict[str, Any], errs: dict[str, Any]) -> Pool | None:
        raw = item.get("pool_id")
        if raw is None:
            errs["pool_id"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
            return None
        if isinstance(raw, bool) or not isinstance(raw, (str, int)) or raw == "":
            errs["pool_id"] = field_error("STRING_EXPECTED", "Value must be a pool id string")
            return None
        pool_id = str(raw)
        pool = self._find_pool(pool_id)
        if pool is None:
            errs["pool_id"] = field_error("ENTITY_DOES_NOT_EXIST", f"Pool {pool_id} does not exist")
            return None
        if pool.status == "ARCHIVED":
            errs["pool_id"] = field_error(
                "INAPPROPRIATE_STATUS",
                f"Pool {pool_id} is ARCHIVED; objects can be added to OPEN or CLOSED pools only",
                ["OPEN", "CLOSED"],
            )
            return None
        return pool

    def _check_input(self, pool: Pool | None, values: Any, prefix: str, errs: dict[str, Any]) -> None:
        if values is None:
            errs[prefix] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
            return
        if not isinstance(values, dict):
            errs[prefix] = field_error("OBJECT_EXPECTED", "Value must be an object")
            return
        if pool is None:
            return
        try:
            spec = self._specs[pool.id]
        except KeyError:  # first item for this pool
            spec = self._specs[pool.id] = compile_input_spec(pool.input_spec)
        if spec is None:
            # Every real pool has an input spec, and none takes a null value: without a spec, null is still missing.
            for name, value in values.items():
                if value is None:
                    errs[f"{prefix}.{name}"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
            return
        # missing fields first, then unknown or mistyped ones: the order of Toloka's documented examples
        for name, required in spec.items():
            if required.required and values.get(name) is None:
                errs[f"{prefix}.{name}"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        for name, value in values.items():
            fspec = spec.get(name)
            if fspec is None:
                errs[f"{prefix}.{name}"] = field_error("VALUE_NOT_ALLOWED", "Unknown field name")
            elif value is not None:
                problem = fspec.check(value)
                if problem is not None:
                    errs[f"{prefix}.{name}"] = problem

    def _check_suite_tasks(self, pool: Pool | None, tasks: Any, errs: dict[str, Any]) -> list[Any]:
        """``tasks`` when it is an array (its elements checked too), else an empty list."""
        if tasks is None:
            errs["tasks"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
            return []
        if not isinstance(tasks, list):
            errs["tasks"] = field_error("ARRAY_EXPECTED", "Value must be an array")
            return []
        if not tasks:
            errs["tasks"] = field_error(
                "ARRAY_SIZE_LESS_THAN_MIN", "Array must contain at least 1 element", [1]
            )
        for n, task in enumerate(tasks):
            prefix = f"tasks.{n}"
            if not isinstance(task, dict):
                errs[prefix] = field_error("OBJECT_EXPECTED", "Value must be an object")
                continue
            self._check_input(pool, task.get("input_values"), f"{prefix}.input_values", errs)
            _check_solutions(task, "known_solutions", "correctness_weight", f"{prefix}.", errs)
            if task.get("baseline_solutions") is not None:
                errs[f"{prefix}.baseline_solutions"] = field_error(
                    "VALUE_NOT_ALLOWED", "baseline_solutions are not allowed in task suites"
                )
        return tasks


def _check_solutions(item: dict[str, Any], key: str, weight: str, prefix: str, errs: dict[str, Any]) -> None:
    solutions = item.get(key)
    if solutions is None:
        return
    if not isinstance(solutions, list):
        errs[prefix + key] = field_error("ARRAY_EXPECTED", "Value must be an array")
        return
    for n, sol in enumerate(solutions):
        path = f"{prefix}{key}.{n}"
        if not isinstance(sol, dict):
            errs[path] = field_error("OBJECT_EXPECTED", "Value must be an object")
            continue
        out = sol.get("output_values")
        if out is None:
            errs[f"{path}.output_values"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif not isinstance(out, dict):
            errs[f"{path}.output_values"] = field_error("OBJECT_EXPECTED", "Value must be an object")
        w = sol.get(weight)
        if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1):
            errs[f"{path}.{weight}"] = field_error(
                "VALUE_OUT_OF_BOUNDS", "Value must be between 0 and 1", [0, 1]
            )


def _check_users(item: dict[str, Any], key: str, errs: dict[str, Any]) -> list[Any]:
    users = item.get(key)
    if users is None:
        return []
    if not isinstance(users, list):
        errs[key] = field_error("ARRAY_EXPECTED", "Value must be an array")
        return []
    if not all(isinstance(u, str) for u in users):
        errs[key] = field_error("STRING_EXPECTED", "Array elements must be strings")
    elif len(set(users)) != len(users):
        errs[key] = field_error("DUPLICATE_VALUE_IN_ARRAY", "Array must not contain duplicate values")
    return users


def _check_user_lists(item: dict[str, Any], errs: dict[str, Any]) -> dict[str, Any]:
    """The checked ``reserved_for`` and ``unavailable_for``, which both kinds store last."""
    return {
        "reserved_for": _check_users(item, "reserved_for", errs),
        "unavailable_for": _check_users(item, "unavailable_for", errs),
    }


def _check_overlap(
    item: dict[str, Any], pool: Pool | None, kind: Kind, allow_defaults: bool, errs: dict[str, Any]
) -> tuple[int | None, bool]:
    infinite = item.get("infinite_overlap")
    if infinite is None:
        infinite = False
    elif not isinstance(infinite, bool):
        errs["infinite_overlap"] = field_error("BOOLEAN_EXPECTED", "Value must be a boolean")
        return None, False
    overlap = item.get("overlap")
    if infinite:
        if overlap is not None:
            errs["overlap"] = field_error(
                "VALUE_NOT_ALLOWED", "overlap must be null when infinite_overlap is true"
            )
        return None, True
    if overlap is None:
        if pool is not None and pool.kind == "TRAINING":
            return None, True  # training tasks without an overlap are issued to everyone (see the docstring)
        if allow_defaults and pool is None:
            return None, False  # the pool_id error already says why no default applies
        default = pool.defaults.get(kind.default_overlap_key) if (allow_defaults and pool) else None
        if default is None:
            errs["overlap"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
            return None, False
        return default, False
    if isinstance(overlap, bool) or not isinstance(overlap, int):
        errs["overlap"] = field_error("INTEGER_EXPECTED", "Value must be an integer")
    elif overlap < 1:
        errs["overlap"] = field_error("VALUE_LESS_THAN_MIN", "Value must be greater than or equal to 1", [1])
    elif overlap > MAX_OVERLAP:
        errs["overlap"] = field_error(
            "VALUE_GREATER_THAN_MAX", f"Value must be less than or equal to {MAX_OVERLAP}", [MAX_OVERLAP]
        )
    return overlap, False


def _overlap_head(key: str, value: Any, overlap: int | None, infinite: bool) -> dict[str, Any]:
    """The leading stored fields: the content (``input_values`` or ``tasks``), then the overlap ones."""
    head = {key: value, "overlap": overlap, "infinite_overlap": infinite}
    if not infinite:
        head["remaining_overlap"] = overlap
    return head


# never copied from the item into the stored object: the emulator's own bookkeeping or read-only fields
_NOT_STORED = frozenset({ITEM_IDX, "id", "created", "remaining_overlap", "origin_task_id", "automerged"})


def _normalized(
    item: dict[str, Any], pool: Pool, head: dict[str, Any], tail: dict[str, Any]
) -> dict[str, Any]:
    # Unknown top-level keys (traits, localization_config, ...) are kept; __item_idx and read-only ones not.
    out = {"pool_id": pool.id, **head}
    for key, value in item.items():
        if key not in out and key not in tail and key not in _NOT_STORED:
            out[key] = value
    out.update(tail)
    return out
