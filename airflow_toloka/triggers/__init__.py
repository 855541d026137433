"""Triggers: wait for Toloka operations and pools in the triggerer instead of on a worker, and watch a project's
pools close (event-driven runs)."""

from airflow_toloka.triggers.closed_pools import TolokaPoolClosedTrigger
from airflow_toloka.triggers.operation import TolokaOperationTrigger
from airflow_toloka.triggers.pool import TolokaPoolTrigger

__all__ = ["TolokaOperationTrigger", "TolokaPoolClosedTrigger", "TolokaPoolTrigger"]
