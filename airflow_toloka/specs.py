"""Checks of what Toloka would refuse, made locally before anything is sent (no I/O here).

- :func:`check_pool_spec`: the fields and ranges Toloka's API reference requires of a pool, so a bad spec fails
  naming its field instead of a half-built run (docs/toloka-api.md L3.1, L14 item 3).
- :func:`changed_fields`: where a project or pool found again (a re-run) differs from the spec given now, so a
  changed spec is applied or refused, never silently ignored.
- :class:`InputSpecChecker`: each task's ``input_values`` against its pool's input spec (the project's
  ``task_spec.input_spec``): required fields, unknown fields, types, URLs, coordinates, allowed values, lengths
  and ranges. The codes are Toloka's for what the emulator and toloka-kit's fixtures show (``VALUE_REQUIRED``,
  ``VALUE_NOT_ALLOWED``, ``*_EXPECTED``, ``INVALID_URL_SYNTAX``); for lengths and ranges, which no source pins, the
  provider names its own (``VALUE_TOO_SHORT`` …) — nothing is sent, so no client depends on them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_toloka.exceptions import TolokaDoesNotExistError, TolokaInputError
from airflow_toloka.models import TaskSuite

__all__ = [
    "EXACT_KEYS",
    "InputSpecChecker",
    "SpecProblem",
    "changed_fields",
    "check_pool_spec",
    "compile_field",
    "field_problem",
    "resolve_will_expire",
]

SpecProblem = tuple[str, str]  # (code, message)
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_COORDINATES = re.compile(r"^\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*$")


def _required(spec: Mapping[str, Any], path: str) -> Any:
    node: Any = spec
    for part in path.split("."):
        if not isinstance(node, Mapping) or node.get(part) is None:
            raise TolokaInputError("required by Toloka and missing", field=path)
        node = node[part]
    return node


def _number(value: Any, path: str, low: float, high: float, *, integer: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (integer and not float(value).is_integer()):
        raise TolokaInputError(
            f"must be {'an integer' if integer else 'a number'}, got {value!r}", field=path
        )
    if not low <= value <= high:
        raise TolokaInputError(f"must be between {low:g} and {high:g}, got {value!r}", field=path)


def check_pool_spec(spec: Mapping[str, Any], *, now: datetime | None = None) -> None:
    """Refuse a pool spec Toloka would refuse, naming the field.

    :param spec: the pool as it will be sent (``project_id``, ``private_name``, ``reward_per_assignment`` …).
    :param now: the current time (tests pin it).
    :raises TolokaInputError: with ``field`` set, at the first problem.
    """
    for path in ("project_id", "private_name", "will_expire"):
        _required(spec, path)
    reward = _required(spec, "reward_per_assignment")
    _number(reward, "reward_per_assignment", 0, 1000)
    if 0 < reward < 0.005:
        raise TolokaInputError(
            "must be 0 (control tasks only) or at least 0.005 USD per assignment",
            field="reward_per_assignment",
        )
    duration = _required(spec, "assignment_max_duration_seconds")
    _number(duration, "assignment_max_duration_seconds", 5, 2_147_483_647, integer=True)
    overlap = _required(spec, "defaults.default_overlap_for_new_task_suites")
    _number(overlap, "defaults.default_overlap_for_new_task_suites", 1, 30000, integer=True)
    ranges = (
        ("defaults.default_overlap_for_new_tasks", 1, 30000),
        ("auto_accept_period_day", 1, 21),
        ("auto_close_after_complete_delay_seconds", 0, 259200),
        ("priority", 0, 100),
    )
    for path, low, high in ranges:
        head, _, leaf = path.rpartition(".")
        parent = spec.get(head) if head else spec
        if isinstance(parent, Mapping) and parent.get(leaf) is not None:
            _number(parent[leaf], path, low, high, integer=True)
    expires = _as_datetime(spec["will_expire"])
    if expires is None:
        raise TolokaInputError(f"must be a date and time, got {spec['will_expire']!r}", field="will_expire")
    current = now or datetime.now(timezone.utc)
    if expires <= current:
        raise TolokaInputError(
            f"{spec['will_expire']} is in the past: the pool would close as EXPIRED at once",
            field="will_expire",
        )


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    # Toloka's stamps are naive UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def resolve_will_expire(value: Any, *, now: datetime | None = None) -> Any:
    """A ``will_expire`` as Toloka takes it: a timedelta means "that long from now".

    :param value: a datetime, an ISO string or a timedelta.
    :param now: the current time (tests pin it).
    :return: the value, a timedelta turned into an aware UTC datetime.
    """
    if isinstance(value, timedelta):
        return (now or datetime.now(timezone.utc)) + value
    return value


# ---------------------------------------------------------------------- a spec against what Toloka holds

EXACT_KEYS = frozenset({"task_spec.input_spec", "task_spec.output_spec"})
"""Maps whose keys are the user's own names: a key missing from the given spec was removed, not left to Toloka."""


def changed_fields(
    given: Mapping[str, Any],
    found: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
    exact_keys: Collection[str] = EXACT_KEYS,
) -> list[str]:
    """Where an object Toloka holds differs from the spec given for it, as dotted field paths.

    Only what was given is compared: a field the server added (a default, a stamp, an id inside a rule) is no
    change, and neither is an empty map or list (``{"configs": []}``) given where the server holds nothing. Maps are compared key by key, recursively, except those at ``exact_keys`` (a project's input and
    output fields), where a field the given spec no longer has was removed. Lists must have the same length and
    order; a list of values that differs is named as a whole, and a list of maps item by item (``configs.0.…``),
    each item compared like a map. Numbers compare by value (``3 == 3.0``), but a boolean only equals a boolean.

    Both sides should come through the same model (``Pool(...).to_json_dict()``), so that ids, numbers and
    timestamps are written alike.

    :param given: the spec as the caller gives it now.
    :param found: the object as Toloka returns it.
    :param ignore: dotted paths never compared (the provider's own tag; a relative ``will_expire``).
    :param exact_keys: dotted paths of maps whose key sets must match.
    :return: the paths that differ, in the given spec's order (a path per changed leaf, list or removed key).
    """
    changed: list[str] = []
    _diff(given, found, "", frozenset(ignore), frozenset(exact_keys), changed)
    return changed


def _diff(
    given: Any, found: Any, path: str, ignore: frozenset[str], exact: frozenset[str], out: list[str]
) -> None:
    if path in ignore:
        return
    if found is None and _blank(given):
        return
    if isinstance(given, Mapping):
        if not isinstance(found, Mapping):
            out.append(path)
            return
        for key, value in given.items():
            _diff(value, found.get(key), f"{path}.{key}" if path else str(key), ignore, exact, out)
        if path in exact:
            out.extend(f"{path}.{key}" for key in found if key not in given and f"{path}.{key}" not in ignore)
        return
    if isinstance(given, list):
        if not isinstance(found, list) or len(found) != len(given):
            out.append(path)
            return
        pairs = list(zip(given, found, strict=True))
        if not all(isinstance(mine, (Mapping, list)) for mine, _ in pairs):
            if not all(_same(mine, theirs) for mine, theirs in pairs):
                out.append(path)
            return
        for n, (mine, theirs) in enumerate(pairs):
            _diff(mine, theirs, f"{path}.{n}", ignore, exact, out)
        return
    if given is None or _same(given, found):
        return
    out.append(path)


def _blank(value: Any) -> bool:
    """Empty, or a map of nothing but empty things (``{"configs": []}``): what a server may leave out."""
    if isinstance(value, Mapping):
        return all(_blank(v) for v in value.values())
    return isinstance(value, list) and not value


def _same(given: Any, found: Any) -> bool:
    if isinstance(given, bool) or isinstance(found, bool):
        return given is found
    return bool(given == found)


# ---------------------------------------------------------------------- input values


FieldCheck = Callable[[Any], "SpecProblem | None"]
"""A field's spec compiled into one call: what is wrong with a non-null value, or None."""

# Each type's test and Toloka's code when it fails; json, and types Toloka adds later, take anything.
_TYPES: dict[str, tuple[Callable[[Any], bool], SpecProblem]] = {
    "string": (lambda v: isinstance(v, str), ("STRING_EXPECTED", "must be a string")),
    "file": (lambda v: isinstance(v, str), ("STRING_EXPECTED", "must be a string")),
    "integer": (
        lambda v: isinstance(v, int) and not isinstance(v, bool),
        ("INTEGER_EXPECTED", "must be an integer"),
    ),
    "float": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        ("FLOAT_EXPECTED", "must be a number"),
    ),
    "boolean": (lambda v: isinstance(v, bool), ("BOOLEAN_EXPECTED", "must be true or false")),
    "url": (
        lambda v: isinstance(v, str) and _URL.match(v) is not None,
        ("INVALID_URL_SYNTAX", "must be an http(s) URL"),
    ),
    "coordinates": (
        lambda v: isinstance(v, str) and _COORDINATES.match(v) is not None,
        ("INVALID_COORDINATES_SYNTAX", "must be 'latitude,longitude'"),
    ),
}


def compile_field(fspec: Mapping[str, Any]) -> FieldCheck:
    """A field spec as one check, built once per pool and run for every item (the upload's hot path).

    For ``array_*`` fields every element's type is checked first, then the array's length against
    ``min_size`` / ``max_size``, then each element against the rest (``allowed_values``, lengths, ranges).

    :param fspec: ``{"type", "allowed_values", "min_length", "max_length", "min_value", "max_value", …}``.
    :return: the check.
    """
    kind = str(fspec.get("type", "json")).lower()
    is_array = kind.startswith("array_")
    typed = _TYPES.get(kind[len("array_") :] if is_array else kind)
    bounds = _compile_bounds(fspec)
    if not is_array:
        return _scalar_check(typed, bounds)
    low, high = fspec.get("min_size"), fspec.get("max_size")
    low = low if isinstance(low, int) else None
    high = high if isinstance(high, int) else None

    def array(value: Any) -> SpecProblem | None:
        if not isinstance(value, list):
            return ("ARRAY_EXPECTED", "must be an array")
        if typed is not None and not all(typed[0](item) for item in value):
            return typed[1]
        if low is not None and len(value) < low:
            return ("VALUE_TOO_SHORT", f"must have at least {low} elements, has {len(value)}")
        if high is not None and len(value) > high:
            return ("VALUE_TOO_LONG", f"must have at most {high} elements, has {len(value)}")
        if bounds is not None:
            return next((p for p in map(bounds, value) if p is not None), None)
        return None

    return array


def _scalar_check(
    typed: tuple[Callable[[Any], bool], SpecProblem] | None, bounds: FieldCheck | None
) -> FieldCheck:
    if typed is None:
        return bounds or (lambda value: None)
    test, problem = typed
    if bounds is None:
        return lambda value: None if test(value) else problem
    return lambda value: bounds(value) if test(value) else problem


def _compile_bounds(fspec: Mapping[str, Any]) -> FieldCheck | None:
    """``allowed_values``, string lengths and number ranges of one scalar; None when the spec has none."""
    allowed = list(fspec.get("allowed_values") or [])
    short, long = (
        v if isinstance(v, int) else None for v in (fspec.get("min_length"), fspec.get("max_length"))
    )
    least, most = (
        v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        for v in (fspec.get("min_value"), fspec.get("max_value"))
    )
    if not allowed and short is None and long is None and least is None and most is None:
        return None

    def bounds(value: Any) -> SpecProblem | None:
        if allowed and value not in allowed:
            return ("VALUE_NOT_ALLOWED", f"must be one of {allowed[:10]}")
        if isinstance(value, str):
            if short is not None and len(value) < short:
                return ("VALUE_TOO_SHORT", f"must have at least {short} characters, has {len(value)}")
            if long is not None and len(value) > long:
                return ("VALUE_TOO_LONG", f"must have at most {long} characters, has {len(value)}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if least is not None and value < least:
                return ("VALUE_LESS_THAN_MIN", f"must be at least {least}")
            if most is not None and value > most:
                return ("VALUE_GREATER_THAN_MAX", f"must be at most {most}")
        return None

    return bounds


def field_problem(value: Any, fspec: Mapping[str, Any]) -> SpecProblem | None:
    """What is wrong with one non-null value against its field spec (:func:`compile_field`, used once).

    :param value: the value.
    :param fspec: the field spec.
    :return: ``(code, message)``, or None when the value is acceptable.
    """
    return compile_field(fspec)(value)


@dataclass(frozen=True)
class _PoolSpec:
    """A pool's input spec compiled: the required fields and one check per known field."""

    required: tuple[str, ...]
    checks: dict[str, FieldCheck]

    @classmethod
    def of(cls, spec: Mapping[str, Mapping[str, Any]]) -> _PoolSpec:
        required = tuple(name for name, fspec in spec.items() if fspec.get("required", True))
        return cls(required, {name: compile_field(fspec) for name, fspec in spec.items()})


class InputSpecChecker:
    """Check items against their pools' input specs, read and compiled once per pool through ``fetch``.

    :param fetch: pool id -> its input spec (field name -> field spec), or None when the pool declares none
        (nothing can be checked then).
    """

    def __init__(self, fetch: Callable[[str], Mapping[str, Mapping[str, Any]] | None]) -> None:
        self._fetch = fetch
        self._specs: dict[str, _PoolSpec | None] = {}

    def check(self, obj: Any, index: int) -> None:
        """Check one validated task or task suite.

        :param obj: a :class:`~airflow_toloka.models.Task` or :class:`~airflow_toloka.models.TaskSuite`.
        :param index: its input index, for the error.
        :raises TolokaInputError: naming the item, the field, Toloka's code and what is wrong, or a pool that
            does not exist.
        """
        pool_id = str(obj.pool_id)
        try:
            spec = self._specs[pool_id]
        except KeyError:
            spec = self._specs[pool_id] = self._compiled(pool_id, index)
        if spec is None:
            return
        if isinstance(obj, TaskSuite):
            for n, task in enumerate(obj.tasks):
                _check_values(task.input_values, spec, index, f"tasks.{n}.input_values")
        else:
            _check_values(obj.input_values, spec, index, "input_values")

    def _compiled(self, pool_id: str, index: int) -> _PoolSpec | None:
        try:
            spec = self._fetch(pool_id)
        except TolokaDoesNotExistError:
            raise TolokaInputError(f"Toloka has no pool {pool_id}", index=index, field="pool_id") from None
        return None if spec is None else _PoolSpec.of(spec)


def _check_values(values: Mapping[str, Any], spec: _PoolSpec, index: int, prefix: str) -> None:
    for name in spec.required:
        if values.get(name) is None:
            raise TolokaInputError(
                "VALUE_REQUIRED: the pool's input spec requires it", index=index, field=f"{prefix}.{name}"
            )
    checks = spec.checks
    for name, value in values.items():
        check = checks.get(name)
        if check is None:
            known = ", ".join(sorted(checks)) or "none"
            raise TolokaInputError(
                f"VALUE_NOT_ALLOWED: the pool's input spec has no such field (fields: {known})",
                index=index,
                field=f"{prefix}.{name}",
            )
        if value is None:
            continue
        problem = check(value)
        if problem is not None:
            raise TolokaInputError(
                f"{problem[0]}: {problem[1]}, got {_short(value)}", index=index, field=f"{prefix}.{name}"
            )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
