"""The Airflow UI's Test button (``TolokaHook.test_connection``): one attempt, a short timeout, an answer in words."""

from __future__ import annotations

import json
import socket

import pytest

from airflow_toloka.hooks import base
from airflow_toloka.hooks.toloka import TolokaHook
from tests.unit.scripted_server import TOKEN, Reply, ScriptedServer

REQUESTER = {"id": "r-1", "public_name": {"EN": "Lab team"}}


def test_success_says_where_and_as_whom(server: ScriptedServer) -> None:
    server.script("GET /api/v1/requester", Reply(200, REQUESTER))
    assert TolokaHook().test_connection() == (True, f"Connected to Toloka at {server.url} as Lab team.")


def test_a_failing_toloka_is_asked_once_not_retried(server: ScriptedServer) -> None:
    # a GET is normally retried on 503 for minutes; a person waiting on the Test button gets the first answer
    server.script(
        "GET /api/v1/requester", Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE", "message": "try later"})
    )
    ok, message = TolokaHook(retry_delay=0.01).test_connection()
    assert not ok and "REMOTE_SERVICE_UNAVAILABLE" in message and "try later" in message
    assert server.count("GET /api/v1/requester") == 1


def test_the_test_waits_at_most_the_test_timeout(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[object] = []
    send = base.BaseTolokaHook._send

    def spy(self: base.BaseTolokaHook, request: base.Request) -> object:
        seen.append((self.timeout, self.retry_limit, request.budget))
        return send(self, request)

    monkeypatch.setattr(base.BaseTolokaHook, "_send", spy)
    server.script("GET /api/v1/requester", Reply(200, REQUESTER))
    TolokaHook(timeout=60, retry_limit=8).test_connection()
    assert seen == [(base.TEST_TIMEOUT, 0, base.TEST_TIMEOUT)]


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (401, "AUTHENTICATION_ERROR", "does not accept this API token"),
        (403, "ACCESS_DENIED", "refused this API token access"),
    ],
)
def test_a_refused_token_is_said_with_tolokas_own_message(
    server: ScriptedServer, status: int, code: str, words: str
) -> None:
    server.script(
        "GET /api/v1/requester",
        Reply(status, {"code": code, "message": "Toloka says no", "request_id": "rq-9"}),
    )
    ok, message = TolokaHook().test_connection()
    assert not ok and words in message
    assert code in message and "Toloka says no" in message and "rq-9" in message
    assert TOKEN not in message


def test_nothing_listening_is_said_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = {"conn_type": "toloka", "host": f"http://127.0.0.1:{port}", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    ok, message = TolokaHook().test_connection()
    assert (ok, message) == (
        False,
        f"Could not reach Toloka at http://127.0.0.1:{port}: connection refused (nothing listens at that address).",
    )


def test_an_unknown_host_is_said_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    # .invalid never resolves (RFC 2606): no request leaves the machine
    conn = {"conn_type": "toloka", "host": "https://toloka.invalid", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    assert TolokaHook().test_connection() == (
        False,
        "Could not reach Toloka at https://toloka.invalid: host name not found.",
    )


def test_a_connection_without_a_token_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps({"conn_type": "toloka"}))
    ok, message = TolokaHook().test_connection()
    assert not ok and "has no API token" in message
