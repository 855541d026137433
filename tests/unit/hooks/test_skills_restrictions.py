"""Pure parts of the skills and restrictions mixins: what a request body holds, what is refused before sending."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pydantic
import pytest

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.hooks.restrictions import restriction_body
from airflow_toloka.hooks.skills import skill_body
from airflow_toloka.models import Skill, UserRestriction, UserSkill


def test_a_skill_body_leaves_out_what_toloka_sets() -> None:
    read = Skill.model_validate(
        {"id": "5", "name": "n", "hidden": False, "global": False, "training": False, "owner": {"myself": True},
         "created": "2026-01-02T03:04:05.678", "skill_ttl_hours": 24, "future_field": 1}
    )  # fmt: skip
    assert read.global_ is False
    assert json.loads(skill_body(read)) == {
        "name": "n",
        "hidden": False,
        "skill_ttl_hours": 24,
        "future_field": 1,
    }
    assert json.loads(skill_body({"name": "m"})) == {"name": "m"}
    with pytest.raises(pydantic.ValidationError):
        skill_body({"hidden": True})


def test_a_restriction_body_is_checked_before_sending() -> None:
    body = restriction_body(
        UserRestriction(
            scope="POOL", user_id="u", pool_id=7, will_expire=datetime(2030, 1, 2, 3, 4, 5, 678912)
        )  # type: ignore[arg-type]
    )
    assert json.loads(body) == {
        "scope": "POOL",
        "user_id": "u",
        "pool_id": "7",
        "will_expire": "2030-01-02T03:04:05.678",
    }
    assert "id" not in json.loads(
        restriction_body(
            {"scope": "ALL_PROJECTS", "user_id": "u", "id": "1", "created": "2026-01-01T00:00:00"}
        )
    )
    with pytest.raises(TolokaInputError, match="SYSTEM"):
        restriction_body({"scope": "SYSTEM", "user_id": "u"})
    with pytest.raises(TolokaInputError, match="needs project_id"):
        restriction_body({"scope": "PROJECT", "user_id": "u", "pool_id": "1"})
    with pytest.raises(TolokaInputError, match="needs pool_id"):
        restriction_body({"scope": "POOL", "user_id": "u"})
    with pytest.raises(pydantic.ValidationError):
        restriction_body({"scope": "ALL_PROJECTS", "user_id": "u", "private_comment": "x" * 500})
    with pytest.raises(pydantic.ValidationError):
        restriction_body({"scope": "EVERYWHERE", "user_id": "u"})


def test_a_user_skill_value_is_0_to_100() -> None:
    assert UserSkill(skill_id=3, user_id="u", exact_value=Decimal("100")).skill_id == "3"  # type: ignore[arg-type]
    for bad in ("100.01", "-0.5"):
        with pytest.raises(pydantic.ValidationError):
            UserSkill(skill_id="3", user_id="u", exact_value=Decimal(bad))
