"""Skills, user skills and restrictions through TolokaHook against the emulator, and what they do to the crowd:
a banned Toloker does no more work in the pool or project, a skill filter lets only Tolokers with the skill work,
and a lost answer to ``POST /skills`` is not sent again (it would create a second skill)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_toloka.exceptions import (
    TolokaDoesNotExistError,
    TolokaError,
    TolokaInputError,
    TolokaValidationError,
)
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.models import Skill, UserRestriction
from tests.integration.test_labels_emulator import PROJECT
from tests.specs import pool_spec


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    pass


def crowd(emulator: Any, n: int = 6) -> list[str]:
    emulator.configure(crowd=n, time_scale=0, seed=5)
    users: list[str] = emulator.stats()["crowd"]["user_ids"]
    assert len(users) == n
    return users


def run_pool(
    hook: TolokaHook, emulator: Any, project_id: str | None = None, n: int = 12, **extra: Any
) -> str:
    """A pool of ``n`` tasks, opened and worked on for two simulated hours."""
    project_id = project_id or str(hook.create_project(PROJECT).id)
    pool_id = str(hook.create_pool(pool_spec(project_id, **extra)).id)
    tasks = [{"pool_id": pool_id, "input_values": {"text": f"t{i}"}} for i in range(n)]
    hook.create_tasks(tasks, allow_defaults=True)
    hook.open_pool(pool_id)
    emulator.advance(7200)
    return pool_id


def workers(hook: TolokaHook, pool_id: str) -> set[str]:
    return {a.user_id for a in hook.get_assignments(pool_id=pool_id)}


def test_skills_and_user_skills_round_trip(toloka_emulator: Any) -> None:
    users = crowd(toloka_emulator)
    with TolokaHook() as hook:
        skill = hook.create_skill(Skill(name="accuracy", public_name={"EN": "Accuracy"}))
        assert skill.id and skill.hidden is True and skill.global_ is False and skill.created
        assert hook.get_skill(skill.id) == skill
        updated = hook.update_skill(
            skill.id, skill.model_copy(update={"name": "accuracy v2", "hidden": False})
        )
        assert (updated.id, updated.name, updated.hidden, updated.created) == (
            skill.id,
            "accuracy v2",
            False,
            skill.created,
        )
        for i in range(3):
            hook.create_skill({"name": f"extra {i}"})
        assert [s.name for s in hook.get_skills(name="extra 1")] == ["extra 1"]
        assert len(list(hook.get_skills())) == 4
        first = hook.set_user_skill(skill_id=skill.id, user_id=users[0], value=Decimal("59.5"))
        assert (first.value, first.exact_value, first.skill_id) == (60, Decimal("59.5"), skill.id)
        again = hook.set_user_skill(skill_id=skill.id, user_id=users[0], value=12)
        assert (again.id, again.value, again.created) == (first.id, 12, first.created)
        assert again.id is not None and hook.get_user_skill(again.id) == again
        hook.set_user_skill(skill_id=skill.id, user_id=users[1], value=100)
        assert {u.user_id for u in hook.get_user_skills(skill_id=skill.id)} == {users[0], users[1]}
        with pytest.raises(Exception, match="less than or equal to 100"):
            hook.set_user_skill(skill_id=skill.id, user_id=users[0], value=101)
        with pytest.raises(TolokaValidationError):
            hook.set_user_skill(skill_id="999999", user_id=users[0], value=1)
        hook.delete_user_skill(again.id)
        with pytest.raises(TolokaDoesNotExistError):
            hook.get_user_skill(again.id)
        assert [u.user_id for u in hook.get_user_skills(skill_id=skill.id)] == [users[1]]


@pytest.mark.toloka_emulator(fault_drop=1.0, fault_routes=["POST /api/v1/skills"], fault_limit=1)
def test_a_lost_answer_to_create_skill_is_not_sent_again(toloka_emulator: Any) -> None:
    with TolokaHook(retry_limit=3, retry_delay=0.01) as hook:
        with pytest.raises(TolokaError):
            hook.create_skill({"name": "once"})
        # the POST arrived and made the skill: sending it again would have made a second one
        assert toloka_emulator.stats()["requests"]["POST /api/v1/skills"] == 1
        assert [s.name for s in hook.get_skills(name="once")] == ["once"]


def test_restrictions_round_trip(toloka_emulator: Any) -> None:
    users = crowd(toloka_emulator)
    with TolokaHook() as hook:
        ban = hook.set_user_restriction(
            UserRestriction(scope="POOL", user_id=users[0], pool_id="42", private_comment="spam")
        )
        assert ban.id and ban.pool_id == "42" and ban.will_expire is None and ban.created
        until = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=1)
        same = hook.set_user_restriction(
            {"scope": "POOL", "user_id": users[0], "pool_id": 42, "will_expire": until}
        )
        assert same.id == ban.id and same.will_expire is not None
        assert abs((same.will_expire - until).total_seconds()) < 0.001
        everywhere = hook.set_user_restriction({"scope": "ALL_PROJECTS", "user_id": users[1]})
        assert everywhere.id is not None and hook.get_user_restriction(everywhere.id) == everywhere
        assert [r.id for r in hook.get_user_restrictions(scope="POOL")] == [ban.id]
        assert len(list(hook.get_user_restrictions())) == 2
        with pytest.raises(TolokaInputError, match="needs project_id"):
            hook.set_user_restriction({"scope": "PROJECT", "user_id": users[0]})
        with pytest.raises(TolokaInputError, match="SYSTEM"):
            hook.set_user_restriction({"scope": "SYSTEM", "user_id": users[0]})
        with pytest.raises(Exception, match="499"):
            hook.set_user_restriction(
                {"scope": "ALL_PROJECTS", "user_id": users[0], "private_comment": "x" * 500}
            )
        hook.delete_user_restriction(everywhere.id)
        with pytest.raises(TolokaDoesNotExistError):
            hook.get_user_restriction(everywhere.id)


@pytest.mark.parametrize("scope", ["POOL", "PROJECT"])
def test_a_restricted_toloker_does_no_more_work_there(toloka_emulator: Any, scope: str) -> None:
    users = crowd(toloka_emulator)
    with TolokaHook() as hook:
        project_id = str(hook.create_project(PROJECT).id)
        first = run_pool(hook, toloka_emulator, project_id)
        assert users[0] in workers(hook, first)  # worked before the ban
        pool_id = str(hook.create_pool(pool_spec(project_id)).id)
        target = {"pool_id": pool_id} if scope == "POOL" else {"project_id": project_id}
        hook.set_user_restriction({"scope": scope, "user_id": users[0], **target})
        hook.create_tasks(
            [{"pool_id": pool_id, "input_values": {"text": f"t{i}"}} for i in range(12)], allow_defaults=True
        )
        hook.open_pool(pool_id)
        toloka_emulator.advance(7200)
        assert hook.get_pool(pool_id).last_close_reason == "COMPLETED"
        got = workers(hook, pool_id)
        assert users[0] not in got and len(got) >= 2
        elsewhere = run_pool(hook, toloka_emulator)  # another project: the ban does not reach it
        assert users[0] in workers(hook, elsewhere)


def test_a_skill_filter_lets_only_tolokers_with_the_skill_work(toloka_emulator: Any) -> None:
    users = crowd(toloka_emulator)
    with TolokaHook() as hook:
        skill_id = str(hook.create_skill({"name": "verified"}).id)
        for user in users[:2]:
            hook.set_user_skill(skill_id=skill_id, user_id=user, value=80)
        hook.set_user_skill(skill_id=skill_id, user_id=users[2], value=30)
        rule = {"and": [{"or": [{"category": "skill", "key": skill_id, "operator": "GTE", "value": 50}]}]}
        pool_id = run_pool(hook, toloka_emulator, filter=rule)
        assert hook.get_pool(pool_id).last_close_reason == "COMPLETED"
        assert workers(hook, pool_id) == {users[0], users[1]}


def test_lost_answers_to_the_puts_are_sent_again(toloka_emulator: Any) -> None:
    users = crowd(toloka_emulator)

    def lose_one(route: str) -> None:
        toloka_emulator.configure(fault_drop=1.0, fault_routes=[route], fault_limit=1)

    with TolokaHook(retry_limit=3, retry_delay=0.01) as hook:
        skill = hook.create_skill({"name": "s"})
        assert skill.id is not None
        lose_one("PUT /api/v1/skills/{id}")
        assert hook.update_skill(skill.id, {"name": "t"}).name == "t"
        lose_one("PUT /api/v1/user-skills")
        assert hook.set_user_skill(skill_id=skill.id, user_id=users[0], value=5).value == 5
        lose_one("PUT /api/v1/user-restrictions")
        assert hook.set_user_restriction({"scope": "ALL_PROJECTS", "user_id": users[0]}).id
        assert len(list(hook.get_user_restrictions())) == 1  # the upsert made one ban of two PUTs
    stats = toloka_emulator.stats()
    assert sum(stats["faults"].values()) == 3
    assert (
        stats["requests"]["PUT /api/v1/user-skills"]
        == stats["requests"]["PUT /api/v1/user-restrictions"]
        == 2
    )
