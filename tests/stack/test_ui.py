"""What a user sees of the provider in Airflow's web UI, in Debian's headless Chromium (tests/stack/browser.py).

The connection form, its Test button, the labeling pipeline's run in the grid (deferred tasks included), a
finished upload's extra links and the pages they open, and the Providers page. Screenshots are kept in
``.artifacts/screenshots/`` (each test prints which).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from airflow_toloka.get_provider_info import DOCUMENTATION_URL
from tests.stack.browser import Browser
from tests.stack.conftest import DENIED_TOKEN, STALE_EVENT_WINDOW, TOKEN, Stack
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.stack
LABELING = "toloka_labeling_pipeline"


def api(stack: Stack, method: str, path: str, **kwargs: Any) -> Any:
    """The stack's REST API (all admins: no token needed)."""
    resp = requests.request(method, f"http://127.0.0.1:{stack.api_port}/api/v2{path}", timeout=30, **kwargs)
    assert resp.ok, resp.text
    return resp.json()


def shot(browser: Browser, name: str, shots: list[Path], **kwargs: Any) -> None:
    shots.append(browser.screenshot(name, **kwargs))
    print(f"screenshot: {shots[-1]}")


def toasts(browser: Browser) -> list[str]:
    roots = browser.driver.find_elements(By.CSS_SELECTOR, "[data-scope=toast][data-part=root]")
    return [t.text for t in roots if t.text]


def dismiss_toasts(browser: Browser) -> None:
    for close in browser.driver.find_elements(
        By.CSS_SELECTOR, "[data-scope=toast] [data-part=close-trigger]"
    ):
        close.click()
    browser.wait_for("the toasts to close", lambda: not toasts(browser))


# ---------------------------------------------------------------------------------------------- connections


def test_the_connection_form(stack: Stack, browser: Browser) -> None:
    shots: list[Path] = []
    browser.open("/connections")
    browser.click_text("Add Connection", tag="button")
    kind = browser.element("input[role=combobox]")
    kind.send_keys("Toloka")
    browser.wait_for("the Toloka connection type", lambda: browser.find_text("Toloka"))
    kind.send_keys(Keys.ENTER)
    browser.wait_text("API token")
    labels = [
        e.text.strip(" *") for e in browser.driver.find_elements(By.TAG_NAME, "label") if e.is_displayed()
    ]
    assert {"API token", "Other API URL"} <= set(labels), labels
    assert not {"Host", "Port", "Login", "Schema", "URL override"} & set(labels), labels
    token = browser.element("input[name=password]")
    assert token.get_attribute("type") == "password"  # masked while typed
    host = browser.element("input[name=host]")
    assert host.get_attribute("placeholder") == (
        "Empty for Toloka; the emulator: http://127.0.0.1:8765 (/api/v1 optional)"
    )
    browser.element("input[name=connection_id]").send_keys("toloka_ui_form")
    host.send_keys(stack.emulator.url)
    token.send_keys(TOKEN)
    shot(browser, "connection-form", shots)

    browser.click_text("Extra Fields")
    browser.click("#element_environment input[role=combobox]")
    options = browser.wait_for(
        "the Environment options",
        lambda: [o.text for o in browser.driver.find_elements(By.CSS_SELECTOR, "[role=option]")],
    )
    assert options == ["Production (https://toloka.dev)", "Sandbox (https://sandbox.toloka.dev)"]  # no "null"
    help_text = (
        "Which Toloka: Production (https://toloka.dev) when empty, or Sandbox (https://sandbox.toloka.dev). "
        "Ignored when Other API URL is set."
    )
    assert help_text in browser.text()
    shot(browser, "connection-form-environment", shots)
    browser.click_text("Environment", tag="label")  # closes the menu choosing nothing
    browser.wait_for(
        "the menu to close", lambda: not browser.driver.find_elements(By.CSS_SELECTOR, "[role=option]")
    )
    browser.click_text("Save", tag="button")
    # the dialog holds what was typed until it closes: wait for the list alone, not for the row under the dialog
    browser.wait_for(
        "the saved connection in the list, the form closed",
        lambda: (
            browser.find_text("toloka_ui_form")
            and not browser.driver.find_elements(By.CSS_SELECTOR, "input[name=password]")
        ),
    )

    saved = api(stack, "GET", "/connections/toloka_ui_form")
    assert (saved["conn_type"], saved["host"], saved["password"]) == ("toloka", stack.emulator.url, "***")
    # an emulator connection saves no environment, and the list never shows the token
    assert json.loads(saved["extra"] or "{}").get("environment") is None
    assert TOKEN not in browser.driver.page_source
    shot(browser, "connection-list", shots)


def test_the_test_button_answers_in_words(stack: Stack, browser: Browser) -> None:
    # Airflow 3.3.2's list sends port 0 for a connection without a port and refuses it ("Bad Request",
    # apache/airflow#73298): these connections carry the port separately, as `airflow connections add
    # --conn-host 127.0.0.1 --conn-port ...` would.
    shots: list[Path] = []
    port = lambda url: int(url.rsplit(":", 1)[1])  # noqa: E731
    cases = {
        "toloka_ui_ok": (
            port(stack.emulator.url),
            TOKEN,
            "Test Connection Successful\n"
            f"Connected to Toloka at http://127.0.0.1:{port(stack.emulator.url)} as Emulator requester.",
        ),
        "toloka_ui_denied": (
            port(stack.strict.url),
            DENIED_TOKEN,
            "Test Connection Failed\n"
            f"Toloka at http://127.0.0.1:{port(stack.strict.url)} refused this API token access to the "
            "requester. Toloka API error 403 ACCESS_DENIED: Access denied (request_id=",
        ),
        "toloka_ui_down": (
            stack.down_port,
            TOKEN,
            "Test Connection Failed\n"
            f"Could not reach Toloka at http://127.0.0.1:{stack.down_port}: connection refused (nothing listens "
            "at that address).",
        ),
    }
    for conn_id, (conn_port, password, _) in cases.items():
        body = {
            "connection_id": conn_id,
            "conn_type": "toloka",
            "host": "http://127.0.0.1",
            "port": conn_port,
        }
        api(stack, "POST", "/connections", json={**body, "password": password})
    browser.open("/connections")
    for conn_id, (_, _, expected) in cases.items():
        row = browser.wait_for(
            f"the row of {conn_id}",
            lambda c=conn_id: browser.driver.find_elements(By.XPATH, f"//tr[.//*[normalize-space(.)='{c}']]"),
        )[0]
        row.find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']").click()
        # the hook answers within its TEST_TIMEOUT (5 s); the wait only bounds a broken UI
        (said,) = browser.wait_for(f"the answer for {conn_id}", lambda: toasts(browser), timeout=20)
        shot(browser, f"connection-test-{conn_id}", shots)
        assert said.startswith(expected), said
        assert TOKEN not in said and "Max retries" not in said and "Errno" not in said
        dismiss_toasts(browser)


# ---------------------------------------------------------------------------------------------- a run


def deferred_in_grid(stack: Stack, browser: Browser, run_id: str) -> str | None:
    """Hover the grid's cell of a task the metadata DB has deferred; its tooltip, once it says so.

    The grid refreshes on its own schedule: a cell may still show the state before, so a tooltip that does not
    say Deferred within a few seconds is let go, and the next check hovers again.
    """
    states = stack.task_states(LABELING, run_id)
    deferred = [t for t, (state, _) in states.items() if state == "deferred"]
    if not deferred:
        return None
    cell = browser.element(f"#grid-{run_id}-{deferred[0]}")
    ActionChains(browser.driver).move_to_element(cell).perform()

    def says_deferred() -> str | None:
        tips = [t.text for t in browser.driver.find_elements(By.CSS_SELECTOR, "[role=tooltip]") if t.text]
        return next((t for t in tips if f"Task ID: {deferred[0]}\nState: Deferred" in t), None)

    try:
        return browser.wait_for("the tooltip", says_deferred, timeout=5)
    except TimeoutError:
        body = browser.driver.find_element(By.TAG_NAME, "body")  # its middle is the run's panel, not the grid
        ActionChains(browser.driver).move_to_element(body).perform()
        return None


def test_the_labeling_run_in_the_grid_and_its_extra_links(
    stack: Stack, stack_emulator: EmulatorProcess, browser: Browser
) -> None:
    shots: list[Path] = []
    run_id = "stack_ui_labeling"
    # operations stay PENDING a while, so the uploads sit deferred long enough to be looked at
    stack_emulator.configure(
        crowd=10, crowd_accuracy=0.9, time_scale=300, seed=7, pending_seconds=STALE_EVENT_WINDOW + 2
    )
    api(stack, "PATCH", f"/dags/{LABELING}", json={"is_paused": False})
    conf = {"out_dir": str(stack.home / "ui-labels")}
    api(
        stack,
        "POST",
        f"/dags/{LABELING}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": None, "conf": conf},
    )

    browser.open(f"/dags/{LABELING}/runs/{run_id}")
    tooltip = browser.wait_for(
        "a task the grid shows deferred", lambda: deferred_in_grid(stack, browser, run_id), 240
    )
    assert "State: Deferred" in tooltip and f"Run ID: {run_id}" in tooltip, tooltip
    shot(browser, "grid-deferred", shots)

    assert stack.wait_run(LABELING, run_id, timeout=420) == "success", stack.task_states(LABELING, run_id)
    browser.open(f"/dags/{LABELING}/runs/{run_id}")
    browser.wait_text("Success")
    shot(browser, "grid-success", shots)

    # a finished upload's extra links, as the task's Details tab shows them
    browser.open(f"/dags/{LABELING}/runs/{run_id}/tasks/upload_control_tasks/details")
    browser.wait_text("Extra Links")
    (pool_id,) = stack.xcom(LABELING, run_id, "upload_control_tasks", "pool_ids")[0]
    (operation_id,) = stack.xcom(LABELING, run_id, "upload_control_tasks", "operation_ids")[0]
    headers = {"Authorization": f"OAuth {TOKEN}"}
    project_id = requests.get(
        f"{stack.emulator.url}/api/v1/pools/{pool_id}", headers=headers, timeout=10
    ).json()["project_id"]
    expected = {
        "Toloka pool": f"{stack.emulator.url}/requester/project/{project_id}/pool/{pool_id}",
        "Toloka operation": f"{stack.emulator.url}/requester/operation/{operation_id}",
    }
    links = browser.wait_for(
        "both extra links",
        lambda: (
            {n: a[0].get_attribute("href") for n in expected if (a := browser.find_text(n, tag="a"))}
            if all(browser.find_text(n, tag="a") for n in expected)
            else None
        ),
    )
    assert links == expected
    shot(browser, "extra-links", shots)

    # each opens a page a person can read, not an API endpoint that wants a token
    browser.open(links["Toloka pool"])
    browser.wait_text(f"Toloka pool {pool_id}")
    assert "Status CLOSED" in browser.text() and "Close reason COMPLETED" in browser.text()
    shot(browser, "emulator-pool-page", shots)
    browser.open(links["Toloka operation"])
    browser.wait_text(f"Toloka operation {operation_id}")
    assert "Status SUCCESS" in browser.text()
    shot(browser, "emulator-operation-page", shots)


# ---------------------------------------------------------------------------------------------- providers


def test_the_providers_page(stack: Stack, browser: Browser) -> None:
    shots: list[Path] = []
    browser.open("/providers")
    (name,) = browser.wait_for("the provider's row", lambda: browser.find_text("airflow-toloka", tag="a"))
    assert name.get_attribute("href") == DOCUMENTATION_URL
    row = name.find_element(By.XPATH, "./ancestor::tr[1]")
    assert "Run Toloka labeling pipelines: projects and pools" in row.text and "[Toloka]" not in row.text
    assert row.find_element(By.XPATH, ".//a[normalize-space(.)='https://toloka.ai']")  # a link, not markdown
    shot(browser, "providers", shots)
