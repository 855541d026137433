"""The "Labeling report" tab: its declaration, what its URL carries, where the report is found, and the app's
answers (refused without auth; the report, or a page saying why there is none). The real api-server serving it:
tests/stack/test_report_tab.py."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_toloka.plugins import report_app
from airflow_toloka.plugins.report_tab import (
    REPORT_CSP,
    TAB_HREF,
    URL_PREFIX,
    TolokaReportPlugin,
    map_index_of,
    notice_page,
    report_path_of,
)

ROOT = Path(__file__).resolve().parents[3]


def test_the_entry_point_names_the_plugin_class() -> None:
    # Airflow loads the airflow.plugins entry points whatever [core] lazy_discover_providers says
    # (read as text: tomllib is 3.11+, and the installed metadata may predate this checkout)
    section = (ROOT / "pyproject.toml").read_text().split('[project.entry-points."airflow.plugins"]\n')[1]
    (value,) = re.findall(r'^toloka = "([\w.:]+)"$', section.split("\n[")[0], flags=re.M)
    module, _, name = value.partition(":")
    assert getattr(__import__(module, fromlist=[name]), name) is TolokaReportPlugin


def test_the_tab_is_a_task_instance_view_whose_href_reaches_the_app() -> None:
    (view,) = TolokaReportPlugin.external_views
    assert view["destination"] == "task_instance" and view["name"] == "Labeling report" and view["url_route"]
    (app,) = TolokaReportPlugin.fastapi_apps
    assert app["url_prefix"] == URL_PREFIX
    # relative (the UI's <base href> carries [api] base_url), and every placeholder the UI fills is passed on
    assert not TAB_HREF.startswith("/") and TAB_HREF.startswith(URL_PREFIX.lstrip("/") + "/report?")
    assert sorted(re.findall(r"\{(\w+)\}", TAB_HREF)) == ["DAG_ID", "MAP_INDEX", "RUN_ID", "TASK_ID"]


@pytest.mark.parametrize(
    ("sent", "index"), [("3", 3), ("0", 0), ("-1", -1), (None, -1), ("", -1), ("{MAP_INDEX}", -1)]
)
def test_map_index_of_reads_a_number_or_the_unfilled_placeholder(sent: str | None, index: int) -> None:
    assert map_index_of(sent) == index


@pytest.mark.parametrize("sent", ["x", "-2", "1.5"])
def test_map_index_of_refuses_anything_else(sent: str) -> None:
    with pytest.raises(ValueError):
        map_index_of(sent)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"report_path": "file:///r/report.html", "tasks": 3}, "file:///r/report.html"),
        ('{"report_path": "s3://aws@b/x/Report.HTML"}', "s3://aws@b/x/Report.HTML"),
        ({"report_path": "/etc/passwd"}, None),  # only an HTML file is ever served
        ({"report_path": 7}, None),
        ({"labels": 60}, None),  # another operator's result
        (["report.html"], None),
        ("not json", None),
        (None, None),
    ],
)
def test_report_path_of_finds_only_a_reports_html_file(value: Any, path: str | None) -> None:
    assert report_path_of(value) == path


def test_notice_page_escapes_what_it_shows() -> None:
    page = notice_page("No <b>report</b>", 'task "<script>x</script>"')
    assert "<script>x" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page


# ------------------------------------------------------------------------------------------------ the app


def test_a_request_without_a_token_is_refused() -> None:
    client = TestClient(report_app.create_app())
    answer = client.get("/report", params={"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": "-1"})
    assert answer.status_code == 401
    assert "report" not in answer.text.lower()


class FakeSession:
    """Answers the XCom query with one stored value (the metadata DB is the stack test's)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.queries: list[str] = []

    def scalars(self, query: Any) -> Any:
        self.queries.append(str(query.compile(compile_kwargs={"literal_binds": True})))
        row = None if self.value is None else SimpleNamespace(value=self.value)
        return SimpleNamespace(first=lambda: row)


def serve(value: Any, map_index: str | None = "{MAP_INDEX}") -> tuple[Any, FakeSession]:
    session = FakeSession(value)
    answer = report_app.serve_report(session, "dag_a", "run_1", "report", map_index)  # type: ignore[arg-type]
    return answer, session


def test_the_report_is_served_whole_in_an_opaque_origin(tmp_path: Path) -> None:
    html = "<!doctype html><html><body><h1>Labeling report</h1><script>1</script></body></html>"
    (tmp_path / "report.html").write_text(html)
    answer, session = serve({"report_path": f"file://{tmp_path}/report.html", "tasks": 3})
    assert answer.status_code == 200 and answer.body.decode() == html
    assert answer.headers["content-security-policy"] == REPORT_CSP
    assert REPORT_CSP.startswith("sandbox ") and "allow-same-origin" not in REPORT_CSP
    assert "connect-src 'none'" in REPORT_CSP
    (query,) = session.queries
    for part in ("'dag_a'", "'run_1'", "'report'", "'return_value'", "map_index = -1"):
        assert part in query, query


def test_the_mapped_task_instance_asked_for_is_read(tmp_path: Path) -> None:
    _, session = serve(None, map_index="2")
    assert "map_index = 2" in session.queries[0]


@pytest.mark.parametrize("value", [None, {"labels": 60}])
def test_a_task_without_a_report_gets_a_page_saying_so(value: Any) -> None:
    answer, _ = serve(value)
    assert answer.status_code == 404 and "No labeling report for this task." in answer.body.decode()


def test_a_report_file_that_is_gone_is_named(tmp_path: Path) -> None:
    answer, _ = serve({"report_path": f"file://{tmp_path}/gone.html"})
    assert answer.status_code == 404 and "gone.html cannot be read" in answer.body.decode()


def test_a_report_past_the_limit_is_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_app, "MAX_REPORT_BYTES", 10)
    (tmp_path / "big.html").write_text("<html>" + "x" * 20)
    answer, _ = serve({"report_path": str(tmp_path / "big.html")})
    assert answer.status_code == 413 and "too large" in answer.body.decode()


def test_a_bad_map_index_is_refused() -> None:
    answer, session = serve({"report_path": "/r/report.html"}, map_index="first")
    assert answer.status_code == 400 and session.queries == []
