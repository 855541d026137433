"""TolokaPoolClosedTrigger against the emulator: one event per pool that closes, none twice, through restarts.

The trigger is rebuilt as the triggerer rebuilds it (serde round trip of its kwargs). On Airflow 3.3 the triggerer
hands an asset watcher's trigger the asset's state store; ``MemoryStore`` stands in for it here (the real one is
stack-tested: tests/stack/test_closed_pools.py). Without a store (Airflow 3.2) the cursor lives in memory.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
from airflow.sdk import serde

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.triggers import TolokaPoolClosedTrigger
from tests.logs import recorded
from tests.specs import IMAGES_PROJECT, pool_spec
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.toloka_emulator(crowd=0)  # pools close only when a test closes them
TOKEN = "test-token"


class MemoryStore:
    """What Airflow 3.3's asset state store offers a watcher's trigger: JSON values by key."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)


class Watcher:
    """A trigger rebuilt from its kwargs, its run() driven one event at a time, its polls counted."""

    def __init__(self, trigger: TolokaPoolClosedTrigger, store: MemoryStore | None) -> None:
        classpath, kwargs = trigger.serialize()
        module, _, name = classpath.rpartition(".")
        rebuilt = getattr(importlib.import_module(module), name)(
            **cast(dict[str, Any], serde.deserialize(serde.serialize(kwargs)))
        )
        rebuilt.asset_state_store = store
        self.log = recorded(rebuilt)
        self.polls = 0
        poll = rebuilt._poll

        async def counted() -> Any:
            result = await poll()
            self.polls += 1
            return result

        rebuilt._poll = counted
        self.run: AsyncIterator[Any] = rebuilt.run()
        self.pending: asyncio.Future[Any] = asyncio.ensure_future(anext(self.run))

    async def polled(self, times: int = 1) -> None:
        """Wait until the trigger has finished that many polls (the first one is the baseline)."""
        async with asyncio.timeout(20):
            while self.polls < times:
                await asyncio.sleep(0.01)

    async def next_event(self) -> dict[str, Any]:
        async with asyncio.timeout(20):
            event = await self.pending
        self.pending = asyncio.ensure_future(anext(self.run))
        payload = event.payload
        assert json.loads(json.dumps(payload)) == payload and TOKEN not in json.dumps(payload)
        return cast(dict[str, Any], payload)

    async def stop(self) -> None:
        """What a triggerer restart does to a trigger: cancelled mid-wait."""
        self.pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.pending


@pytest.fixture
def hook(toloka_emulator: EmulatorProcess, toloka_emulator_conn: str) -> Any:
    with TolokaHook(poll_interval=0.05) as h:
        yield h


def new_pool(hook: TolokaHook, project_id: str, name: str) -> str:
    pool = hook.create_pool(pool_spec(project_id, overlap=1, private_name=name))
    hook.create_tasks(
        [{"pool_id": pool.id, "input_values": {"image": f"https://example.com/{name}.jpg"}, "overlap": 1}]
    )
    return str(pool.id)


def closed(hook: TolokaHook, pool_id: str, close: Callable[[str], Any] | None = None) -> str:
    hook.open_pool(pool_id)
    (close or hook.close_pool)(pool_id)
    return pool_id


async def test_each_close_fires_once_and_a_restart_goes_on_from_the_stored_cursor(hook: TolokaHook) -> None:
    project = str(hook.create_project(IMAGES_PROJECT).id)
    other = str(hook.create_project(IMAGES_PROJECT).id)
    before = closed(hook, new_pool(hook, project, "before"))
    new_pool(hook, project, "never-opened")  # CLOSED from birth: not a close
    trigger = TolokaPoolClosedTrigger(project, poll_interval=0.05)
    store = MemoryStore()
    watcher = Watcher(trigger, store)
    await watcher.polled()
    assert json.loads(store.values[trigger.cursor_key])["ids"] == [before]  # the baseline: reported nothing

    first = closed(hook, new_pool(hook, project, "first"))
    event = await watcher.next_event()
    assert event["pool_id"] == first and event["project_id"] == project
    assert watcher.log.at("info") == [
        f"Watching Toloka project {project} for pools that close",
        f"Toloka pool {first} of project {project} closed (MANUAL)",
    ]
    assert event["status"] == "CLOSED" and event["last_close_reason"] == "MANUAL" and event["last_stopped"]

    closed(hook, new_pool(hook, other, "elsewhere"))  # another project's pool
    closed(
        hook, new_pool(hook, project, "for-update"), hook.close_pool_for_update
    )  # to be edited: not a close
    second = closed(hook, new_pool(hook, project, "second"))
    assert (await watcher.next_event())["pool_id"] == second
    await watcher.stop()

    while_down = closed(hook, new_pool(hook, project, "while-down"))
    watcher = Watcher(trigger, store)  # the triggerer restarted: the same kwargs, the same asset's store
    assert (await watcher.next_event())["pool_id"] == while_down  # not `first` or `second` again
    hook.open_pool(first)
    hook.close_pool(first)  # reopened and closed again: a new close
    assert (await watcher.next_event())["pool_id"] == first
    await watcher.stop()


async def test_without_a_state_store_a_restart_starts_afresh_and_reports_nothing_twice(
    hook: TolokaHook,
) -> None:
    project = str(hook.create_project(IMAGES_PROJECT).id)
    trigger = TolokaPoolClosedTrigger(project, poll_interval=0.05, close_reasons=["MANUAL"])
    watcher = Watcher(trigger, None)
    await watcher.polled()
    first = closed(hook, new_pool(hook, project, "first"))
    assert (await watcher.next_event())["pool_id"] == first
    await watcher.stop()

    closed(
        hook, new_pool(hook, project, "while-down")
    )  # Airflow 3.2: a close while no trigger runs is missed
    watcher = Watcher(trigger, None)
    await watcher.polled()
    after = closed(hook, new_pool(hook, project, "after"))
    assert (await watcher.next_event())["pool_id"] == after
    await watcher.stop()


async def test_a_failing_poll_is_logged_and_the_next_one_goes_on(
    hook: TolokaHook, toloka_emulator_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = str(hook.create_project(IMAGES_PROJECT).id)
    watcher = Watcher(TolokaPoolClosedTrigger(project, "toloka_later", poll_interval=0.05), MemoryStore())
    await watcher.polled()
    assert watcher.log.at("warning")[0] == (
        f"Listing the closed pools of Toloka project {project} failed (AirflowNotFoundException: "
        "The conn_id `toloka_later` isn't defined); polling again in 0.05 s"
    )
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_LATER", toloka_emulator_conn)  # the connection appears
    await watcher.polled(watcher.polls + 2)
    pool = closed(hook, new_pool(hook, project, "first"))
    assert (await watcher.next_event())["pool_id"] == pool
    await watcher.stop()
