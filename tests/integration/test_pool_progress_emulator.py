"""Progress and spend while waiting for the crowd, against the emulator's analytics and its money accounting.

The crowd works only when a test advances the emulator's time, so every figure a poll logs can be compared with
the emulator's own counters (``/_emulator/stats``: assignments by status, rewards by pool) at that poll.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest.mock import MagicMock

import pytest
import requests
from airflow.sdk.exceptions import TaskDeferred

from airflow_toloka.operators import (
    CreatePoolOperator,
    CreateProjectOperator,
    CreateTasksOperator,
    OpenPoolOperator,
)
from airflow_toloka.sensors import TolokaPoolSensor
from airflow_toloka.triggers import TolokaPoolTrigger
from tests.logs import recorded
from tests.specs import REVIEWS_PROJECT, pool_spec

pytestmark = pytest.mark.toloka_emulator(crowd=5, time_scale=0, seed=3)

ANALYTICS = "POST /api/staging/analytics-2"
TOKEN = "test-token"  # what ``toloka_emulator_conn`` puts in the connection


def context(task_id: str = "t") -> dict[str, Any]:
    ti = MagicMock(dag_id="d", run_id="r1", task_id=task_id, map_index=-1, try_number=1)
    run = MagicMock(start_date=datetime.now(timezone.utc) - timedelta(minutes=1))
    return {"ti": ti, "dag_run": run}


def advance(emulator: Any, seconds: float) -> None:
    resp = requests.post(f"{emulator.url}/_emulator/advance", params={"seconds": seconds}, timeout=30)
    assert resp.status_code == 200, resp.text


@pytest.fixture
def pool_id(toloka_emulator: Any, toloka_emulator_conn: str) -> str:
    """An OPEN pool of 8 reviews, overlap 2, two per suite, $0.01 an assignment: 8 assignments, $0.08 in all."""
    project = CreateProjectOperator(task_id="project", project=REVIEWS_PROJECT).execute(context("project"))
    pool = CreatePoolOperator(task_id="pool", project_id=project["project_id"], pool=pool_spec()).execute(
        context("pool")
    )
    tasks = [{"input_values": {"text": f"review {i}"}} for i in range(8)]
    CreateTasksOperator(
        task_id="up", pool_id=pool["pool_id"], tasks=tasks, allow_defaults=True, poll_interval=0.1
    ).execute(context("up"))
    OpenPoolOperator(task_id="open", pool_id=pool["pool_id"], poll_interval=0.1).execute(context("open"))
    return str(pool["pool_id"])


def figures(emulator: Any, pool_id: str) -> dict[str, Any]:
    """What the emulator's own counters say of the pool now."""
    stats = emulator.stats()
    by_status = stats["assignments_by_pool"].get(pool_id, {})
    return {
        "submitted": sum(by_status.get(s, 0) for s in ("SUBMITTED", "ACCEPTED", "REJECTED")),
        "accepted": by_status.get("ACCEPTED", 0),
        "rejected": by_status.get("REJECTED", 0),
        "spent": stats["money"]["rewards_by_pool"].get(pool_id, 0.0),
        "analytics_calls": stats["requests"].get(ANALYTICS, 0),
    }


def expected_tail(f: dict[str, Any]) -> str:
    rejected = f", {f['rejected']:,} rejected" if f["rejected"] else ""
    return f"{f['accepted']:,} of {f['submitted']:,} submitted assignments accepted{rejected}, {f['spent']:.2f} spent"


async def one_event(trigger: TolokaPoolTrigger, timeout: float = 30) -> dict[str, Any]:
    async def drain() -> list[Any]:
        return [event async for event in trigger.run()]

    fired = await asyncio.wait_for(drain(), timeout)
    assert len(fired) == 1, fired
    payload: dict[str, Any] = fired[0].payload
    assert json.loads(json.dumps(payload)) == payload and TOKEN not in json.dumps(payload)
    return payload


async def test_the_trigger_logs_each_polls_figures_and_its_event_carries_the_spend(
    toloka_emulator: Any, pool_id: str
) -> None:
    trigger = TolokaPoolTrigger(pool_id=pool_id, poll_interval=0.05)
    seen: list[tuple[str, dict[str, Any]]] = []
    steps = iter([1, 300, 24 * 3600])  # the crowd takes suites, submits some, finishes

    def on_line(level: str, line: str) -> None:
        if "% done" in line:
            # The state the poll just read; then the crowd moves before the next poll.
            seen.append((line, figures(toloka_emulator, pool_id)))
            advance(toloka_emulator, next(steps, 0))

    log = recorded(trigger, on_line)
    before = toloka_emulator.stats()["requests"]
    payload = await one_event(trigger)
    after = toloka_emulator.stats()["requests"]

    def made(route: str) -> int:
        return int(after.get(route, 0) - before.get(route, 0))

    polls = made("GET /api/v1/pools/{id}")
    assert len(log.progress()) == len(seen) == polls >= 3  # one line a poll, the last one included
    assert made(ANALYTICS) == polls  # one analytics call a poll
    # Never a scan of the assignments: the one read of them is the check for ACTIVE work once the pool closed.
    assert made("GET /api/v1/assignments") == 1
    for line, state in seen:
        assert line.startswith(f"Toloka pool {pool_id}: ") and line.split("% done, ")[1].startswith(
            expected_tail(state)
        ), (line, state)
    assert seen[0][1]["submitted"] == 0 and seen[0][0].startswith(f"Toloka pool {pool_id}: 0% done")
    final = figures(toloka_emulator, pool_id)
    assert final["accepted"] == 8 and final["spent"] == pytest.approx(0.08)
    assert seen[-1][0] == (
        f"Toloka pool {pool_id}: 100% done, 8 of 8 submitted assignments accepted, 0.08 spent; "
        "the pool is CLOSED (COMPLETED)"
    )
    assert log.at("warning") == []
    assert payload["status"] == "success" and payload["spent"] == pytest.approx(0.08)
    assert payload["progress"] == {
        "completion_percentage": 100,
        "completion_infinite": False,
        "completion_approximate": False,
        "submitted_assignments": 8,
        "approved_assignments": 8,
        "rejected_assignments": 0,
        "spent": payload["spent"],
        "real_tasks": 8,
    }


async def test_the_sensor_returns_the_spend_deferred_at_its_first_poke_and_poking(
    toloka_emulator: Any, pool_id: str
) -> None:
    sensor = TolokaPoolSensor(task_id="wait", pool_id=pool_id, poll_interval=0.05, timeout=600)
    log = recorded(sensor)
    with pytest.raises(TaskDeferred) as info:
        await asyncio.to_thread(sensor.execute, context("wait"))
    assert log.progress() == [
        f"Toloka pool {pool_id}: 0% done, 0 of 0 submitted assignments accepted, 0.00 spent; the pool is OPEN"
    ]
    advance(toloka_emulator, 24 * 3600)
    event = await one_event(info.value.trigger)
    resumed = TolokaPoolSensor(task_id="wait", pool_id=pool_id)  # a new process resumes it
    result = await asyncio.to_thread(resumed.execute_complete, context("wait"), event)
    spent = figures(toloka_emulator, pool_id)["spent"]
    assert spent == pytest.approx(0.08)
    assert result == {
        "pool_id": pool_id,
        "close_reason": "COMPLETED",
        "spent": spent,
        "progress": event["progress"],
    }
    assert result["progress"]["approved_assignments"] == 8
    # Done before deferring (the first poke) and poking on the worker: the same value.
    at_once = TolokaPoolSensor(task_id="wait", pool_id=pool_id)
    assert await asyncio.to_thread(at_once.execute, context("wait")) == result
    poking = TolokaPoolSensor(task_id="wait", pool_id=pool_id, deferrable=False)
    poke_log = recorded(poking)
    poked = await asyncio.to_thread(poking.poke, context("wait"))  # type: ignore[arg-type]
    assert poked.is_done and poked.xcom_value == result
    assert len(poke_log.progress()) == 1 and poke_log.at("warning") == []


# ---------------------------------------------------------------------- analytics failing


class AnalyticsOutage:
    """A loopback proxy in front of the emulator that answers 503 to every analytics call while ``down``."""

    def __init__(self, upstream: str) -> None:
        self.down = True
        self.on_refused: Callable[[], None] = lambda: None  # called for each analytics call refused
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.down and self.path.startswith("/api/staging/analytics-2"):
                    outer.on_refused()
                    status, content = 503, b'{"code": "REMOTE_SERVICE_UNAVAILABLE", "message": "down"}'
                else:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() in ("authorization", "content-type")
                    }
                    resp = requests.request(
                        self.command, upstream + self.path, data=body or None, headers=headers, timeout=30
                    )
                    status, content = resp.status_code, resp.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_PUT = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def outage(toloka_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnalyticsOutage]:
    """Connection ``toloka_outage``: the emulator, its analytics down."""
    proxy = AnalyticsOutage(toloka_emulator.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_OUTAGE",
        json.dumps({"conn_type": "toloka", "host": proxy.url, "password": TOKEN}),
    )
    yield proxy
    proxy.close()


async def test_analytics_down_warns_once_and_neither_fails_nor_holds_the_wait(
    toloka_emulator: Any, pool_id: str, outage: AnalyticsOutage
) -> None:
    trigger = TolokaPoolTrigger(pool_id=pool_id, toloka_conn_id="toloka_outage", poll_interval=0.05)
    steps = iter([1, 300, 24 * 3600])
    refused: list[int] = []

    def each_poll() -> None:  # the crowd moves between the polls, each of which finds analytics down
        refused.append(1)
        advance(toloka_emulator, next(steps, 0))

    outage.on_refused = each_poll
    log = recorded(trigger)
    payload = await one_event(trigger)
    assert len(refused) >= 3
    assert payload["status"] == "success" and payload["close_reason"] == "COMPLETED"
    assert "spent" not in payload and "progress" not in payload
    (warning,) = log.at("warning")  # one, however many polls found analytics down
    assert f"progress of Toloka pool {pool_id} failed" in warning and "REMOTE_SERVICE_UNAVAILABLE" in warning
    assert log.progress() == []
    assert toloka_emulator.stats()["requests"].get(ANALYTICS, 0) == 0  # the proxy answered them all

    sensor = TolokaPoolSensor(
        task_id="wait", pool_id=pool_id, toloka_conn_id="toloka_outage", deferrable=False
    )
    sensor_log = recorded(sensor)
    poked = await asyncio.to_thread(sensor.poke, context("wait"))  # type: ignore[arg-type]
    assert poked.is_done
    assert poked.xcom_value == {
        "pool_id": pool_id,
        "close_reason": "COMPLETED",
        "spent": None,
        "progress": None,
    }
    assert len(sensor_log.at("warning")) == 1
    resumed = TolokaPoolSensor(task_id="wait", pool_id=pool_id)
    assert (await asyncio.to_thread(resumed.execute_complete, context("wait"), payload))["spent"] is None


@pytest.mark.toloka_emulator(crowd=5, time_scale=0, seed=3, pending_seconds=0.05)
async def test_analytics_too_slow_are_given_up_and_the_line_comes_back(
    toloka_emulator: Any, pool_id: str, monkeypatch: pytest.MonkeyPatch, outage: AnalyticsOutage
) -> None:
    import airflow_toloka.triggers.pool as trigger_module

    monkeypatch.setattr(trigger_module, "_PROGRESS_TIMEOUT", 0.3)
    outage.down = False
    toloka_emulator.configure(
        pending_seconds=60
    )  # every ANALYTICS operation stays PENDING past the read's 0.3 s
    trigger = TolokaPoolTrigger(pool_id=pool_id, toloka_conn_id="toloka_outage", poll_interval=0.05)

    def on_line(level: str, line: str) -> None:
        if level == "warning":  # the first read given up: Toloka's analytics are quick again, the crowd done
            toloka_emulator.configure(pending_seconds=0)
            advance(toloka_emulator, 24 * 3600)

    log = recorded(trigger, on_line)
    payload = await one_event(trigger)
    (warning,) = log.at("warning")
    assert "TolokaTimeoutError" in warning and "not ready within 0.3s" in warning
    assert log.progress() == [
        f"Toloka pool {pool_id}: 100% done, 8 of 8 submitted assignments accepted, 0.08 spent; "
        "the pool is CLOSED (COMPLETED)"
    ]
    assert payload["status"] == "success" and payload["spent"] == pytest.approx(0.08)
