"""Skills and Tolokers' values of them, with toloka-kit's method names (docs/toloka-api.md M3, M4).

A skill is a 0..100 number per Toloker that the requester keeps: set it from review results, and let a pool's
``filter`` admit only Tolokers with a high enough value (docs/toloka-api.md M3, 7.2 of the facts sheet).

Retries: ``POST /skills`` carries no idempotency key, so a POST whose answer was lost may have created the skill
and sending it again could create a second one with the same name. :meth:`SkillsMixin.create_skill` therefore
never repeats a POST that may have reached Toloka (only one that certainly did not: a refused connection, a 429);
after such a failure, look the skill up by name (:meth:`SkillsMixin.get_skills` with ``name=``) before creating it
again. ``PUT /skills/{id}`` and ``PUT /user-skills`` replace state with the same state, so they are retried freely.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from airflow_toloka.hooks.base import BaseTolokaHook, seg
from airflow_toloka.models import SKILL_READ_ONLY, Skill, UserSkill, compact_json

__all__ = ["SkillsMixin"]

SKILLS_PATH = "/api/v1/skills"
USER_SKILLS_PATH = "/api/v1/user-skills"
_SKILLS_PAGE = 100  # Toloka's largest page of skills
_USER_SKILLS_PAGE = 1000  # and of user skills


def skill_body(skill: Skill | Mapping[str, Any]) -> bytes:
    """A skill as the body of a POST or PUT: validated, Toloka's own fields left out.

    :param skill: a model or a dict.
    :return: the JSON body.
    :raises pydantic.ValidationError: when it does not fit :class:`~airflow_toloka.models.Skill`.
    """
    model = skill if isinstance(skill, Skill) else Skill.model_validate(dict(skill))
    data = model.to_json_dict()
    for key in SKILL_READ_ONLY:
        data.pop(key, None)
    return compact_json(data).encode()


class SkillsMixin(BaseTolokaHook):
    """Skills and user skills: create, read, search and update skills; set, read, search and delete a Toloker's
    value of one.

    :param toloka_conn_id: Airflow connection id.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def create_skill(self, skill: Skill | Mapping[str, Any]) -> Skill:
        """Create a skill. Not idempotent: Toloka has no key for it, so a POST that may have arrived is not sent
        again (see the module's notes); a failure after sending may still have created the skill.

        :param skill: ``name`` (required), ``public_name``, ``hidden`` (Toloka's default: true) …
        :return: the skill as Toloka stored it.
        :raises pydantic.ValidationError: when ``skill`` does not fit the model (nothing is sent).
        :raises TolokaValidationError: when Toloka rejects it.
        :raises TolokaRemoteUnavailableError: when no answer came; the skill may or may not exist.
        """
        body = skill_body(skill)
        return self._request("POST", SKILLS_PATH, body=body, idempotent=False, model=Skill)  # type: ignore[no-any-return]

    def get_skill(self, skill_id: str) -> Skill:
        """Read a skill.

        :param skill_id: the skill id.
        :return: the skill.
        :raises TolokaDoesNotExistError: when there is no such skill.
        """
        return self._request("GET", f"{SKILLS_PATH}/{seg(skill_id)}", model=Skill)  # type: ignore[no-any-return]

    def get_skills(self, **filters: Any) -> Iterator[Skill]:
        """Every skill matching Toloka's search, lazily, paged by id (100 a page).

        :param filters: query parameters of ``GET /skills``: ``name``, ``id_gt`` …, ``created_gte`` ….
        :return: the skills in id order, one page in memory at a time.
        """
        for page in self._pages(SKILLS_PATH, {**filters, "limit": _SKILLS_PAGE}):
            yield from (Skill.model_validate(raw) for raw in page)

    def update_skill(self, skill_id: str, skill: Skill | Mapping[str, Any]) -> Skill:
        """Replace a skill (``PUT`` sends the whole skill: a field left out goes back to Toloka's default).

        :param skill_id: the skill id.
        :param skill: the skill as it should be; ``id``, ``created`` and the like are ignored.
        :return: the skill as Toloka stored it.
        :raises TolokaDoesNotExistError: when there is no such skill.
        :raises TolokaValidationError: when Toloka rejects it.
        """
        path = f"{SKILLS_PATH}/{seg(skill_id)}"
        return self._request("PUT", path, body=skill_body(skill), idempotent=True, model=Skill)  # type: ignore[no-any-return]

    def set_user_skill(self, *, skill_id: str, user_id: str, value: Decimal | float | int) -> UserSkill:
        """Set one Toloker's value of one skill (an upsert on the pair: created, or overwritten).

        :param skill_id: the skill id.
        :param user_id: the Toloker.
        :param value: 0..100; a fraction is kept in ``exact_value``, ``value`` is it rounded.
        :return: the user skill as Toloka stored it.
        :raises pydantic.ValidationError: when ``value`` is outside 0..100 (nothing is sent).
        :raises TolokaValidationError: when Toloka rejects it (an unknown skill …).
        """
        checked = UserSkill(skill_id=skill_id, user_id=user_id, exact_value=Decimal(str(value)))
        body = {"skill_id": checked.skill_id, "user_id": user_id, "value": float(checked.exact_value or 0)}
        raw = compact_json(body).encode()
        return self._request("PUT", USER_SKILLS_PATH, body=raw, idempotent=True, model=UserSkill)  # type: ignore[no-any-return]

    def get_user_skill(self, user_skill_id: str) -> UserSkill:
        """Read one Toloker's value of one skill.

        :param user_skill_id: the user skill's id (not the skill's).
        :return: the user skill.
        :raises TolokaDoesNotExistError: when there is no such user skill.
        """
        path = f"{USER_SKILLS_PATH}/{seg(user_skill_id)}"
        return self._request("GET", path, model=UserSkill)  # type: ignore[no-any-return]

    def get_user_skills(self, **filters: Any) -> Iterator[UserSkill]:
        """Every user skill matching Toloka's search, lazily, paged by id (1,000 a page).

        :param filters: query parameters of ``GET /user-skills``: ``user_id``, ``skill_id``, ``id_gt`` …,
            ``created_gte`` …, ``modified_gte`` ….
        :return: the user skills in id order, one page in memory at a time.
        """
        for page in self._pages(USER_SKILLS_PATH, {**filters, "limit": _USER_SKILLS_PAGE}):
            yield from (UserSkill.model_validate(raw) for raw in page)

    def delete_user_skill(self, user_skill_id: str) -> None:
        """Take a skill away from a Toloker.

        :param user_skill_id: the user skill's id.
        :raises TolokaDoesNotExistError: when there is no such user skill (also when an earlier try deleted it).
        """
        self._request(
            "DELETE", f"{USER_SKILLS_PATH}/{seg(user_skill_id)}", decode=lambda status, content: None
        )
