"""Operators that upload tasks and task suites to Toloka."""

from airflow_toloka.operators.tasks import (
    CreateTasksOperator,
    CreateTaskSuitesOperator,
    TolokaOperationLink,
    TolokaPoolLink,
)

__all__ = ["CreateTaskSuitesOperator", "CreateTasksOperator", "TolokaOperationLink", "TolokaPoolLink"]
