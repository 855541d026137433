"""The labeling report: what a run produced, gathered without I/O (:mod:`~airflow_toloka.report.data`), drawn by
matplotlib (:mod:`~airflow_toloka.report.charts`, the ``report`` extra) and written as one self-contained HTML page
(:mod:`~airflow_toloka.report.page`). Importing this package does not import matplotlib."""

from airflow_toloka.report.data import LabelingReport, ReportTally
from airflow_toloka.report.page import render_report

__all__ = ["LabelingReport", "ReportTally", "render_report"]
