"""``/skills``, ``/user-skills``, ``/user-restrictions``, and what they do to the crowd: a banned Toloker takes no
more suites in the ban's scope until it ends or is lifted, and a pool ``filter`` on skills admits only the Tolokers
who pass it.

The crowd runs with ``time_scale 0`` (fixture ``emu``): it moves only when a test advances the time.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from tests.emulator.api import Api
from tests.emulator.lifecycle import act, all_assignments, make_pool, make_project, upload
from toloka_emulator import EmulatorProcess
from toloka_emulator.clock import Clock
from toloka_emulator.pools import Pool
from toloka_emulator.restrictions import Access, Restrictions
from toloka_emulator.skills import Skills, UserSkills, passes, round_half_up

V1 = "/api/v1"


def put(api: Api, path: str, body: Any) -> requests.Response:
    return api.session.put(f"{api.base}{V1}{path}", json=body)


def delete(api: Api, path: str) -> requests.Response:
    return api.session.delete(f"{api.base}{V1}{path}")


def codes(resp: requests.Response) -> dict[str, str]:
    assert resp.status_code == 400, resp.text
    return {k: v["code"] for k, v in resp.json()["payload"].items()}


def skill(api: Api, name: str = "quality", **extra: Any) -> dict[str, Any]:
    resp = api.post("/skills", {"name": name, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def workers_of(api: Api, pool_id: str) -> Counter[str]:
    return Counter(a["user_id"] for a in all_assignments(api, pool_id))


def open_pool(api: Api, n: int = 20, project_id: str | None = None, **extra: Any) -> str:
    pool = make_pool(api, project_id, **extra)
    upload(api, pool["id"], n)
    act(api, f"/pools/{pool['id']}/open")
    return str(pool["id"])


# ---------------------------------------------------------------------------------------------- skills


def test_skills_create_read_replace_and_list(api: Api) -> None:
    first = skill(api, "accuracy", public_name={"EN": "Accuracy"})
    assert first["hidden"] is True and first["training"] is False and first["global"] is False
    assert first["owner"]["myself"] is True and first["created"] and first["id"].isdigit()
    assert api.get_json(f"/skills/{first['id']}") == first
    second = skill(api, "speed", hidden=False)
    replaced = put(api, f"/skills/{first['id']}", {**first, "name": "accuracy 2", "id": "x", "global": True})
    assert replaced.status_code == 200, replaced.text
    got = replaced.json()
    assert (got["id"], got["global"], got["created"], got["name"]) == (
        first["id"],
        False,
        first["created"],
        "accuracy 2",
    )
    # a full replacement: what the body leaves out goes back to its default
    assert "public_name" not in put(api, f"/skills/{first['id']}", {"name": "bare"}).json()
    assert codes(api.post("/skills", {"hidden": True})) == {"name": "VALUE_REQUIRED"}
    assert codes(put(api, f"/skills/{first['id']}", {})) == {"name": "VALUE_REQUIRED"}
    assert put(api, "/skills/999", {"name": "n"}).status_code == 404
    assert api.get("/skills/999").status_code == 404
    assert api.get_json("/skills", name="speed")["items"] == [second]
    page = api.get_json("/skills", sort="id", limit=1)
    assert page["has_more"] is True and page["items"][0]["id"] == first["id"]
    assert api.get_json("/skills", id_gt=first["id"])["items"] == [second]
    assert api.get_json("/skills", sort="-id")["items"][0] == second
    assert api.get_json("/skills", created_gt=second["created"])["items"] == []
    assert api.get("/skills", limit=101).status_code == 400
    assert api.get("/skills", limit=100).status_code == 200
    assert delete(api, f"/skills/{first['id']}").status_code == 405


def test_user_skills_upsert_round_half_up_and_keep_created(api: Api, emu: EmulatorProcess) -> None:
    sid = skill(api)["id"]
    user = emu.stats()["crowd"]["user_ids"][0]
    new = put(api, "/user-skills", {"skill_id": sid, "user_id": user, "value": 59.5})
    assert new.status_code == 201, new.text
    first = new.json()
    assert (first["value"], first["exact_value"], first["skill_id"]) == (60, 59.5, sid)
    assert first["created"] == first["modified"]
    emu.advance(5)
    again = put(api, "/user-skills", {"skill_id": int(sid), "user_id": user, "value": 20.4, "reason": "r"})
    assert again.status_code == 200, again.text
    second = again.json()
    assert (second["id"], second["created"], second["value"], second["exact_value"]) == (
        first["id"], first["created"], 20, 20.4,
    )  # fmt: skip
    assert second["modified"] > first["modified"]
    assert api.get_json(f"/user-skills/{first['id']}") == second
    assert api.get_json("/user-skills", user_id=user)["items"] == [second]
    assert api.get_json("/user-skills", skill_id=sid, modified_gt=first["modified"])["items"] == [second]
    assert api.get_json("/user-skills", modified_gt=second["modified"])["items"] == []
    assert api.get("/user-skills", limit=1001).status_code == 400
    assert delete(api, f"/user-skills/{first['id']}").status_code == 204
    assert api.get(f"/user-skills/{first['id']}").status_code == 404
    assert delete(api, f"/user-skills/{first['id']}").status_code == 404


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (100.5, "VALUE_GREATER_THAN_MAX"),
        (-0.1, "VALUE_LESS_THAN_MIN"),
        ("high", "FLOAT_EXPECTED"),
        (None, "VALUE_REQUIRED"),
    ],
)
def test_user_skill_values_stay_within_0_to_100(api: Api, value: Any, code: str) -> None:
    sid = skill(api)["id"]
    assert codes(put(api, "/user-skills", {"skill_id": sid, "user_id": "u1", "value": value})) == {
        "value": code
    }
    assert put(api, "/user-skills", {"skill_id": sid, "user_id": "u1", "value": 100}).status_code == 201
    assert put(api, "/user-skills", {"skill_id": sid, "user_id": "u2", "value": 0}).status_code == 201


def test_user_skill_needs_a_known_skill_and_a_user(api: Api) -> None:
    assert codes(put(api, "/user-skills", {"skill_id": "404", "value": 1})) == {
        "skill_id": "ENTITY_DOES_NOT_EXIST", "user_id": "VALUE_REQUIRED",
    }  # fmt: skip


def test_round_half_up() -> None:
    assert [round_half_up(v) for v in (0.5, 1.5, 2.5, 59.7, 59.49, 100)] == [1, 2, 3, 60, 59, 100]


# ---------------------------------------------------------------------------------------------- restrictions


def test_restrictions_upsert_per_target_and_validate(api: Api) -> None:
    body = {"scope": "POOL", "user_id": "u1", "pool_id": 7, "private_comment": "bad"}
    first = put(api, "/user-restrictions", body)
    assert first.status_code == 200, first.text
    got = first.json()
    assert (got["pool_id"], got["scope"], got["private_comment"]) == (
        "7",
        "POOL",
        "bad",
    ) and "will_expire" not in got
    again = put(api, "/user-restrictions", {**body, "will_expire": "2030-01-02T03:04:05.678912Z"}).json()
    assert (again["id"], again["created"], again["will_expire"]) == (
        got["id"],
        got["created"],
        "2030-01-02T03:04:05.678",
    )
    other = put(api, "/user-restrictions", {**body, "pool_id": "8"}).json()
    assert other["id"] != got["id"]
    everywhere = put(api, "/user-restrictions", {"scope": "ALL_PROJECTS", "user_id": "u1"}).json()
    assert api.get_json("/user-restrictions", pool_id="7")["items"] == [again]
    assert api.get_json("/user-restrictions", scope="ALL_PROJECTS")["items"] == [everywhere]
    assert len(api.get_json("/user-restrictions", user_id="u1")["items"]) == 3
    assert api.get_json(f"/user-restrictions/{other['id']}") == other
    assert api.get("/user-restrictions", limit=501).status_code == 400
    assert delete(api, f"/user-restrictions/{other['id']}").status_code == 204
    assert api.get(f"/user-restrictions/{other['id']}").status_code == 404
    assert codes(put(api, "/user-restrictions", {"scope": "PROJECT", "user_id": "u1"})) == {
        "project_id": "VALUE_REQUIRED"
    }
    assert codes(put(api, "/user-restrictions", {"scope": "POOL", "user_id": "u1"})) == {
        "pool_id": "VALUE_REQUIRED"
    }
    assert codes(put(api, "/user-restrictions", {"scope": "NOWHERE", "user_id": "u1"})) == {
        "scope": "UNKNOWN_ENUM_VALUE"
    }
    long = {"scope": "ALL_PROJECTS", "user_id": "u1", "private_comment": "x" * 500}
    assert codes(put(api, "/user-restrictions", long)) == {"private_comment": "VALUE_TOO_LONG"}
    assert put(api, "/user-restrictions", {**long, "private_comment": "x" * 499}).status_code == 200
    system = put(api, "/user-restrictions", {"scope": "SYSTEM", "user_id": "u1"})
    assert system.status_code == 409 and system.json()["code"] == "SYSTEM_SCOPE_MODIFICATION"


def ban(api: Api, user: str, scope: str, **target: Any) -> dict[str, Any]:
    resp = put(api, "/user-restrictions", {"scope": scope, "user_id": user, **target})
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("scope", ["POOL", "PROJECT", "ALL_PROJECTS"])
def test_a_banned_toloker_takes_no_suites_in_the_scope(api: Api, emu: EmulatorProcess, scope: str) -> None:
    users = emu.stats()["crowd"]["user_ids"]
    project = make_project(api)
    banned_pool = make_pool(api, project)["id"]
    target = {"POOL": {"pool_id": banned_pool}, "PROJECT": {"project_id": project}, "ALL_PROJECTS": {}}[scope]
    ban(api, users[0], scope, **target)
    other_project_pool = open_pool(api)  # outside every scope but ALL_PROJECTS
    upload(api, banned_pool, 20)
    act(api, f"/pools/{banned_pool}/open")
    emu.advance(3600)
    assert users[0] not in workers_of(api, banned_pool)
    assert len(workers_of(api, banned_pool)) >= 3
    assert (users[0] in workers_of(api, other_project_pool)) is (scope != "ALL_PROJECTS")


def test_a_ban_ends_at_will_expire_or_when_lifted(api: Api, emu: EmulatorProcess) -> None:
    users = emu.stats()["crowd"]["user_ids"]
    now = datetime.fromisoformat(emu.stats()["time"]["now"]).replace(tzinfo=timezone.utc)
    timed = ban(api, users[0], "ALL_PROJECTS", will_expire=(now + timedelta(minutes=20)).isoformat())
    lifted = ban(api, users[1], "ALL_PROJECTS")
    pool = open_pool(api, n=1000)  # work enough for the whole test: nobody is woken by new tasks
    emu.advance(600)
    assert not {users[0], users[1]} & set(workers_of(api, pool))
    emu.advance(1200)  # past will_expire: the first is back, the second is still out
    assert users[0] in workers_of(api, pool) and users[1] not in workers_of(api, pool)
    assert delete(api, f"/user-restrictions/{lifted['id']}").status_code == 204
    emu.advance(600)
    assert users[1] in workers_of(api, pool)
    assert timed["will_expire"]


def test_a_skill_filter_admits_only_tolokers_who_pass_it(api: Api, emu: EmulatorProcess) -> None:
    users = emu.stats()["crowd"]["user_ids"]
    sid = skill(api)["id"]
    for user, value in zip(users[:3], (80, 50, 70.5), strict=True):
        assert put(api, "/user-skills", {"skill_id": sid, "user_id": user, "value": value}).status_code == 201
    rule = {"and": [{"or": [{"category": "skill", "key": sid, "operator": "gte", "value": "70"}]}]}
    overlap_2 = {"default_overlap_for_new_tasks": 2, "default_overlap_for_new_task_suites": 2}
    pool = open_pool(api, n=30, filter=rule, defaults=overlap_2)
    emu.advance(3600)
    assert set(workers_of(api, pool)) == {users[0], users[2]}
    # a changed value counts from then on, in a pool the crowd already judged
    busy = open_pool(api, n=300, filter=rule, defaults=overlap_2)
    emu.advance(300)
    assert set(workers_of(api, busy)) == {users[0], users[2]}
    put(api, "/user-skills", {"skill_id": sid, "user_id": users[1], "value": 90})
    changed = put(api, "/user-skills", {"skill_id": sid, "user_id": users[2], "value": 10}).json()["modified"]
    emu.advance(600)
    assert users[1] in workers_of(api, busy)
    late = {a["user_id"] for a in all_assignments(api, busy) if a["created"] > changed}
    assert users[2] not in late and users[0] in late
    assert api.get_json(f"/pools/{busy}")["status"] == "OPEN"


def test_no_skill_filter_admits_only_tolokers_without_it(api: Api, emu: EmulatorProcess) -> None:
    users = emu.stats()["crowd"]["user_ids"]
    sid = skill(api)["id"]
    put(api, "/user-skills", {"skill_id": sid, "user_id": users[0], "value": 10})
    rule = {"category": "skill", "key": int(sid), "operator": "EQ", "value": None}
    pool = open_pool(api, n=20, filter=rule)
    emu.advance(3600)
    got = set(workers_of(api, pool))
    assert users[0] not in got and len(got) >= 3


def test_filter_evaluation() -> None:
    def leaf(op: str, value: Any, key: str = "1") -> dict[str, Any]:
        return {"category": "skill", "key": key, "operator": op, "value": value}

    has = {"1": 60.0}
    assert passes(None, {}) and passes({}, has)
    assert passes(leaf("GT", 59.7), has) and not passes(leaf("GT", 60), has)
    assert passes(leaf("gte", 60), has) and passes(leaf("LTE", "60"), has) and not passes(leaf("LT", 60), has)
    assert passes(leaf("EQ", 60), has) and passes(leaf("NE", 61), has) and not passes(leaf("NE", 60), has)
    assert (
        not passes(leaf("LT", 100), {}) and not passes(leaf("NE", 5), {}) and not passes(leaf("GTE", 0), {})
    )
    assert passes(leaf("EQ", None), {}) and not passes(leaf("EQ", None), has)
    assert passes(leaf("NE", None), has) and not passes(leaf("NE", None), {})
    assert (
        not passes(leaf("GT", None), has)
        and not passes(leaf("LTE", ""), {})
        and not passes(leaf("GT", "x"), has)
    )
    assert passes({"or": [leaf("GT", 90), leaf("EQ", None, "2")]}, has)
    assert not passes({"and": [leaf("GT", 10), {"or": [leaf("GT", 90), leaf("EQ", 1, "2")]}]}, has)
    profile = {"category": "profile", "key": "gender", "operator": "EQ", "value": "male"}
    assert passes({"and": [profile, leaf("GT", 10)]}, has) and not passes(
        {"and": [profile, leaf("GT", 70)]}, has
    )


def test_access_is_cached_until_a_store_or_the_filter_changes() -> None:
    clock = Clock()
    skills = Skills(clock.now_stamp, iter(f"{i:05d}" for i in range(100)).__next__)
    user_skills = UserSkills(skills, clock.now_stamp, iter(f"{i:05d}" for i in range(100, 200)).__next__)
    restrictions = Restrictions(clock, iter(f"{i:05d}" for i in range(200, 300)).__next__)
    access = Access(restrictions, user_skills, clock)
    sid = skills.create({"name": "s"})["id"]
    pool = Pool("7", "OPEN", "", None, None, {}, project_id="3", body={})
    assert access.admits("u", pool)
    pool.body = {"filter": {"category": "skill", "key": sid, "operator": "GT", "value": 50}}  # as a PUT does
    assert not access.admits("u", pool)
    user_skills.put({"skill_id": sid, "user_id": "u", "value": 60})
    assert access.admits("u", pool)
    ban = restrictions.put({"scope": "PROJECT", "user_id": "u", "project_id": 3})
    assert not access.admits("u", pool) and access.admits(
        "v", Pool("8", "OPEN", "", None, None, {}, project_id="3")
    )
    restrictions.delete(ban["id"])
    assert access.admits("u", pool)
    soon = clock.wall(clock.now() + 60).isoformat()
    restrictions.put({"scope": "POOL", "user_id": "u", "pool_id": "7", "will_expire": soon})
    assert not access.admits("u", pool)
    clock.offset += 61  # the ban ends on the emulator clock, with nothing else changing
    assert access.admits("u", pool)
