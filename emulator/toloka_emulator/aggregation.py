"""Aggregation endpoints (docs/toloka-api.md L7): ``POST /aggregated-solutions/aggregate-by-pool`` (a
``SOLUTION.AGGREGATE`` operation), ``GET /aggregated-solutions/{operation_id}`` (its results) and
``POST .../aggregate-by-task``.

A body is ``{"type": "WEIGHTED_DYNAMIC_OVERLAP" | "DAWID_SKENE", "pool_id", "fields": [{"name"}],
"answer_weight_skill_id"}`` (plus ``task_id`` by task). Only ACCEPTED answers count, and every task with at least
one accepted answer gets a result ``{"pool_id", "task_id", "confidence", "output_values"}`` whose
``output_values`` holds only the aggregated fields. The methods are in ``aggregate``.

The operation is PENDING for ``pending_seconds`` and RUNNING for ``aggregation_seconds`` (default 1) on the
clock; its results are computed when it finishes, from the answers accepted by then, and kept compactly (one
tuple per task) until a reset. ``parameters`` are those DOCS shows (docs/toloka-api.md L7.2), ``details`` is ``{}``.

Choices where Toloka's real behaviour is unconfirmed (docs/toloka-api.md L7, L13, L15):

- aggregate-by-pool answers 202, aggregate-by-task 200.
- an unknown pool (or a training) is 400 with ``pool_id`` ``DOES_NOT_EXIST``; a field missing from the
  project's ``output_spec`` is ``fields.<i>.name`` ``DOES_NOT_EXIST``; a field that is neither boolean nor has
  ``allowed_values`` is ``fields.<i>.name`` ``VALUE_NOT_ALLOWED``; DAWID_SKENE with other than one field is
  ``fields`` ``VALUE_NOT_ALLOWED``; WDO without ``answer_weight_skill_id`` is ``answer_weight_skill_id``
  ``VALUE_REQUIRED`` (any non-empty value is accepted: skills are not modelled). All are 400
  ``VALIDATION_ERROR``, synchronous, never a FAIL operation. The pool may be in any status.
- WDO weights: skills are not modelled, so ``q_i`` is the worker's smoothed accuracy on the pool's control tasks
  (answers in SUBMITTED, ACCEPTED or REJECTED assignments compared with ``known_solutions``); a worker who
  answered no control task gets the same smoothing over agreement with the plurality of the other accepted
  answers to each task it answered (a task it alone answered does not count).
- several fields (WDO only) are aggregated as one joint answer: ``Y`` is the product of the fields' value counts.
- control tasks get results too (DOCS-G says DS works over them); tasks without an id (manually built suites)
  cannot be named in a result and are left out.
- results before the operation is SUCCESS: 409 ``INAPPROPRIATE_STATUS`` with ``payload: {"status",
  "appropriate_statuses": ["SUCCESS"]}``; an unknown id, or one that is not a ``SOLUTION.AGGREGATE``: 404.
  ``limit`` defaults to 50 and is clamped to ``aggregation_max_limit`` (default 100,000); ``sort`` is ``task_id``
  (default) or ``-task_id``.
- aggregate-by-task on a task that has no accepted answer in the pool: 409 ``ASSIGNMENTS_AGGREGATION_DENIED``.
- rate limit (off unless ``aggregation_rate_limit``): the two POSTs share Toloka's 5 per minute, 30 per hour and
  200 per day, in sliding windows on the clock (real time plus ``/_emulator/advance``); only requests that
  aggregate while the flag is on count. Over a limit: 429 ``TOO_MANY_REQUESTS`` with ``payload.interval``
  ``MIN``/``HOUR``/``DAY`` and a ``Retry-After`` of the whole seconds until a slot frees. The results GET is not
  limited (paging a large result would exhaust 30/h at once).
"""

from __future__ import annotations

import math
import uuid
from collections import Counter, deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol

from toloka_emulator.aggregate import accuracy, dawid_skene, weighted_dynamic_overlap
from toloka_emulator.assignments import Assignments
from toloka_emulator.operations import Operation, Operations
from toloka_emulator.pools import OWNER, Pool
from toloka_emulator.projects import Projects
from toloka_emulator.query import id_range, int_param, sort_param
from toloka_emulator.wire import VALUE_REQUIRED, ApiError, field_error

__all__ = ["AggregationSettings", "Aggregations", "RateLimit"]

WDO, DS = "WEIGHTED_DYNAMIC_OVERLAP", "DAWID_SKENE"
OP_TYPE = "SOLUTION.AGGREGATE"
# (interval name, seconds, requests allowed), DOCS intro "Rate limiting"
WINDOWS = (("MIN", 60.0, 5), ("HOUR", 3600.0, 30), ("DAY", 86_400.0, 200))


class AggregationSettings(Protocol):
    """The live config aggregation reads."""

    aggregation_seconds: float
    aggregation_max_limit: int
    aggregation_rate_limit: bool


class RateLimit:
    """Sliding windows of accepted requests on the clock.

    :param now: the clock.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._times: deque[float] = deque()

    def check(self) -> None:
        """Refuse a request over any window's limit.

        :raises ApiError: 429 ``TOO_MANY_REQUESTS`` with ``payload.interval`` and ``Retry-After``.
        """
        now = self._now()
        longest = WINDOWS[-1][1]
        while self._times and self._times[0] <= now - longest:
            self._times.popleft()
        for name, span, allowed in WINDOWS:
            inside = [t for t in self._times if t > now - span]
            if len(inside) >= allowed:
                wait = max(1, math.ceil(inside[-allowed] + span - now))
                raise ApiError(
                    429,
                    "TOO_MANY_REQUESTS",
                    f"Too many aggregation requests: at most {allowed} per {name.lower()}",
                    {"interval": name},
                    {"Retry-After": str(wait)},
                )

    def record(self) -> None:
        """Count a request that aggregated."""
        self._times.append(self._now())


class _Request:
    """A checked aggregation body."""

    def __init__(self, kind: str, pool: Pool, fields: list[str], values: list[list[Any]], skill: Any) -> None:
        self.kind, self.pool, self.fields, self.values, self.skill = kind, pool, fields, values, skill


class Aggregations:
    """Aggregation requests of the account and the results of finished ``SOLUTION.AGGREGATE`` operations.

    :param pools: the account's pools by id.
    :param projects: the account's projects (for output specs).
    :param assignments: the account's assignments.
    :param operations: where aggregations run.
    :param now: the clock (for the rate limit).
    :param settings: the live config.
    """

    def __init__(
        self,
        pools: Mapping[str, Pool],
        projects: Projects,
        assignments: Assignments,
        operations: Operations,
        now: Callable[[], float],
        settings: AggregationSettings,
    ) -> None:
        self._pools = pools
        self._projects = projects
        self._assignments = assignments
        self._operations = operations
        self._settings = settings
        self._limit = RateLimit(now)
        # operation id -> (pool id, field names, task ids sorted, (task id, confidence, values) in that order)
        self._results: dict[
            str, tuple[str, list[str], list[str], list[tuple[str, float, tuple[Any, ...]]]]
        ] = {}

    def by_pool(self, body: Any) -> dict[str, Any]:
        """``POST /aggregated-solutions/aggregate-by-pool``.

        :param body: the parsed JSON body.
        :return: the ``SOLUTION.AGGREGATE`` operation (answered with 202).
        :raises ApiError: 400 ``VALIDATION_ERROR`` for a bad body, 429 over the rate limit.
        """
        self._gate()
        req = self._check(body, by_task=False)
        pool = req.pool
        parameters: dict[str, Any] = {
            "pool_id": pool.id,
            "algorithm": req.kind,
            "pool_name": pool.setting("private_name", pool.private_name),
            "project_id": pool.project_id,
            "requester_id": OWNER["id"],
        }
        if req.kind == DS:
            parameters["input_fields"] = list(pool.input_spec or {})
            parameters["missing_output_fields"] = []
            parameters["aggregated_output_fields"] = req.fields
        else:
            parameters["aggregated_fields"] = [{"name": name} for name in req.fields]
            parameters["answer_weight_skill_id"] = req.skill
        op = self._operations.submit(
            str(uuid.uuid4()),
            OP_TYPE,
            parameters,
            items=0,
            details={},
            on_complete=lambda done: self._finish(done, req),
            duration=self._settings.aggregation_seconds,
        )
        self._count()
        return self._operations.to_json(op)

    def by_task(self, body: Any) -> dict[str, Any]:
        """``POST /aggregated-solutions/aggregate-by-task``: one task, synchronously.

        :param body: the parsed JSON body, with ``task_id``.
        :return: the result ``{"pool_id", "task_id", "confidence", "output_values"}``.
        :raises ApiError: 400 ``VALIDATION_ERROR`` for a bad body, 409 ``ASSIGNMENTS_AGGREGATION_DENIED`` when the
            task has no accepted answer, 429 over the rate limit.
        """
        self._gate()
        req = self._check(body, by_task=True)
        task_id = str(body["task_id"])
        rows = self._compute(req, only_task=task_id)
        if not rows:
            raise ApiError(
                409,
                "ASSIGNMENTS_AGGREGATION_DENIED",
                f"Task {task_id} has no accepted answers in pool {req.pool.id}",
            )
        self._count()
        return _render(req.pool.id, req.fields, rows[0])

    def results(self, op_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /aggregated-solutions/{operation_id}``: ``sort``, ``task_id_*``, ``limit``, ``has_more``.

        :param op_id: the aggregation's operation id.
        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 404 for an unknown id or another operation type, 409 before SUCCESS, 400 for a bad
            parameter.
        """
        op = self._operations.get_json(op_id)
        if op["type"] != OP_TYPE:
            raise ApiError(404, "DOES_NOT_EXIST", f"Aggregation {op_id} does not exist")
        found = self._results.get(op_id)
        if found is None:
            raise ApiError(
                409,
                "INAPPROPRIATE_STATUS",
                f"Aggregation {op_id} is {op['status']}; results exist once it is SUCCESS",
                {"status": op["status"], "appropriate_statuses": ["SUCCESS"]},
            )
        limit = min(int_param(query, "limit", 50, 1, 2**31), self._settings.aggregation_max_limit)
        keys = sort_param(query.get("sort"), ("task_id",))
        desc = bool(keys) and keys[0][1]
        pool_id, fields, task_ids, rows = found
        lo, hi = id_range(task_ids, query, "task_id")
        if desc:
            page = rows[max(lo, hi - limit) : hi][::-1]
            more = hi - lo > limit
        else:
            page = rows[lo : min(hi, lo + limit)]
            more = hi - lo > limit
        return {"items": [_render(pool_id, fields, row) for row in page], "has_more": more}

    # ------------------------------------------------------------------ internals

    def _gate(self) -> None:
        if self._settings.aggregation_rate_limit:
            self._limit.check()

    def _count(self) -> None:
        if self._settings.aggregation_rate_limit:
            self._limit.record()

    def _check(self, body: Any, by_task: bool) -> _Request:
        if not isinstance(body, dict):
            raise ApiError(400, "VALIDATION_ERROR", "Request body must be a JSON object")
        errors: dict[str, Any] = {}
        kind = body.get("type")
        if kind is None:
            errors["type"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif kind not in (WDO, DS):
            errors["type"] = field_error("UNKNOWN_ENUM_VALUE", "Unknown aggregation type", [WDO, DS])
        raw_pool = body.get("pool_id")
        pool = self._pools.get(str(raw_pool)) if raw_pool is not None else None
        if raw_pool is None:
            errors["pool_id"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif pool is None or pool.kind != "POOL":
            errors["pool_id"] = field_error("DOES_NOT_EXIST", f"Pool {raw_pool} does not exist")
        if by_task and body.get("task_id") in (None, ""):
            errors["task_id"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        if kind == WDO and body.get("answer_weight_skill_id") in (None, ""):
            errors["answer_weight_skill_id"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        names, values = self._check_fields(body.get("fields"), kind, pool, errors)
        if errors:
            raise ApiError(400, "VALIDATION_ERROR", "Validation failed", errors)
        assert pool is not None and isinstance(kind, str)
        return _Request(kind, pool, names, values, body.get("answer_weight_skill_id"))

    def _check_fields(
        self, fields: Any, kind: Any, pool: Pool | None, errors: dict[str, Any]
    ) -> tuple[list[str], list[list[Any]]]:
        """The field names and each one's possible values; problems go to ``errors``."""
        if not isinstance(fields, list) or not fields:
            errors["fields"] = field_error("VALUE_REQUIRED", "At least one field is required")
            return [], []
        if kind == DS and len(fields) != 1:
            errors["fields"] = field_error(
                "VALUE_NOT_ALLOWED", "DAWID_SKENE aggregates exactly one field", [1]
            )
        project = self._projects.by_id.get(pool.project_id) if pool is not None else None
        spec = project.output_spec if project is not None else {}
        names: list[str] = []
        values: list[list[Any]] = []
        for i, entry in enumerate(fields):
            name = entry.get("name") if isinstance(entry, dict) else None
            path = f"fields.{i}.name"
            if not isinstance(name, str) or not name:
                errors[path] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
                continue
            if pool is None:
                continue
            field_spec = spec.get(name)
            if not isinstance(field_spec, dict):
                errors[path] = field_error("DOES_NOT_EXIST", f"Field {name} is not in the output spec")
                continue
            possible = _possible_values(field_spec)
            if possible is None:
                errors[path] = field_error(
                    "VALUE_NOT_ALLOWED", f"Field {name} cannot be aggregated: it has no allowed_values"
                )
                continue
            names.append(name)
            values.append(possible)
        return names, values

    def _finish(self, op: Operation, req: _Request) -> None:
        rows = self._compute(req)
        rows.sort(key=lambda row: row[0])
        self._results[op.id] = (req.pool.id, req.fields, [row[0] for row in rows], rows)

    def _compute(
        self, req: _Request, only_task: str | None = None
    ) -> list[tuple[str, float, tuple[Any, ...]]]:
        """(task id, confidence, values) per task with an accepted answer (or just ``only_task``)."""
        fields = req.fields
        allowed = set(_product(req.values))
        votes: dict[str, list[tuple[str, Hashable]]] = {}
        golden: dict[str, list[int]] = {}  # worker -> [correct, total] on control tasks
        # by task too the whole pool is read: the weights come from every control answer of the voters
        for a in self._assignments.of_pool(req.pool.id):
            solutions = a.get("solutions")
            if not solutions:
                continue
            worker, accepted = a["user_id"], a["status"] == "ACCEPTED"
            for task, solution in zip(a["tasks"], solutions, strict=False):
                label = _label(solution, fields, allowed)
                if label is None:
                    continue
                known = task.get("known_solutions")
                if known and req.kind == WDO:
                    stats = golden.setdefault(worker, [0, 0])
                    stats[0] += any(_label(k, fields, allowed) == label for k in known)
                    stats[1] += 1
                task_id = task.get("id")
                if accepted and task_id is not None and (only_task is None or task_id == only_task):
                    votes.setdefault(task_id, []).append((worker, label))
        if req.kind == DS:
            result = dawid_skene(votes, list(_product(req.values)))
        else:
            result = weighted_dynamic_overlap(votes, _weights(votes, golden), len(allowed))
        return [(task_id, conf, label) for task_id, (label, conf) in result.items()]  # type: ignore[misc]


def _possible_values(spec: Mapping[str, Any]) -> list[Any] | None:
    allowed = spec.get("allowed_values")
    if isinstance(allowed, list) and allowed:
        return list(dict.fromkeys(v for v in allowed if isinstance(v, Hashable)))
    if str(spec.get("type", "")).lower() == "boolean":
        return [True, False]
    return None


def _product(values: list[list[Any]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [()]
    for options in values:
        out = [(*prefix, v) for prefix in out for v in options]
    return out


def _label(solution: Any, fields: list[str], allowed: set[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The aggregated fields' values of a solution, or ``None`` when that is not one of the possible answers."""
    try:
        values = solution["output_values"]
        label = tuple([values.get(name) for name in fields])
        return label if label in allowed else None
    except (TypeError, KeyError, AttributeError):  # not an object, or an unhashable value
        return None


def _weights(
    votes: Mapping[str, list[tuple[str, Hashable]]], golden: Mapping[str, list[int]]
) -> dict[str, float]:
    """Each voter's ``q_i``: golden accuracy, else agreement with the other voters' plurality on each task."""
    q = {worker: accuracy(correct, total) for worker, (correct, total) in golden.items()}
    agree: dict[str, list[int]] = {}
    for pairs in votes.values():
        if len(pairs) < 2:
            continue  # a lone voter agrees with nobody and disagrees with nobody
        counts = Counter(label for _, label in pairs)
        for worker, label in pairs:
            if worker in q:
                continue
            counts[label] -= 1  # leave this vote out: a voter always agrees with itself
            top = max(counts.values())
            stats = agree.setdefault(worker, [0, 0])
            stats[0] += counts[label] == top
            stats[1] += 1
            counts[label] += 1
    q.update({worker: accuracy(correct, total) for worker, (correct, total) in agree.items()})
    return q


def _render(pool_id: str, fields: list[str], row: tuple[str, float, tuple[Any, ...]]) -> dict[str, Any]:
    task_id, confidence, values = row
    return {
        "pool_id": pool_id,
        "task_id": task_id,
        "confidence": round(confidence, 6),
        "output_values": dict(zip(fields, values, strict=True)),
    }
