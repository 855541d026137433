"""Operators: upload tasks and task suites; create projects and pools; open, close and archive pools."""

from airflow_toloka.operators.links import TolokaOperationLink, TolokaPoolLink
from airflow_toloka.operators.pools import (
    ArchivePoolOperator,
    ClosePoolOperator,
    CreatePoolOperator,
    CreateProjectOperator,
    OpenPoolOperator,
)
from airflow_toloka.operators.tasks import CreateTasksOperator, CreateTaskSuitesOperator

__all__ = [
    "ArchivePoolOperator",
    "ClosePoolOperator",
    "CreatePoolOperator",
    "CreateProjectOperator",
    "CreateTaskSuitesOperator",
    "CreateTasksOperator",
    "OpenPoolOperator",
    "TolokaOperationLink",
    "TolokaPoolLink",
]
