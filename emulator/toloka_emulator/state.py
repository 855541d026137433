"""In-memory Toloka: the account the API handlers act on, wiring the modules that hold each concern.

Everything here is plain dict code on purpose: 100k tasks in 10 async batches must cost the emulator well under a
couple of seconds, so no pydantic model is built per item. The state is only touched from the event loop of a
single uvicorn worker, hence no locks.

:class:`EmulatorState` is the facade ``app.py`` talks to; the concerns live next door, each module documenting
the choices it makes where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md):

- ``config``: the CLI and runtime config; ``pools``: the pool model and the pools file (``--pools FILE``).
- ``projects``: projects, and the implicit projects of pools-file and auto-created pools.
- ``pool_api``: pools and trainings (create, list, replace, open/close/archive/clone); ``forms``: their checks.
- ``crowd`` (with ``work`` and ``answers``): the simulated Tolokers; ``assignments``: what they produce;
  ``review``: accepting and rejecting it; ``aggregation`` (with ``aggregate``): WDO and Dawid-Skene;
  ``fill``: finished assignments made instantly for benchmarks (``/_emulator/fill``).
- ``money``: the requester's account (balance, reserve, fees), which pays for the crowd's work; ``tally``:
  per-pool counters kept as objects are stored and assignments move, which ``analytics`` (pool metrics) reads.
- ``timeline`` and ``clock``: the clock clients see and the accelerated simulated time; ``ids``: object ids.
- ``validation``: per-item checks of uploads (unknown/ARCHIVED pools, non-object items, infinite overlap,
  suite task ids).
- ``operations``: async uploads and pool actions as lazily advancing operations, their logs (FAIL when every
  item is invalid, log order, empty log until done).
- ``query``: strict query parameters; ``wire``: error responses, the two object kinds and batch bodies.
- ``money``: the requester's balance and what it pays; ``bonuses``: user bonuses, paid from it.
- ``skills``, ``user_skills``, ``restrictions``: who may work where (module ``restrictions``).
- ``faults``: which requests the ``/api`` gate injects faults into.

Choices made here where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md):

- sync error payloads: ``{"<idx>": {field: error}}`` for arrays, ``{field: error}`` for a single object.
- ``operation_id`` is keyed on alone (the body is not compared) and is ignored in sync mode; any non-empty string
  is accepted. An empty array is accepted (201 with no items / an operation with zero counts).
- a request over Toloka's data limits (1 MiB of ``input_values``, 4 MiB of solutions' ``output_values``, each
  measured as compact JSON) is refused whole with 413 ``ENTITY_TOO_LARGE``, the status Toloka documents for too
  many items and the code of the Java SDK, before any operation exists.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from toloka_emulator.aggregation import Aggregations
from toloka_emulator.analytics import Analytics
from toloka_emulator.assignments import Assignments
from toloka_emulator.bonuses import UserBonuses
from toloka_emulator.clock import Clock, format_datetime
from toloka_emulator.config import RUNTIME_FIELDS, EmulatorConfig
from toloka_emulator.crowd import Crowd
from toloka_emulator.faults import Faults
from toloka_emulator.fill import Filler
from toloka_emulator.ids import IdSource
from toloka_emulator.money import Account
from toloka_emulator.operations import Entry, Operations
from toloka_emulator.overlap import Overlaps
from toloka_emulator.pool_api import POOLS, PoolApi
from toloka_emulator.pools import (
    Pool,
    auto_create_enabled,
    check_pools_spec,
    file_projects,
    load_pools_spec,
    new_pool,
    pools_from_spec,
    pools_of,
)
from toloka_emulator.projects import Projects, implicit_task_spec
from toloka_emulator.quality import quality_control
from toloka_emulator.query import (
    COMPARISONS,
    bool_param,
    datetime_param,
    id_range,
    int_param,
    sort_param,
)
from toloka_emulator.restrictions import gatekeeping
from toloka_emulator.review import Review
from toloka_emulator.tally import Tallies
from toloka_emulator.timeline import Timeline
from toloka_emulator.validation import (
    MAX_INPUT_BYTES,
    MAX_OUTPUT_BYTES,
    ItemValidator,
    request_data_sizes,
)
from toloka_emulator.wire import MAX_OVERLAP, TASK_SUITES, TASKS, ApiError, Kind, parse_items

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


class EmulatorState:
    """The whole emulated Toloka account: projects, pools, objects, the crowd, operations, counters, live config.

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
        self.ids = IdSource(config.seed)
        self.reset()

    def reset(self) -> None:
        """Forget every object, operation and counter; pools go back to what the config says. Config stays.

        The account starts again from the configured ``balance``, nothing reserved or spent.

        The clock drops what ``advance`` added, so a test after a reset sees the real wall clock again; ids keep
        growing regardless.
        """
        config = self.config
        self.clock.offset = 0.0
        self.objects: dict[str, dict[str, dict[str, Any]]] = {TASKS.name: {}, TASK_SUITES.name: {}}
        self.by_pool: dict[str, dict[str, list[str]]] = {TASKS.name: {}, TASK_SUITES.name: {}}
        self.operations = Operations(self.clock, config)
        self.timeline = Timeline(self.clock, config.time_scale)
        self.timeline.operations = self.operations
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.faults = Faults(config)
        self.account = Account(config.balance, lambda: self.config.fee_rate, lambda: self.config.fee_min)
        spec = config.pools_spec
        self.auto_create = auto_create_enabled(spec)
        self.pools: dict[str, Pool] = pools_from_spec(spec, self.clock.now_stamp)
        self.projects = Projects(self.clock.now_stamp, self._pool_statuses, self._archive_project)
        for project_id, specs in file_projects(spec).items():
            self.projects.add_implicit(
                project_id, implicit_task_spec(specs["input_spec"], specs["output_spec"])
            )
        self.tallies = Tallies(self.objects[TASK_SUITES.name].get)
        self.assignments = Assignments(lambda: self.config.assignments_max_limit, self.tallies)
        self.review = Review(self.assignments, self.pools, self.clock.now_stamp, config, self.account)
        self.analytics = Analytics(self.pools, self.tallies, self.assignments, self.operations, self.clock)
        self.aggregations = Aggregations(
            self.pools, self.projects, self.assignments, self.operations, self.clock.now, config
        )
        self.filler = Filler(
            self.pools,
            self.projects,
            self.assignments,
            self._units_of,
            lambda norms, mono: self.store(TASKS, norms, mono),
            self._new_id,
            self.clock,
            config,
        )
        self.crowd = Crowd(
            config,
            self.timeline,
            self.pools,
            self.projects,
            self.assignments,
            self._units_of,
            self._new_id,
            self.account,
        )
        self.pool_api = PoolApi(
            self.pools,
            self.pool,
            self._pool_has_objects,
            self.projects,
            self.operations,
            self.timeline,
            self.crowd,
            lambda: self.config.for_update_seconds,
        )
        self.crowd.close_pool = self.pool_api.close
        self.bonuses = UserBonuses(
            self.operations, self.clock, self.account, self.crowd.knows, self.ids.decimal
        )
        self.skills, self.user_skills, self.restrictions = gatekeeping(
            self.clock, self.timeline, self.ids.decimal, self.crowd
        )
        self.overlaps = Overlaps(
            lambda suite, object_id: self.objects[(TASK_SUITES if suite else TASKS).name].get(object_id),
            self.pools,
            self.crowd.overlap_changed,
            self.tallies.overlap_changed,
            lambda pool: self.pool_api.mark_open(pool, self.clock.now_stamp()),
        )
        self.quality = quality_control(self, self.crowd)
        for pool in self.pools.values():
            if pool.status == "OPEN":
                self.crowd.pool_opened(pool)
        self._validator = ItemValidator(self.pool)

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``: see :func:`emulator_stats`.

        :return: the counters.
        """
        return emulator_stats(self)

    def time(self) -> dict[str, Any]:
        """Where the clock and the simulated time stand.

        :return: ``now`` (the clock, as Toloka stamps it), ``advanced_seconds`` (what ``advance`` added to it),
            ``simulated_seconds`` (since the last reset) and ``time_scale``.
        """
        return {
            "now": self.clock.now_stamp(),
            "advanced_seconds": self.clock.offset,
            "simulated_seconds": self.timeline.s,
            "time_scale": self.timeline.time_scale,
        }

    def advance_time(self, seconds: float) -> dict[str, Any]:
        """``POST /_emulator/advance``: move the clock and the simulated time forward, handling what is due.

        :param seconds: simulated seconds, 0..10 years.
        :return: :meth:`time` afterwards.
        :raises ApiError: 400 for a negative or absurd amount.
        """
        if not 0 <= seconds <= 10 * 365 * 86_400:
            raise ApiError(400, "VALIDATION_ERROR", f"seconds must be between 0 and 10 years, not {seconds}")
        self.advance()
        self.timeline.advance(seconds)
        return self.time()

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /_emulator/config``.

        A higher ``rate`` also speeds up the unfinished part of operations in flight, so a test can make everything
        finish now; a lower one only slows down operations submitted afterwards, so work already accepted is never
        held back by a later change. A new ``time_scale`` applies from now on; a new ``seed`` restarts the crowd;
        setting ``fault_limit`` (even to the same value) starts its count of injected faults from zero.

        :param changes: field -> new value.
        :return: the runtime config after the change.
        :raises ApiError: 400 on unknown fields or bad values (then nothing changes).
        """
        self.advance()
        old_rate = self.config.rate
        self.config.update(changes)
        if "fault_limit" in changes:
            self.faults.rearm()
        if "seed" in changes:
            self.rng = random.Random(self.config.seed)
            self.crowd.reseed(self.config.seed)
        if self.config.rate != old_rate:
            self.operations.retime()
        if "time_scale" in changes:
            self.timeline.set_time_scale(self.config.time_scale)
        if "crowd" in changes:
            self.crowd.resize()  # profiles the workers again too
        elif changes.keys() & {"crowd_accuracy", "crowd_accuracy_spread", "crowd_spammers"}:
            self.crowd.reprofile()
        if "balance" in changes:
            self.account.set_balance(self.config.balance)
        return self.config.runtime()

    # ------------------------------------------------------------------ pools

    def pool(self, pool_id: str, *, create: bool = True) -> Pool | None:
        """The pool (or training), auto-created OPEN with a permissive spec on first use when the config says so.

        :param pool_id: the pool id.
        :param create: whether an unknown id may be auto-created.
        :return: the pool, or ``None`` when it does not exist.
        """
        pool = self.pools.get(pool_id)
        if pool is None and create and self.auto_create and pool_id:
            project_id = self.projects.permissive_id()
            pool = new_pool(pool_id, "OPEN", self.clock.now_stamp(), project_id=project_id)
            self.pools[pool_id] = pool
        return pool

    def get_pool(self, pool_id: str) -> dict[str, Any]:
        """``GET /pools/{id}``: cheap, however many objects the pool holds.

        :param pool_id: the pool id.
        :return: the JSON-able pool.
        :raises ApiError: 404 when there is no such pool.
        """
        return self.pool_api.get(POOLS, pool_id).to_json()

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
            self.pool_api.mark_open(pool, stamp)
            steps.append({"type": "POOL_OPEN", "success": True, "input": {"pool_id": pool_id}, "output": {}})
        return steps

    def _pool_has_objects(self, pool_id: str) -> bool:
        return bool(self.by_pool[TASKS.name].get(pool_id) or self.by_pool[TASK_SUITES.name].get(pool_id))

    def _pool_statuses(self, project_id: str) -> list[str]:
        return [pool.status for pool in self.pools.values() if pool.project_id == project_id]

    def _archive_project(self, project_id: str, done: Callable[[], None]) -> dict[str, Any]:
        op = self.operations.submit(
            str(uuid.uuid4()),
            "PROJECT.ARCHIVE",
            {"project_id": project_id},
            items=0,
            details={},
            on_complete=lambda op: done(),
        )
        return self.operations.to_json(op)

    def _units_of(self, pool_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        tasks, suites = self.objects[TASKS.name], self.objects[TASK_SUITES.name]
        return (
            [tasks[i] for i in self.by_pool[TASKS.name].get(pool_id, ())],
            [suites[i] for i in self.by_pool[TASK_SUITES.name].get(pool_id, ())],
        )

    def _new_id(self, prefix: str, mono: float) -> str:
        return self.ids.new(prefix, self.clock.wall(mono))

    # ------------------------------------------------------------------ operations

    def advance(self) -> None:
        """Handle everything due by now (operations, the crowd, pool timers); called first by every request."""
        self.timeline.sync()

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
        self.operations.refuse_reused(async_mode, operation_id)
        single, items = parse_items(body)
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
        secs = self.ids.second(when)
        store, by_pool, pools = self.objects[kind.name], self.by_pool[kind.name], self.pools
        counter = self.ids.counter
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
        self.ids.counter = counter
        self.tallies.stored(out, kind is TASK_SUITES)
        if self.crowd.tracking:  # only pools the crowd has looked at; uploads elsewhere pay nothing
            for pool_id in pools_of(out):
                if self.crowd.tracks(pool_id):
                    self.crowd.stored(
                        pool_id, [o for o in out if o["pool_id"] == pool_id], kind is TASK_SUITES
                    )
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
        return search_objects(kind, self.objects[kind.name], self.by_pool[kind.name], query)


def emulator_stats(state: EmulatorState) -> dict[str, Any]:
    """``GET /_emulator/stats``.

    :param state: the emulator.
    :return: request, response and fault counters, object counts (also per pool), pool statuses, assignment
        counts per pool and status, ``money`` (see :meth:`Account.stats <toloka_emulator.money.Account.stats>`),
        ``user_bonuses`` (count, amount, by user), the crowd's user ids and profiles (``workers``: ``user_id``,
        ``accuracy``, ``spammer``, ``time_factor``) and the time.
    """
    state.advance()
    return {
        "requests": dict(state.requests),
        "responses": dict(state.responses),
        "faults": dict(state.faults.counts),
        "objects": {
            "tasks": len(state.objects[TASKS.name]),
            "task_suites": len(state.objects[TASK_SUITES.name]),
            "operations": len(state.operations),
        },
        "projects": len(state.projects.by_id),
        "assignments": len(state.assignments.by_id),
        "tasks_by_pool": {p: len(ids) for p, ids in state.by_pool[TASKS.name].items() if ids},
        "task_suites_by_pool": {p: len(ids) for p, ids in state.by_pool[TASK_SUITES.name].items() if ids},
        "pools": {pid: pool.status for pid, pool in state.pools.items()},
        "assignments_by_pool": state.assignments.stats(),
        "money": state.account.stats(),
        "user_bonuses": state.bonuses.stats(),
        "crowd": {"user_ids": state.crowd.user_ids(), "workers": state.crowd.profiles()},
        "time": state.time(),
    }


def search_objects(
    kind: Kind,
    store: Mapping[str, dict[str, Any]],
    by_pool: Mapping[str, list[str]],
    query: Mapping[str, str],
) -> dict[str, Any]:
    """Search stored tasks or suites as ``GET /tasks`` does.

    :param kind: tasks or task suites.
    :param store: id -> object.
    :param by_pool: pool id -> its object ids in creation (= id) order.
    :param query: the request's query parameters.
    :return: ``{"items", "has_more"}``.
    :raises ApiError: 400 for a malformed parameter.
    """
    limit = int_param(query, "limit", 50, 1, 100_000)
    sort_keys = sort_param(query.get("sort"))
    checks = _object_filters(kind, query)
    pool_id = query.get("pool_id")
    # a pool's ids are sorted already: they grow in creation order
    ids = by_pool.get(pool_id, []) if pool_id is not None else sorted(store)
    lo, hi = id_range(ids, query)
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
