"""Extra links to Toloka: the pool and the first operation of a task, from what the task pushed to XCom.

Airflow 3 builds every extra link when a task ends, on the worker. A task that failed before pushing anything
(bad input, a bad connection) must then not look its values up: the lookup of a missing XCom logs an error line
("XCom not found") that would bury the real failure. So the operator records what it pushed in this process
(:func:`push_link_values`), and only a task resumed after a deferral, whose values were pushed by the process
before, reads them back from XCom.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, BaseOperatorLink

from airflow_toloka.hooks.connection import ENVIRONMENTS

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

__all__ = [
    "XCOM_OPERATION_IDS",
    "XCOM_POOL_IDS",
    "XCOM_TOLOKA_URL",
    "TolokaOperationLink",
    "TolokaPoolLink",
    "push_link_values",
    "start_links",
]

XCOM_OPERATION_IDS = "operation_ids"
XCOM_POOL_IDS = "pool_ids"
XCOM_TOLOKA_URL = "toloka_url"
_PUSHED = "_toloka_pushed"  # operator attribute: what this process pushed; absent in a resumed process
_WEB_UI = {
    ENVIRONMENTS["PRODUCTION"]: "https://platform.toloka.ai",
    ENVIRONMENTS["SANDBOX"]: "https://platform.sandbox.toloka.ai",
}


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

    def _url(self, base: str, object_id: str) -> str:
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
        return self._url(base, str(ids[0])) if base else ""


class TolokaPoolLink(_TolokaLink):
    """The pool page in Toloka's web UI (the API pool URL when pointed at the emulator or a proxy)."""

    name = "Toloka pool"
    ids_key = XCOM_POOL_IDS

    def _url(self, base: str, object_id: str) -> str:
        # Toloka's own hosts have a web UI page for the pool; the emulator and proxies only the API.
        if base in _WEB_UI:
            return f"{_WEB_UI[base]}/requester/pool/{object_id}"
        return f"{base}/api/v1/pools/{object_id}"


class TolokaOperationLink(_TolokaLink):
    """The first upload operation as Toloka's API reports it (Toloka's web UI has no operation page)."""

    name = "Toloka operation"
    ids_key = XCOM_OPERATION_IDS

    def _url(self, base: str, object_id: str) -> str:
        return f"{base}/api/v1/operations/{object_id}"
