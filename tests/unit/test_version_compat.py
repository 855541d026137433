"""version_compat: both branches on whichever Airflow runs the suite (make test: 3.3, make test-lowest: 3.2).

The branch of the installed Airflow is the real one; the other is simulated by adding or removing
``airflow.sdk.log.amask_secret``, the feature the module looks for.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

import airflow.sdk.log as sdk_log
import pytest

from airflow_toloka import version_compat
from airflow_toloka.hooks.toloka import TolokaHook

TOKEN = "y0_compat-token"
# A lookup or masking call that deadlocks fails the test in this long, not never.
LIMIT = 5.0


@pytest.fixture(autouse=True)
def _connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "toloka", "host": "http://127.0.0.1:1", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))


class Calls:
    """Which Airflow calls ran, with their argument and whether on the event loop's thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, Any, bool]] = []
        self.loop_thread = threading.get_ident()
        real_get = TolokaHook.get_connection.__func__  # type: ignore[attr-defined]
        real_aget = TolokaHook.aget_connection.__func__  # type: ignore[attr-defined]
        real_mask = sdk_log.mask_secret

        def get_connection(cls: type[TolokaHook], conn_id: str) -> Any:
            self.record("get_connection", conn_id)
            return real_get(cls, conn_id)

        async def aget_connection(cls: type[TolokaHook], conn_id: str) -> Any:
            self.record("aget_connection", conn_id)
            return await real_aget(cls, conn_id)

        def mask_secret(secret: Any, name: str | None = None) -> None:
            self.record("mask_secret", secret)
            real_mask(secret, name)

        monkeypatch.setattr(TolokaHook, "get_connection", classmethod(get_connection))
        monkeypatch.setattr(TolokaHook, "aget_connection", classmethod(aget_connection))
        monkeypatch.setattr(sdk_log, "mask_secret", mask_secret)

    def record(self, name: str, arg: Any) -> None:
        self.seen.append((name, arg, threading.get_ident() == self.loop_thread))


async def lookup_and_mask() -> str | None:
    conn = await asyncio.wait_for(version_compat.aget_connection(TolokaHook(), "toloka_default"), LIMIT)
    await asyncio.wait_for(version_compat.amask_secret(conn.password), LIMIT)
    return conn.password


async def test_with_async_masking_only_async_calls_are_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 3.3: ``aget_connection`` and ``amask_secret``, nothing that blocks."""
    calls = Calls(monkeypatch)
    masked: list[Any] = []

    async def amask_secret(secret: Any, name: str | None = None) -> None:
        masked.append(secret)

    monkeypatch.setattr(sdk_log, "amask_secret", amask_secret, raising=False)
    assert version_compat.has_async_masking()
    assert await lookup_and_mask() == TOKEN
    assert [name for name, _, _ in calls.seen] == ["aget_connection"] and masked == [TOKEN]


async def test_without_async_masking_the_blocking_calls_run_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Airflow 3.2: the sync lookup and masking, each in a worker thread, where blocking is safe."""
    calls = Calls(monkeypatch)
    monkeypatch.delattr(sdk_log, "amask_secret", raising=False)
    assert not version_compat.has_async_masking()
    assert await lookup_and_mask() == TOKEN
    assert ("get_connection", "toloka_default", False) in calls.seen
    assert ("mask_secret", TOKEN, False) in calls.seen
    assert not [call for call in calls.seen if call[2]], "a blocking call ran on the event loop's thread"
    assert "aget_connection" not in [name for name, _, _ in calls.seen]


async def test_nothing_to_mask_is_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    await asyncio.wait_for(version_compat.amask_secret(None), LIMIT)
    await asyncio.wait_for(version_compat.amask_secret(""), LIMIT)
    assert calls.seen == []


async def test_the_mask_reaches_the_triggerers_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The triggerer's supervisor redacts the triggers' logs: the token's mask must reach it, on 3.2 and 3.3.

    The runner's end is a ``TriggerCommsDecoder`` as the triggerer builds it; the other end of the socket pair
    records each request and answers it. (A sync ``mask_secret`` on the loop, as Airflow 3.2's own
    ``aget_connection`` makes, is dropped there without a word: it needs a greenback portal.)
    """
    import msgspec
    from airflow.jobs.triggerer_job_runner import TriggerCommsDecoder
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import _ResponseFrame

    received: list[Any] = []
    runner_end, supervisor_end = socket.socketpair()

    def supervise() -> None:
        decoder = msgspec.msgpack.Decoder()
        while len(size := supervisor_end.recv(4, socket.MSG_WAITALL)) == 4:
            frame = decoder.decode(supervisor_end.recv(int.from_bytes(size, "big"), socket.MSG_WAITALL))
            received.append(frame[1])
            supervisor_end.sendall(_ResponseFrame(id=frame[0]).as_bytes())

    threading.Thread(target=supervise, daemon=True).start()
    reader, writer = await asyncio.open_connection(sock=runner_end)
    comms = TriggerCommsDecoder(async_writer=writer, async_reader=reader, socket=runner_end)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    await comms.start_reader()
    try:
        await asyncio.wait_for(version_compat.amask_secret(TOKEN), LIMIT)
    finally:
        writer.close()
        supervisor_end.close()
    assert {"type": "MaskSecret", "value": TOKEN, "name": None} in received


def test_task_state_store_is_none_where_airflow_has_none() -> None:
    store = object()
    assert version_compat.task_state_store({"task_state_store": store}) is store  # Airflow 3.3
    assert version_compat.task_state_store({"ti": object()}) is None  # Airflow 3.2
