"""Reviewing assignments (``PATCH /assignments/{id}``), manual-review pools and control tasks in suites.

``time_scale 0``: the crowd moves only when a test advances the time, so every wait is on the emulator's state.
"""

from __future__ import annotations

from typing import Any

from tests.emulator.api import Api
from tests.emulator.lifecycle import (
    act,
    all_assignments,
    make_pool,
    opened_pool,
    patch,
    upload,
)
from toloka_emulator import EmulatorProcess

MANUAL = {"auto_accept_solutions": False, "auto_accept_period_day": 3}
ONE = {"defaults": {"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1}}


def submitted(api: Api, emu: EmulatorProcess, n: int = 4) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pool, _ = opened_pool(api, n=n, **MANUAL)
    emu.advance(3600)
    found = all_assignments(api, pool["id"])
    assert found and {a["status"] for a in found} == {"SUBMITTED"}
    return pool, found


def conflict(resp: Any, current: str) -> dict[str, Any]:
    assert resp.status_code == 409, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == "INAPPROPRIATE_STATUS" and body["payload"]["status"] == current
    return body


def test_accept_returns_the_full_assignment_and_a_repeat_is_409(api: Api, emu: EmulatorProcess) -> None:
    _, found = submitted(api, emu)
    first = found[0]
    resp = patch(api, first["id"], "ACCEPTED", "well done")
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["status"] == "ACCEPTED" and got["public_comment"] == "well done"
    assert got["accepted"] >= got["submitted"] and "rejected" not in got
    assert got["tasks"] == first["tasks"] and got["solutions"] == first["solutions"]
    assert api.get_json(f"/assignments/{first['id']}") == got
    body = conflict(patch(api, first["id"], "ACCEPTED"), "ACCEPTED")
    assert body["payload"]["appropriate_statuses"] == ["SUBMITTED", "REJECTED"]
    conflict(patch(api, first["id"], "REJECTED", "changed my mind"), "ACCEPTED")  # never ACCEPTED -> REJECTED


def test_reject_then_accept_after_an_appeal(api: Api, emu: EmulatorProcess) -> None:
    _, found = submitted(api, emu)
    aid = found[1]["id"]
    rejected = patch(api, aid, "REJECTED", "wrong labels").json()
    assert rejected["status"] == "REJECTED" and rejected["rejected"] >= rejected["submitted"]
    assert rejected["public_comment"] == "wrong labels"
    conflict(patch(api, aid, "REJECTED", "again"), "REJECTED")
    accepted = patch(api, aid, "ACCEPTED", "appeal granted").json()
    assert accepted["status"] == "ACCEPTED" and accepted["accepted"] >= accepted["rejected"]
    assert accepted["public_comment"] == "appeal granted"
    stats = emu.stats()["assignments_by_pool"][found[1]["pool_id"]]
    assert stats == {"SUBMITTED": len(found) - 1, "ACCEPTED": 1}


def test_rejecting_needs_a_comment_unless_configured(api: Api, emu: EmulatorProcess) -> None:
    _, found = submitted(api, emu)
    aid = found[0]["id"]
    for comment in (None, "", "   "):
        resp = patch(api, aid, "REJECTED", comment)
        assert resp.status_code == 400, resp.text
        assert resp.json()["code"] == "VALIDATION_ERROR"
        assert resp.json()["payload"]["public_comment"]["code"] == "VALUE_REQUIRED"
    too_long = patch(api, aid, "REJECTED", "x" * 2049)
    assert too_long.json()["payload"]["public_comment"]["code"] == "VALUE_TOO_LONG"
    assert patch(api, aid, "ACCEPTED", None).status_code == 200  # accepting needs no comment
    emu.configure(reject_needs_comment=False)
    resp = patch(api, found[1]["id"], "REJECTED", None)
    assert resp.status_code == 200 and "public_comment" not in resp.json()


def test_bad_bodies_and_unknown_ids(api: Api, emu: EmulatorProcess) -> None:
    _, found = submitted(api, emu, n=2)
    aid = found[0]["id"]
    assert patch(api, aid, "DONE").json()["payload"]["status"]["code"] == "UNKNOWN_ENUM_VALUE"
    no_status = api.session.patch(f"{api.base}/api/v1/assignments/{aid}", json={"public_comment": "x"})
    assert no_status.status_code == 400 and no_status.json()["payload"]["status"]["code"] == "VALUE_REQUIRED"
    missing = patch(api, "0000000000--000000000000000000000000", "ACCEPTED")
    assert missing.status_code == 404 and missing.json()["code"] == "DOES_NOT_EXIST"
    assert api.get_json(f"/assignments/{aid}")["status"] == "SUBMITTED"


def test_active_and_skipped_assignments_cannot_be_reviewed(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=1)
    pool, _ = opened_pool(api, n=1, **ONE)
    emu.advance(1)
    (active,) = all_assignments(api, pool["id"])
    assert active["status"] == "ACTIVE"
    conflict(patch(api, active["id"], "ACCEPTED"), "ACTIVE")
    emu.configure(crowd_skip=1.0)
    other, _ = opened_pool(api, n=1, **ONE)
    emu.advance(3600)
    skipped = all_assignments(api, other["id"], status="SKIPPED")
    assert skipped
    conflict(patch(api, skipped[0]["id"], "REJECTED", "no"), "SKIPPED")


def test_no_review_once_the_pool_is_archived(api: Api, emu: EmulatorProcess) -> None:
    pool, found = submitted(api, emu, n=2)
    assert api.get_json(f"/pools/{pool['id']}")["status"] == "CLOSED"
    act(api, f"/pools/{pool['id']}/archive")
    resp = patch(api, found[0]["id"], "ACCEPTED")
    body = conflict(resp, "SUBMITTED")
    assert body["payload"]["pool_status"] == "ARCHIVED"


def test_the_review_period_accepts_what_is_left_and_keeps_rejections(api: Api, emu: EmulatorProcess) -> None:
    pool, found = submitted(api, emu, n=4)
    assert patch(api, found[0]["id"], "REJECTED", "bad").status_code == 200
    emu.advance(2 * 86_400)
    assert {a["status"] for a in all_assignments(api, pool["id"])} == {"SUBMITTED", "REJECTED"}
    emu.advance(86_400)
    after = {a["id"]: a for a in all_assignments(api, pool["id"])}
    assert after[found[0]["id"]]["status"] == "REJECTED"
    assert {a["status"] for aid, a in after.items() if aid != found[0]["id"]} == {"ACCEPTED"}
    conflict(patch(api, found[1]["id"], "REJECTED", "too late"), "ACCEPTED")


def test_control_tasks_are_answered_at_the_crowd_accuracy(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_accuracy=0.9)
    mixer = {"real_tasks_count": 3, "golden_tasks_count": 2, "training_tasks_count": 0}
    pool = make_pool(api, mixer_config=mixer)
    upload(api, pool["id"], 60, truth="pos")
    golden = [{"output_values": {"label": "neg"}, "correctness_weight": 1}]
    upload(api, pool["id"], 30, truth="neg", known_solutions=golden, infinite_overlap=True)
    act(api, f"/pools/{pool['id']}/open")
    emu.advance(6 * 3600)
    right = total = 0
    for a in all_assignments(api, pool["id"], status="ACCEPTED"):
        controls = [
            (t, s) for t, s in zip(a["tasks"], a["solutions"], strict=True) if t.get("known_solutions")
        ]
        assert len(controls) == 2 and len(a["tasks"]) <= 5
        for task, solution in controls:
            total += 1
            right += solution["output_values"] == task["known_solutions"][0]["output_values"]
    assert total >= 100 and 0.8 <= right / total <= 0.97
