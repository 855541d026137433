"""Unit-test fixtures: a scripted loopback Toloka that the default connection points at."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.unit.scripted_server import TOKEN, ScriptedServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    conn = {"conn_type": "toloka", "host": srv.url, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    yield srv
    srv.close()
