"""Operators: upload tasks; create projects and pools; open, close, archive them; export, review, aggregate; pay
bonuses."""

from airflow_toloka.operators.bonuses import PayBonusesOperator
from airflow_toloka.operators.labels import (
    AggregateResultsOperator,
    ExportAssignmentsOperator,
    ReviewAssignmentsOperator,
)
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
    "AggregateResultsOperator",
    "ArchivePoolOperator",
    "ClosePoolOperator",
    "CreatePoolOperator",
    "CreateProjectOperator",
    "CreateTaskSuitesOperator",
    "CreateTasksOperator",
    "ExportAssignmentsOperator",
    "OpenPoolOperator",
    "PayBonusesOperator",
    "ReviewAssignmentsOperator",
    "TolokaOperationLink",
    "TolokaPoolLink",
]
