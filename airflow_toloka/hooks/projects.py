"""Projects, with toloka-kit's method names: one per labeling task, usually made once and reused by every run.

Created projects are found again by their idempotency key (:mod:`airflow_toloka.hooks.objects`), and a spec
changed since is applied (``PUT``), since Toloka lets an active project change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from airflow_toloka.hooks.objects import ObjectsMixin, create_body
from airflow_toloka.hooks.operations import Timeout
from airflow_toloka.models import PROJECTS, Operation, Project

__all__ = ["ProjectsMixin"]


class ProjectsMixin(ObjectsMixin):
    """Projects: create (find-or-create by key), read, search, update, archive.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def create_project(
        self, project: Project | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Project:
        """Create a project, or return the one an earlier try created with the same key.

        :param project: the project (``public_name``, ``public_description``, ``task_spec`` …).
        :param idempotency_key: tags the project so that a retry finds it instead of creating a second one.
        :return: the project as Toloka stored it.
        :raises TolokaValidationError: when Toloka rejects the spec (the message names the fields).
        """
        return self._create(PROJECTS, create_body(project, Project), idempotency_key, {})

    def create_or_update_project(
        self, project: Project | Mapping[str, Any], *, idempotency_key: str
    ) -> Project:
        """Create a project, or bring the one created earlier under the key in line with ``project``.

        The project found is compared with the given one, field by field as given (see
        :func:`~airflow_toloka.specs.changed_fields`); where they differ it is replaced (``PUT``) by the found
        project with the given fields on top, and the changed fields are logged. Pools that exist keep the
        project version they were made with when the change is a breaking one (Toloka's rule).

        :param project: the project as it should be.
        :param idempotency_key: what identifies it.
        :return: the project created, found unchanged, or updated; an ARCHIVED one is returned as it is when
            nothing differs.
        :raises TolokaInputError: when the project found is ARCHIVED and differs (nothing is changed).
        :raises TolokaValidationError: when Toloka rejects the spec.
        """
        body = create_body(project, Project)
        return self._create_or_update(  # type: ignore[return-value]
            PROJECTS, body, idempotency_key, {}, update=self.update_project, editable=("ACTIVE",)
        )

    def get_project(self, project_id: str) -> Project:
        """Read a project.

        :param project_id: the project id.
        :return: the project.
        :raises TolokaDoesNotExistError: when there is no such project.
        """
        return self._get(PROJECTS, project_id)  # type: ignore[no-any-return]

    def get_projects(self, **filters: Any) -> Iterator[Project]:
        """Every project matching Toloka's search filters (``status``, ``id_gt``, ``created_gte`` …), lazily.

        :param filters: query parameters of ``GET /projects``.
        :return: the projects in id order, one page in memory at a time.
        """
        return self._find(PROJECTS, filters)  # type: ignore[return-value]

    def update_project(self, project_id: str, project: Project | Mapping[str, Any]) -> Project:
        """Replace a project's editable fields (``PUT``: send the whole project).

        :param project_id: the project id.
        :param project: the new project.
        :return: the project as Toloka stored it.
        :raises TolokaValidationError: when Toloka rejects it.
        """
        return self._put(PROJECTS, project_id, project)  # type: ignore[no-any-return]

    def archive_project(self, project_id: str, timeout: Timeout = timedelta(minutes=10)) -> Project:
        """Archive a project (all its pools must be archived first) and wait for it.

        :param project_id: the project id.
        :param timeout: how long to wait for the operation.
        :return: the archived project.
        :raises TolokaConflictError: ``UNARCHIVED_POOLS_CONFLICT`` when a pool of it is not archived.
        :raises TolokaOperationFailedError: when the operation fails.
        """
        return self._act(PROJECTS, project_id, "archive", timeout)  # type: ignore[return-value]

    def archive_project_async(self, project_id: str) -> Operation | None:
        """Start archiving a project.

        :param project_id: the project id.
        :return: the ``PROJECT.ARCHIVE`` operation, or None when the project is archived already.
        :raises TolokaConflictError: ``UNARCHIVED_POOLS_CONFLICT`` when a pool of it is not archived.
        """
        return self._action(PROJECTS, project_id, "archive")
