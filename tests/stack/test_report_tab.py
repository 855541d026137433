"""The "Labeling report" tab on the real stack: the api-server lists the provider's plugin (loaded through its
``airflow.plugins`` entry point) and serves a ``LabelingReportOperator`` task instance's report at the tab's URL,
as the UI builds it, to a signed-in user only. (The stack's own api-server lets everyone in as admin, so the
refusals are checked on a second one, on the same DB, that asks who you are.) Then the tab as a person sees it, in
headless Chromium (tests/stack/browser.py): the report inside the UI's iframe, with the task's numbers. Both tests
share one run of ``stack_report``; the screenshots are kept in ``.artifacts/screenshots/`` (the test prints which)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from selenium.webdriver.common.by import By

from airflow_toloka.plugins.report_tab import REPORT_CSP
from tests.stack.browser import Browser
from tests.stack.conftest import AIRFLOW, Stack, free_port, wait_for

pytestmark = pytest.mark.stack

DAG_ID, RUN_ID = "stack_report", "report_tab:1+2"  # a run id the URL must escape


@contextlib.contextmanager
def signed_in_api_server(stack: Stack) -> Iterator[tuple[str, str]]:
    """A second api-server on the stack's DB that asks who you are (the stack's lets everyone in as admin).

    :return: its base URL and the token of a user with the viewer role.
    """
    password = secrets.token_urlsafe(16)
    passwords = stack.home / "report-tab-passwords.json"
    passwords.write_text(json.dumps({"reader": password}))
    port = free_port()
    _, env = stack.command("api-server")
    env.update(
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="reader:viewer",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__API__PORT=str(port),
    )
    cmd = [AIRFLOW, "api-server", "--port", str(port), "--host", "127.0.0.1"]
    with (stack.proc_logs / "api-server-signed-in.log").open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the signed-in api-server exited {proc.returncode}; see {stack.proc_logs}"
                )
            try:
                return requests.get(f"{base}/api/v2/monitor/health", timeout=2).ok
            except requests.RequestException:
                return False

        wait_for("the signed-in api-server", healthy, 120)
        answer = requests.post(
            f"{base}/auth/token", json={"username": "reader", "password": password}, timeout=10
        )
        assert answer.status_code in (200, 201), answer.text
        yield base, answer.json()["access_token"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def tab_url(base: str, view: dict[str, Any], task_id: str, map_index: int | None = None) -> str:
    """The tab's address as the UI makes it: placeholders URI-encoded, an unmapped task's {MAP_INDEX} left as is,
    relative to the UI's base."""
    href = (
        view["href"].replace("{DAG_ID}", quote(DAG_ID, safe="")).replace("{RUN_ID}", quote(RUN_ID, safe=""))
    )
    href = href.replace("{TASK_ID}", quote(task_id, safe=""))
    if map_index is not None:
        href = href.replace("{MAP_INDEX}", str(map_index))
    assert not urlsplit(href).scheme and not href.startswith("/"), href
    return f"{base}/{href}"


@pytest.fixture(scope="module")
def report_run(stack: Stack) -> Iterator[dict[str, Any]]:
    """One finished ``stack_report`` run, shared by this module's tests (the HTTP check and the browser's).

    :return: its ``labeling_report`` task's headline numbers (the XCom).
    """
    stack.emulator.configure(crowd=10, crowd_accuracy=0.9, time_scale=3600, seed=7)
    try:
        stack.trigger(DAG_ID, RUN_ID, {"out_dir": str(stack.home / "reports")})
        state = stack.wait_run(DAG_ID, RUN_ID, timeout=300)
    finally:
        stack.emulator.restore_config()
    assert state == "success", stack.task_states(DAG_ID, RUN_ID)
    (headline,) = stack.xcom(DAG_ID, RUN_ID, "labeling_report")
    yield headline


def test_the_report_tab_serves_the_report_to_signed_in_users_only(
    stack: Stack, report_run: dict[str, Any]
) -> None:
    report = Path(report_run["report_path"].removeprefix("file://")).read_bytes()
    assert report_run["labels"] == 60 and b"Labeling report: pool" in report

    with signed_in_api_server(stack) as (api, token):
        check_the_tab(api, token, report)


def check_the_tab(api: str, token: str, report: bytes) -> None:
    bearer = {"Authorization": f"Bearer {token}"}
    plugins = requests.get(f"{api}/api/v2/plugins", headers=bearer, timeout=10).json()["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "toloka"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/toloka"]
    (view,) = plugin["external_views"]
    assert view["name"] == "Labeling report" and view["destination"] == "task_instance", view
    assert "airflow_toloka.plugins.report_tab:TolokaReportPlugin" in plugin["source"], plugin["source"]
    assert "group='airflow.plugins'" in plugin["source"], plugin["source"]

    url = tab_url(api, view, "labeling_report")
    # The UI's session cookie, as the tab's iframe sends it, and an API client's bearer token.
    for auth in ({"cookies": {"_token": token}}, {"headers": bearer}):
        answer = requests.get(url, timeout=30, **auth)  # type: ignore[arg-type]
        assert answer.status_code == 200, answer.text[:500]
        assert answer.content == report
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["content-security-policy"] == REPORT_CSP

    # Nobody signed in, or a forged token: refused, and nothing of the report is sent.
    for auth in ({}, {"cookies": {"_token": "forged"}}, {"headers": {"Authorization": "Bearer forged"}}):
        answer = requests.get(url, timeout=30, **auth)  # type: ignore[arg-type]
        assert answer.status_code in (401, 403), (auth, answer.status_code)
        assert b"Labeling report: pool" not in answer.content

    # Another task's tab, and a map index this task does not have: a small page saying there is no report.
    for other in (tab_url(api, view, "aggregate"), tab_url(api, view, "labeling_report", map_index=3)):
        answer = requests.get(other, headers=bearer, timeout=30)
        assert answer.status_code == 404 and "No labeling report for this task." in answer.text, answer.text


def report_cards(browser: Browser) -> dict[str, str]:
    """The report's number cards as the page shows them: what each counts -> its number."""
    cards = browser.driver.find_elements(By.CSS_SELECTOR, ".card")
    return {c.find_element(By.TAG_NAME, "span").text: c.find_element(By.TAG_NAME, "b").text for c in cards}


def test_the_report_tab_shows_the_report_in_the_ui(
    stack: Stack, report_run: dict[str, Any], browser: Browser
) -> None:
    """The tab a person clicks, in headless Chromium: the report inside the UI's iframe, its numbers the task's.

    Its two screenshots are the README's (docs/images/report-tab.png and docs/images/labeling-report.png).
    """
    quoted = "/".join(quote(part, safe="") for part in (DAG_ID, "runs", RUN_ID, "tasks", "labeling_report"))
    browser.open(f"/dags/{quoted}")
    browser.click_text("Labeling report")
    assert browser.url.endswith("/plugin/toloka-labeling-report"), browser.url
    frame = browser.element("iframe[src*='toloka/report']")
    src = str(frame.get_attribute("src"))
    browser.driver.switch_to.frame(frame)
    try:
        heading = browser.element("h1")
        assert heading.text == f"Labeling report: pool {report_run['pool_id']}", heading.text
        cards = browser.wait_for("the report's numbers", lambda: report_cards(browser))
        assert cards["labels"] == str(report_run["labels"]), cards
        assert cards["answers"] == str(report_run["answers"]), cards
        assert cards[f"tasks (and {report_run['control_tasks']} control)"] == str(report_run["tasks"]), cards
    finally:
        browser.driver.switch_to.default_content()
    tab = browser.screenshot("report-tab")
    print(f"screenshot: {tab}")

    # The iframe's page on its own, as the README shows the report.
    browser.open(src)
    browser.wait_text(f"Labeling report: pool {report_run['pool_id']}")
    page = browser.screenshot("labeling-report")
    print(f"screenshot: {page}")
