"""``POST /_emulator/fill``: finished assignments made instantly, so a benchmark can export a million answer rows
without running the crowd for hours.

``POST /_emulator/fill?pool_id=P&assignments=N&tasks_per_assignment=K`` with optional ``status`` (``ACCEPTED``,
the default, or ``SUBMITTED``), ``overlap`` (how often each invented task is answered; default the pool's
``default_overlap_for_new_tasks``, else 3) and ``workers`` (default 30) adds N assignments of K tasks each to an
existing pool (any status), all stamped now, and answers ``{"pool_id", "assignments", "tasks_per_assignment",
"rows", "tasks_created", "status"}``.

- the tasks are the pool's general tasks (no ``known_solutions``), taken in creation order and round again; a pool
  without any gets ``ceil(N * K / overlap)`` invented tasks first (stored like uploads, ``remaining_overlap`` 0),
  whose ``input_values`` follow the pool's input spec (``{"text": ...}`` for a permissive pool) and whose
  ``truth_field`` (when the spec has it) holds a random allowed answer. Fewer than K tasks is a 400.
- answers follow ``crowd_accuracy``: the truth (``known_solutions``, then ``truth_field``, else one fixed random
  answer per task) or another allowed value; every answer satisfies the output spec. The workers are split into
  one group per pass over the tasks, so with ``workers >= overlap`` a worker answers a task twice only where an
  assignment straddles two passes.
- memory and time: assignments hold the stored task objects themselves (not copies) and share one solution object
  per distinct answer, so a row costs two list slots. 100,000 assignments x 10 tasks (with 333,334 invented
  tasks) take about 400 MB and 5 s; filling in several calls costs the same.
- the crowd is not told: a filled pool that is OPEN keeps whatever overlap its uploaded tasks had left.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from toloka_emulator.answers import generated, truths
from toloka_emulator.assignments import Assignments
from toloka_emulator.clock import Clock
from toloka_emulator.pools import OWNER, Pool
from toloka_emulator.projects import Projects
from toloka_emulator.query import int_param
from toloka_emulator.wire import ApiError

__all__ = ["FillSettings", "Filler"]

_NO_USERS: list[str] = []  # shared by every invented task; nothing writes to these lists


class FillSettings(Protocol):
    """The live config the fill reads."""

    crowd_accuracy: float
    truth_field: str
    seed: int | None


class Filler:
    """Makes finished assignments on demand.

    :param pools: the account's pools by id.
    :param projects: the account's projects (for specs).
    :param assignments: where assignments go.
    :param units_of: pool id -> (its tasks, its task suites), stored objects in creation order.
    :param store_tasks: stores normalised tasks created at a clock instant and returns them.
    :param new_id: (pool id prefix, clock instant) -> a fresh object id.
    :param clock: the emulator's clock.
    :param settings: the live config.
    """

    def __init__(
        self,
        pools: Mapping[str, Pool],
        projects: Projects,
        assignments: Assignments,
        units_of: Callable[[str], tuple[list[dict[str, Any]], list[dict[str, Any]]]],
        store_tasks: Callable[[list[dict[str, Any]], float], list[dict[str, Any]]],
        new_id: Callable[[str, float], str],
        clock: Clock,
        settings: FillSettings,
    ) -> None:
        self._pools = pools
        self._projects = projects
        self._assignments = assignments
        self._units_of = units_of
        self._store_tasks = store_tasks
        self._new_id = new_id
        self._clock = clock
        self._settings = settings

    def fill(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``POST /_emulator/fill``.

        :param query: ``pool_id``, ``assignments``, ``tasks_per_assignment`` and the optional ``status``,
            ``overlap``, ``workers``.
        :return: what was made.
        :raises ApiError: 404 for an unknown pool, 400 for a bad parameter or a pool with fewer than K tasks.
        """
        pool = self._pools.get(query.get("pool_id") or "")
        if pool is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Pool {query.get('pool_id')} does not exist")
        n = int_param(query, "assignments", 1, 1, 10_000_000)
        k = int_param(query, "tasks_per_assignment", 10, 1, 1000)
        default_overlap = int(pool.defaults.get("default_overlap_for_new_tasks") or 3)
        overlap = int_param(query, "overlap", default_overlap, 1, 1000)
        workers = int_param(query, "workers", 30, 1, 100_000)
        status = query.get("status", "ACCEPTED")
        if status not in ("ACCEPTED", "SUBMITTED"):
            raise ApiError(400, "VALIDATION_ERROR", "status must be ACCEPTED or SUBMITTED")
        settings = self._settings
        rng = random.Random(None if settings.seed is None else f"{settings.seed}:fill:{pool.id}")
        project = self._projects.by_id.get(pool.project_id)
        output_spec = project.output_spec if project is not None else {}
        answers = _Answers(output_spec, settings.truth_field, rng)
        mono = self._clock.now()
        tasks = [t for t in self._units_of(pool.id)[0] if not t.get("known_solutions") and "id" in t]
        created = 0
        if not tasks:
            count = math.ceil(n * k / overlap)
            tasks = self._store_tasks(self._invent(pool, project, answers, count, overlap), mono)
            created = count
        if len(tasks) < k:
            raise ApiError(400, "VALIDATION_ERROR", f"Pool {pool.id} has {len(tasks)} tasks, fewer than {k}")
        passes = math.ceil(n * k / len(tasks))
        group = max(1, workers // passes)
        users = [f"{rng.getrandbits(128):032x}" for _ in range(max(workers, passes * group))]
        stamp = self._clock.stamp(mono)
        accuracy = settings.crowd_accuracy
        reward = pool.setting("reward_per_assignment", 0.01)
        total = len(tasks)
        batch: list[dict[str, Any]] = []
        for i in range(n):
            first = i * k
            picked = [tasks[(first + j) % total] for j in range(k)]
            solutions = [answers.solution(task, rng.random() < accuracy) for task in picked]
            user = users[(first // total) * group % len(users) + i % group]
            assignment: dict[str, Any] = {
                "id": self._new_id(pool.prefix, mono),
                "task_suite_id": self._new_id(pool.prefix, mono),
                "pool_id": pool.id,
                "user_id": user,
                "status": status,
                "reward": reward,
                "tasks": picked,
                "solutions": solutions,
                "mixed": True,
                "automerged": False,
                "created": stamp,
                "submitted": stamp,
                "owner": OWNER,
            }
            if status == "ACCEPTED":
                assignment["accepted"] = stamp
            batch.append(assignment)
        self._assignments.add_many(batch)
        return {
            "pool_id": pool.id,
            "assignments": n,
            "tasks_per_assignment": k,
            "rows": n * k,
            "tasks_created": created,
            "status": status,
        }

    def _invent(
        self, pool: Pool, project: Any, answers: _Answers, count: int, overlap: int
    ) -> list[dict[str, Any]]:
        """Normalised tasks for a pool that has none, following its input spec."""
        spec = pool.input_spec if pool.input_spec is not None else getattr(project, "input_spec", None)
        truth_field = self._settings.truth_field
        rng = answers.rng
        out: list[dict[str, Any]] = []
        for i in range(count):
            if not spec:
                values: dict[str, Any] = {"text": f"filled task {i}"}
            else:
                values = {name: _invented(name, f, i, rng) for name, f in spec.items()}
                if truth_field in spec:
                    values[truth_field] = answers.random_truth()
            out.append(
                {
                    "pool_id": pool.id,
                    "input_values": values,
                    "overlap": overlap,
                    "infinite_overlap": False,
                    "remaining_overlap": 0,
                    "reserved_for": _NO_USERS,
                    "unavailable_for": _NO_USERS,
                }
            )
        return out


def _invented(name: str, spec: Any, i: int, rng: random.Random) -> Any:
    """An input value for an invented task; strings (most inputs) are cheap and tell the task apart."""
    spec = spec if isinstance(spec, dict) else {}
    if str(spec.get("type", "string")).lower() == "string":
        return f"{name} {i}"
    return generated(spec, rng)


class _Answers:
    """Right and wrong answers per task, each distinct answer one shared solution object."""

    def __init__(self, output_spec: Mapping[str, Any], truth_field: str, rng: random.Random) -> None:
        self.rng = rng
        self._fields = list(output_spec)
        self._truth_field = truth_field
        self._options: list[list[Any]] = []
        for name in self._fields:
            spec = output_spec[name] if isinstance(output_spec[name], dict) else {}
            allowed = spec.get("allowed_values")
            if isinstance(allowed, list) and allowed:
                self._options.append(list(allowed))
            elif str(spec.get("type", "")).lower() == "boolean":
                self._options.append([True, False])
            else:
                self._options.append([generated(spec, rng) for _ in range(5)])
        self._right: dict[str, tuple[Any, ...]] = {}
        self._shared: dict[tuple[Any, ...], dict[str, Any]] = {}

    def random_truth(self) -> Any:
        """A random answer for the first output field (to put in an invented task's ``truth_field``).

        :return: the value, or ``None`` without output fields.
        """
        return self.rng.choice(self._options[0]) if self._options else None

    def solution(self, task: dict[str, Any], right: bool) -> dict[str, Any]:
        """A worker's solution of a task.

        :param task: the stored task.
        :param right: whether the worker answers the truth.
        :return: the shared ``{"output_values": ...}`` object.
        """
        truth = self._truth(task)
        if right:
            values = truth
        else:
            values = tuple(
                self.rng.choice([o for o in options if o != t] or options)
                for options, t in zip(self._options, truth, strict=True)
            )
        shared = self._shared.get(values)
        if shared is None:
            shared = self._shared[values] = {"output_values": dict(zip(self._fields, values, strict=True))}
        return shared

    def _truth(self, task: dict[str, Any]) -> tuple[Any, ...]:
        task_id = task["id"]
        found = self._right.get(task_id)
        if found is None:
            known = truths(task, self._fields, self._truth_field)
            found = tuple(
                known[name] if known.get(name) in options else self.rng.choice(options)
                for name, options in zip(self._fields, self._options, strict=True)
            )
            self._right[task_id] = found
        return found
