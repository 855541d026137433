"""The "Labeling report" tab of a task instance page, registered through the ``airflow.plugins`` entry point.

Every Airflow process that loads plugins imports this module, workers included, so it stays light: the FastAPI
app that serves the tab (:mod:`airflow_toloka.plugins.report_app`, the api-server's auth and metadata DB) is
built on the first request, inside the api-server. What is here has no I/O: the tab's declaration, reading the
query the tab's URL carries, finding the report in a task's XCom, and the small page shown when there is none.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/toloka"
ROUTE = "report"
TAB_NAME = "Labeling report"
# The UI fills these in an external view's href; a relative href resolves against the UI's <base href>, so the
# tab works under an [api] base_url too. An unmapped task instance's page has no map index: the UI leaves
# "{MAP_INDEX}" as it is, which map_index_of reads as -1.
TAB_HREF = (
    URL_PREFIX.lstrip("/")
    + "/"
    + ROUTE
    + "?dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}"
)
# The report is data a crowd wrote (task inputs, answers): it runs in an opaque origin with no network, whatever
# the iframe allows, so nothing in it can reach the Airflow UI's session or call out.
REPORT_CSP = (
    "sandbox allow-scripts allow-popups allow-downloads; default-src 'none'; "
    "script-src 'unsafe-inline' 'unsafe-eval' blob:; style-src 'unsafe-inline'; img-src data: blob:; "
    "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'"
)
NOTICE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def map_index_of(value: str | None) -> int:
    """Read the ``map_index`` the tab's URL carries.

    :param value: the query parameter as sent: a number, or the UI's unreplaced ``{MAP_INDEX}`` placeholder
        (an unmapped task instance), or nothing.
    :return: the map index, -1 for an unmapped task instance.
    :raises ValueError: if the value is neither a number nor the placeholder.
    """
    if value is None or value in ("", "{MAP_INDEX}", "%7BMAP_INDEX%7D"):
        return -1
    index = int(value)
    if index < -1:
        raise ValueError(f"map_index must be -1 or more, not {index}")
    return index


def report_path_of(value: Any) -> str | None:
    """Find the report file in a task instance's ``return_value`` XCom.

    :param value: the XCom as the metadata DB holds it (a dict, or its JSON text), or None.
    :return: the ``report_path`` of a ``LabelingReportOperator`` result when it names an HTML file, else None
        (any other task: the tab then says there is no report).
    """
    if isinstance(value, (str, bytes)):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    path = value.get("report_path")
    if not isinstance(path, str) or not path.lower().endswith((".html", ".htm")):
        return None
    return path


def notice_page(title: str, detail: str) -> str:
    """The small page the tab shows instead of a report.

    :param title: one line saying what is missing.
    :param detail: a sentence on why, or what to do.
    :return: a self-contained HTML page; both texts escaped.
    """
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Labeling report</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#333}"
        "h1{font-size:1.1rem}p{color:#666;max-width:40rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p></body></html>"
    )


class LazyReportApp:
    """An ASGI app that builds the report app on its first request, so that importing the plugin is cheap."""

    def __init__(self) -> None:
        self._app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request through the real app.

        :param scope: the ASGI scope.
        :param receive: the ASGI receive channel.
        :param send: the ASGI send channel.
        """
        if self._app is None:
            from airflow_toloka.plugins.report_app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class TolokaReportPlugin(AirflowPlugin):
    """Adds the "Labeling report" tab to every task instance page, served by the api-server.

    Airflow shows an external view on every task instance; the tab of a task that is not a
    ``LabelingReportOperator`` says so.
    """

    name = "toloka"
    fastapi_apps = [{"app": LazyReportApp(), "url_prefix": URL_PREFIX, "name": "Toloka labeling report"}]
    external_views = [
        {
            "name": TAB_NAME,
            "href": TAB_HREF,
            "destination": "task_instance",
            "url_route": "toloka-labeling-report",
        }
    ]
