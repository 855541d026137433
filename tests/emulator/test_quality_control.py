"""A pool's ``quality_control.configs``: checked on create, update and clone, then run as the crowd submits.

The crowd runs with ``time_scale 0`` and a seed (fixture ``emu``): it moves only when a test advances the time.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import pytest

from tests.emulator.api import Api
from tests.emulator.lifecycle import act, all_assignments, codes, make_pool, make_project, pool_body, upload
from toloka_emulator import EmulatorProcess
from toloka_emulator.quality import golden_stats, holds

V1 = "/api/v1"
GOLDEN = [{"output_values": {"label": "pos"}}]
MIXED = {"real_tasks_count": 1, "golden_tasks_count": 1, "training_tasks_count": 0}


def rule(
    key: str, op: str, value: Any, action: dict[str, Any], *more: tuple[str, str, Any]
) -> dict[str, Any]:
    conditions = [{"key": k, "operator": o, "value": v} for k, o, v in [(key, op, value), *more]]
    return {"conditions": conditions, "action": action}


def qc(kind: str, *rules: dict[str, Any], **parameters: Any) -> dict[str, Any]:
    collector: dict[str, Any] = {"type": kind}
    if parameters:
        collector["parameters"] = parameters
    return {"configs": [{"collector_config": collector, "rules": list(rules)}]}


def ban(scope: str = "POOL", **extra: Any) -> dict[str, Any]:
    return {
        "type": "RESTRICTION_V2",
        "parameters": {"scope": scope, "duration": 1, "duration_unit": "DAYS", **extra},
    }


def skill_id(api: Api) -> str:
    resp = api.post("/skills", {"name": "qc"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def restrictions(api: Api, pool_id: str) -> dict[str, dict[str, Any]]:
    return {r["user_id"]: r for r in api.get_json("/user-restrictions", pool_id=pool_id, limit=500)["items"]}


def user_skills(api: Api, sid: str) -> dict[str, dict[str, Any]]:
    return {s["user_id"]: s for s in api.get_json("/user-skills", skill_id=sid, limit=1000)["items"]}


def controls(api: Api, pool_id: str) -> dict[str, list[bool]]:
    """Per Toloker, in submit order, whether each control answer matched the known solution."""
    got: dict[str, list[bool]] = defaultdict(list)
    submitted = [a for a in all_assignments(api, pool_id) if a.get("submitted")]
    for a in sorted(submitted, key=lambda a: (a["submitted"], a["id"])):
        for task, sol in zip(a["tasks"], a["solutions"], strict=True):
            if task.get("known_solutions"):
                got[a["user_id"]].append(sol["output_values"] == task["known_solutions"][0]["output_values"])
    return got


def golden_pool(api: Api, quality: dict[str, Any], n: int = 40) -> str:
    pool = make_pool(api, mixer_config=MIXED, quality_control=quality)
    upload(api, pool["id"], n)
    upload(api, pool["id"], 5, known_solutions=GOLDEN, infinite_overlap=True)
    act(api, f"/pools/{pool['id']}/open")
    return str(pool["id"])


def plain_pool(api: Api, quality: dict[str, Any], n: int = 40, **extra: Any) -> str:
    pool = make_pool(api, quality_control=quality, **extra)
    upload(api, pool["id"], n)
    act(api, f"/pools/{pool['id']}/open")
    return str(pool["id"])


def per_user(api: Api, pool_id: str) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for a in all_assignments(api, pool_id):
        counts[a["user_id"]] += 1
    return counts


# ---------------------------------------------------------------------------------------------- validation


def test_uuid_is_assigned_kept_and_survives_update_and_clone(api: Api) -> None:
    project = make_project(api)
    quality = qc("GOLDEN_SET", rule("golden_set_answers_count", "GTE", "3", ban()), history_size=10)
    quality["configs"].append({"collector_config": {"type": "ANSWER_COUNT", "uuid": "given-1"}, "rules": []})
    created = make_pool(api, project, quality_control=quality)
    configs = created["quality_control"]["configs"]
    assigned = configs[0]["collector_config"]["uuid"]
    assert len(assigned) == 36 and configs[1]["collector_config"]["uuid"] == "given-1"
    assert configs[0]["rules"][0]["conditions"][0]["value"] == 3  # numeric string coerced
    body = pool_body(project, quality_control=created["quality_control"])
    replaced = api.session.put(f"{api.base}{V1}/pools/{created['id']}", json=body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["quality_control"]["configs"][0]["collector_config"]["uuid"] == assigned
    op = act(api, f"/pools/{created['id']}/clone")
    clone = api.get_json(f"/pools/{op['details']['pool_id']}")
    assert clone["quality_control"]["configs"][0]["collector_config"]["uuid"] == assigned


def test_unknown_key_action_operator_or_rate_is_a_validation_error(api: Api) -> None:
    project = make_project(api)
    quality = qc(
        "ASSIGNMENT_SUBMIT_TIME",
        rule("golden_set_answers_count", "GTE", 1, ban()),
        rule("fast_submitted_count", "ABOUT", 1, {"type": "SET_SKILL_FROM_OUTPUT_FIELD", "parameters": {}}),
        fast_submit_threshold_seconds=5,
    )
    quality["configs"].append(qc("GOLDEN_SET", rule("correct_answers_rate", "LT", 150, ban()))["configs"][0])
    quality["configs"].append(
        qc("ASSIGNMENTS_ASSESSMENT", rule("assessment_event", "EQ", "REJECT", ban()))["configs"][0]
    )
    quality["configs"].append({"collector_config": {"type": "NOPE"}, "rules": []})
    got = codes(api.post("/pools", pool_body(project, quality_control=quality)))
    base = "quality_control.configs"
    assert got == {
        f"{base}[0].rules[0].conditions[0].key": "UNKNOWN_ENUM_VALUE",
        f"{base}[0].rules[1].conditions[0].operator": "UNKNOWN_ENUM_VALUE",
        f"{base}[0].rules[1].action.type": "UNKNOWN_ENUM_VALUE",
        f"{base}[1].rules[0].conditions[0].value": "VALUE_OUT_OF_RANGE",
        f"{base}[2].rules[0].action.type": "UNKNOWN_ENUM_VALUE",
        f"{base}[3].collector_config.type": "UNKNOWN_ENUM_VALUE",
    }


def test_collectors_not_modelled_are_stored_and_echoed(api: Api) -> None:
    change = {"type": "CHANGE_OVERLAP", "parameters": {"delta": 1, "open_pool": True}}
    quality = qc("INCOME", rule("income_sum_for_last_24_hours", "GT", 1.5, ban()))
    for extra in (
        qc("USERS_ASSESSMENT", rule("pool_access_revoked_reason", "EQ", "RESTRICTION", change)),
        qc("CAPTCHA", rule("fail_rate", "GT", 50, ban()), history_size=5),
        qc("ACCEPTANCE_RATE", rule("rejected_assignments_rate", "GT", 30, ban())),
    ):
        quality["configs"] += extra["configs"]
    created = make_pool(api, quality_control=quality)
    assert [c["collector_config"]["type"] for c in created["quality_control"]["configs"]] == [
        "INCOME",
        "USERS_ASSESSMENT",
        "CAPTCHA",
        "ACCEPTANCE_RATE",
    ]


def test_conditions_are_anded_and_a_missing_figure_fails() -> None:
    stats = golden_stats([True, False, True, True])
    assert stats["golden_set_correct_answers_rate"] == 75.0 and stats["incorrect_answers_rate"] == 25.0
    both = [{"key": "total_answers_count", "operator": "GTE", "value": 4}]
    assert holds([*both, {"key": "correct_answers_rate", "operator": "LT", "value": 80}], stats)
    assert not holds([*both, {"key": "correct_answers_rate", "operator": "LT", "value": 75}], stats)
    assert not holds([{"key": "correct_answers_rate", "operator": "LTE", "value": 100}], golden_stats([]))
    for op, want in {"EQ": False, "NE": True, "GT": True, "LTE": False}.items():
        assert holds([{"key": "total_answers_count", "operator": op, "value": 3}], stats) is want


# ---------------------------------------------------------------------------------------------- collectors + actions


def test_golden_set_restriction_bans_exactly_who_missed_a_control_task(
    api: Api, emu: EmulatorProcess
) -> None:
    emu.configure(crowd_accuracy=0.6)
    quality = qc(
        "GOLDEN_SET",
        rule(
            "golden_set_answers_count",
            "GTE",
            1,
            ban("POOL", private_comment="controls"),
            ("golden_set_incorrect_answers_rate", "GT", 0),
        ),
    )
    pool = golden_pool(api, quality)
    emu.advance(3600)
    banned = restrictions(api, pool)
    wrong = {user for user, answers in controls(api, pool).items() if not all(answers)}
    assert banned and set(banned) == wrong
    for user, restriction in banned.items():
        assert restriction["scope"] == "POOL" and restriction["private_comment"] == "controls"
        created = [a["created"] for a in all_assignments(api, pool) if a["user_id"] == user]
        assert max(created) <= restriction["created"]  # no suite taken after the ban
        day = datetime.fromisoformat(restriction["will_expire"]) - datetime.fromisoformat(
            restriction["created"]
        )
        assert abs(day.total_seconds() - 86_400) < 5


def test_set_skill_from_output_field_tracks_the_window_rate(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_accuracy=0.6)
    sid, wrong_sid = skill_id(api), skill_id(api)
    copy = {
        "type": "SET_SKILL_FROM_OUTPUT_FIELD",
        "parameters": {"skill_id": sid, "from_field": "correct_answers_rate"},
    }
    alias = {
        "type": "SET_SKILL_FROM_OUTPUT_FIELD",
        "parameters": {"skill_id": wrong_sid, "from_field": "wrong_answers_rate"},
    }
    quality = qc(
        "GOLDEN_SET",
        rule("total_answers_count", "GTE", 1, copy),
        rule("total_answers_count", "GTE", 1, alias),
        history_size=3,
    )
    pool = golden_pool(api, quality)
    emu.advance(3600)
    values, wrong_values = user_skills(api, sid), user_skills(api, wrong_sid)
    answered = controls(api, pool)
    assert answered and set(values) == set(answered)
    for user, answers in answered.items():
        last = answers[-3:]
        assert values[user]["exact_value"] == pytest.approx(100 * sum(last) / len(last))
        assert wrong_values[user]["exact_value"] == pytest.approx(100 - 100 * sum(last) / len(last))


def test_fast_submits_ban_after_two(api: Api, emu: EmulatorProcess) -> None:
    fast = rule("fast_submitted_count", "GTE", 2, ban("PROJECT"))
    pool = plain_pool(api, qc("ASSIGNMENT_SUBMIT_TIME", fast, fast_submit_threshold_seconds=10_000))
    emu.advance(3600)
    counts = per_user(api, pool)
    assert counts and set(counts.values()) == {2}
    assert all(r["scope"] == "PROJECT" for r in api.get_json("/user-restrictions", limit=500)["items"])
    assert len(api.get_json("/user-restrictions", limit=500)["items"]) == len(counts)


def test_slow_submits_are_not_fast(api: Api, emu: EmulatorProcess) -> None:
    fast = rule("fast_submitted_count", "GTE", 1, ban())
    pool = plain_pool(api, qc("ASSIGNMENT_SUBMIT_TIME", fast, fast_submit_threshold_seconds=1))
    emu.advance(3600)
    assert not restrictions(api, pool) and max(per_user(api, pool).values()) > 1


def test_answer_count_caps_work_with_a_legacy_restriction_and_sets_a_skill(
    api: Api, emu: EmulatorProcess
) -> None:
    sid = skill_id(api)
    legacy = {"type": "RESTRICTION", "parameters": {"scope": "POOL", "duration_days": 2}}
    fixed = {"type": "SET_SKILL", "parameters": {"skill_id": sid, "skill_value": 7}}
    quality = qc(
        "ANSWER_COUNT",
        rule("assignments_accepted_count", "GTE", 1, legacy),
        rule("assignments_accepted_count", "EQ", 1, fixed),
    )
    pool = plain_pool(api, quality)
    emu.advance(3600)
    counts = per_user(api, pool)
    banned = restrictions(api, pool)
    assert counts and set(counts.values()) == {1} and set(banned) == set(counts)
    for r in banned.values():
        days = datetime.fromisoformat(r["will_expire"]) - datetime.fromisoformat(r["created"])
        assert abs(days.total_seconds() - 2 * 86_400) < 5
    assert {u: s["value"] for u, s in user_skills(api, sid).items()} == dict.fromkeys(counts, 7)


def test_an_action_missing_what_it_needs_is_a_validation_error(api: Api) -> None:
    quality = qc(
        "ANSWER_COUNT",
        rule(
            "assignments_accepted_count",
            "GTE",
            1,
            {"type": "RESTRICTION_V2", "parameters": {"duration_unit": "WEEKS"}},
        ),
        rule(
            "assignments_accepted_count",
            "GTE",
            1,
            {"type": "SET_SKILL", "parameters": {"skill_id": "1", "skill_value": 150}},
        ),
        rule("assignments_accepted_count", "GTE", 1, {"type": "REJECT_ALL_ASSIGNMENTS", "parameters": {}}),
        rule("assignments_accepted_count", "GTE", 1, ban(duration="1")),
        rule("assignments_accepted_count", "GTE", 1, ban(duration_unit="PERMANENT", duration=None)),
    )
    got = codes(api.post("/pools", pool_body(make_project(api), quality_control=quality)))
    base = "quality_control.configs[0].rules"
    assert got == {
        f"{base}[0].action.parameters.scope": "VALUE_REQUIRED",
        f"{base}[0].action.parameters.duration_unit": "UNKNOWN_ENUM_VALUE",
        f"{base}[1].action.parameters.skill_value": "VALUE_OUT_OF_RANGE",
        f"{base}[2].action.parameters.public_comment": "VALUE_REQUIRED",
        f"{base}[3].action.parameters.duration": "INTEGER_EXPECTED",
    }


def test_a_permanent_restriction_has_no_end(api: Api, emu: EmulatorProcess) -> None:
    permanent = ban("ALL_PROJECTS", duration_unit="PERMANENT", duration=None)
    plain_pool(api, qc("ANSWER_COUNT", rule("assignments_accepted_count", "GTE", 1, permanent)))
    emu.advance(3600)
    got = api.get_json("/user-restrictions", scope="ALL_PROJECTS", limit=500)["items"]
    assert got and all("will_expire" not in r for r in got)


MANUAL: dict[str, Any] = {"auto_accept_solutions": False, "auto_accept_period_day": 2}
REWARD, FEE = 0.02, 0.006


def by_user(api: Api, pool_id: str) -> dict[str, list[dict[str, Any]]]:
    """Per Toloker, their assignments in the order they were finished (submitted or skipped)."""
    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    done = [a for a in all_assignments(api, pool_id) if a.get("submitted") or a.get("skipped")]
    for a in sorted(done, key=lambda a: (a.get("submitted") or a.get("skipped"), a["id"])):
        got[a["user_id"]].append(a)
    return got


def test_skipped_in_row_counts_a_row_that_a_submit_ends(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_skip=0.5)
    skips = rule("skipped_in_row_count", "GTE", 2, ban())
    pool = plain_pool(api, qc("SKIPPED_IN_ROW_ASSIGNMENTS", skips), n=60)
    emu.advance(3600)
    banned, rows = restrictions(api, pool), {}
    for user, done in by_user(api, pool).items():
        longest = run = 0
        for a in done:
            run = run + 1 if a["status"] == "SKIPPED" else 0
            longest = max(longest, run)
        rows[user] = longest
    assert banned
    # someone skipped, then submitted, then skipped again: the submit ended their first row
    assert any(
        "KDK" in "".join("K" if a["status"] == "SKIPPED" else "D" for a in done)
        for done in by_user(api, pool).values()
    )
    assert set(banned) == {user for user, longest in rows.items() if longest >= 2}


def test_reject_all_rejects_the_submitted_work_and_releases_its_money(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_accuracy=0.9)
    reject = {"type": "REJECT_ALL_ASSIGNMENTS", "parameters": {"public_comment": "control tasks"}}
    quality = qc("GOLDEN_SET", rule("incorrect_answers_rate", "GT", 0, reject))
    pool = make_pool(api, mixer_config=MIXED, quality_control=quality, **MANUAL)["id"]
    upload(api, pool, 40)
    upload(api, pool, 20, known_solutions=GOLDEN, infinite_overlap=True)  # a control task in every suite
    act(api, f"/pools/{pool}/open")
    emu.advance(3600)
    wrong = {user for user, answers in controls(api, pool).items() if not all(answers)}
    statuses = {user: {a["status"] for a in done} for user, done in by_user(api, pool).items()}
    assert wrong and set(statuses) > wrong
    for user, seen in statuses.items():
        assert seen == ({"REJECTED"} if user in wrong else {"SUBMITTED"}), user
    rejected = [a for a in all_assignments(api, pool) if a["status"] == "REJECTED"]
    assert all(a["public_comment"] == "control tasks" for a in rejected)
    submitted = sum(len(done) for user, done in by_user(api, pool).items() if user not in wrong)
    assert emu.stats()["money"]["reserved"] == pytest.approx(submitted * (REWARD + FEE), abs=1e-6)


def test_approve_all_accepts_a_tolokers_work_once_the_rule_holds(api: Api, emu: EmulatorProcess) -> None:
    approve = {"type": "APPROVE_ALL_ASSIGNMENTS", "parameters": {}}
    quality = qc("ANSWER_COUNT", rule("assignments_accepted_count", "GTE", 5, approve))
    pool = plain_pool(api, quality, n=30, **MANUAL)
    emu.advance(3600)
    done = by_user(api, pool)
    assert {len(v) >= 5 for v in done.values()} == {True, False}
    for user, mine in done.items():
        assert {a["status"] for a in mine} == ({"ACCEPTED"} if len(mine) >= 5 else {"SUBMITTED"}), user
    accepted = sum(len(v) for v in done.values() if len(v) >= 5)
    assert emu.stats()["money"]["rewards_by_pool"][pool] == pytest.approx(accepted * REWARD, abs=1e-6)


# ---------------------------------------------------------------------------------------------- training gate


def test_a_pool_admits_only_who_passed_its_open_training(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_accuracy=0.8, crowd_accuracy_spread=0.15, crowd_spammers=0.2)
    project = make_project(api)
    body = {
        "project_id": project,
        "private_name": "exam",
        "inherited_instructions": True,
        "training_tasks_in_task_suite_count": 2,
    }
    training = api.post("/trainings", body).json()["id"]
    requirement = {"training_requirement": {"training_pool_id": training, "training_passing_skill_value": 80}}
    pool = make_pool(api, project, quality_control=requirement)["id"]
    upload(api, pool, 200)
    act(api, f"/pools/{pool}/open")
    emu.advance(600)
    assert not all_assignments(api, pool)  # the training is CLOSED: nobody has passed it yet
    upload(api, training, 3, known_solutions=GOLDEN)
    act(api, f"/trainings/{training}/open")
    emu.advance(600)
    profiles = emu.stats()["crowd"]["workers"]
    passing = {w["user_id"] for w in profiles if not w["spammer"] and w["accuracy"] >= 0.8}
    assert passing and len(passing) < len(profiles)
    assert set(per_user(api, pool)) == passing
    act(api, f"/trainings/{training}/close")
    before = len(all_assignments(api, pool))
    emu.advance(600)
    assert len(all_assignments(api, pool)) > before  # a pass is kept after the training closes


def test_majority_vote_scores_complete_tasks_for_everyone_on_them(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd_accuracy=0.6)
    sid = skill_id(api)
    copy = {
        "type": "SET_SKILL_FROM_OUTPUT_FIELD",
        "parameters": {"skill_id": sid, "from_field": "correct_answers_rate"},
    }
    quality = qc("MAJORITY_VOTE", rule("total_answers_count", "GTE", 1, copy), answer_threshold=2)
    pool = plain_pool(api, quality, n=20)
    emu.advance(3600)
    given: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for a in all_assignments(api, pool):
        if a["status"] in ("SUBMITTED", "ACCEPTED"):
            for task, sol in zip(a["tasks"], a["solutions"], strict=True):
                given[task["id"]].append((a["user_id"], sol["output_values"]["label"]))
    scored: dict[str, list[bool]] = defaultdict(list)
    for answers in given.values():
        assert len(answers) == 3
        labels = [label for _, label in answers]
        for user, label in answers:
            scored[user].append(labels.count(label) >= 2)
    values = {u: s["exact_value"] for u, s in user_skills(api, sid).items()}
    assert values == {u: pytest.approx(100 * sum(v) / len(v)) for u, v in scored.items()}
    assert any(0 < v < 100 for v in values.values())


# ---------------------------------------------------------------------------------------------- assessment


def redo_rejected(delta: int = 1, event: str = "REJECT") -> dict[str, Any]:
    change = {"type": "CHANGE_OVERLAP", "parameters": {"delta": delta, "open_pool": True}}
    return qc("ASSIGNMENTS_ASSESSMENT", rule("assessment_event", "EQ", event, change))


def review(api: Api, assignment_id: str, status: str) -> dict[str, Any]:
    body = {"status": status, "public_comment": "checked"}
    resp = api.session.patch(f"{api.base}{V1}/assignments/{assignment_id}", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_a_rejected_suite_gets_one_more_answer_and_its_closed_pool_reopens(
    api: Api, emu: EmulatorProcess
) -> None:
    pool = plain_pool(api, redo_rejected(), n=6, **MANUAL)
    emu.advance(3600)
    assert api.get_json(f"/pools/{pool}")["status"] == "CLOSED"
    first, second = all_assignments(api, pool)[:2]
    review(api, second["id"], "ACCEPTED")  # an ACCEPT does not match the rule: nothing changes
    assert api.get_json(f"/pools/{pool}")["status"] == "CLOSED"
    review(api, first["id"], "REJECTED")
    redone = {t["id"] for t in first["tasks"]}
    tasks = {t["id"]: t for t in api.get_json("/tasks", pool_id=pool, limit=100)["items"]}
    assert {tid: tasks[tid]["overlap"] for tid in redone} == dict.fromkeys(redone, 4)
    assert all(t["overlap"] == 3 for tid, t in tasks.items() if tid not in redone)
    assert api.get_json(f"/pools/{pool}")["status"] == "OPEN"
    emu.advance(3600)
    answers: dict[str, list[str]] = defaultdict(list)
    for a in all_assignments(api, pool):
        for task in a["tasks"]:
            answers[task["id"]].append(a["status"])
    for tid in redone:  # the rejected answer stays; a fourth Toloker answered
        assert len(answers[tid]) == 4 and answers[tid].count("REJECTED") == 1, answers[tid]
    assert api.get_json(f"/pools/{pool}")["status"] == "CLOSED"


def test_a_rejected_stored_suite_gets_its_own_overlap_raised(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api, quality_control=redo_rejected(), **MANUAL)["id"]
    suites = [
        {"pool_id": pool, "overlap": 2, "tasks": [{"input_values": {"text": f"s{i}", "truth": "pos"}}]}
        for i in range(3)
    ]
    resp = api.post("/task-suites", suites, allow_defaults=True)
    assert resp.status_code == 201, resp.text
    act(api, f"/pools/{pool}/open")
    emu.advance(3600)
    target = all_assignments(api, pool)[0]
    review(api, target["id"], "REJECTED")
    got = {s["id"]: s["overlap"] for s in api.get_json("/task-suites", pool_id=pool)["items"]}
    assert got == {sid: 3 if sid == target["task_suite_id"] else 2 for sid in got}


def test_accept_after_reject_with_a_negative_delta_cancels_the_extra_answer(
    api: Api, emu: EmulatorProcess
) -> None:
    quality = redo_rejected()
    quality["configs"] += redo_rejected(-1, "ACCEPT_AFTER_REJECT")["configs"]
    pool = plain_pool(api, quality, n=4, **MANUAL)
    emu.advance(3600)
    target = all_assignments(api, pool)[0]
    review(api, target["id"], "REJECTED")
    review(api, target["id"], "ACCEPTED")  # before the crowd took the extra copy: the overlap goes back
    tasks = {t["id"]: t for t in api.get_json("/tasks", pool_id=pool, limit=100)["items"]}
    assert {tasks[t["id"]]["overlap"] for t in target["tasks"]} == {3}
