"""Training pools, with toloka-kit's method names: the exams Tolokers pass before a linked pool lets them in.

Created trainings are found again by their idempotency key (:mod:`airflow_toloka.hooks.objects`); open, close
and archive are idempotent in Toloka (204 = already there).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_toloka.hooks.objects import ObjectsMixin, create_body
from airflow_toloka.hooks.operations import Timeout
from airflow_toloka.models import TRAININGS, Operation, Training

__all__ = ["TrainingsMixin"]


class TrainingsMixin(ObjectsMixin):
    """Trainings: create (find-or-create by key), read, open, close, archive, clone.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def create_training(
        self, training: Training | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Training:
        """Create a training pool, or return the one an earlier try created with the same key.

        :param training: the training (``project_id``, ``private_name``, ``inherited_instructions`` …).
        :param idempotency_key: tags the training so that a retry finds it.
        :return: the training as Toloka stored it.
        :raises TolokaValidationError: when Toloka rejects the spec.
        """
        body = create_body(training, Training)
        return self._create(TRAININGS, body, idempotency_key, {"project_id": body.project_id})

    def get_training(self, training_id: str) -> Training:
        """Read a training.

        :param training_id: the training id.
        :return: the training.
        :raises TolokaDoesNotExistError: when there is no such training.
        """
        return self._get(TRAININGS, training_id)  # type: ignore[no-any-return]

    def open_training(self, training_id: str, timeout: Timeout = timedelta(minutes=10)) -> Training:
        """Open a training and wait; an open one stays as it is.

        :param training_id: the training id.
        :param timeout: how long to wait for the operation.
        :return: the training.
        :raises TolokaConflictError: when it cannot be opened (``EMPTY_POOL`` …).
        """
        return self._act(TRAININGS, training_id, "open", timeout)  # type: ignore[return-value]

    def close_training(self, training_id: str, timeout: Timeout = timedelta(minutes=10)) -> Training:
        """Close a training and wait; a closed one stays as it is.

        :param training_id: the training id.
        :param timeout: how long to wait for the operation.
        :return: the training.
        :raises TolokaOperationFailedError: when the operation fails.
        """
        return self._act(TRAININGS, training_id, "close", timeout)  # type: ignore[return-value]

    def archive_training(self, training_id: str, timeout: Timeout = timedelta(minutes=10)) -> Training:
        """Archive a closed training (its linked pools archived first) and wait.

        :param training_id: the training id.
        :param timeout: how long to wait for the operation.
        :return: the training.
        :raises TolokaConflictError: when it is not closed or a linked pool is not archived.
        """
        return self._act(TRAININGS, training_id, "archive", timeout)  # type: ignore[return-value]

    def clone_training(self, training_id: str, timeout: Timeout = timedelta(minutes=10)) -> Training:
        """Clone a training (an empty copy) and wait; not idempotent, like Toloka's endpoint.

        :param training_id: the training to copy.
        :param timeout: how long to wait for the operation.
        :return: the new training.
        :raises TolokaOperationFailedError: when the operation fails.
        """
        return self._clone(TRAININGS, training_id, timeout)  # type: ignore[return-value]

    def open_training_async(self, training_id: str) -> Operation | None:
        """Start opening a training.

        :param training_id: the training id.
        :return: the ``TRAINING.OPEN`` operation, or None when the training is open already.
        :raises TolokaConflictError: when it cannot be opened (``EMPTY_POOL``, archived …).
        """
        return self._action(TRAININGS, training_id, "open")

    def close_training_async(self, training_id: str) -> Operation | None:
        """Start closing a training.

        :param training_id: the training id.
        :return: the ``TRAINING.CLOSE`` operation, or None when the training is closed already.
        """
        return self._action(TRAININGS, training_id, "close")

    def archive_training_async(self, training_id: str) -> Operation | None:
        """Start archiving a training.

        :param training_id: the training id.
        :return: the ``TRAINING.ARCHIVE`` operation, or None when the training is archived already.
        :raises TolokaConflictError: when it is not closed or a linked pool is not archived.
        """
        return self._action(TRAININGS, training_id, "archive")
