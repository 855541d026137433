"""The HTML pages the provider's extra links open: a browser sends no token, and every value is escaped."""

from __future__ import annotations

import time
from typing import Any

import requests

from toloka_emulator import EmulatorProcess

AUTH = {"Authorization": "OAuth test-token"}


def test_pool_and_operation_pages_open_without_a_token(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(token="only-this-one")  # the API now refuses anyone else; the pages do not
    tasks = [{"pool_id": "3", "input_values": {"i": i}, "overlap": 1} for i in range(2)]
    op = requests.post(
        f"{toloka_emulator.url}/api/v1/tasks",
        json=tasks,
        params={"async_mode": "true"},
        headers={"Authorization": "OAuth only-this-one"},
    ).json()
    wait_done(toloka_emulator, op["id"], {"Authorization": "OAuth only-this-one"})

    pool = requests.get(f"{toloka_emulator.url}/requester/project/1/pool/3")
    assert pool.status_code == 200 and pool.headers["content-type"].startswith("text/html")
    assert "<h1>Toloka pool 3</h1>" in pool.text
    assert "<th>Status</th><td>OPEN</td>" in pool.text and "<th>Tasks</th><td>2</td>" in pool.text
    assert "<th>Project</th><td>1</td>" in pool.text and "<th>Done</th><td>0%</td>" in pool.text
    other = requests.get(f"{toloka_emulator.url}/requester/project/99/pool/3")
    assert "<th>Project</th><td>1 (not 99)</td>" in other.text

    page = requests.get(f"{toloka_emulator.url}/requester/operation/{op['id']}")
    assert page.status_code == 200 and f"<h1>Toloka operation {op['id']}</h1>" in page.text
    assert "<th>Type</th><td>TASK.BATCH_CREATE</td>" in page.text


def test_unknown_objects_are_404_and_values_are_escaped(toloka_emulator: EmulatorProcess) -> None:
    assert requests.get(f"{toloka_emulator.url}/requester/operation/nope").status_code == 404
    name = "<script>alert(1)</script>"
    project = requests.post(
        f"{toloka_emulator.url}/api/v1/projects",
        json={
            "public_name": "p",
            "public_description": "d",
            "task_spec": {"input_spec": {"i": {"type": "integer"}}, "output_spec": {"o": {"type": "string"}}},
            "assignments_issuing_type": "AUTOMATED",
        },
        headers=AUTH,
    ).json()
    body = {
        "project_id": project["id"],
        "private_name": name,
        "may_contain_adult_content": False,
        "will_expire": "2099-01-01T00:00:00",
        "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600,
        "defaults": {"default_overlap_for_new_task_suites": 1},
    }
    created = requests.post(f"{toloka_emulator.url}/api/v1/pools", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    page = requests.get(
        f"{toloka_emulator.url}/requester/project/{project['id']}/pool/{created.json()['id']}"
    )
    assert name not in page.text and html_escaped(name) in page.text


def html_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def wait_done(emulator: EmulatorProcess, op_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        op: dict[str, Any] = requests.get(f"{emulator.url}/api/v1/operations/{op_id}", headers=headers).json()
        if op["status"] in ("SUCCESS", "FAIL") or time.monotonic() > deadline:
            return op
        time.sleep(0.05)
