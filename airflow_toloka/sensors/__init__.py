"""Sensors: wait for Toloka operations started by another task."""

from airflow_toloka.sensors.operation import TolokaOperationSensor

__all__ = ["TolokaOperationSensor"]
