"""What the Toloka operators share: a hook that lives for one ``execute``, and the default idempotency key."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators.links import XCOM_POOL_IDS, XCOM_TOLOKA_URL, push_link_values, start_links

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["TolokaBaseOperator", "is_templated", "names_of", "run_key", "write_owner"]


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


def is_templated(value: Any) -> bool:
    """Whether a parameter is still a Jinja template (known only once rendered).

    :param value: the parameter as given: a string, an ``ObjectStoragePath``, a list …
    :return: True for a string holding ``{{``.
    """
    return isinstance(value, str) and "{{" in value


def names_of(value: Any, what: str, allowed: Iterable[str] | None = None) -> list[str]:
    """A parameter that names one thing or several, as a list: ``"ACCEPTED"``, ``"ACCEPTED,SUBMITTED"``,
    ``["ACCEPTED"]``, or a list rendered as text (``"['a', 'b']"``, what Jinja makes of a list).

    :param value: the parameter, rendered.
    :param what: its name, for the error.
    :param allowed: the names it may hold (compared as given), or None for any.
    :return: the names, each once, in order.
    :raises ValueError: naming the parameter when it names nothing, is not text or a list of text, or holds a
        name not in ``allowed``.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(")):
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise ValueError(f"{what} looks like a list but cannot be read: {text!r}") from None
        else:
            value = text.split(",")
    if not isinstance(value, Iterable) or isinstance(value, (bytes, Mapping)):
        raise ValueError(f"{what} must be a name or a list of names, got {type(value).__name__}: {value!r}")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{what} must hold names, got {type(item).__name__}: {item!r}")
        if item.strip() and item.strip() not in names:
            names.append(item.strip())
    if not names:
        raise ValueError(f"{what} must name at least one, got {value!r}")
    if allowed is not None:
        known = tuple(allowed)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"{what}: unknown {', '.join(unknown)} (one of {', '.join(known)})")
    return names


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
