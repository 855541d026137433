"""Pools: what ``GET /pools/{id}`` shows, and the ``--pools`` file that declares them.

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
  defaults to ``true`` as in Toloka. Without ``input_spec`` any input field of any type is accepted, but not a
  null value (``VALUE_REQUIRED``, as on every real pool).
- ``defaults``: used when an upload has ``allow_defaults=true`` and an item has no overlap. A pool without a
  default makes such items fail with ``overlap`` ``VALUE_REQUIRED``. Auto-created pools default to overlap 1.
- ``project_id`` (default ``"1"``): the pools of one project make one implicit project (see ``projects``) whose
  ``task_spec`` holds their ``input_spec`` and ``output_spec``; two pools of one project with different
  ``input_spec`` (a missing one counts as permissive, hence different) are refused at start-up.

Pools created through ``POST /pools`` (and trainings, which share the id space) keep the body the client sent
and snapshot their project's ``input_spec`` when they are created; see ``pool_api``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toloka_emulator.validation import FIELD_TYPES

OWNER = {"id": "emulator-requester", "myself": True, "company_id": "1"}

__all__ = [
    "POOL_STATUSES",
    "Pool",
    "auto_create_enabled",
    "check_pools_spec",
    "file_projects",
    "load_pools_spec",
    "new_pool",
    "pools_from_spec",
    "pools_of",
]

POOL_STATUSES = ("OPEN", "CLOSED", "ARCHIVED")
_AUTO_DEFAULTS = {"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1}


@dataclass
class Pool:
    """One pool: the fields Toloka shows, plus ``prefix``, the pool's part of the ids of its objects."""

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
    kind: str = "POOL"  # or TRAINING: both share the id space, tasks address both by pool_id
    body: dict[str, Any] | None = None  # what the client sent, for pools created through the API
    gen: int = 0  # bumped on every status change, so that timers set for an older state do nothing

    def setting(self, key: str, default: Any) -> Any:
        """A client-set field, or its default (legacy pools have no body).

        :param key: the field.
        :param default: its value when not set.
        :return: the value.
        """
        value = (self.body or {}).get(key)
        return default if value is None else value

    def set_status(self, status: str, reason: str | None = None, stamp: str | None = None) -> None:
        """Move to a new status; closing records ``last_stopped`` and the reason, opening ``last_started``.

        :param status: ``OPEN``, ``CLOSED`` or ``ARCHIVED``.
        :param reason: the close reason, for ``CLOSED``.
        :param stamp: when it happened.
        """
        self.status = status
        self.gen += 1
        if status == "OPEN":
            self.last_started = stamp
        elif status == "CLOSED":
            self.last_stopped, self.last_close_reason = stamp, reason

    def to_json(self) -> dict[str, Any]:
        """The pool as ``GET /pools/{id}`` returns it; for legacy pools the unmodelled fields are constants.

        :return: the JSON-able pool.
        """
        if self.body is not None:
            data = {
                **self.body,
                "id": self.id,
                "status": self.status,
                "created": self.created,
                "owner": OWNER,
            }
            if self.kind == "POOL":
                data["type"] = "REGULAR"
            for key in ("last_started", "last_stopped", "last_close_reason"):
                value = getattr(self, key)
                if value is not None:
                    data[key] = value
            return data
        data = {
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
            "owner": OWNER,
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


def load_pools_spec(path: str | Path) -> dict[str, Any]:
    """Read and check a pools file (format in the module docstring).

    :param path: the JSON file.
    :return: the parsed spec.
    :raises ValueError: naming the file and the problem, when it cannot be read or is malformed.
    """
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"pools file {path}: {exc}") from None
    check_pools_spec(spec, str(path))
    return spec


def check_pools_spec(spec: Any, where: str) -> None:
    """Check a parsed pools spec, so that a bad one fails at start-up rather than on the first upload.

    :param spec: the parsed JSON.
    :param where: the file name or another label, for the message.
    :raises ValueError: naming the first problem found.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("pools", []), list):
        raise ValueError(f"{where}: expected an object with a 'pools' list")
    for n, pool in enumerate(spec.get("pools", [])):
        if not isinstance(pool, dict) or pool.get("id") in (None, ""):
            raise ValueError(f"{where}: pools[{n}] needs an 'id'")
        if str(pool.get("status", "CLOSED")).upper() not in POOL_STATUSES:
            raise ValueError(f"{where}: pools[{n}].status must be one of {', '.join(POOL_STATUSES)}")
        input_spec = pool.get("input_spec")
        if input_spec is not None:
            if not isinstance(input_spec, dict):
                raise ValueError(f"{where}: pools[{n}].input_spec must be an object")
            for name, fspec in input_spec.items():
                ftype = str((fspec or {}).get("type", "")).lower() if isinstance(fspec, dict) else ""
                if ftype not in FIELD_TYPES:
                    raise ValueError(f"{where}: pools[{n}].input_spec.{name}: unknown type {ftype!r}")
    file_projects(spec, where)


def file_projects(spec: Mapping[str, Any] | None, where: str = "pools spec") -> dict[str, dict[str, Any]]:
    """The implicit projects of the declared pools: project id -> ``{"input_spec", "output_spec"}`` (``None`` = absent).

    :param spec: the pools spec (its pools have ids), or ``None``.
    :param where: the file name or another label, for the message.
    :return: one entry per project id, in first-seen order.
    :raises ValueError: when two pools of one project declare different ``input_spec``.
    """
    projects: dict[str, dict[str, Any]] = {}
    first: dict[str, Any] = {}
    for raw in (spec or {}).get("pools", []):
        project_id = str(raw.get("project_id", "1"))
        input_spec, output_spec = raw.get("input_spec"), raw.get("output_spec")
        known = projects.get(project_id)
        if known is None:
            projects[project_id] = {"input_spec": input_spec, "output_spec": output_spec}
            first[project_id] = raw.get("id")
            continue
        if known["input_spec"] != input_spec:
            raise ValueError(
                f"{where}: pools {first[project_id]} and {raw.get('id')} are both in project {project_id} but "
                "declare different input_spec; give them different project_id values"
            )
        if known["output_spec"] is None:
            known["output_spec"] = output_spec
    return projects


def auto_create_enabled(spec: Mapping[str, Any] | None) -> bool:
    """Whether unknown pool ids are created on first use.

    :param spec: the checked pools spec, or ``None`` when no pools file was given.
    :return: always true without a spec; otherwise its ``auto_create`` (default false).
    """
    return True if spec is None else bool(spec.get("auto_create", False))


def new_pool(
    pool_id: str,
    status: str,
    created: str,
    *,
    defaults: dict[str, Any] | None = None,
    input_spec: dict[str, dict[str, Any]] | None = None,
    output_spec: dict[str, Any] | None = None,
    project_id: str = "1",
    private_name: str = "",
) -> Pool:
    """A pool as it is right after creation; an OPEN one counts as started then.

    :param pool_id: its id.
    :param status: ``OPEN``, ``CLOSED`` or ``ARCHIVED``.
    :param created: its creation stamp.
    :param defaults: its default overlaps; ``None`` (an auto-created pool) means overlap 1 for both kinds.
    :param input_spec: field name -> ``{"type", "required"}``, or ``None`` to accept anything.
    :param output_spec: shown as is.
    :param project_id: shown as is.
    :param private_name: shown as is; empty shows a generated name.
    :return: the pool.
    """
    return Pool(
        id=pool_id,
        status=status,
        created=created,
        input_spec=input_spec,
        output_spec=output_spec,
        defaults=dict(_AUTO_DEFAULTS if defaults is None else defaults),
        project_id=project_id,
        private_name=private_name,
        last_started=created if status == "OPEN" else None,
        prefix=_pool_prefix(pool_id),
    )


def pools_from_spec(spec: Mapping[str, Any] | None, now_stamp: Callable[[], str]) -> dict[str, Pool]:
    """The pools a checked spec declares.

    :param spec: the checked pools spec, or ``None``.
    :param now_stamp: gives the creation stamp of each pool.
    :return: pool id -> pool, in the spec's order.
    """
    pools: dict[str, Pool] = {}
    for raw in (spec or {}).get("pools", []):
        pool_id = str(raw["id"])
        pools[pool_id] = new_pool(
            pool_id,
            str(raw.get("status", "CLOSED")).upper(),
            now_stamp(),
            # {} rather than None: a declared pool without defaults has no default overlap
            defaults=raw.get("defaults") or {},
            input_spec=raw.get("input_spec"),
            output_spec=raw.get("output_spec"),
            project_id=str(raw.get("project_id", "1")),
            private_name=str(raw.get("private_name", "")),
        )
    return pools


def pools_of(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """The pools some objects belong to.

    :param objects: stored tasks or task suites.
    :return: their distinct ``pool_id`` values, in first-seen order.
    """
    return list(dict.fromkeys(obj["pool_id"] for obj in objects))


def _pool_prefix(pool_id: str) -> str:
    """The 10-hex part of task ids: the pool id in hex as Toloka does, or a stable hash for odd pool ids."""
    if pool_id.isdigit():
        return f"{int(pool_id):010x}"
    return hashlib.blake2b(pool_id.encode(), digest_size=5).hexdigest()
