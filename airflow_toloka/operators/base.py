"""What the Toloka operators share: a hook that lives for one ``execute``, and the default idempotency key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators.links import XCOM_POOL_IDS, XCOM_TOLOKA_URL, push_link_values, start_links

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_toloka.lineage import LineageDataset

__all__ = ["TolokaBaseOperator", "run_key", "write_owner"]


def run_key(context: Context) -> str:
    """The default idempotency key: ``dag_id/<logical date, else run_id>/task_id/map_index``.

    The logical date, where the run has one, makes a re-triggered or re-tested run of the same date find what its
    first run made; a run without one (a manual run with no date) is keyed on its run id.

    :param context: the task context.
    :return: the key.
    """
    ti = context["ti"]
    logical_date = context.get("logical_date")
    run = logical_date.isoformat() if logical_date is not None else ti.run_id
    return f"{ti.dag_id}/{run}/{ti.task_id}/{getattr(ti, 'map_index', -1)}"


def write_owner(context: Context) -> str:
    """Who writes a task's files: the same for every try of one task instance, different across instances.

    Temporary files are named after it (:func:`airflow_toloka.files.atomic_file`), so a retry takes over what a killed
    try left instead of adding to it.

    :param context: the task context.
    :return: a short hex name.
    """
    ti = context["ti"]
    who = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}"
    return hashlib.sha256(who.encode()).hexdigest()[:16]


class TolokaBaseOperator(BaseOperator):
    """A Toloka operator: a hook that lives as long as one ``execute`` (built on first use, closed at the end).

    :param toloka_conn_id: Airflow connection id.
    """

    def __init__(self, *, toloka_conn_id: str = TolokaHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.toloka_conn_id = toloka_conn_id

    @cached_property
    def hook(self) -> TolokaHook:
        """The hook of this execution (:meth:`hook_options` tune it).

        :return: the hook.
        """
        return TolokaHook(self.toloka_conn_id, **self.hook_options())

    def hook_options(self) -> dict[str, Any]:
        """What this operator sets on its hook beyond the connection (``max_in_flight``, ``poll_interval`` …).

        :return: keyword arguments of :class:`~airflow_toloka.hooks.toloka.TolokaHook`.
        """
        return {}

    def execute(self, context: Context) -> Any:
        """Run :meth:`run` and close the hook's connections whatever happens.

        :param context: the task context.
        :return: what :meth:`run` returns.
        """
        start_links(self)
        try:
            return self.run(context)
        finally:
            self.hook.close()

    def push_pool_link(self, context: Context, pool_id: str) -> None:
        """Push what the "Toloka pool" link needs for a task about one pool, before anything can fail.

        :param context: the task context.
        :param pool_id: the pool.
        """
        push_link_values(self, context["ti"], {XCOM_TOLOKA_URL: self.hook.base_url, XCOM_POOL_IDS: [pool_id]})

    def run(self, context: Context) -> Any:
        """The operator's work.

        :param context: the task context.
        :return: the XCom value.
        """
        raise NotImplementedError

    def lineage_datasets(self) -> tuple[list[LineageDataset], list[LineageDataset]] | None:
        """What this task read and wrote, as far as it got (see :mod:`airflow_toloka.lineage`).

        :return: inputs and outputs, or None for an operator that reports no lineage of its own.
        """
        return None

    def lineage_pools(self, pool_ids: Iterable[Any]) -> list[LineageDataset]:
        """The pools as datasets on this task's Toloka host; none when its connection cannot be read.

        :param pool_ids: the pools' ids (None and empty ones are left out).
        :return: the datasets.
        """
        from airflow_toloka.lineage import pool_dataset

        ids = [p for p in pool_ids if p not in (None, "")]
        if not ids:
            return []
        try:
            # Read when execute resolved the connection; a task that failed on it has no host to name.
            base_url = self.hook.base_url
        except AirflowException:  # a TolokaError about the connection, or no such connection
            return []
        return [pool_dataset(base_url, p) for p in ids]

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """The OpenLineage provider's hook, called after the task ends (also for a failed one).

        Only the OpenLineage provider calls it, so only here is OpenLineage imported.

        :param task_instance: the finished task instance (unused: the operator kept what it read and wrote).
        :return: the lineage, or None where :meth:`lineage_datasets` has none.
        :raises ImportError: without the OpenLineage provider (which is then not there to call it).
        """
        datasets = self.lineage_datasets()
        if datasets is None:
            return None
        from airflow_toloka.lineage import operator_lineage

        return operator_lineage(*datasets)
