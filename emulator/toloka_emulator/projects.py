"""Projects: ``/api/v1/projects`` (create, get, list, replace, archive) and the implicit projects of legacy pools.

Every pool has a project whose ``task_spec.input_spec`` is what the emulator validates the pool's uploads
against. Pools created through the API snapshot it when they are created; pools declared in the ``--pools`` file
get one implicit project per ``project_id`` (default ``"1"``), built from their ``input_spec``/``output_spec``;
auto-created pools share one implicit project whose ``task_spec`` has **no** ``input_spec`` key (an emulator-only
permissive mode: any input field of any type is accepted, so a client cannot check anything against it) and no
``output_spec`` (so the simulated crowd leaves those pools alone).

Choices where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md L2, L15):

- ``public_description`` is required (400 ``VALUE_REQUIRED``), as toloka-kit's test fixture shows the server doing.
- field types are accepted in either case and echoed as sent; an unknown one is ``UNKNOWN_ENUM_VALUE`` at
  ``task_spec.<input_spec|output_spec>.<field>.type``.
- ``PUT`` on an ARCHIVED project is accepted like any other.
- archiving an archived project answers 204; one with a pool or training not ARCHIVED is a synchronous 409
  ``UNARCHIVED_POOLS_CONFLICT`` (not a FAIL operation).
- ``GET /projects``: ``limit`` defaults to 20 (toloka-kit's docstring; DOCS says 50), at most 300; ids compare
  as numbers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from toloka_emulator.forms import READ_ONLY, Form, validation_error
from toloka_emulator.query import id_number, int_param, numeric_id_filters, sort_param, stamp_filters
from toloka_emulator.validation import FIELD_TYPES
from toloka_emulator.wire import ApiError

__all__ = ["OWNER", "Project", "Projects", "implicit_task_spec"]

OWNER = {"id": "emulator-requester", "myself": True, "company_id": "1"}
_SPEC_KEYS = ("input_spec", "output_spec")


@dataclass
class Project:
    """One project: what the client sent (unknown fields too) and the read-only fields."""

    id: str
    body: dict[str, Any]
    created: str
    status: str = "ACTIVE"

    def to_json(self) -> dict[str, Any]:
        """The project as ``GET /projects/{id}`` returns it.

        :return: the JSON-able project.
        """
        return {**self.body, "id": self.id, "status": self.status, "created": self.created, "owner": OWNER}

    @property
    def input_spec(self) -> dict[str, Any] | None:
        """``task_spec.input_spec``, or ``None`` for the permissive implicit project.

        :return: field name -> field spec.
        """
        spec = self.body.get("task_spec", {}).get("input_spec")
        return spec if isinstance(spec, dict) else None

    @property
    def output_spec(self) -> dict[str, Any]:
        """``task_spec.output_spec`` (empty when there is none).

        :return: field name -> field spec.
        """
        spec = self.body.get("task_spec", {}).get("output_spec")
        return spec if isinstance(spec, dict) else {}


def implicit_task_spec(
    input_spec: dict[str, Any] | None, output_spec: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``task_spec`` of an implicit project; a ``None`` spec leaves its key out.

    :param input_spec: the pools' input spec, or ``None`` (permissive).
    :param output_spec: the pools' output spec, or ``None``.
    :return: the task spec.
    """
    spec: dict[str, Any] = {}
    if input_spec is not None:
        spec["input_spec"] = copy.deepcopy(input_spec)
    if output_spec is not None:
        spec["output_spec"] = copy.deepcopy(output_spec)
    return spec


class Projects:
    """The account's projects.

    :param now_stamp: gives creation stamps.
    :param pools_of: project id -> the statuses of its pools and trainings (for the archive precondition).
    :param submit_archive: starts a ``PROJECT.ARCHIVE`` operation that calls the given function when it succeeds.
    """

    def __init__(
        self,
        now_stamp: Callable[[], str],
        pools_of: Callable[[str], Iterable[str]],
        submit_archive: Callable[[str, Callable[[], None]], dict[str, Any]],
    ) -> None:
        self._now_stamp = now_stamp
        self._pools_of = pools_of
        self._submit_archive = submit_archive
        self.by_id: dict[str, Project] = {}
        self._next_id = 1
        self._permissive: str | None = None

    # ------------------------------------------------------------------ implicit projects

    def add_implicit(self, project_id: str, task_spec: dict[str, Any]) -> Project:
        """Create an implicit project (for pools-file pools), keeping the id counter above its id.

        :param project_id: its id.
        :param task_spec: its task spec.
        :return: the project.
        """
        project = Project(project_id, _implicit_body(project_id, task_spec), self._now_stamp())
        self.by_id[project_id] = project
        if project_id.isdigit():
            self._next_id = max(self._next_id, int(project_id) + 1)
        return project

    def permissive_id(self) -> str:
        """The implicit project of auto-created pools, created on first use.

        :return: its id.
        """
        if self._permissive is None or self._permissive not in self.by_id:
            self._permissive = self._new_id()
            self.add_implicit(self._permissive, {})
        return self._permissive

    # ------------------------------------------------------------------ API

    def create(self, body: Any) -> dict[str, Any]:
        """``POST /projects``.

        :param body: the parsed request body.
        :return: the created project (201).
        :raises ApiError: 400 ``VALIDATION_ERROR`` with a field-path payload.
        """
        data = _checked(body)
        project = Project(self._new_id(), data, self._now_stamp())
        self.by_id[project.id] = project
        return project.to_json()

    def get(self, project_id: str) -> Project:
        """The project.

        :param project_id: its id.
        :return: the project.
        :raises ApiError: 404 ``DOES_NOT_EXIST``.
        """
        project = self.by_id.get(project_id)
        if project is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"Project {project_id} does not exist")
        return project

    def replace(self, project_id: str, body: Any) -> dict[str, Any]:
        """``PUT /projects/{id}``: a full replacement; read-only fields in the body are ignored.

        Pools keep the input spec they snapshotted when they were created, as Toloka ties existing pools to the
        old version after a breaking change.

        :param project_id: its id.
        :param body: the parsed request body.
        :return: the project after the change.
        :raises ApiError: 404 for an unknown project, 400 ``VALIDATION_ERROR`` for a bad body.
        """
        project = self.get(project_id)
        project.body = _checked(body)
        return project.to_json()

    def archive(self, project_id: str) -> dict[str, Any] | None:
        """``POST /projects/{id}/archive``.

        :param project_id: its id.
        :return: the ``PROJECT.ARCHIVE`` operation (202), or ``None`` (204) when already archived.
        :raises ApiError: 404 for an unknown project, 409 ``UNARCHIVED_POOLS_CONFLICT``.
        """
        project = self.get(project_id)
        if project.status == "ARCHIVED":
            return None
        if any(status != "ARCHIVED" for status in self._pools_of(project_id)):
            raise ApiError(
                409,
                "UNARCHIVED_POOLS_CONFLICT",
                f"Project {project_id} has pools or trainings that are not archived; archive them first",
            )

        def done() -> None:
            project.status = "ARCHIVED"

        return self._submit_archive(project_id, done)

    def find(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /projects``: ``status``, ``id_*``, ``created_*``; ``sort`` by ``id``/``created``; ``limit``.

        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a malformed parameter.
        """
        limit = int_param(query, "limit", 20, 1, 300)
        sort_keys = sort_param(query.get("sort"), ("id", "created")) or [("id", False)]
        status = query.get("status")
        ids = numeric_id_filters(query)
        stamps = stamp_filters(query, ("created",))
        rows = [
            p.to_json()
            for p in self.by_id.values()
            if (status is None or p.status == status) and all(check(p.id) for check in ids)
        ]
        rows = [row for row in rows if all(check(row) for check in stamps)]
        for key, desc in reversed(sort_keys):
            rows.sort(key=lambda r, k=key: id_number(r["id"]) if k == "id" else r[k], reverse=desc)  # type: ignore[misc]
        return {"items": rows[:limit], "has_more": len(rows) > limit}

    def _new_id(self) -> str:
        while str(self._next_id) in self.by_id:
            self._next_id += 1
        self._next_id += 1
        return str(self._next_id - 1)


def _implicit_body(project_id: str, task_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "public_name": f"Emulator project {project_id}",
        "public_description": "Implicit project of pools the emulator was started with or created on upload",
        "task_spec": task_spec,
        "assignments_issuing_type": "AUTOMATED",
    }


def _checked(body: Any) -> dict[str, Any]:
    """The project body without read-only fields, or a 400 naming every bad field."""
    form = Form(body)
    form.text("public_name")
    form.text("public_description")
    task_spec = form.obj("task_spec")
    if task_spec is not None:
        for key in _SPEC_KEYS:
            spec = form.obj(f"task_spec.{key}", task_spec.get(key))
            if spec is None:
                continue
            for name, fspec in spec.items():
                path = f"task_spec.{key}.{name}"
                if not isinstance(fspec, dict):
                    form.error(path, "OBJECT_EXPECTED", "Value must be an object")
                    continue
                ftype = fspec.get("type")
                if ftype is None:
                    form.error(
                        f"{path}.type", "VALUE_REQUIRED", "Value must be present and not equal to null"
                    )
                elif not isinstance(ftype, str) or ftype.lower() not in FIELD_TYPES:
                    form.error(
                        f"{path}.type",
                        "UNKNOWN_ENUM_VALUE",
                        f"Unknown field type {ftype!r}",
                        sorted(FIELD_TYPES),
                    )
    if form.errors:
        raise validation_error(form.errors)
    return {k: copy.deepcopy(v) for k, v in form.body.items() if k not in READ_ONLY}
