"""Wait for Toloka operations submitted elsewhere (e.g. by an upload with ``wait_for_completion=False``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow.sdk import Context, PokeReturnValue, conf

from airflow_toloka.events import FailedOperation, OperationEvent, describe_failed
from airflow_toloka.exceptions import TolokaError
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.models import Operation
from airflow_toloka.params import rendered_list
from airflow_toloka.sensors.base import TolokaBaseSensor
from airflow_toloka.triggers.operation import defer_until_done, validate_operation_ids

__all__ = ["TolokaOperationSensor", "parse_operation_ids"]


def parse_operation_ids(value: Any) -> list[str]:
    """Turn the rendered ``operation_id`` into a list of ids.

    Accepts one id, a list or tuple of ids, any other sequence of them (a mapped upload's
    ``upload.output["operation_ids"]`` resolves to a lazy sequence with one list per map index, flattened
    here), or the text of a list: Jinja renders a pulled XCom list as its Python repr (``"['a', 'b']"``) unless
    the DAG renders native objects, so JSON and Python-literal lists are both read.

    :param value: the rendered value.
    :return: the ids, each once.
    :raises ValueError: for anything that is not an id or a list of ids.
    """
    value = rendered_list(value, "operation_id")
    if isinstance(value, str):
        value = [value.strip()]
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        # A mapped upload's ids come as one list per map index (a lazy sequence of lists): wait for them all.
        flat: list[Any] = []
        for element in value:
            flat.extend(element if isinstance(element, (list, tuple)) else [element])
        return validate_operation_ids(flat)
    raise ValueError(f"operation_id must be an id or a list of ids, got {type(value).__name__}: {value!r}")


class TolokaOperationSensor(TolokaBaseSensor):
    """Wait until Toloka operations finish; return their ids so downstream tasks can fetch the results.

    Succeeds when every operation is SUCCESS and fails (``TolokaOperationFailedError`` with Toloka's
    ``details``) as soon as one is FAIL. With ``deferrable`` the wait happens in the triggerer: one poke on the
    worker first (no triggerer round trip when already finished), then a trigger that carries the sensor's
    ``timeout`` as an absolute deadline.

    ``soft_fail`` skips on timeout only and ``never_fail`` skips on any failure, in every mode
    (:class:`~airflow_toloka.sensors.base.TolokaBaseSensor`).

    :param operation_id: one id, a list of ids, or a templated string rendering to either.
    :param toloka_conn_id: Airflow connection id.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param poll_interval: seconds between status checks; also the ``poke_interval`` unless one is given.
    """

    template_fields: Sequence[str] = ("operation_id",)
    ui_color = "#ffd8a8"

    def __init__(
        self,
        *,
        operation_id: str | list[str],
        toloka_conn_id: str = TolokaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.operation_id = operation_id
        self.toloka_conn_id = toloka_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._succeeded: set[str] = set()

    @property
    def operation_ids(self) -> list[str]:
        """The ids to wait for, read from the rendered ``operation_id``."""
        try:
            return parse_operation_ids(self.operation_id)
        except ValueError as exc:
            raise TolokaError(f"{self.task_id}: {exc}") from None

    def poke(self, context: Context) -> PokeReturnValue:
        """Read each operation not yet seen succeeding.

        :param context: the task context.
        :return: done with the ids as XCom value when all succeeded, else not done.
        :raises TolokaOperationFailedError: as soon as one operation is FAIL.
        """
        ids = self.operation_ids
        with TolokaHook(self.toloka_conn_id) as hook:
            # In poke mode the same instance pokes again: operations seen succeeding are not asked again.
            ops = {i: hook.get_operation(i) for i in ids if i not in self._succeeded}
        _raise_for_failed(ops, len(ids))
        self._succeeded.update(i for i, op in ops.items() if op.status == "SUCCESS")
        running = [(i, op) for i, op in ops.items() if not op.is_completed]
        if running:
            self.log.info(
                "%d/%d Toloka operations done; waiting for %s",
                len(ids) - len(running),
                len(ids),
                ", ".join(f"{i} ({op.status}, {op.progress or 0}%)" for i, op in running[:10]),
            )
            return PokeReturnValue(is_done=False)
        self.log.info("All %d Toloka operation(s) succeeded", len(ids))
        return PokeReturnValue(is_done=True, xcom_value=ids)

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) on the worker, or poke once and defer to the triggerer.

        :param context: the task context.
        :return: the operation ids once all succeeded.
        :raises TolokaOperationFailedError: when an operation failed.
        """
        if not self.deferrable:
            return super().execute(context)
        done = self._first_poke(context)  # parses the ids too, so a bad id gets the poke's error rules
        ids = self.operation_ids
        if done:
            return ids
        self.log.info("Deferring: waiting for %d Toloka operation(s) in the triggerer", len(ids))
        defer_until_done(self, ids, timeout=self.timeout)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[str]:
        """Turn the trigger's event into the operation ids, or a failure naming what Toloka said.

        :param context: the task context.
        :param event: the trigger's payload.
        :return: the operation ids.
        :raises TolokaError: for a malformed event or an error while polling.
        :raises TolokaOperationFailedError: when an operation failed.
        :raises AirflowSensorTimeout: at the deadline (a skip with ``soft_fail``).
        """
        parsed = OperationEvent.parse(event)
        self.raise_for_event(parsed.error())
        self.log.info("All %d Toloka operation(s) succeeded", len(parsed.operation_ids))
        return list(parsed.operation_ids)


def _raise_for_failed(ops: dict[str, Operation], total: int) -> None:
    # The error a trigger's "failed" event means, so poking and deferring fail with the same message.
    failed = tuple(FailedOperation.of(op) for op in ops.values() if op.status == "FAIL")
    error = (
        OperationEvent("failed", tuple(ops), describe_failed(failed, total), failed).error()
        if failed
        else None
    )
    if error is not None:
        raise error
