"""BaseTolokaHook: connection handling, auth, retries and error mapping, over real loopback HTTP."""

from __future__ import annotations

import gc
import json
import socket
import sys
import time
import traceback
from typing import Any

import httpx
import pytest
import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError

from airflow_toloka.exceptions import (
    TolokaAuthenticationError,
    TolokaError,
    TolokaRemoteUnavailableError,
)
from airflow_toloka.hooks._loop_shared import MAX_SHARED_REQUESTS
from airflow_toloka.hooks.base import Request, _never_sent_async, _never_sent_sync
from airflow_toloka.hooks.connection import ConnectionSettings, auth_header
from airflow_toloka.hooks.toloka import TolokaHook
from tests.unit.hooks.common import OP, fast_hook
from tests.unit.scripted_server import TOKEN, Reply, ScriptedServer


def test_the_worker_path_registers_the_token_with_the_masker_itself(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README promises a masked token; some Airflow versions mask fetched passwords on their own, so the
    provider's own call is what this watches, not the masked output."""
    import airflow.sdk.log as sdk_log

    masked: list[Any] = []
    monkeypatch.setattr(sdk_log, "mask_secret", lambda secret, name=None: masked.append(secret))
    hook = fast_hook()
    hook.resolve_connection()
    hook.resolve_connection()  # read once per hook
    assert masked == [TOKEN]


def test_auth_header_follows_tolokas_client_rule() -> None:
    assert auth_header("LrB_oHKYMtXeD-BoVFWTwi.nfNC.abcdef") == "ApiKey LrB_oHKYMtXeD-BoVFWTwi.nfNC.abcdef"
    assert auth_header("y0_AgAAAAA") == "OAuth y0_AgAAAAA"
    assert auth_header("a.b.c") == "OAuth a.b.c"  # two dots, but the first not at 22-24
    assert auth_header("ApiKey abc") == "ApiKey abc"
    assert auth_header("OAuth abc") == "OAuth abc"


@pytest.mark.parametrize(
    ("conn", "base_url"),
    [
        ({"conn_type": "toloka", "password": "t"}, "https://toloka.dev"),
        (
            {"conn_type": "toloka", "password": "t", "extra": {"environment": "sandbox"}},
            "https://sandbox.toloka.dev",
        ),
        (
            {"conn_type": "toloka", "password": "t", "extra": {"url": "https://proxy.example/api/v1/"}},
            "https://proxy.example",
        ),
        (
            {
                "conn_type": "toloka",
                "password": "t",
                "host": "http://127.0.0.1:8765",
                "extra": {"environment": "SANDBOX"},
            },
            "http://127.0.0.1:8765",
        ),
        (
            {"conn_type": "toloka", "password": "t", "host": "127.0.0.1", "port": 8765},
            "http://127.0.0.1:8765",
        ),
    ],
)
def test_base_url_resolution(monkeypatch: pytest.MonkeyPatch, conn: dict, base_url: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    assert TolokaHook().base_url == base_url


def test_uri_form_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", "toloka://:tok@/?environment=SANDBOX")
    assert TolokaHook().base_url == "https://sandbox.toloka.dev"


@pytest.mark.parametrize(
    ("conn", "message"),
    [
        ({"conn_type": "toloka"}, "has no API token"),
        (
            {"conn_type": "toloka", "password": "t", "extra": {"environment": "STAGING"}},
            "'environment' is 'STAGING'",
        ),
        ({"conn_type": "toloka", "password": "t", "host": "ftp://x"}, "not a valid http"),
    ],
)
def test_bad_connection_is_explained(monkeypatch: pytest.MonkeyPatch, conn: dict, message: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    with pytest.raises(TolokaError, match=message):
        TolokaHook().base_url  # noqa: B018


def test_connection_not_loaded_in_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_TOLOKA_DEFAULT", raising=False)
    hook = TolokaHook("does_not_exist")  # must not raise: hooks are built during parsing and in triggers
    assert "does_not_exist" in repr(hook)


def test_retries_429_honouring_retry_after(server: ScriptedServer) -> None:
    server.script(
        "GET /api/v1/operations/op-1",
        Reply(429, {"code": "TOO_MANY_REQUESTS", "message": "slow down"}, {"Retry-After": "0.2"}),
        Reply(200, OP),
    )
    assert fast_hook().get_operation("op-1").status == "SUCCESS"
    assert server.count("GET /api/v1/operations/op-1") == 2


def test_retries_5xx_on_idempotent_requests_then_gives_up(server: ScriptedServer) -> None:
    server.script(
        "GET /api/v1/operations/op-1", Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE", "message": "x"})
    )
    with pytest.raises(TolokaRemoteUnavailableError, match="REMOTE_SERVICE_UNAVAILABLE"):
        fast_hook(retry_limit=2).get_operation("op-1")
    assert server.count("GET /api/v1/operations/op-1") == 3


def test_never_retries_callers_4xx(server: ScriptedServer) -> None:
    server.script(
        "GET /api/v1/requester",
        Reply(401, {"code": "AUTHENTICATION_ERROR", "message": "bad token", "request_id": "rq-9"}),
    )
    ok, message = fast_hook().test_connection()
    assert not ok and "AUTHENTICATION_ERROR" in message and "rq-9" in message
    with pytest.raises(TolokaAuthenticationError) as info:
        fast_hook()._request("GET", "/api/v1/requester")
    assert info.value.http_status == 401 and server.count("GET /api/v1/requester") == 2
    assert TOKEN not in str(info.value)


def test_unreachable_toloka_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": f"http://127.0.0.1:{port}", "password": TOKEN}),
    )
    with pytest.raises(
        TolokaRemoteUnavailableError, match=rf"could not reach Toloka at http://127.0.0.1:{port}"
    ):
        fast_hook(retry_limit=2).get_operation("x")


async def test_async_twin_reads_operation_and_closes_client(server: ScriptedServer) -> None:
    server.script(
        "GET /api/v1/operations/op-1", Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}), Reply(200, OP)
    )
    async with fast_hook() as hook:
        op = await hook.aget_operation("op-1")
        assert op.status == "SUCCESS"
    assert hook._alease is None
    assert server.requests[-1].headers["Authorization"] == f"OAuth {TOKEN}"


UNAVAILABLE = Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"})


async def test_async_retries_follow_the_same_policy_and_give_back_every_slot(server: ScriptedServer) -> None:
    # The first attempt is made without the retry policy; a failure builds it and counts as its first attempt.
    server.script("GET /api/v1/operations/op-1", UNAVAILABLE)
    async with fast_hook(retry_limit=2) as hook:
        with pytest.raises(TolokaRemoteUnavailableError):
            await hook.aget_operation("op-1")
        assert server.count("GET /api/v1/operations/op-1") == 3  # one try and retry_limit retries
        server.script("POST /api/v1/x", Reply(500, {"code": "INTERNAL_ERROR"}))
        with pytest.raises(TolokaError):
            await hook._arequest("POST", "/api/v1/x", body=b"{}")
        assert server.count("POST /api/v1/x") == 1  # Toloka may have acted on it: not repeated
        assert hook._alease is not None
        slots = hook._alease.slots
    assert slots._value == MAX_SHARED_REQUESTS


async def test_the_retry_budget_counts_the_first_attempt(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/op-1", UNAVAILABLE, Reply(200, OP))
    async with fast_hook(retry_budget=0.0) as hook:
        with pytest.raises(TolokaRemoteUnavailableError):
            await hook.aget_operation("op-1")
    assert server.count("GET /api/v1/operations/op-1") == 1


async def test_a_successful_async_request_leaves_no_cyclic_garbage(server: ScriptedServer) -> None:
    # What a poll leaves for the collector decides how often a triggerer's loop stalls for a full collection
    # (docs/performance.md, "Pool triggers"): no retry policy is built, and httpx's response-stream cycle is cut.
    server.script("GET /api/v1/operations/op-1", Reply(200, OP))
    async with fast_hook() as hook:
        await hook.aget_operation("op-1")  # the shared client and settings exist before counting
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(20):
                await hook.aget_operation("op-1")
            gc.collect()
            left = {f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage}
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    # The scripted server closes every connection (HTTP/1.0): only closed sockets' transports may be left.
    assert not [kind for kind in left if kind.startswith(("httpx", "httpcore", "tenacity", "airflow_toloka"))]


def test_token_is_not_in_repr_or_settings() -> None:
    assert TOKEN not in repr(ConnectionSettings("http://x", auth_header(TOKEN)))


def test_ids_cannot_change_the_endpoint(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/..%2Frequester", Reply(200, OP))
    fast_hook().get_operation("../requester")
    assert server.requests[-1].path == "/api/v1/operations/..%2Frequester"


def test_non_json_success_body_is_an_error(server: ScriptedServer) -> None:
    server.script("GET /api/v1/requester", Reply(200, raw=b"<html>proxy login</html>"))
    with pytest.raises(TolokaRemoteUnavailableError, match="not JSON"):
        fast_hook(retry_limit=1)._request("GET", "/api/v1/requester")
    assert server.count("GET /api/v1/requester") == 2  # an idempotent GET is retried once, then fails clearly


def _requests_failure(reason: BaseException) -> requests.ConnectionError:
    # What requests raises when urllib3 gives up: its MaxRetryError carries the cause as ``reason``.
    return requests.ConnectionError(MaxRetryError(None, "/api/v1/tasks", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "never_sent"),
    [
        (_requests_failure(NewConnectionError(None, "refused")), True),  # type: ignore[arg-type]
        (_requests_failure(NameResolutionError("toloka.dev", None, "DNS")), True),  # type: ignore[arg-type]
        (requests.ConnectTimeout("connect"), True),
        (_requests_failure(ProtocolError("connection dropped mid-response")), False),
        (requests.ReadTimeout("read"), False),
        (requests.ConnectionError("no cause"), False),
    ],
)
def test_sync_transport_tells_never_sent_by_exception_type(exc: BaseException, never_sent: bool) -> None:
    assert _never_sent_sync(exc) is never_sent


@pytest.mark.parametrize(
    ("exc", "never_sent"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("connect"), True),
        (httpx.ReadTimeout("read"), False),
        (httpx.RemoteProtocolError("dropped"), False),
    ],
)
def test_async_transport_tells_never_sent_by_exception_type(exc: BaseException, never_sent: bool) -> None:
    assert _never_sent_async(exc) is never_sent


def test_a_post_that_never_left_is_retried_and_one_that_may_have_is_not(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    server.script("POST /api/v1/x", Reply(200, {"ok": True}))
    hook = fast_hook(retry_limit=3)
    session = hook.get_conn()
    real = session.request
    failures = [_requests_failure(NameResolutionError("toloka.dev", None, "DNS"))]  # type: ignore[arg-type]

    def flaky(*args: Any, **kwargs: Any) -> requests.Response:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(session, "request", flaky)
    assert hook._request("POST", "/api/v1/x", body=b"{}") == {"ok": True}  # a DNS failure sent nothing
    failures.append(_requests_failure(ProtocolError("dropped")))
    with pytest.raises(TolokaRemoteUnavailableError, match="could not reach Toloka"):
        hook._request("POST", "/api/v1/x", body=b"{}")  # Toloka may have acted: not repeated
    assert server.count("POST /api/v1/x") == 1


def test_request_defaults_only_get_to_idempotent() -> None:
    assert Request("GET", "/x").safe and not Request("POST", "/x").safe
    assert Request("POST", "/x", idempotent=True).safe and not Request("GET", "/x", idempotent=False).safe
    assert Request("POST", "/x", {"a": True, "b": None, "c": 3}, b"{}").query == {"a": "true", "c": "3"}
    assert Request("GET", "/x").headers is None
    assert Request("POST", "/x", body=b"[]").headers == {"Content-Type": "application/json"}


def test_with_block_closes_the_session(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/op-1", Reply(200, OP))
    with fast_hook() as hook:
        session = hook.get_conn()
        assert hook.get_operation("op-1").id == "op-1"
        adapter = session.get_adapter(server.url)
        assert adapter.poolmanager.pools  # a pooled connection is open
    assert hook._session is None and not adapter.poolmanager.pools


async def test_aresolve_connection_is_public_and_keeps_the_token_out_of_repr(server: ScriptedServer) -> None:
    async with fast_hook() as hook:
        settings = await hook.aresolve_connection()
    assert settings.base_url == server.url and settings.authorization == f"OAuth {TOKEN}"
    assert TOKEN not in repr(settings)


def test_a_sent_body_is_freed_when_the_call_returns(server: ScriptedServer) -> None:
    # tenacity keeps its retry policy in a reference cycle; a body reachable from there would stay alive until a
    # full collection, and an upload of a million tasks would hold dozens of 1 MB bodies at once.
    server.script("POST /api/v1/x", Reply(200, {"ok": True}))
    hook = fast_hook()
    body = json.dumps(["x" * 1000]).encode()
    before = sys.getrefcount(body)
    gc.disable()
    try:
        hook._request("POST", "/api/v1/x", body=body, idempotent=True)
        assert sys.getrefcount(body) == before
    finally:
        gc.enable()


WRAPPED = "y0_AgAAAAAsecret\nWRAPPEDhalf"  # a token pasted across two lines


@pytest.mark.parametrize(
    ("conn", "message"),
    [
        ({"conn_type": "toloka", "password": WRAPPED}, "holds a line break or another control character"),
        (
            {"conn_type": "toloka", "password": "t", "host": "https://user:pa55word@toloka.dev"},
            "host holds a user name or password",
        ),
        (
            {"conn_type": "toloka", "password": "t", "extra": {"url": "https://user:pa55word@proxy.example"}},
            "host holds a user name or password",
        ),
    ],
)
def test_credentials_in_the_wrong_shape_are_refused_without_echo(
    monkeypatch: pytest.MonkeyPatch, conn: dict, message: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    with pytest.raises(TolokaError, match=message) as info:
        TolokaHook().base_url  # noqa: B018
    text = "".join(traceback.format_exception(info.value))
    assert "secret" not in text and "WRAPPED" not in text and "pa55word" not in text


def _force_authorization(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, value: str) -> None:
    # What reaches the HTTP client if a bad header got past the connection check: it must not be retried or echoed.
    monkeypatch.setattr(TolokaHook, "resolve_connection", lambda self: ConnectionSettings(server.url, value))

    async def aresolve(self: TolokaHook) -> ConnectionSettings:
        return ConnectionSettings(server.url, value)

    monkeypatch.setattr(TolokaHook, "aresolve_connection", aresolve)


def test_a_header_the_client_refuses_is_neither_retried_nor_echoed(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    _force_authorization(monkeypatch, server, f"OAuth {WRAPPED}")
    attempts: list[str] = []
    real = requests.Session.request

    def counted(self: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
        attempts.append(args[1])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", counted)
    with pytest.raises(TolokaError, match=r"refused to build the request \(InvalidHeader\)") as info:
        fast_hook(retry_limit=3).get_operation("op-1")
    text = "".join(traceback.format_exception(info.value))
    assert "secret" not in text and "WRAPPED" not in text and "secret" not in caplog.text
    assert len(attempts) == 1 and server.requests == []


async def test_the_async_client_refuses_the_same_header_without_echo(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    _force_authorization(monkeypatch, server, f"OAuth {WRAPPED}")
    async with fast_hook(retry_limit=3) as hook:
        with pytest.raises(TolokaError, match=r"refused to build the request \(LocalProtocolError\)") as info:
            await hook.aget_operation("op-1")
    text = "".join(traceback.format_exception(info.value))
    assert "secret" not in text and "secret" not in caplog.text and server.requests == []


def test_retry_after_is_waited_before_the_retry(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    server.script(
        "GET /api/v1/operations/op-1",
        Reply(429, {"code": "TOO_MANY_REQUESTS", "message": "slow down"}, {"Retry-After": "0.25"}),
        Reply(200, OP),
    )
    assert fast_hook().get_operation("op-1").status == "SUCCESS"
    assert slept == [0.25]  # the wait Toloka asked for, not the (much shorter) backoff


def test_the_retry_budget_bounds_a_long_outage(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations/op-1", Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}))
    with pytest.raises(TolokaRemoteUnavailableError):
        TolokaHook(retry_limit=10_000, retry_delay=0.01, retry_budget=0.3).get_operation("op-1")
    assert 1 < server.count("GET /api/v1/operations/op-1") < 10_000  # the budget, not the limit, ended it
