"""The morning-after report of a labeling run: one self-contained HTML file, its headline numbers in XCom."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_toloka.bonuses import pool_comment
from airflow_toloka.files import RECORD_FORMATS, atomic_file, format_of, read_records, storage_path
from airflow_toloka.labels import answer_rows
from airflow_toloka.money import DEFAULT_FEE_MIN, DEFAULT_FEE_RATE, Amount
from airflow_toloka.operators.base import write_owner
from airflow_toloka.operators.labels import _outlets, _ResultsOperator
from airflow_toloka.operators.links import TolokaPoolLink
from airflow_toloka.params import is_templated
from airflow_toloka.report.charts import require_matplotlib
from airflow_toloka.report.data import LabelingReport, ReportTally
from airflow_toloka.report.page import render_report

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["LabelingReportOperator"]


class LabelingReportOperator(_ResultsOperator):
    """Write what a labeling run produced as one HTML file that opens offline (no script, no web address in it).

    It shows the numbers (tasks, assignments by status, answers, labels, what was paid in rewards, fees and
    bonuses, the time from open to close, accuracy on control tasks), four charts drawn by matplotlib (label
    distribution, confidence histogram, each Toloker's accuracy on control tasks against answers given with
    rejected and banned Tolokers marked, assignments submitted over time) and the least certain labels with their
    inputs and every answer. The file's size does not grow with the answers: the charts are drawn from aggregates.

    The labels file is an :class:`AggregateResultsOperator` output; the answers file an
    :class:`ExportAssignmentsOperator` output (without one, the answers of the pool's assignments are used).
    Bonuses are those :class:`PayBonusesOperator`'s rule paid for the pool (found by their private comment).
    ``results_path`` is announced as an Asset like the labels (its outlet by default when not templated).

    Needs the ``report`` extra (matplotlib): ``pip install 'airflow-toloka[report]'``.

    :param pool_id: the pool (templated).
    :param labels_path: the labels, JSONL, CSV or TSV (templated; any ``ObjectStoragePath``).
    :param results_path: where the HTML goes (templated; any ``ObjectStoragePath``).
    :param answers_path: the exported answers, JSONL, CSV or TSV (templated), or None.
    :param uncertain: how many of the least certain labels to list.
    :param fee_rate: Toloka's fee as a share, for what was paid (see :mod:`airflow_toloka.money`).
    :param fee_min: the smallest fee of one payment, USD.
    :param toloka_conn_id: Airflow connection id.
    :return: ``{"report_path", "pool_id", "tasks", "control_tasks", "labels", "answers", "assignments",
        "control_accuracy", "cost", "duration_seconds", "tolokers", "banned", "rejected_tolokers"}``.
    """

    template_fields: Sequence[str] = ("pool_id", "labels_path", "answers_path", "results_path")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#b5e48c"

    def __init__(
        self,
        *,
        pool_id: str | int,
        labels_path: Any,
        results_path: Any,
        answers_path: Any = None,
        uncertain: int = 20,
        fee_rate: Amount = DEFAULT_FEE_RATE,
        fee_min: Amount = DEFAULT_FEE_MIN,
        **kwargs: Any,
    ) -> None:
        _outlets(results_path, kwargs)
        super().__init__(**kwargs)
        for path in (labels_path, answers_path):
            if isinstance(path, (str, os.PathLike)) and not is_templated(path):  # not an XComArg either
                format_of(path, None, RECORD_FORMATS)  # a file it cannot read fails when the DAG is parsed
        self.pool_id, self.labels_path, self.answers_path = pool_id, labels_path, answers_path
        self.results_path, self.uncertain = results_path, uncertain
        self.fee_rate, self.fee_min = fee_rate, fee_min

    def run(self, context: Context) -> dict[str, Any]:
        """Gather, draw, write, announce.

        :param context: the task context.
        :return: the headline numbers and ``report_path``.
        :raises TolokaError: when matplotlib (the ``report`` extra) is missing, before any request.
        :raises TolokaInputError: for a labels or answers file that cannot be read.
        :raises TolokaDoesNotExistError: for an unknown pool.
        """
        require_matplotlib()
        pool_id = str(self.pool_id)
        self.push_pool_link(context, pool_id)
        report = self.gather(pool_id)
        target = storage_path(self.results_path)
        with atomic_file(target, write_owner(context)) as partial:
            partial.write_text(render_report(report), encoding="utf-8")
        headline = report.headline(str(target))
        self.log.info(
            "Labeling report of pool %s: %s labels, %s right on control tasks, $%s spent; written to %s",
            pool_id,
            report.labels,
            headline["control_accuracy"],
            headline["cost"]["total"],
            headline["report_path"],
        )
        self._announce(context, headline)
        return headline

    def gather(self, pool_id: str) -> LabelingReport:
        """Read the labels, the answers, the pool's assignments, tasks, bans and bonuses into a report.

        :param pool_id: the pool.
        :return: the report.
        """
        hook = self.hook
        pool = hook.get_pool(pool_id)
        tally = ReportTally(pool_id, uncertain=self.uncertain, fee_rate=self.fee_rate, fee_min=self.fee_min)
        for row in read_records(self.labels_path):
            tally.add_label(row)
        if self.answers_path is not None:
            for row in read_records(self.answers_path):
                tally.add_answer(row)
        for assignment in self._assignments(pool_id):
            tally.add_assignment(assignment, pool.reward_per_assignment)
            if self.answers_path is None:
                for row in answer_rows(assignment):
                    tally.add_answer(row)
        tally.add_bans(self._banned(pool_id, str(pool.project_id)))
        for bonus in hook.get_user_bonuses(private_comment=pool_comment(pool_id)):
            tally.add_bonus(bonus.amount)
        tasks = control = 0
        for task in hook.get_tasks(pool_id=pool_id):
            control += bool(task.known_solutions)
            tasks += not task.known_solutions
        stamps = pool.model_dump(include={"status", "last_started", "last_stopped"})
        return tally.finish({**stamps, "name": pool.private_name}, tasks, control)

    def _assignments(self, pool_id: str) -> Iterator[dict[str, Any]]:
        for page in self.hook.get_assignment_pages(pool_id=pool_id):
            yield from page

    def _banned(self, pool_id: str, project_id: str) -> set[str]:
        """Tolokers restricted in the pool, its project or every project (the report marks those who worked)."""
        hook = self.hook
        scopes = ({"pool_id": pool_id}, {"project_id": project_id}, {"scope": "ALL_PROJECTS"})
        return {r.user_id for scope in scopes for r in hook.get_user_restrictions(**scope)}
