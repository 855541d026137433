"""Operators: upload tasks; create projects and pools; open, close, archive them; export, review, aggregate; pay
bonuses; skills and more answers where the crowd disagreed; the labeling report."""

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
from airflow_toloka.operators.quality import CreateSkillOperator, RaiseOverlapOperator
from airflow_toloka.operators.report import LabelingReportOperator
from airflow_toloka.operators.tasks import CreateTasksOperator, CreateTaskSuitesOperator

__all__ = [
    "AggregateResultsOperator",
    "ArchivePoolOperator",
    "ClosePoolOperator",
    "CreatePoolOperator",
    "CreateProjectOperator",
    "CreateSkillOperator",
    "CreateTaskSuitesOperator",
    "CreateTasksOperator",
    "ExportAssignmentsOperator",
    "LabelingReportOperator",
    "OpenPoolOperator",
    "PayBonusesOperator",
    "RaiseOverlapOperator",
    "ReviewAssignmentsOperator",
    "TolokaOperationLink",
    "TolokaPoolLink",
]
