"""Sensors: wait for Toloka operations started by another task, and for the crowd to finish a pool."""

from airflow_toloka.sensors.operation import TolokaOperationSensor
from airflow_toloka.sensors.pool import TolokaPoolSensor

__all__ = ["TolokaOperationSensor", "TolokaPoolSensor"]
