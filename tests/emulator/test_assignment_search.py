"""``GET /assignments``: every filter and sort of docs/toloka-api.md L6.2, checked against the pool's full list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.emulator.api import Api
from tests.emulator.lifecycle import CROWD_ARGS, all_assignments, opened_pool, patch
from toloka_emulator import EmulatorProcess

TIMES = ("created", "submitted", "accepted", "rejected", "skipped", "expired")
OPS = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(extra_args=CROWD_ARGS) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def pool(emu: EmulatorProcess) -> tuple[Api, str, list[dict[str, Any]]]:
    """A manual-review pool the crowd finished (some skips and expiries), then partly accepted and rejected."""
    emu.reset()
    emu.configure(crowd_skip=0.2, crowd_abandon=0.1)
    api = Api(emu.url)
    created, _ = opened_pool(api, n=12, auto_accept_solutions=False)
    emu.advance(7200)
    pid = created["id"]
    for i, a in enumerate(all_assignments(api, pid, status="SUBMITTED")):
        if i % 3 == 0:
            emu.advance(1)  # review stamps of their own
            assert patch(api, a["id"], "ACCEPTED").status_code == 200
        elif i % 3 == 1:
            assert patch(api, a["id"], "REJECTED", "no").status_code == 200
    emu.restore_config()
    every = all_assignments(api, pid)
    assert {a["status"] for a in every} >= {"SUBMITTED", "ACCEPTED", "REJECTED", "SKIPPED"}
    return api, pid, every


def search(api: Api, pid: str, **params: Any) -> list[dict[str, Any]]:
    page = api.get_json("/assignments", pool_id=pid, limit=100_000, **params)
    assert page["has_more"] is False
    return page["items"]  # type: ignore[no-any-return]


def test_one_of_pool_suite_or_task_is_required(pool: tuple[Api, str, list[dict[str, Any]]]) -> None:
    api, _, every = pool
    resp = api.get("/assignments", status="ACCEPTED")
    assert resp.status_code == 400 and resp.json()["payload"]["pool_id"]["code"] == "VALUE_REQUIRED"
    a = every[0]
    assert api.get_json("/assignments", task_suite_id=a["task_suite_id"])["items"] == [a]
    task_id = a["tasks"][0]["id"]
    by_task = api.get_json("/assignments", task_id=task_id, limit=1000)["items"]
    assert by_task == [x for x in every if task_id in [t["id"] for t in x["tasks"]]]


def test_status_list_and_user(pool: tuple[Api, str, list[dict[str, Any]]]) -> None:
    api, pid, every = pool
    for wanted in ("ACCEPTED", "REJECTED,SUBMITTED", "SKIPPED,EXPIRED,ACCEPTED"):
        assert search(api, pid, status=wanted) == [a for a in every if a["status"] in wanted.split(",")]
    assert api.get("/assignments", pool_id=pid, status="ACCEPTED,DONE").status_code == 400
    user = every[-1]["user_id"]
    assert search(api, pid, user_id=user) == [a for a in every if a["user_id"] == user]


def test_id_bounds_compare_as_strings(pool: tuple[Api, str, list[dict[str, Any]]]) -> None:
    api, pid, every = pool
    middle = every[len(every) // 2]["id"]
    for op, test in OPS.items():
        assert search(api, pid, **{f"id_{op}": middle}) == [a for a in every if test(a["id"], middle)], op
    prefix = middle[:12]  # not an id at all: still a string bound
    assert search(api, pid, id_gte=prefix) == [a for a in every if a["id"] >= prefix]


def test_every_time_filter_excludes_missing_times(pool: tuple[Api, str, list[dict[str, Any]]]) -> None:
    api, pid, every = pool
    for key in TIMES:
        stamps = sorted(a[key] for a in every if a.get(key))
        if not stamps:
            continue
        bound = stamps[len(stamps) // 2]
        for op, test in OPS.items():
            want = [a for a in every if a.get(key) and test(a[key], bound)]
            assert search(api, pid, **{f"{key}_{op}": bound}) == want, (key, op)
            # toloka-kit's six fraction digits: the same instant
            assert search(api, pid, **{f"{key}_{op}": bound + "000"}) == want, (key, op)
    assert {a["status"] for a in search(api, pid, rejected_gte="2000-01-01")} == {"REJECTED"}
    assert search(api, pid, created_lt="2000-01-01") == []
    whole_seconds = every[0]["created"][:19]  # no fraction digits, with Z
    assert search(api, pid, created_gte=whole_seconds + "Z") == every
    assert api.get("/assignments", pool_id=pid, created_gt="yesterday").status_code == 400


def test_sub_millisecond_bounds_round_the_right_way(pool: tuple[Api, str, list[dict[str, Any]]]) -> None:
    api, pid, every = pool
    stamp = every[0]["created"]
    just_after = stamp + "400"  # 0.4 ms after the stored instant
    assert every[0] not in search(api, pid, created_gte=just_after)
    assert every[0] in search(api, pid, created_lt=just_after)
    assert every[0] in search(api, pid, created_lte=just_after)
    assert every[0] not in search(api, pid, created_gt=just_after)


def test_multi_key_sort(pool: tuple[Api, str, list[dict[str, Any]]]) -> None:
    api, pid, every = pool
    got = search(api, pid, sort="-submitted,id")
    want = sorted(every, key=lambda a: a["id"])
    want.sort(key=lambda a: a.get("submitted") or "", reverse=True)
    assert got == want
    assert api.get("/assignments", pool_id=pid, sort="reward").status_code == 400
    by_user = search(api, pid, sort="created,-id")
    assert [a["created"] for a in by_user] == sorted(a["created"] for a in every)
    assert search(api, pid, sort="-id") == every[::-1]


def test_limit_default_clamp_and_has_more(
    pool: tuple[Api, str, list[dict[str, Any]]], emu: EmulatorProcess
) -> None:
    api, pid, every = pool
    assert len(every) > 7
    default = api.get_json("/assignments", pool_id=pid)
    assert default["items"] == every[:50] and default["has_more"] is (len(every) > 50)
    page = api.get_json("/assignments", pool_id=pid, limit=len(every) - 1)
    assert page["has_more"] is True and len(page["items"]) == len(every) - 1
    exact = api.get_json("/assignments", pool_id=pid, limit=len(every))
    assert exact["has_more"] is False
    try:
        emu.configure(assignments_max_limit=5)
        clamped = api.get_json("/assignments", pool_id=pid, limit=1000)
        assert clamped["items"] == every[:5] and clamped["has_more"] is True
    finally:
        emu.restore_config()
    assert api.get("/assignments", pool_id=pid, limit=0).status_code == 400
    assert api.get("/assignments", pool_id=pid, limit="ten").status_code == 400
