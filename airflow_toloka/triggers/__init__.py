"""Triggers: wait for Toloka operations in the triggerer instead of on a worker."""

from airflow_toloka.triggers.operation import TolokaOperationTrigger

__all__ = ["TolokaOperationTrigger"]
