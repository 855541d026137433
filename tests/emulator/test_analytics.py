"""Pool analytics: ``POST /api/staging/analytics-2``, an ``ANALYTICS`` operation whose results are the pool's metrics.

``time_scale 0``: the crowd moves only when a test advances the time; ``pending_seconds 0`` unless a test sets it,
so an analytics operation finishes on the next request.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.emulator.api import Api
from tests.emulator.lifecycle import act, all_assignments, make_pool, opened_pool, patch, upload
from toloka_emulator import EmulatorProcess

ONE = {"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1}
PATH = "/api/staging/analytics-2"
METRICS = (
    "real_tasks_count",
    "submitted_assignments_count",
    "skipped_assignments_count",
    "rejected_assignments_count",
    "approved_assignments_count",
    "completion_percentage",
    "spent_budget",
    "unique_workers_count",
    "unique_submitters_count",
    "avg_submit_assignment_millis",
)


def ask(api: Api, body: Any) -> requests.Response:
    return api.session.post(f"{api.base}{PATH}", json=body)


def req(pool_id: str, name: str) -> dict[str, Any]:
    return {"subject": "POOL", "subject_id": pool_id, "name": name}


def metrics(api: Api, pool_id: str, names: tuple[str, ...] = METRICS) -> dict[str, Any]:
    """Every metric of a pool, in one or more operations of at most 10 requests, waited for."""
    found: dict[str, Any] = {}
    for start in range(0, len(names), 10):
        resp = ask(api, [req(pool_id, name) for name in names[start : start + 10]])
        assert resp.status_code == 200, resp.text
        op = api.wait(resp.json()["id"])
        assert op["status"] == "SUCCESS", op
        found.update({entry["request"]["name"]: entry["result"] for entry in op["details"]["value"]})
    return found


def completion(value: float, infinite: bool = False) -> dict[str, Any]:
    return {"type": "NORMAL", "value": value, "infinite": infinite, "approximate": False}


def millis(assignment: dict[str, Any]) -> float:
    delta = datetime.fromisoformat(assignment["submitted"]) - datetime.fromisoformat(assignment["created"])
    return delta.total_seconds() * 1000


# ---------------------------------------------------------------------------------------------- the operation


def test_the_operation_is_pending_then_holds_the_results_in_request_order(
    api: Api, emu: EmulatorProcess
) -> None:
    pool, _ = opened_pool(api, n=4)
    emu.advance(3600)
    emu.configure(pending_seconds=30)
    body = [req(pool["id"], "real_tasks_count"), req(pool["id"], "approved_assignments_count")]
    resp = ask(api, body)
    assert resp.status_code == 200, resp.text
    op = resp.json()
    assert (op["type"], op["status"], op["parameters"]) == ("ANALYTICS", "PENDING", {"value": body})
    assert "details" not in op or not op["details"]
    assert api.get_json(f"/operations/{op['id']}")["status"] == "PENDING"
    emu.advance(31)
    done = api.get_json(f"/operations/{op['id']}")
    assert done["status"] == "SUCCESS" and done["progress"] == 100
    entries = done["details"]["value"]
    assert [e["request"] for e in entries] == body
    assert [e["result"] for e in entries] == [4, 6]
    assert all(e["finished"] == done["finished"] for e in entries)
    assert api.get_json("/operations", type="ANALYTICS")["items"][0]["id"] == op["id"]


def test_results_are_computed_when_the_operation_finishes(api: Api, emu: EmulatorProcess) -> None:
    pool, _ = opened_pool(api, n=4)
    emu.configure(pending_seconds=30)
    resp = ask(api, [req(pool["id"], "approved_assignments_count")])
    emu.advance(3600)  # the crowd finishes the pool before the operation does
    op = api.wait(resp.json()["id"])
    assert op["details"]["value"][0]["result"] == 6


def test_analytics_goes_through_the_api_gate(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api)
    resp = requests.post(f"{emu.url}{PATH}", json=[req(pool["id"], "real_tasks_count")])
    assert resp.status_code == 401 and resp.json()["code"] == "AUTHENTICATION_ERROR"
    emu.configure(fault_503=1.0)
    assert ask(api, [req(pool["id"], "real_tasks_count")]).status_code == 503
    emu.configure(fault_503=0.0)
    assert emu.stats()["requests"][f"POST {PATH}"] == 2


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"subject": "POOL", "subject_id": "1", "name": "real_tasks_count"}, None),
        ([], "value"),
        ([req("{pool}", "real_tasks_count")] * 11, "value"),
        ([req("{pool}", "no_such_metric")], "0.name"),
        ([{"subject": "PROJECT", "subject_id": "{pool}", "name": "real_tasks_count"}], "0.subject"),
        ([{"subject": "POOL", "name": "real_tasks_count"}], "0.subject_id"),
        ([req("{pool}", "real_tasks_count"), {"subject": "POOL", "subject_id": "{pool}"}], "1.name"),
        (["real_tasks_count"], "0"),
    ],
)
def test_bad_requests_are_400(api: Api, emu: EmulatorProcess, body: Any, where: str | None) -> None:
    pool = make_pool(api)
    if isinstance(body, list):
        body = [
            {k: (v.format(pool=pool["id"]) if isinstance(v, str) else v) for k, v in item.items()}
            if isinstance(item, dict)
            else item
            for item in body
        ]
    resp = ask(api, body)
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_ERROR", resp.text
    if where is not None:
        assert where in resp.json()["payload"]
    assert emu.stats()["objects"]["operations"] == 0


def test_an_unknown_pool_is_404(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api)
    resp = ask(api, [req(pool["id"], "real_tasks_count"), req("987654", "real_tasks_count")])
    assert resp.status_code == 404 and resp.json()["code"] == "DOES_NOT_EXIST", resp.text
    assert emu.stats()["objects"]["operations"] == 0


# ---------------------------------------------------------------------------------------------- the metrics


def test_every_metric_of_a_reviewed_pool(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api, auto_accept_solutions=False, auto_accept_period_day=5)
    pid = pool["id"]
    upload(api, pid, 4)
    golden = [{"output_values": {"label": "pos"}}]
    upload(api, pid, 2, known_solutions=golden, infinite_overlap=True, overlap=None)  # control: not counted
    act(api, f"/pools/{pid}/open")
    assert metrics(api, pid) == {
        "real_tasks_count": 4,
        "submitted_assignments_count": 0,
        "skipped_assignments_count": 0,
        "rejected_assignments_count": 0,
        "approved_assignments_count": 0,
        "completion_percentage": completion(0),
        "spent_budget": 0.0,
        "unique_workers_count": 0,
        "unique_submitters_count": 0,
        "avg_submit_assignment_millis": 0,
    }
    emu.advance(3600)
    found = all_assignments(api, pid)
    assert len(found) == 6 and {a["status"] for a in found} == {"SUBMITTED"}
    assert patch(api, found[0]["id"], "ACCEPTED").status_code == 200
    assert patch(api, found[1]["id"], "ACCEPTED").status_code == 200
    assert patch(api, found[2]["id"], "REJECTED", "wrong").status_code == 200
    users = {a["user_id"] for a in found}
    got = metrics(api, pid)
    avg = got.pop("avg_submit_assignment_millis")
    assert got == {
        "real_tasks_count": 4,
        "submitted_assignments_count": 6,
        "skipped_assignments_count": 0,
        "rejected_assignments_count": 1,
        "approved_assignments_count": 2,
        "completion_percentage": completion(100),
        "spent_budget": pytest.approx(2 * 0.02),  # accepted rewards, without fees or the reserve
        "unique_workers_count": len(users),
        "unique_submitters_count": len(users),
    }
    assert abs(avg - sum(millis(a) for a in found) / len(found)) <= 1
    assert avg > 0


def test_counts_follow_skips_and_partial_completion(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_skip=0.5)
    pool, _ = opened_pool(api, n=10)
    pid = pool["id"]
    emu.advance(15)  # part of the pool is done
    found = all_assignments(api, pid)
    by_status = Counter(a["status"] for a in found)
    done = [a for a in found if a["status"] in ("SUBMITTED", "ACCEPTED", "REJECTED")]
    answers = Counter(t["id"] for a in done for t in a["tasks"])
    got = metrics(api, pid)
    assert by_status["SKIPPED"] and done and by_status["ACTIVE"], by_status  # the test sees all three
    assert got["skipped_assignments_count"] == by_status["SKIPPED"]
    assert got["submitted_assignments_count"] == len(done)
    assert got["approved_assignments_count"] == by_status["ACCEPTED"]
    assert got["unique_workers_count"] == len({a["user_id"] for a in found})
    assert got["unique_submitters_count"] == len({a["user_id"] for a in done})
    assert got["unique_workers_count"] > got["unique_submitters_count"]  # some only skipped or are working
    expected = round(100 * sum(min(n, 3) for n in answers.values()) / (10 * 3), 2)
    assert got["completion_percentage"] == completion(expected)
    assert got["spent_budget"] == pytest.approx(0.02 * by_status["ACCEPTED"])


def test_completion_caps_each_task_at_its_overlap(api: Api, emu: EmulatorProcess) -> None:
    """``/_emulator/fill`` answers a pool's tasks round and round, beyond their overlap."""
    pool = make_pool(
        api, defaults={"default_overlap_for_new_tasks": 2, "default_overlap_for_new_task_suites": 2}
    )
    pid = pool["id"]
    upload(api, pid, 3)  # 6 answers make the pool complete
    fill = f"{emu.url}/_emulator/fill"
    assert requests.post(fill, params={"pool_id": pid, "assignments": 2, "tasks_per_assignment": 1}).ok
    assert metrics(api, pid, ("completion_percentage",))["completion_percentage"] == completion(33.33)
    assert requests.post(fill, params={"pool_id": pid, "assignments": 7, "tasks_per_assignment": 1}).ok
    got = metrics(api, pid)
    assert got["completion_percentage"] == completion(100)  # 9 answers, 6 of them count
    assert got["submitted_assignments_count"] == got["approved_assignments_count"] == 9
    assert got["spent_budget"] == pytest.approx(9 * 0.02)  # filled work counts, though fill moves no money
    assert emu.stats()["money"]["spent"] == 0.0


def test_infinite_overlap_is_flagged_and_left_out(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api)
    upload(api, pool["id"], 2)
    upload(api, pool["id"], 1, infinite_overlap=True, overlap=None)
    got = metrics(api, pool["id"], ("real_tasks_count", "completion_percentage"))
    assert got == {"real_tasks_count": 3, "completion_percentage": completion(0, infinite=True)}


def test_suites_count_their_tasks(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api, defaults=ONE)
    pid = pool["id"]
    suite = {
        "pool_id": pid,
        "overlap": 1,
        "tasks": [
            {"input_values": {"text": "a", "truth": "pos"}},
            {"input_values": {"text": "b", "truth": "pos"}},
        ],
    }
    assert api.post("/task-suites", suite).status_code == 201
    act(api, f"/pools/{pid}/open")
    assert metrics(api, pid, ("real_tasks_count",)) == {"real_tasks_count": 2}
    emu.advance(3600)
    got = metrics(api, pid, ("completion_percentage", "submitted_assignments_count"))
    assert got == {"completion_percentage": completion(100), "submitted_assignments_count": 1}
