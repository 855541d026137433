"""The simulated crowd: pools complete by themselves, assignments have Toloka's shape, the search works.

The emulator runs with ``time_scale 0``, so the crowd moves only when a test advances the time: every wait here is
on the emulator's state, never on the wall clock.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from tests.emulator.api import Api
from tests.emulator.lifecycle import act, all_assignments, make_pool, make_project, upload
from toloka_emulator import EmulatorProcess

ASSIGNMENT_ID = re.compile(r"^[0-9a-f]{10}--[0-9a-f]{24}$")


def run_pool(
    api: Api, emu: EmulatorProcess, n: int = 10, **pool: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    created = make_pool(api, **pool)
    tasks = upload(api, created["id"], n)
    act(api, f"/pools/{created['id']}/open")
    return created, tasks


# ---------------------------------------------------------------------------------------------- completion


def test_the_crowd_completes_a_pool(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_accuracy=1.0)
    pool, tasks = run_pool(api, emu)
    pid = pool["id"]
    assert api.get_json(f"/pools/{pid}")["status"] == "OPEN"
    emu.advance(3600)
    done = api.get_json(f"/pools/{pid}")
    assert (done["status"], done["last_close_reason"]) == ("CLOSED", "COMPLETED")
    assignments = all_assignments(api, pid)
    assert len(assignments) == 10 * 3 // 2  # overlap 3 x 10 tasks, 2 tasks per suite
    assert {a["status"] for a in assignments} == {"ACCEPTED"}
    per_task: Counter[str] = Counter()
    for a in assignments:
        assert ASSIGNMENT_ID.match(a["id"]) and a["id"].startswith(f"{int(pid):010x}--")
        assert re.fullmatch(r"[0-9a-f]{32}", a["user_id"]) and a["pool_id"] == pid and a["reward"] == 0.02
        assert a["mixed"] is True and len(a["tasks"]) == len(a["solutions"]) == 2
        assert a["accepted"] == a["submitted"] >= a["created"] and a["owner"]["myself"] is True
        assert a["created"] >= done["last_started"] and a["submitted"] <= done["last_stopped"]
        for task, solution in zip(a["tasks"], a["solutions"], strict=True):
            per_task[task["id"]] += 1
            assert solution == {"output_values": {"label": "pos"}}  # accuracy 1: the truth field
        assert len({t["id"] for t in a["tasks"]}) == 2
    assert set(per_task.values()) == {3} and set(per_task) == {t["id"] for t in tasks}
    users_per_task: dict[str, set[str]] = {}
    for a in assignments:
        for task in a["tasks"]:
            users_per_task.setdefault(task["id"], set()).add(a["user_id"])
    assert all(len(users) == 3 for users in users_per_task.values())  # nobody gets a task twice
    assert all(t["remaining_overlap"] == 0 for t in api.get_json("/tasks", pool_id=pid)["items"])
    assert emu.stats()["assignments_by_pool"] == {pid: {"ACCEPTED": 15}}
    one = api.get_json(f"/assignments/{assignments[0]['id']}")
    assert one == assignments[0]
    assert api.get("/assignments/nope").status_code == 404


def test_wrong_answers_follow_the_accuracy_and_stay_in_the_output_spec(
    api: Api, emu: EmulatorProcess
) -> None:
    emu.configure(crowd_accuracy=0.0)
    pool, _ = run_pool(api, emu)
    emu.advance(3600)
    labels = {s["output_values"]["label"] for a in all_assignments(api, pool["id"]) for s in a["solutions"]}
    assert labels == {"neg"}


def test_manual_review_pools_stay_submitted_until_the_review_period(api: Api, emu: EmulatorProcess) -> None:
    pool, _ = run_pool(api, emu, n=4, auto_accept_solutions=False, auto_accept_period_day=2)
    emu.advance(3600)
    assert (
        api.get_json(f"/pools/{pool['id']}")["last_close_reason"] == "COMPLETED"
    )  # completion counts submits
    assert {a["status"] for a in all_assignments(api, pool["id"])} == {"SUBMITTED"}
    assert all("accepted" not in a for a in all_assignments(api, pool["id"]))
    emu.advance(2 * 86_400)
    accepted = all_assignments(api, pool["id"], status="ACCEPTED")
    assert len(accepted) == 6 and all(a["accepted"] > a["submitted"] for a in accepted)


def test_auto_close_waits_for_the_delay_and_new_tasks_keep_the_pool_open(
    api: Api, emu: EmulatorProcess
) -> None:
    pool, _ = run_pool(api, emu, n=2, auto_close_after_complete_delay_seconds=600)
    emu.advance(300)
    assert api.get_json(f"/pools/{pool['id']}")["status"] == "OPEN"
    upload(api, pool["id"], 2)  # arrives within the delay: the pool stays open for it
    emu.advance(400)
    assert api.get_json(f"/pools/{pool['id']}")["status"] == "OPEN"
    emu.advance(1200)
    assert api.get_json(f"/pools/{pool['id']}")["last_close_reason"] == "COMPLETED"
    assert len(all_assignments(api, pool["id"])) == 6


def test_control_tasks_are_mixed_in(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_accuracy=1.0)
    mixer = {"real_tasks_count": 2, "golden_tasks_count": 1, "training_tasks_count": 0}
    pool = make_pool(
        api,
        mixer_config=mixer,
        defaults={"default_overlap_for_new_task_suites": 1, "default_overlap_for_new_tasks": 1},
    )
    upload(api, pool["id"], 4, truth="pos")
    golden = [{"output_values": {"label": "neg"}}]
    upload(api, pool["id"], 3, truth="pos", known_solutions=golden, infinite_overlap=True)
    act(api, f"/pools/{pool['id']}/open")
    emu.advance(3600)
    assignments = all_assignments(api, pool["id"])
    assert len(assignments) == 2 and api.get_json(f"/pools/{pool['id']}")["last_close_reason"] == "COMPLETED"
    for a in assignments:
        controls = [
            (t, s) for t, s in zip(a["tasks"], a["solutions"], strict=True) if t.get("known_solutions")
        ]
        assert len(controls) == 1 and controls[0][1]["output_values"] == {"label": "neg"}


def test_uploaded_suites_are_issued_whole_overlap_times(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api)
    suites = [
        {"pool_id": pool["id"], "tasks": [{"input_values": {"text": f"s{i}-{k}"}} for k in range(3)]}
        for i in range(2)
    ]
    assert api.post("/task-suites", suites, allow_defaults=True).status_code == 201
    act(api, f"/pools/{pool['id']}/open")
    emu.advance(3600)
    assignments = all_assignments(api, pool["id"])
    assert Counter(a["task_suite_id"] for a in assignments) == Counter(
        {s["id"]: 3 for s in api.get_json("/task-suites", pool_id=pool["id"])["items"]}
    )
    assert all(len(a["tasks"]) == 3 and a["mixed"] is False for a in assignments)


# ---------------------------------------------------------------------------------------------- skip, expire


def test_skipped_suites_give_the_overlap_back(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_skip=1.0)
    pool, _ = run_pool(api, emu, n=1)
    emu.advance(3600)
    assignments = all_assignments(api, pool["id"])
    assert len(assignments) == 10 and {a["status"] for a in assignments} == {"SKIPPED"}  # each worker once
    assert all(a["skipped"] and "solutions" not in a for a in assignments)
    task = api.get_json("/tasks", pool_id=pool["id"])["items"][0]
    assert task["remaining_overlap"] == 3
    assert api.get_json(f"/pools/{pool['id']}")["status"] == "OPEN"


def test_abandoned_suites_expire_and_give_the_overlap_back(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=1, crowd_abandon=1.0)
    pool, _ = run_pool(
        api, emu, n=1, defaults={"default_overlap_for_new_task_suites": 1, "default_overlap_for_new_tasks": 1}
    )
    emu.advance(10)
    active = api.get_json("/assignments", pool_id=pool["id"], status="ACTIVE", limit=1)
    assert len(active["items"]) == 1 and active["has_more"] is False
    assert api.get_json("/tasks", pool_id=pool["id"])["items"][0]["remaining_overlap"] == 0
    emu.advance(600)
    (expired,) = all_assignments(api, pool["id"])
    assert expired["status"] == "EXPIRED" and expired["expired"] > expired["created"]
    assert api.get_json("/tasks", pool_id=pool["id"])["items"][0]["remaining_overlap"] == 1
    assert api.get_json(f"/pools/{pool['id']}")["status"] == "OPEN"


# ---------------------------------------------------------------------------------------------- determinism


def test_same_seed_same_requests_same_assignments(api: Api, emu: EmulatorProcess) -> None:
    def run() -> list[tuple[Any, ...]]:
        emu.reset()
        emu.configure(seed=5, crowd_skip=0.2, crowd_accuracy=0.7)
        pool, _ = run_pool(api, emu, n=8)
        emu.advance(120)
        emu.advance(3600)
        return [
            (a["user_id"], a["status"], [t["input_values"]["text"] for t in a["tasks"]], a.get("solutions"))
            for a in all_assignments(api, pool["id"])
        ]

    first = run()
    assert first == run() and len(first) >= 12


# ---------------------------------------------------------------------------------------------- search


def test_assignment_search(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_skip=0.3)
    pool, tasks = run_pool(api, emu, n=10)
    emu.advance(3600)
    every = all_assignments(api, pool["id"])
    resp = api.get("/assignments")
    assert resp.status_code == 400 and resp.json()["code"] == "VALIDATION_ERROR"
    assert api.get("/assignments", pool_id=pool["id"], status="DONE").status_code == 400
    both = api.get_json("/assignments", pool_id=pool["id"], status="ACCEPTED,SKIPPED", limit=1000)["items"]
    assert len(both) == len(every)
    skipped = [a for a in every if a["status"] == "SKIPPED"]
    assert api.get_json("/assignments", pool_id=pool["id"], status="SKIPPED", limit=1000)["items"] == skipped
    user = every[0]["user_id"]
    mine = api.get_json("/assignments", pool_id=pool["id"], user_id=user, limit=1000)["items"]
    assert mine == [a for a in every if a["user_id"] == user]
    by_submitted = api.get_json("/assignments", pool_id=pool["id"], sort="-submitted,id", limit=1000)["items"]
    stamps = [a.get("submitted") or "" for a in by_submitted]
    assert stamps == sorted(stamps, reverse=True)
    accepted = [a for a in every if a["status"] == "ACCEPTED"]
    middle = sorted(a["submitted"] for a in accepted)[len(accepted) // 2]
    micro = middle + "000"  # six fraction digits, as toloka-kit sends them
    later = api.get_json("/assignments", pool_id=pool["id"], submitted_gte=micro, limit=1000)["items"]
    assert later == [a for a in every if a.get("submitted") and a["submitted"] >= middle]
    assert api.get_json("/assignments", pool_id=pool["id"], submitted_lt="2000-01-01")["items"] == []
    suite = every[0]["task_suite_id"]
    assert api.get_json("/assignments", task_suite_id=suite)["items"] == [every[0]]
    task_id = tasks[0]["id"]
    with_task = api.get_json("/assignments", task_id=task_id, limit=100)["items"]
    assert with_task and all(task_id in [t["id"] for t in a["tasks"]] for a in with_task)
    clamped = api.get_json("/assignments", pool_id=pool["id"], limit=10**9)
    assert len(clamped["items"]) == len(every) and clamped["has_more"] is False
    assert api.get("/assignments", pool_id=pool["id"], limit=0).status_code == 400


def test_the_crowd_leaves_auto_created_pools_alone(api: Api, emu: EmulatorProcess) -> None:
    items = [{"pool_id": "55", "input_values": {"x": i}, "overlap": 1} for i in range(5)]
    assert api.post("/tasks", items).status_code == 201
    emu.advance(3600)
    assert api.get_json("/assignments", pool_id="55")["items"] == []
    assert api.get_json("/pools/55")["status"] == "OPEN"
    assert all(t["remaining_overlap"] == 1 for t in api.get_json("/tasks", pool_id="55")["items"])


def test_crowd_of_zero_does_nothing_and_project_ids_are_fresh(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=0)
    pool, _ = run_pool(api, emu, n=2)
    emu.advance(3600)
    assert all_assignments(api, pool["id"]) == []
    emu.configure(crowd=3)
    emu.advance(3600)
    assert len(all_assignments(api, pool["id"])) == 3
    assert make_project(api) != pool["project_id"]
