"""Apache Airflow provider for Toloka: batched, idempotent, deferrable uploads of tasks and task suites."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
