"""What every Toloka sensor shares: one poke on the worker, then a deferral, with Airflow's failure rules."""

from __future__ import annotations

from typing import Any, NoReturn

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    TaskDeferralError,
    TaskDeferralTimeout,
)

from airflow_toloka.exceptions import TolokaTimeoutError

__all__ = ["TolokaBaseSensor"]

# What a sensor with soft_fail=True turns into a skip while poking (BaseSensorOperator.execute in 3.3.2).
_TIMEOUT_LIKE = (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException)


class TolokaBaseSensor(BaseSensorOperator):
    """Base of the Toloka sensors: ``soft_fail`` skips on timeout only and ``never_fail`` on any failure, the
    same whether the sensor pokes or defers (stock Airflow 3.3.2 would also skip real failures after a deferral,
    apache/airflow#71255).
    """

    def _first_poke(self, context: Context) -> PokeReturnValue | bool:
        """One poke on the worker, with the same soft_fail / never_fail / silent_fail rules as poking.

        :param context: the task context.
        :return: what the poke returned, true when the wait is over already (a ``PokeReturnValue`` also carries
            the XCom value), or False.
        :raises AirflowSkipException: where ``soft_fail`` or ``never_fail`` turn a failure into a skip.
        """
        try:
            return self.poke(context)
        except AirflowSkipException:
            raise
        except _TIMEOUT_LIKE as exc:
            self._skip_or_raise(exc, timed_out=True)
        except Exception as exc:
            if self.silent_fail:
                self.log.exception("Sensor poke failed; deferring anyway (silent_fail)")
                return False
            self._skip_or_raise(exc, timed_out=False)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after the trigger, skipping under ``soft_fail`` only for timeouts (as poking does).

        BaseSensorOperator's own version skips on *any* ``AirflowException`` when ``soft_fail`` is set, which
        would hide a failed upload or a broken connection as "skipped"; ``execute_complete`` already applies
        the rule, so only the triggerer's own failures (deferral timeout, crashed trigger) are handled here.

        :param next_method: the method to resume in.
        :param next_kwargs: its keyword arguments (the event).
        :param context: the task context.
        :return: what the method returns.
        :raises AirflowSkipException: where ``soft_fail`` or ``never_fail`` turn a failure into a skip.
        """
        try:
            return super(BaseSensorOperator, self).resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout as exc:
            self._skip_or_raise(AirflowSensorTimeout(*exc.args), timed_out=True)
        except TaskDeferralError as exc:
            self._skip_or_raise(exc, timed_out=False)

    def raise_for_event(self, error: Exception | None) -> None:
        """What a trigger's event means for the sensor, as its ``execute_complete`` reads it: nothing for success,
        a timeout as ``AirflowSensorTimeout`` (a skip with ``soft_fail``), any other failure as it is (a skip with
        ``never_fail``).

        :param error: the event's ``error()``.
        :raises AirflowSensorTimeout: for a timeout.
        :raises AirflowSkipException: where ``soft_fail`` or ``never_fail`` turn the failure into a skip.
        :raises Exception: ``error`` itself otherwise.
        """
        if error is None:
            return
        if isinstance(error, TolokaTimeoutError):
            self._skip_or_raise(AirflowSensorTimeout(f"Sensor has timed out: {error}"), timed_out=True)
        self._skip_or_raise(error, timed_out=False)

    def _skip_or_raise(self, exc: BaseException, *, timed_out: bool) -> NoReturn:
        """Raise ``exc``, or a skip where ``soft_fail`` (timeouts) or ``never_fail`` (anything) asks for one.

        :param exc: the failure.
        :param timed_out: whether it is a timeout.
        :raises AirflowSkipException: for a failure to skip.
        """
        if timed_out and self.soft_fail:
            raise AirflowSkipException(f"Skipping due to soft_fail is set to True: {exc}") from exc
        if self.never_fail:
            raise AirflowSkipException(f"Skipping due to never_fail is set to True: {exc}") from exc
        raise exc
