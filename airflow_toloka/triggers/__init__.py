"""Triggers: wait for Toloka operations and pools in the triggerer instead of on a worker."""

from airflow_toloka.triggers.operation import TolokaOperationTrigger
from airflow_toloka.triggers.pool import TolokaPoolTrigger

__all__ = ["TolokaOperationTrigger", "TolokaPoolTrigger"]
