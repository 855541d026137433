"""Airflow's web UI in Debian's headless Chromium, driven through selenium, for stack tests.

Nothing is downloaded: ``chromium`` and ``chromium-driver`` come from Debian (installed with apt-get if missing, as
``conftest.py`` installs PostgreSQL), and selenium is pointed at ``/usr/bin/chromedriver`` so selenium-manager
never runs. The ``browser`` fixture (``tests/stack/conftest.py``) is one :class:`Browser` per session, on the
session's stack (simple auth manager, all admins: no login page).

Use it in a stack test::

    def test_my_tab(stack: Stack, browser: Browser) -> None:
        browser.open(f"/dags/{dag_id}/runs/{run_id}/tasks/{task_id}")
        browser.click_text("Labeling report")          # a tab, button or link, by its visible text
        browser.wait_text("Accuracy")                  # wait on what a person would see
        print(browser.screenshot("labeling-report"))   # .artifacts/screenshots/labeling-report.png

Screenshots go to ``.artifacts/screenshots/`` in the repository (gitignored; CI keeps it); a failing test's
report names the directory. Waits poll the page (``wait_for``), never sleep a fixed time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# What works in a container without a GPU, a sandbox or a network: no first-run, sync, update or QUIC traffic.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
)
T = TypeVar("T")


def ensure_chromium() -> None:
    """Install Debian's chromium and its chromedriver when missing (root only), never a downloaded browser."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    from tests.stack.conftest import apt_install

    apt_install("chromium")
    apt_install("chromium-driver")


class Browser:
    """One headless Chromium on the Airflow UI at ``base_url``, with waits that poll the page.

    :param base_url: the api-server, e.g. ``http://127.0.0.1:8080``.
    :param timeout: default seconds a wait polls before failing.
    """

    def __init__(self, base_url: str, timeout: float = 30) -> None:
        ensure_chromium()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.profile = Path(tempfile.mkdtemp(prefix="toloka-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        service = Service(executable_path=str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(60)

    def close(self) -> None:
        """Quit Chromium and delete its profile."""
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # ------------------------------------------------------------------ navigation

    def open(self, path: str) -> None:
        """Load a page of the UI.

        :param path: a path under the api-server (``/connections``) or a full URL.
        """
        self.driver.get(path if "://" in path else self.base_url + path)

    @property
    def url(self) -> str:
        """The page's current URL."""
        return str(self.driver.current_url)

    def text(self) -> str:
        """All the text the page shows."""
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    # ------------------------------------------------------------------ waiting

    def wait_for(self, what: str, check: Callable[[], T | None], timeout: float | None = None) -> T:
        """Poll ``check`` until it returns something truthy; elements that go stale meanwhile count as not yet.

        :param what: said in the failure.
        :param check: returns the value waited for, or something falsy.
        :param timeout: seconds (default: the browser's).
        :return: the value.
        :raises TimeoutError: naming ``what``, with the page's text.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                value = check()
            except (StaleElementReferenceException, ElementClickInterceptedException):
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}; the page shows:\n{self.text()[:3000]}")
            time.sleep(0.2)

    def wait_text(self, text: str, timeout: float | None = None) -> None:
        """Wait until the page shows ``text``.

        :param text: visible text.
        :param timeout: seconds (default: the browser's).
        """
        self.wait_for(repr(text), lambda: text in self.text(), timeout)

    def find_text(self, text: str, tag: str = "*", exact: bool = True) -> list[WebElement]:
        """The displayed elements whose own text is ``text`` (or contains it).

        :param text: the text.
        :param tag: limit to this tag (``button``, ``a``, ``label`` ...).
        :param exact: whole text (default) or a part of it.
        :return: the elements, innermost first.
        """
        literal = _xpath_literal(text)
        test = f"normalize-space(.)={literal}" if exact else f"contains(normalize-space(.), {literal})"
        found = self.driver.find_elements(By.XPATH, f"//{tag}[{test}]")
        return [e for e in reversed(found) if e.is_displayed()]

    def click_text(self, text: str, tag: str = "*", timeout: float | None = None) -> WebElement:
        """Wait for an element showing ``text`` and click it (the innermost one that takes the click).

        :param text: its visible text.
        :param tag: limit to this tag.
        :param timeout: seconds (default: the browser's).
        :return: the element clicked.
        """

        def click() -> WebElement | None:
            for element in self.find_text(text, tag):
                try:
                    element.click()
                    return element
                except (ElementClickInterceptedException, WebDriverException):
                    continue
            return None

        return self.wait_for(f"a clickable {text!r}", click, timeout)

    def element(self, css: str, timeout: float | None = None) -> WebElement:
        """Wait for a displayed element matching a CSS selector.

        :param css: the selector.
        :param timeout: seconds (default: the browser's).
        :return: the first displayed match.
        """

        def find() -> WebElement | None:
            return next(
                (e for e in self.driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None
            )

        return self.wait_for(css, find, timeout)

    def click(self, css: str, timeout: float | None = None) -> WebElement:
        """Wait for a displayed element matching a CSS selector and click it, once nothing covers it (an
        accordion or a dialog still opening).

        :param css: the selector.
        :param timeout: seconds (default: the browser's).
        :return: the element clicked.
        """

        def click() -> WebElement:
            element = self.element(css, timeout)
            self.js("arguments[0].scrollIntoView({block: 'center'})", element)
            element.click()
            return element

        return self.wait_for(f"a clickable {css}", click, timeout)

    def js(self, script: str, *args: Any) -> Any:
        """Run JavaScript in the page.

        :param script: the function body (``return ...``).
        :param args: its ``arguments``.
        :return: what it returns.
        """
        return self.driver.execute_script(script, *args)

    # ------------------------------------------------------------------ artifacts

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        """Save what the window shows as ``.artifacts/screenshots/<name>.png``.

        :param name: the file's stem.
        :param full_page: grow the window to the page's height first (long pages).
        :return: the file.
        """
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        size = self.driver.get_window_size()
        if full_page:
            height = int(self.js("return document.documentElement.scrollHeight"))
            self.driver.set_window_size(size["width"], max(size["height"], min(height, 4000)))
        try:
            self.driver.save_screenshot(str(path))
        finally:
            if full_page:
                self.driver.set_window_size(size["width"], size["height"])
        return path


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"
