"""TolokaPoolClosedTrigger without a server: what Airflow stores of it, what an AssetWatcher takes, and where its
cursor lives when the asset state store cannot hold it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger

from airflow_toloka.models import Pool
from airflow_toloka.triggers import TolokaPoolClosedTrigger
from tests.logs import recorded


def test_it_is_an_event_trigger_an_asset_watcher_takes_and_its_kwargs_hold_no_secret() -> None:
    trigger = TolokaPoolClosedTrigger(42, "toloka_prod", poll_interval=30, close_reasons=("completed",))
    assert isinstance(trigger, BaseEventTrigger)
    asset = Asset("toloka_pools_closed", watchers=[AssetWatcher(name="pools", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger
    assert trigger.serialize() == (
        "airflow_toloka.triggers.closed_pools.TolokaPoolClosedTrigger",
        {
            "project_id": "42",
            "toloka_conn_id": "toloka_prod",
            "poll_interval": 30.0,
            "close_reasons": ["COMPLETED"],
        },
    )
    assert TolokaPoolClosedTrigger(**trigger.serialize()[1]) == trigger
    assert trigger.cursor_key == "airflow_toloka.closed_pools.42"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project_id": " "}, "project id"),
        ({"project_id": True}, "project id"),
        ({"project_id": "1", "poll_interval": 0}, "poll_interval"),
        ({"project_id": "1", "close_reasons": []}, "close_reasons"),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TolokaPoolClosedTrigger(**kwargs)


class SeveralAssets:
    """Airflow 3.3's store of a trigger watching two assets: its single-asset accessors refuse."""

    async def aget(self, key: str, default: Any = None) -> Any:
        raise ValueError("Task has 2 concrete inlets and outlets")

    async def aset(self, key: str, value: Any) -> None:
        raise AssertionError("not written once given up")


async def test_a_store_it_cannot_use_is_warned_about_and_the_cursor_goes_on_in_memory() -> None:
    trigger = TolokaPoolClosedTrigger("7", poll_interval=0.01)
    trigger.asset_state_store = SeveralAssets()
    log = recorded(trigger)
    listed: list[list[Pool]] = [[], [], []]
    stamp = datetime(2026, 12, 6, 18, 0, 0)
    closed = Pool(
        id="5",
        project_id="7",
        private_name="p",
        status="CLOSED",
        last_stopped=stamp,
        last_close_reason="MANUAL",
    )

    polls = 0

    async def poll() -> list[Pool]:
        nonlocal polls
        polls += 1
        return listed.pop(0) if listed else [closed]

    trigger._poll = poll  # type: ignore[method-assign]
    run = trigger.run()
    event = await asyncio.wait_for(anext(run), 5)
    assert event.payload["pool_id"] == "5"
    assert log.at("warning") == [
        "Cannot keep the closed-pools cursor of Toloka project 7 in the asset state store (ValueError: Task has 2 "
        "concrete inlets and outlets); keeping it in memory: a restarted triggerer starts afresh"
    ]
    pending = asyncio.ensure_future(anext(run))
    seen = polls
    async with asyncio.timeout(5):
        while polls < seen + 3:  # the same closed pool listed three more times
            await asyncio.sleep(0.005)
    assert not pending.done()  # reported once
    pending.cancel()
