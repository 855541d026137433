"""The api-server side of the "Labeling report" tab: a FastAPI app, mounted at ``/toloka``.

``GET /toloka/report?dag_id=&run_id=&task_id=&map_index=`` is allowed to whoever may read that DAG's XComs
(the api-server's own auth: its JWT, as a bearer token or the UI's session cookie). It reads the task
instance's ``return_value`` XCom from the metadata DB and serves the HTML file its ``report_path`` names, or a
small page saying why there is none. Imported only by the api-server, on the tab's first request.
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse

from airflow_toloka.plugins.report_tab import (
    NOTICE_CSP,
    REPORT_CSP,
    ROUTE,
    map_index_of,
    notice_page,
    report_path_of,
)

# A report aggregates (no point per answer): a file past this is not one, and is not read into memory.
MAX_REPORT_BYTES = 64 * 1024 * 1024
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def create_app() -> FastAPI:
    """Build the app the plugin mounts.

    :return: the FastAPI app with the one report route.
    """
    app = FastAPI(title="Toloka labeling report", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_api_route(
        f"/{ROUTE}",
        serve_report,
        methods=["GET"],
        response_class=HTMLResponse,
        dependencies=[Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.XCOM))],
    )
    return app


def serve_report(
    session: SessionDep,
    dag_id: Annotated[str, Query(min_length=1)],
    run_id: Annotated[str, Query(min_length=1)],
    task_id: Annotated[str, Query(min_length=1)],
    map_index: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """Serve the report of one task instance (a sync route: FastAPI runs it in a thread, off the event loop).

    :param session: the api-server's metadata DB session.
    :param dag_id: the DAG of the task instance.
    :param run_id: its run.
    :param task_id: its task.
    :param map_index: its map index, or the UI's ``{MAP_INDEX}`` placeholder for an unmapped one.
    :return: the report's HTML (200), or a page saying why there is none (400, 404 or 413).
    """
    try:
        index = map_index_of(map_index)
    except ValueError as e:
        return _notice(400, "No labeling report: bad map index.", str(e))
    path = report_path_of(_return_value(session, dag_id, run_id, task_id, index))
    if path is None:
        return _notice(
            404,
            "No labeling report for this task.",
            "This tab shows the report of a LabelingReportOperator task instance that has finished; "
            "this task instance has returned no report.",
        )
    return _read_report(path)


def _return_value(session: SessionDep, dag_id: str, run_id: str, task_id: str, map_index: int) -> object:
    from airflow.models.xcom import XComModel

    query = XComModel.get_many(
        run_id=run_id, key="return_value", task_ids=task_id, dag_ids=dag_id, map_indexes=map_index, limit=1
    )
    row = session.scalars(query).first()
    # typed as a one-tuple (the query selects XComModel); the core API's own XCom route reads it the same way
    xcom = row[0] if isinstance(row, tuple) else row
    return None if xcom is None else xcom.value


def _read_report(path: str) -> HTMLResponse:
    from airflow.sdk import ObjectStoragePath

    try:
        with ObjectStoragePath(path).open("rb") as f:
            body = f.read(MAX_REPORT_BYTES + 1)
    except (OSError, ValueError) as e:
        return _notice(404, "The labeling report is gone.", f"{path} cannot be read: {type(e).__name__}.")
    if len(body) > MAX_REPORT_BYTES:
        return _notice(413, "The labeling report is too large to show here.", f"Open {path} instead.")
    return HTMLResponse(body, headers={**_HEADERS, "Content-Security-Policy": REPORT_CSP})


def _notice(status: int, title: str, detail: str) -> HTMLResponse:
    return HTMLResponse(
        notice_page(title, detail),
        status_code=status,
        headers={**_HEADERS, "Content-Security-Policy": NOTICE_CSP},
    )
