"""TolokaOperationTrigger: serialization as the triggerer does it, and run() over real loopback HTTP."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest
from airflow.sdk import serde
from airflow.triggers.base import TriggerEvent

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.models import Operation
from airflow_toloka.triggers import TolokaOperationTrigger
from airflow_toloka.triggers import operation as trigger_module
from airflow_toloka.version_compat import has_async_masking
from tests.unit.scripted_server import TOKEN, Reply, ScriptedServer, TrackingClient
from tests.unit.scripted_server import operation_json as op
from tests.unit.scripted_server import operation_route as route

CLASSPATH = "airflow_toloka.triggers.operation.TolokaOperationTrigger"


def import_string(classpath: str) -> Any:
    """What the triggerer does with the classpath (module path, then attribute)."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.fixture(autouse=True)
def _track_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    TrackingClient.opened = []
    monkeypatch.setattr(httpx, "AsyncClient", TrackingClient)


async def events(trigger: TolokaOperationTrigger, timeout: float = 10) -> list[dict[str, Any]]:
    """Drain run() completely: it must yield exactly one event and then stop."""
    gen = trigger.run()

    async def drain() -> list[TriggerEvent]:
        return [event async for event in gen]

    fired = await asyncio.wait_for(drain(), timeout)
    assert len(fired) == 1, fired
    payload = fired[0].payload
    assert json.loads(json.dumps(payload)) == payload  # JSON primitives only
    return [payload]


async def until(condition: Callable[[], bool], watched: asyncio.Future[Any], timeout: float = 5) -> None:
    """Wait until ``condition()`` holds; ``watched`` ending first (a failed trigger) or ``timeout`` fails.

    A failure inside the trigger then surfaces at once, with what it ended with, not as a wait without end.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if watched.done():
            outcome = "cancelled" if watched.cancelled() else watched.exception() or watched.result()
            pytest.fail(f"ended before the condition held: {outcome!r}")
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


class Logs:
    """Everything logged: stdlib records (caplog) and structlog's output (LoggingMixin writes to stdout)."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.caplog, self.capsys, self.seen = caplog, capsys, ""

    @property
    def text(self) -> str:
        out, err = self.capsys.readouterr()
        self.seen += out + err
        return self.caplog.text + self.seen


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Logs:
    caplog.set_level(logging.DEBUG)
    return Logs(caplog, capsys)


def assert_clean(payload: dict[str, Any], logs: Logs) -> None:
    assert TOKEN not in json.dumps(payload)
    assert "Toloka" in logs.text  # logging was captured at all
    assert TOKEN not in logs.text
    assert TrackingClient.opened, "the hook never opened its async client"
    assert all(client.is_closed for client in TrackingClient.opened)


# ---------------------------------------------------------------------- construction and serialization


def test_serialize_round_trips_through_serde() -> None:
    trigger = TolokaOperationTrigger(
        ["op-1", "op-2"], toloka_conn_id="my_toloka", poll_interval=12, end_time=1_900_000_000.5
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "operation_ids": ["op-1", "op-2"],
        "toloka_conn_id": "my_toloka",
        "poll_interval": 12.0,
        "end_time": 1_900_000_000.5,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs  # JSON primitives only
    restored_kwargs = cast(dict[str, Any], serde.deserialize(serde.serialize(kwargs)))
    restored = import_string(classpath)(**restored_kwargs)
    assert isinstance(restored, TolokaOperationTrigger)
    assert restored == trigger and restored.serialize() == trigger.serialize()


def test_serialize_without_deadline_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": "http://127.0.0.1:1", "password": TOKEN}),
    )
    trigger = TolokaOperationTrigger(["op-1"])
    classpath, kwargs = trigger.serialize()
    assert kwargs["end_time"] is None and kwargs["toloka_conn_id"] == "toloka_default"
    assert kwargs["poll_interval"] == 30.0
    assert TOKEN not in json.dumps(kwargs) and TOKEN not in repr(trigger)
    assert (
        import_string(classpath)(**cast(dict[str, Any], serde.deserialize(serde.serialize(kwargs))))
        == trigger
    )


@pytest.mark.parametrize(
    "ids",
    [[], "op-1", ["a/b"], ["../x"], ["a?b=1"], ["a b"], [""], [1], {"a": 1}],
)
def test_rejects_unusable_ids(ids: Any) -> None:
    with pytest.raises(ValueError):
        TolokaOperationTrigger(ids)


def test_rejects_non_positive_poll_interval() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        TolokaOperationTrigger(["op-1"], poll_interval=0)


def test_duplicate_ids_are_polled_once() -> None:
    assert TolokaOperationTrigger(["a", "b", "a"]).operation_ids == ["a", "b"]


# ---------------------------------------------------------------------- run() over loopback HTTP


async def test_running_then_success(server: ScriptedServer, logs: Logs) -> None:
    server.script(route("op-a"), Reply(body=op("op-a", "SUCCESS", 100, {"items_count": 3})))
    server.script(
        route("op-b"),
        Reply(body=op("op-b", "RUNNING", 40, {"items_count": 5, "success_count": 2})),
        Reply(body=op("op-b", "RUNNING", 80, {"items_count": 5, "success_count": 4})),
        Reply(body=op("op-b", "SUCCESS", 100, {"items_count": 5, "success_count": 5})),
    )
    trigger = TolokaOperationTrigger(["op-a", "op-b"], poll_interval=0.05, end_time=time.time() + 30)
    (payload,) = await events(trigger)
    assert payload == {"status": "success", "operation_ids": ["op-a", "op-b"]}
    assert server.count(route("op-a")) == 1  # terminal operations are never polled again
    assert server.count(route("op-b")) == 3
    assert "1/2 operations done" in logs.text and "2/2 operations done" in logs.seen
    assert "items: items_count=8, success_count=2" in logs.seen  # details counters are summed
    assert_clean(payload, logs)


async def test_failed_operation_reports_tolokas_details(server: ScriptedServer, logs: Logs) -> None:
    details = {"items_count": 2, "failed_count": 2, "reason": "pool 77 is archived"}
    server.script(route("op-ok"), Reply(body=op("op-ok", "SUCCESS", 100)))
    server.script(
        route("op-bad"),
        Reply(body=op("op-bad", "RUNNING", 10)),
        Reply(body=op("op-bad", "FAIL", 100, details)),
    )
    trigger = TolokaOperationTrigger(["op-bad", "op-ok"], poll_interval=0.05)
    (payload,) = await events(trigger)
    assert payload["status"] == "failed"
    assert payload["operation_ids"] == ["op-bad", "op-ok"]
    assert payload["failed"] == [{"id": "op-bad", "type": "TASK.BATCH_CREATE", "details": details}]
    assert "op-bad" in payload["message"] and "pool 77 is archived" in payload["message"]
    assert "op-ok" not in payload["message"]
    assert_clean(payload, logs)

    # Same remote state, second run (an HA peer): byte-identical event.
    (again,) = await events(TolokaOperationTrigger(["op-bad", "op-ok"], poll_interval=0.05))
    assert json.dumps(again, sort_keys=True) == json.dumps(payload, sort_keys=True)


async def test_waits_for_every_operation_before_reporting_a_failure(server: ScriptedServer) -> None:
    server.script(route("op-bad"), Reply(body=op("op-bad", "FAIL", 100, {"code": "X"})))
    server.script(
        route("op-slow"), Reply(body=op("op-slow", "RUNNING", 50)), Reply(body=op("op-slow", "SUCCESS", 100))
    )
    (payload,) = await events(TolokaOperationTrigger(["op-bad", "op-slow"], poll_interval=0.05))
    assert payload["status"] == "failed" and [f["id"] for f in payload["failed"]] == ["op-bad"]
    assert server.count(route("op-slow")) == 2 and server.count(route("op-bad")) == 1


async def test_huge_details_are_truncated(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "FAIL", 100, {"log": "x" * 100_000})))
    (payload,) = await events(TolokaOperationTrigger(["op-1"], poll_interval=0.05))
    assert len(json.dumps(payload)) < 20_000
    assert "truncated" in payload["failed"][0]["details"]


async def test_deadline_gives_timeout_and_never_sleeps_past_it(server: ScriptedServer, logs: Logs) -> None:
    server.script(route("op-done"), Reply(body=op("op-done", "SUCCESS", 100)))
    server.script(route("op-stuck"), Reply(body=op("op-stuck", "RUNNING", 5)))
    end_time = time.time() + 0.4
    trigger = TolokaOperationTrigger(["op-done", "op-stuck"], poll_interval=60, end_time=end_time)
    started = time.monotonic()
    (payload,) = await events(trigger, timeout=5)
    assert time.monotonic() - started < 2  # a 60 s poll interval is cut short by the deadline
    assert time.time() >= end_time
    assert payload["status"] == "timeout"
    assert payload["operation_ids"] == ["op-done", "op-stuck"] and payload["pending"] == ["op-stuck"]
    assert "op-stuck" in payload["message"] and "op-done" not in payload["message"]
    assert server.count(route("op-stuck")) == 2  # once at the start, once at the deadline
    assert_clean(payload, logs)


async def test_deadline_already_passed_still_polls_once(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    (payload,) = await events(TolokaOperationTrigger(["op-1"], end_time=time.time() - 10))
    assert payload["status"] == "success"


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (404, {"code": "DOES_NOT_EXIST", "message": "Operation not found"}, "TolokaDoesNotExistError"),
        (401, {"code": "AUTHENTICATION_ERROR", "message": "Bad token"}, "TolokaAuthenticationError"),
    ],
)
async def test_http_error_becomes_error_event(
    server: ScriptedServer,
    logs: Logs,
    status: int,
    body: dict[str, Any],
    error_class: str,
) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    server.script(route("op-2"), Reply(status, body))
    (payload,) = await events(TolokaOperationTrigger(["op-1", "op-2"], poll_interval=0.05))
    assert payload["status"] == "error" and payload["operation_ids"] == ["op-1", "op-2"]
    assert error_class in payload["message"] and body["message"] in payload["message"]
    assert server.count(route("op-2")) == 1  # 4xx is not retried
    assert_clean(payload, logs)
    # The token did go out, in the header, so its absence from events and logs is meaningful.
    assert any(TOKEN in (r.headers.get("Authorization") or "") for r in server.requests)


async def test_missing_connection_becomes_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_TOLOKA_NOWHERE", raising=False)
    (payload,) = await events(TolokaOperationTrigger(["op-1"], toloka_conn_id="toloka_nowhere"))
    assert payload["status"] == "error" and "toloka_nowhere" in payload["message"]


@pytest.fixture
def no_hook_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trigger's hook gives up on a request at once, so a poll that meets an outage fails quickly."""
    original = TolokaHook.__init__

    def fast(self: TolokaHook, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{**kwargs, "retry_limit": 0, "retry_delay": 0.01})

    monkeypatch.setattr(TolokaHook, "__init__", fast)


async def test_unreachable_host_is_polled_until_the_deadline(
    monkeypatch: pytest.MonkeyPatch, logs: Logs, no_hook_retries: None
) -> None:
    srv = ScriptedServer()
    url = srv.url
    srv.close()  # nothing listens on this port any more
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps({"conn_type": "toloka", "host": url, "password": TOKEN})
    )
    trigger = TolokaOperationTrigger(["op-1"], poll_interval=0.05, end_time=time.time() + 0.5)
    (payload,) = await events(trigger)
    assert payload["status"] == "timeout" and payload["pending"] == ["op-1"]
    assert "the last poll failed: TolokaRemoteUnavailableError" in payload["message"]
    assert "could not reach Toloka" in payload["message"]
    assert TOKEN not in json.dumps(payload) and TOKEN not in logs.text


@pytest.mark.parametrize(
    "failure",
    [
        Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE", "message": "maintenance"}),
        Reply(500, {"code": "INTERNAL_ERROR", "message": "boom"}),
        Reply(429, {"code": "TOO_MANY_REQUESTS", "message": "slow down"}, {"Retry-After": "0"}),
        Reply(502, raw=b"<html>bad gateway</html>"),
    ],
)
async def test_an_outage_shorter_than_the_deadline_does_not_end_the_wait(
    server: ScriptedServer, logs: Logs, no_hook_retries: None, failure: Reply
) -> None:
    server.script(
        route("op-1"), failure, failure, failure, Reply(body=op("op-1", "RUNNING", 50)), failure,
        Reply(body=op("op-1", "SUCCESS", 100)),
    )  # fmt: skip
    trigger = TolokaOperationTrigger(["op-1"], poll_interval=0.05, end_time=time.time() + 60)
    (payload,) = await events(trigger)
    assert payload["status"] == "success" and server.count(route("op-1")) == 6
    assert "polling again" in logs.text


async def test_an_outage_at_the_deadline_is_a_timeout_naming_it(
    server: ScriptedServer, no_hook_retries: None
) -> None:
    server.script(route("op-1"), Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE", "message": "maintenance"}))
    trigger = TolokaOperationTrigger(["op-1"], poll_interval=0.05, end_time=time.time() + 0.4)
    (payload,) = await events(trigger)
    assert payload["status"] == "timeout" and "REMOTE_SERVICE_UNAVAILABLE" in payload["message"]
    assert server.count(route("op-1")) >= 3


async def test_first_failure_in_id_order_is_reported(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "RUNNING", 1)))
    server.script(route("op-2"), Reply(404, {"code": "DOES_NOT_EXIST", "message": "two"}))
    server.script(route("op-3"), Reply(403, {"code": "ACCESS_DENIED", "message": "three"}))
    for _ in range(3):
        (payload,) = await events(TolokaOperationTrigger(["op-1", "op-2", "op-3"], poll_interval=0.05))
        assert "TolokaDoesNotExistError" in payload["message"] and "three" not in payload["message"]


async def test_cancellation_closes_the_client(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "RUNNING", 1)))
    trigger = TolokaOperationTrigger(["op-1"], poll_interval=60)
    trigger.first_poll_delay = lambda: 0.0  # type: ignore[method-assign]  # poll at once, then sleep a minute
    task = asyncio.ensure_future(trigger.run().__anext__())
    await until(lambda: server.count(route("op-1")) >= 1, task)
    task.cancel()  # asleep until the next poll, or still reading the answer: either way the client closes
    with pytest.raises(asyncio.CancelledError):
        await task
    assert TrackingClient.opened and all(c.is_closed for c in TrackingClient.opened)


async def test_polls_concurrently_but_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    in_flight = peak = 0
    calls: dict[str, int] = {}

    async def fake_get(self: TolokaHook, operation_id: str) -> Operation:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        calls[operation_id] = calls.get(operation_id, 0) + 1
        status = "SUCCESS" if calls[operation_id] > 1 else "RUNNING"
        return Operation(id=operation_id, status=status)

    monkeypatch.setattr(TolokaHook, "aget_operation", fake_get)
    monkeypatch.setenv(  # the trigger resolves its connection before the first poll
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": "http://127.0.0.1:1", "password": TOKEN}),
    )
    ids = [f"op-{i}" for i in range(50)]
    (payload,) = await events(TolokaOperationTrigger(ids, poll_interval=0.01))
    assert payload == {"status": "success", "operation_ids": ids}
    assert 1 < peak <= trigger_module.MAX_CONCURRENT_POLLS
    assert set(calls.values()) == {2}


async def slow_callbacks(
    trigger: TolokaOperationTrigger, caplog: pytest.LogCaptureFixture
) -> tuple[dict[str, Any], list[str]]:
    """Run the trigger with asyncio debug on and return what asyncio reported as holding the loop."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.1
    caplog.set_level(logging.WARNING, logger="asyncio")
    caplog.clear()
    try:
        (payload,) = await events(trigger)
    finally:
        loop.set_debug(False)
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    return payload, slow


async def test_does_not_block_the_event_loop(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asyncio debug mode reports any step that holds the loop; the trigger must cause none.

    The connection comes from ``aget_connection`` (the env-var backend runs in a thread) and the token is
    masked with ``amask_secret`` (on Airflow 3.2, ``get_connection`` and ``mask_secret`` in a worker thread);
    a sync ``get_connection``/``mask_secret`` on the loop or ``time.sleep`` would show here.
    """
    server.script(route("op-a"), Reply(body=op("op-a", "RUNNING", 10)), Reply(body=op("op-a", "SUCCESS")))
    server.script(route("op-b"), Reply(body=op("op-b", "SUCCESS", 100)))
    # Warm up once so one-off module imports do not count as blocking.
    await events(TolokaOperationTrigger(["op-b"], poll_interval=0.05))

    payload, slow = await slow_callbacks(TolokaOperationTrigger(["op-a", "op-b"], poll_interval=0.05), caplog)
    assert payload["status"] == "success"
    assert not slow, slow

    # Control: the same check does catch a blocking call.
    real = TolokaHook.aget_operation

    async def blocking(self: TolokaHook, operation_id: str) -> Operation:
        time.sleep(0.15)
        return await real(self, operation_id)

    monkeypatch.setattr(TolokaHook, "aget_operation", blocking)
    _, slow = await slow_callbacks(TolokaOperationTrigger(["op-b"], poll_interval=0.1), caplog)
    assert slow


async def test_uses_async_connection_and_masking(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The triggerer path never runs a blocking connection lookup or masking call on the loop's thread.

    Airflow 3.3 has async ones (``aget_connection``, ``amask_secret``) and the sync ones must not be
    reached at all; Airflow 3.2 has only the sync ones, which must run in a worker thread
    (``airflow_toloka.version_compat``).
    """
    import airflow.sdk.log as sdk_log

    loop_thread = threading.get_ident()
    blocking: list[tuple[str, Any, bool]] = []  # (call, its argument, on the loop's thread)
    real_get = TolokaHook.get_connection.__func__  # type: ignore[attr-defined]
    real_mask = sdk_log.mask_secret

    def sync_get(cls: type[TolokaHook], conn_id: str) -> Any:
        blocking.append(("get_connection", conn_id, threading.get_ident() == loop_thread))
        return real_get(cls, conn_id)

    def sync_mask(secret: Any, name: str | None = None) -> None:
        blocking.append(("mask_secret", secret, threading.get_ident() == loop_thread))
        real_mask(secret, name)

    monkeypatch.setattr(TolokaHook, "get_connection", classmethod(sync_get))
    monkeypatch.setattr(sdk_log, "mask_secret", sync_mask)
    masked: list[Any] = []
    if has_async_masking():
        real_amask = sdk_log.amask_secret

        async def spy(secret: Any, name: str | None = None) -> None:
            masked.append(secret)
            await real_amask(secret, name)

        monkeypatch.setattr(sdk_log, "amask_secret", spy)
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    (payload,) = await events(TolokaOperationTrigger(["op-1"], poll_interval=0.1))
    assert payload["status"] == "success"
    if has_async_masking():  # Airflow 3.3
        assert masked == [TOKEN] and blocking == []
    else:  # Airflow 3.2
        assert blocking == [("get_connection", "toloka_default", False), ("mask_secret", TOKEN, False)]


# ---------------------------------------------------------------------- sharing within one event loop


async def test_triggers_on_one_loop_share_one_lookup_and_one_client(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_toloka.hooks import base as hook_base

    lookups: list[str] = []
    real_lookup = hook_base.aget_connection

    async def counting(hook: Any, conn_id: str) -> Any:
        lookups.append(conn_id)
        return await real_lookup(hook, conn_id)

    monkeypatch.setattr(hook_base, "aget_connection", counting)  # the lookup from Airflow, on 3.2 and 3.3
    server.script(route("op-a"), Reply(body=op("op-a", "RUNNING", 10)), Reply(body=op("op-a", "SUCCESS")))
    server.script(route("op-b"), Reply(body=op("op-b", "RUNNING", 10)), Reply(body=op("op-b", "SUCCESS")))
    fast = TolokaOperationTrigger(["op-a"], poll_interval=0.05)
    slow = TolokaOperationTrigger(["op-b"], poll_interval=1.0)
    slow_task = asyncio.ensure_future(events(slow))
    await until(lambda: server.count(route("op-b")) >= 1, slow_task)  # `slow` holds the client now
    fast_task = asyncio.ensure_future(events(fast))
    (first,) = await fast_task
    assert first["status"] == "success"
    assert len(TrackingClient.opened) == 1 and not TrackingClient.opened[0].is_closed  # `slow` still uses it
    (second,) = await slow_task
    assert second["status"] == "success"
    assert lookups == ["toloka_default"]  # one connection lookup for both
    assert len(TrackingClient.opened) == 1 and TrackingClient.opened[0].is_closed  # the last user closed it


async def test_settings_are_looked_up_again_after_the_ttl(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_toloka.hooks import _loop_shared

    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    (payload,) = await events(TolokaOperationTrigger(["op-1"], poll_interval=0.05))
    assert payload["status"] == "success"
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": server.url, "password": "y0_rotated-token"}),
    )
    (payload,) = await events(TolokaOperationTrigger(["op-1"], poll_interval=0.05))
    assert server.requests[-1].headers["Authorization"] == f"OAuth {TOKEN}"  # still cached
    monkeypatch.setattr(_loop_shared, "SETTINGS_TTL", 0.0)
    (payload,) = await events(TolokaOperationTrigger(["op-1"], poll_interval=0.05))
    (payload,) = await events(TolokaOperationTrigger(["op-1"], poll_interval=0.05))
    assert server.requests[-1].headers["Authorization"] == "OAuth y0_rotated-token"
    assert all(client.is_closed for client in TrackingClient.opened)


def test_different_event_loops_never_share_a_client(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    clients: list[Any] = []

    async def one() -> None:
        async with TolokaHook() as hook:
            await hook.aget_operation("op-1")
            assert hook._alease is not None
            clients.append(hook._alease.client)

    asyncio.run(one())
    asyncio.run(one())
    assert len(clients) == 2 and clients[0] is not clients[1]
    assert all(client.is_closed for client in clients)


async def test_a_closed_client_is_not_reused(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    async with TolokaHook() as first, TolokaHook() as second:
        await first.aget_operation("op-1")
        await second.aget_operation("op-1")
        assert first._alease is not None and second._alease is not None
        shared = first._alease.client
        assert second._alease.client is shared
        await shared.aclose()  # e.g. closed behind the hooks' back
        await second.aget_operation("op-1")
        assert second._alease.client is not shared and not second._alease.client.is_closed
    assert len(TrackingClient.opened) == 2 and all(c.is_closed for c in TrackingClient.opened)


async def test_a_failed_lookup_is_shared_but_not_remembered(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_TOLOKA_LATER", raising=False)
    gone = [
        TolokaOperationTrigger(["op-1"], toloka_conn_id="toloka_later", poll_interval=0.05) for _ in range(3)
    ]
    results = await asyncio.gather(*(events(t) for t in gone))
    assert all(p["status"] == "error" and "toloka_later" in p["message"] for (p,) in results)
    assert not TrackingClient.opened  # no client for a connection that does not exist
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_LATER",
        json.dumps({"conn_type": "toloka", "host": server.url, "password": TOKEN}),
    )
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS", 100)))
    (payload,) = await events(
        TolokaOperationTrigger(["op-1"], toloka_conn_id="toloka_later", poll_interval=0.05)
    )
    assert payload["status"] == "success"


def test_first_poll_delay_is_deterministic_spread_and_at_least_half_an_interval() -> None:
    delays = [TolokaOperationTrigger([f"op-{i}"], poll_interval=30).first_poll_delay() for i in range(200)]
    assert delays == [
        TolokaOperationTrigger([f"op-{i}"], poll_interval=30).first_poll_delay() for i in range(200)
    ]
    assert all(15 <= d < 30 for d in delays) and max(delays) - min(delays) > 10


async def test_first_poll_waits_but_never_past_half_the_time_left(server: ScriptedServer) -> None:
    server.script(route("op-1"), Reply(body=op("op-1", "SUCCESS")))
    trigger = TolokaOperationTrigger(["op-1"], poll_interval=60, end_time=time.time() + 1.0)
    started = time.monotonic()
    (payload,) = await events(trigger)
    assert payload["status"] == "success"
    assert 0.3 <= time.monotonic() - started < 5  # waited ~0.5 s (half the time left), not 30-60 s


async def test_progress_is_logged_on_status_change_not_every_poll(server: ScriptedServer, logs: Logs) -> None:
    server.script(
        route("op-1"),
        *[Reply(body=op("op-1", "RUNNING", p)) for p in range(10, 60, 10)],
        Reply(body=op("op-1", "SUCCESS", 100)),
    )
    (payload,) = await events(TolokaOperationTrigger(["op-1"], poll_interval=0.02))
    assert payload["status"] == "success" and server.count(route("op-1")) == 6
    text = logs.text
    assert text.count("operations done") == 2  # first RUNNING, then SUCCESS; not one line per poll
