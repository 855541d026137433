"""``/api/v1/pools`` and ``/api/v1/trainings``: create, get, list, replace, patch, and the actions that start
operations (open, close, close-for-update, archive, clone), plus the status changes the clock causes.

Pools and trainings are one :class:`~toloka_emulator.pools.Pool` type in one dict, because tasks address
both by ``pool_id``; ids come from one increasing decimal counter that starts above 1000 and above every declared
pool id, and skips ids that auto-created pools took. A pool or training created here keeps the body the client
sent (unknown fields too, read-only ones dropped) and snapshots its project's ``task_spec.input_spec``, which
then validates its uploads. ``/pools/{id}`` on a training id (and the reverse) is a 404.

Choices where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md L3, L4, L15):

- ``PUT`` on an OPEN (or ARCHIVED) pool or training: 409 ``INAPPROPRIATE_STATUS`` with
  ``payload.appropriate_statuses = ["CLOSED"]``.
- ``PATCH`` on an ARCHIVED pool: 409 ``INAPPROPRIATE_STATUS`` with a JSON body (DOCS shows an empty body, which
  toloka-kit cannot parse; the emulator never sends an empty error body).
- opening a pool whose ``will_expire`` has passed: 409 ``CONFLICT_STATE`` with ``payload.will_expire``; opening
  an ARCHIVED one: 409 ``INAPPROPRIATE_STATUS`` (the 409 is documented, the code is not).
- ``archive`` of a pool that is not CLOSED: 409 ``INAPPROPRIATE_STATUS`` (``appropriate_statuses: ["CLOSED"]``);
  ``SUBMITTED_ASSIGNMENTS_CONFLICT`` and the 9-day rejection rule are not modelled.
- ``close`` of a CLOSED pool is 204 whatever its close reason; ``close-for-update`` reopens the pool after
  ``for_update_seconds`` simulated seconds (default 900, Toloka's 15 minutes) unless it was opened, closed or
  archived again meanwhile, skipping the checks ``open`` makes, as DOCS says.
- ``clone`` copies every field the client set (including ``will_expire``, ``quality_control`` and ``metadata``)
  into a CLOSED empty pool of the same project, with the project's current input spec.
- pools closing at ``will_expire`` close only when OPEN; a CLOSED pool keeps its close reason.
- opening a pool the account cannot pay one more suite of (reward plus fee, beside the suites being worked on):
  409 ``NOT_ENOUGH_BALANCE``; Toloka's UI wants the whole pool covered, which the provider checks itself.
  ``open_pool=true`` uploads and FOR_UPDATE reopens skip the check: the crowd closes such a pool
  ``NOT_ENOUGH_BALANCE`` when it next looks for work.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toloka_emulator.forms import READ_ONLY, Form, check_pool, check_training, parse_stamp
from toloka_emulator.operations import Operation, Operations
from toloka_emulator.pools import Pool, new_pool
from toloka_emulator.query import id_number, int_param, numeric_id_filters, sort_param, stamp_filters
from toloka_emulator.wire import ApiError

if TYPE_CHECKING:
    from toloka_emulator.crowd import Crowd
    from toloka_emulator.projects import Projects
    from toloka_emulator.timeline import Timeline

__all__ = ["POOLS", "TRAININGS", "Container", "PoolApi"]

_FIRST_ID = 1001


@dataclass(frozen=True)
class Container:
    """What differs between pools and trainings on the wire."""

    kind: str  # Pool.kind
    label: str
    op_prefix: str  # POOL / TRAINING
    id_key: str  # key in operation parameters and clone details


POOLS = Container("POOL", "Pool", "POOL", "pool_id")
TRAININGS = Container("TRAINING", "Training", "TRAINING", "training_id")


def _status_error(pool: Pool, appropriate: list[str]) -> ApiError:
    return ApiError(
        409,
        "INAPPROPRIATE_STATUS",
        f"{pool.kind.title()} {pool.id} is {pool.status}; this operation is not allowed",
        {"appropriate_statuses": appropriate},
    )


class PoolApi:
    """Pools and trainings of the account.

    :param pools: the account's pools and trainings by id (shared with the upload path).
    :param find_pool: pool id -> pool, auto-creating it when the config says so.
    :param has_objects: whether a pool holds any task or task suite.
    :param projects: the account's projects.
    :param operations: where actions start their operations.
    :param timeline: the clock and the simulated time.
    :param crowd: told when pools open.
    :param for_update_seconds: the live FOR_UPDATE reopen delay, in simulated seconds.
    """

    def __init__(
        self,
        pools: dict[str, Pool],
        find_pool: Callable[[str], Pool | None],
        has_objects: Callable[[str], bool],
        projects: Projects,
        operations: Operations,
        timeline: Timeline,
        crowd: Crowd,
        for_update_seconds: Callable[[], float],
    ) -> None:
        self.pools = pools
        self._find_pool = find_pool
        self._has_objects = has_objects
        self._projects = projects
        self._operations = operations
        self._timeline = timeline
        self._crowd = crowd
        self._for_update_seconds = for_update_seconds
        numeric = [int(p) for p in pools if p.isdigit()]
        self._next_id = max([_FIRST_ID - 1, *numeric]) + 1

    # ------------------------------------------------------------------ create, read, replace

    def create(self, box: Container, body: Any) -> dict[str, Any]:
        """``POST /pools`` or ``/trainings``: a CLOSED pool holding the checked body.

        :param box: pools or trainings.
        :param body: the parsed request body.
        :return: the created pool or training (201).
        :raises ApiError: 400 ``VALIDATION_ERROR`` naming every bad field.
        """
        data = self._check(box, body)
        pool = self._new(box, data)
        return pool.to_json()

    def get(self, box: Container, pool_id: str) -> Pool:
        """The pool or training.

        :param box: pools or trainings.
        :param pool_id: its id.
        :return: the pool.
        :raises ApiError: 404 ``DOES_NOT_EXIST``, also for a training asked for as a pool and the reverse.
        """
        pool = self._find_pool(pool_id) if box is POOLS else self.pools.get(pool_id)
        if pool is None or pool.kind != box.kind:
            raise ApiError(404, "DOES_NOT_EXIST", f"{box.label} {pool_id} does not exist")
        return pool

    def replace(self, box: Container, pool_id: str, body: Any) -> dict[str, Any]:
        """``PUT``: a full replacement of a CLOSED pool's fields; read-only fields in the body are ignored.

        :param box: pools or trainings.
        :param pool_id: its id.
        :param body: the parsed request body.
        :return: the pool after the change.
        :raises ApiError: 404, 409 ``INAPPROPRIATE_STATUS`` unless CLOSED, 400 ``VALIDATION_ERROR``.
        """
        pool = self.get(box, pool_id)
        if pool.status != "CLOSED":
            raise _status_error(pool, ["CLOSED"])
        data = self._check(box, body)
        pool.body = data
        pool.project_id, pool.private_name = data["project_id"], data["private_name"]
        pool.defaults = dict(data.get("defaults") or {})
        return pool.to_json()

    def patch(self, pool_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /pools/{id}``: only ``priority`` (0..100) changes.

        :param pool_id: its id.
        :param body: the parsed request body.
        :return: the pool after the change.
        :raises ApiError: 404, 409 ``INAPPROPRIATE_STATUS`` when ARCHIVED, 400 ``VALIDATION_ERROR``.
        """
        pool = self.get(POOLS, pool_id)
        form = Form(body)
        priority = form.number("priority", 0, 100)
        form.cleaned()
        if pool.status == "ARCHIVED":
            raise _status_error(pool, ["OPEN", "CLOSED"])
        if priority is not None:
            if pool.body is None:
                pool.body = _legacy_body(pool)
            pool.body["priority"] = int(priority)
        return pool.to_json()

    def find(self, box: Container, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /pools`` or ``/trainings``: ``status``, ``project_id``, ``id_*``, ``created_*``, ``last_started_*``.

        :param box: pools or trainings.
        :param query: the request's query parameters; ``sort`` by ``id``/``created``/``last_started``, ``limit``
            default 20, at most 300.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a malformed parameter.
        """
        limit = int_param(query, "limit", 20, 1, 300)
        sort_keys = sort_param(query.get("sort"), ("id", "created", "last_started")) or [("id", False)]
        status, project_id = query.get("status"), query.get("project_id")
        ids = numeric_id_filters(query)
        stamps = stamp_filters(query, ("created", "last_started"))
        rows = [
            pool.to_json()
            for pool in self.pools.values()
            if pool.kind == box.kind
            and (status is None or pool.status == status)
            and (project_id is None or pool.project_id == project_id)
            and all(check(pool.id) for check in ids)
        ]
        rows = [row for row in rows if all(check(row) for check in stamps)]
        for key, desc in reversed(sort_keys):
            rows.sort(key=lambda r, k=key: id_number(r["id"]) if k == "id" else r.get(k) or "", reverse=desc)  # type: ignore[misc]
        return {"items": rows[:limit], "has_more": len(rows) > limit}

    # ------------------------------------------------------------------ actions

    def act(self, box: Container, pool_id: str, action: str) -> dict[str, Any] | None:
        """``POST /{pools|trainings}/{id}/{open|close|close-for-update|archive|clone}``.

        :param box: pools or trainings.
        :param pool_id: its id.
        :param action: the action.
        :return: the operation (202), or ``None`` (204) when the pool is already in the target state.
        :raises ApiError: 404; 409 ``INAPPROPRIATE_STATUS``, ``EMPTY_POOL``, ``NOT_ENOUGH_BALANCE`` or
            ``CONFLICT_STATE`` (see the module docstring).
        """
        pool = self.get(box, pool_id)
        if action == "clone":
            return self._clone(box, pool)
        if action == "archive":
            if pool.status == "ARCHIVED":
                return None
            if pool.status != "CLOSED":
                raise _status_error(pool, ["CLOSED"])
            return self._submit(box, pool, "ARCHIVE", lambda op: pool.set_status("ARCHIVED"))
        if pool.status == "ARCHIVED":
            raise _status_error(pool, ["OPEN", "CLOSED"])
        if action == "open":
            if pool.status == "OPEN":
                return None
            if not self._has_objects(pool.id):
                raise ApiError(409, "EMPTY_POOL", f"{box.label} {pool.id} has no tasks and cannot be opened")
            expires = self._expires_at(pool)
            if box is POOLS and not self._crowd.affordable(pool):
                raise ApiError(
                    409,
                    "NOT_ENOUGH_BALANCE",
                    f"Pool {pool.id}: the balance cannot pay for one more task suite",
                    {"reward_per_assignment": pool.setting("reward_per_assignment", 0.01)},
                )
            if expires is not None and expires <= self._timeline.clock.now():
                raise ApiError(
                    409,
                    "CONFLICT_STATE",
                    f"{box.label} {pool.id} expired at {pool.setting('will_expire', '')}; set a later will_expire",
                    {"will_expire": pool.setting("will_expire", None)},
                )
            return self._submit(box, pool, "OPEN", lambda op: self.mark_open(pool, self._stamp(op)))
        if pool.status == "CLOSED":
            return None
        reason = "FOR_UPDATE" if action == "close-for-update" else "MANUAL"
        return self._submit(box, pool, "CLOSE", lambda op: self._close_now(pool, reason, self._stamp(op)))

    def mark_open(self, pool: Pool, stamp: str) -> None:
        """Open a pool now (an ``open`` operation, ``open_pool=true`` on upload, or a FOR_UPDATE reopen).

        :param pool: the pool.
        :param stamp: its new ``last_started``.
        """
        pool.set_status("OPEN", stamp=stamp)
        expires = self._expires_at(pool)
        if expires is not None:
            gen = pool.gen
            self._timeline.at_clock(expires, lambda: self._expire(pool, gen))
        self._crowd.pool_opened(pool)

    def close(self, pool: Pool, reason: str) -> None:
        """Close an OPEN pool now, as the simulated world does (``COMPLETED``).

        :param pool: the pool.
        :param reason: the close reason.
        """
        self._close_now(pool, reason, self._timeline.clock.stamp(self._timeline.c))

    # ------------------------------------------------------------------ helpers

    def _check(self, box: Container, body: Any) -> dict[str, Any]:
        def project_ok(project_id: str) -> bool:
            project = self._projects.by_id.get(project_id)
            return project is not None and project.status == "ACTIVE"

        if box is TRAININGS:
            return check_training(body, project_ok)

        def training_ok(training_id: str) -> bool:
            training = self.pools.get(training_id)
            return training is not None and training.kind == "TRAINING"

        now = self._timeline.clock.wall(self._timeline.clock.now())
        return check_pool(body, now, project_ok, training_ok)

    def _new(self, box: Container, data: dict[str, Any]) -> Pool:
        while str(self._next_id) in self.pools:
            self._next_id += 1
        pool_id = str(self._next_id)
        self._next_id += 1
        project = self._projects.get(data["project_id"])
        pool = new_pool(
            pool_id,
            "CLOSED",
            self._timeline.clock.now_stamp(),
            defaults=dict(data.get("defaults") or {}),
            input_spec=copy.deepcopy(project.input_spec),
            project_id=project.id,
            private_name=data["private_name"],
        )
        pool.kind, pool.body = box.kind, data
        self.pools[pool_id] = pool
        return pool

    def _clone(self, box: Container, source: Pool) -> dict[str, Any]:
        def done(op: Operation) -> None:
            data = copy.deepcopy(source.body) if source.body is not None else _legacy_body(source)
            data["project_id"] = source.project_id
            if (
                source.project_id not in self._projects.by_id
            ):  # a legacy pool's project always exists; be safe
                op.final_status = "FAIL"
                return
            clone = self._new(box, data)
            op.details = {box.id_key: clone.id}

        return self._submit(box, source, "CLONE", done, details=None if box is POOLS else {})

    def _submit(
        self,
        box: Container,
        pool: Pool,
        verb: str,
        on_success: Callable[[Operation], None],
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if box is TRAININGS and details is None:
            details = {}
        op = self._operations.submit(
            str(uuid.uuid4()),
            f"{box.op_prefix}.{verb}",
            {box.id_key: pool.id},
            items=0,
            details=details,
            on_complete=on_success,
        )
        return self._operations.to_json(op)

    def _stamp(self, op: Operation) -> str:
        return self._timeline.clock.stamp(op.finish_at)

    def _close_now(self, pool: Pool, reason: str, stamp: str) -> None:
        if pool.status != "OPEN":
            return
        pool.set_status("CLOSED", reason, stamp)
        if reason == "FOR_UPDATE":
            gen = pool.gen
            self._timeline.after_sim(self._for_update_seconds(), lambda: self._reopen(pool, gen))

    def _reopen(self, pool: Pool, gen: int) -> None:
        if pool.gen == gen and pool.status == "CLOSED":
            self.mark_open(pool, self._timeline.clock.stamp(self._timeline.c))

    def _expire(self, pool: Pool, gen: int) -> None:
        if pool.gen == gen and pool.status == "OPEN":
            self.close(pool, "EXPIRED")

    def _expires_at(self, pool: Pool) -> float | None:
        when = parse_stamp(pool.setting("will_expire", None)) if pool.body is not None else None
        return None if when is None else self._timeline.clock.at(when)


def _legacy_body(pool: Pool) -> dict[str, Any]:
    """The client-side fields of a pool declared in the pools file or auto-created, as a body."""
    skip = READ_ONLY | {"input_spec", "output_spec"}
    return {k: v for k, v in pool.to_json().items() if k not in skip}
