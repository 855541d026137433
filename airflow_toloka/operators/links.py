"""Extra links to Toloka: the pool and the first operation of a task, from what the task pushed to XCom.

They open pages a person can open in a browser, never API endpoints (a browser sends no token): the pool's page
in Toloka's requester UI (``https://platform.toloka.ai/requester/project/<project>/pool/<pool>``, the project
read once from the pool when the link is built), and no operation link there, since Toloka's UI has no page for
an operation. Any other API root (the emulator) gets the same paths on its own host, plus
``/requester/operation/<id>``: the emulator serves both as small HTML pages.

Airflow 3 builds every extra link when a task ends, on the worker. A task that failed before pushing anything
(bad input, a bad connection) must then not look its values up: the lookup of a missing XCom logs an error line
("XCom not found") that would bury the real failure. So the operator records what it pushed in this process
(:func:`push_link_values`), and only a task resumed after a deferral, whose values were pushed by the process
before, reads them back from XCom.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperator, BaseOperatorLink

from airflow_toloka.hooks.connection import DEFAULT_CONN_ID, ENVIRONMENTS

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

__all__ = [
    "XCOM_OPERATION_IDS",
    "XCOM_POOL_IDS",
    "XCOM_TOLOKA_URL",
    "TolokaOperationLink",
    "TolokaPoolLink",
    "operation_page",
    "pool_page",
    "pool_project_id",
    "push_link_values",
    "start_links",
]

log = logging.getLogger(__name__)

XCOM_OPERATION_IDS = "operation_ids"
XCOM_POOL_IDS = "pool_ids"
XCOM_TOLOKA_URL = "toloka_url"
_PUSHED = "_toloka_pushed"  # operator attribute: what this process pushed; absent in a resumed process
_WEB_UI = {
    ENVIRONMENTS["PRODUCTION"]: "https://platform.toloka.ai",
    ENVIRONMENTS["SANDBOX"]: "https://platform.sandbox.toloka.ai",
}


def _web_root(api_root: str) -> str:
    return _WEB_UI.get(api_root, api_root)


def pool_page(api_root: str, project_id: str, pool_id: str) -> str:
    """The page of a pool that a person can open.

    :param api_root: the connection's API root, as pushed under ``toloka_url``.
    :param project_id: the pool's project.
    :param pool_id: the pool.
    :return: the requester UI's pool page (the same path on any other host, e.g. the emulator).
    """
    project, pool = quote(str(project_id), safe=""), quote(str(pool_id), safe="")
    return f"{_web_root(api_root)}/requester/project/{project}/pool/{pool}"


def operation_page(api_root: str, operation_id: str) -> str:
    """The page of an operation, where there is one.

    :param api_root: the connection's API root.
    :param operation_id: the operation.
    :return: the emulator's (or another host's) operation page; empty for Toloka, whose UI has none.
    """
    if api_root in _WEB_UI:
        return ""
    return f"{api_root}/requester/operation/{quote(str(operation_id), safe='')}"


def pool_project_id(conn_id: str, pool_id: str) -> str | None:
    """The project of a pool, read once, quickly, for its link; None when Toloka cannot tell now.

    :param conn_id: the task's Toloka connection.
    :param pool_id: the pool.
    :return: the project id, or None (the link is then left out rather than the task slowed down).
    """
    from airflow_toloka.hooks.base import TEST_TIMEOUT
    from airflow_toloka.hooks.toloka import TolokaHook

    hook = TolokaHook(conn_id, timeout=TEST_TIMEOUT, retry_limit=0, retry_budget=TEST_TIMEOUT)
    try:
        with hook:
            return str(hook.get_pool(pool_id).project_id)
    except Exception as exc:  # a link must never fail, nor slow down, the end of the task it belongs to
        log.debug("No link to Toloka pool %s: %s", pool_id, exc)
        return None


def push_link_values(operator: BaseOperator, ti: Any, values: Mapping[str, Any]) -> None:
    """Push values to XCom and remember them for the links of this task.

    :param operator: the running operator.
    :param ti: its task instance.
    :param values: XCom key -> value.
    """
    pushed: dict[str, Any] = operator.__dict__.setdefault(_PUSHED, {})
    for key, value in values.items():
        ti.xcom_push(key=key, value=value)
        pushed[key] = value


def start_links(operator: BaseOperator) -> None:
    """Mark the start of a fresh execution: until something is pushed, the links are empty, without lookups.

    :param operator: the operator whose ``execute`` begins.
    """
    operator.__dict__[_PUSHED] = {}


def _value(operator: BaseOperator, ti_key: TaskInstanceKey, key: str) -> Any:
    pushed = operator.__dict__.get(_PUSHED)
    if pushed is not None:
        return pushed.get(key)
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key=key)


class _TolokaLink(BaseOperatorLink):
    """A link built from the task's Toloka URL and the first id it pushed under ``ids_key``."""

    ids_key: ClassVar[str]

    def _url(self, operator: BaseOperator, base: str, object_id: str) -> str:
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The link, once the task has pushed what it needs.

        :param operator: the task's operator.
        :param ti_key: the task instance.
        :return: the URL, or an empty string before the task pushed its ids (e.g. it failed validating).
        """
        ids = _value(operator, ti_key, self.ids_key)
        if isinstance(ids, str):
            ids = [ids]
        if not ids:
            return ""
        base = _value(operator, ti_key, XCOM_TOLOKA_URL)
        return self._url(operator, base, str(ids[0])) if base else ""


class TolokaPoolLink(_TolokaLink):
    """The pool's page in Toloka's requester UI (on the emulator, the page it serves at the same path)."""

    name = "Toloka pool"
    ids_key = XCOM_POOL_IDS

    def _url(self, operator: BaseOperator, base: str, object_id: str) -> str:
        project_id = pool_project_id(getattr(operator, "toloka_conn_id", DEFAULT_CONN_ID), object_id)
        return "" if project_id is None else pool_page(base, project_id, object_id)


class TolokaOperationLink(_TolokaLink):
    """The first operation's page on the emulator; none on Toloka, whose requester UI has no operation page."""

    name = "Toloka operation"
    ids_key = XCOM_OPERATION_IDS

    def _url(self, operator: BaseOperator, base: str, object_id: str) -> str:
        return operation_page(base, object_id)
