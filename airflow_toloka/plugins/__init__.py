"""Airflow plugins of the provider: the "Labeling report" tab of a task instance (:mod:`.report_tab`)."""
