"""The "Toloka pool" link reads the pool's project from Toloka once, and a failed read costs no more than a link."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import requests

from airflow_toloka.operators.links import pool_page, pool_project_id


def test_the_link_opens_the_emulators_pool_page(toloka_emulator: Any, toloka_emulator_conn: str) -> None:
    project = pool_project_id("toloka_default", "3")
    assert project == "1"
    page = requests.get(pool_page(toloka_emulator.url, project, "3"))
    assert page.status_code == 200 and "<h1>Toloka pool 3</h1>" in page.text


def test_a_refused_or_unreachable_lookup_leaves_the_link_out(
    toloka_emulator: Any, toloka_emulator_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    toloka_emulator.configure(token="another-token")
    assert pool_project_id("toloka_default", "3") is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = {"conn_type": "toloka", "host": f"http://127.0.0.1:{port}", "password": "any-token"}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DOWN", json.dumps(conn))
    assert pool_project_id("toloka_down", "3") is None
    assert pool_project_id("no_such_connection", "3") is None
