"""Skills (``/skills``), Tolokers' values of them (``/user-skills``) and pool ``filter``s on skills
(docs/toloka-api.md M3, M4).

- ``POST /skills`` answers 201; ``name`` is required, ``hidden`` defaults to true; the server sets ``id``,
  ``created``, ``owner``, ``training: false`` and ``global: false``. ``PUT /skills/{id}`` replaces every
  client-set field (read-only fields sent back are ignored) and answers 200. There is no DELETE (405).
- ``PUT /user-skills`` upserts on (``skill_id``, ``user_id``): 201 for a new pair, 200 for an update. It keeps
  ``exact_value`` and ``value`` = ``exact_value`` rounded half up; ``created`` is set once, ``modified`` on every
  PUT. ``DELETE /user-skills/{id}`` answers 204.
- A pool ``filter`` is a tree of ``{"and": [...]}`` / ``{"or": [...]}`` and leaves
  ``{"category", "key", "operator", "value"}``. Skill leaves are evaluated on ``exact_value``: ``EQ``/``NE`` with an
  empty value mean lacks/has the skill, and a Toloker without the skill fails every numeric comparison.

Choices where Toloka's real behaviour is unconfirmed:

- an unknown ``skill_id`` in ``PUT /user-skills`` is a 400 with ``skill_id: ENTITY_DOES_NOT_EXIST``; ``user_id``
  is not checked; ``reason`` is accepted and not stored.
- ``skill_ttl_hours`` is stored and echoed; values do not expire.
- filter operators are case-insensitive; leaves of other categories (``profile``, ``computed``) are accepted and
  pass (not evaluated); a malformed filter node passes too (pool validation does not check filters).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from toloka_emulator.listing import search
from toloka_emulator.wire import VALUE_REQUIRED, ApiError, field_error

__all__ = ["Skills", "UserSkills", "passes"]

SKILLS_MAX_LIMIT = 100
USER_SKILLS_MAX_LIMIT = 1000
_SKILL_FIELDS = ("name", "public_name", "public_requester_description", "private_comment", "hidden",
                 "skill_ttl_hours", "deprecated", "training")  # fmt: skip


def _invalid(errors: dict[str, Any]) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", "Validation failed", errors)


def _not_found(what: str, object_id: str) -> ApiError:
    return ApiError(404, "DOES_NOT_EXIST", f"{what} {object_id} does not exist")


class Skills:
    """The requester's skills.

    :param now_stamp: the current time as Toloka stamps it.
    :param new_id: a fresh fixed-width decimal id.
    """

    def __init__(self, now_stamp: Callable[[], str], new_id: Callable[[], str]) -> None:
        self._now_stamp = now_stamp
        self._new_id = new_id
        self.by_id: dict[str, dict[str, Any]] = {}
        self._ids: list[str] = []  # growing ids, so this stays sorted as strings

    @staticmethod
    def _fields(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid({"": field_error("OBJECT_EXPECTED", "The body must be a JSON object")})
        name = body.get("name")
        if name is None:
            raise _invalid({"name": field_error("VALUE_REQUIRED", VALUE_REQUIRED)})
        if not isinstance(name, str) or not name.strip():
            raise _invalid({"name": field_error("STRING_EXPECTED", "Value must be a non-empty string")})
        fields = {k: body[k] for k in _SKILL_FIELDS if body.get(k) is not None}
        fields.setdefault("hidden", True)
        fields.setdefault("training", False)
        return fields

    def create(self, body: Any) -> dict[str, Any]:
        """``POST /skills``.

        :param body: the parsed request body.
        :return: the stored skill.
        :raises ApiError: 400 when ``name`` is missing or not a string.
        """
        skill_id = self._new_id()
        skill = {"id": skill_id, **self._fields(body), "global": False, "created": self._now_stamp()}
        skill["owner"] = {"id": "requester", "myself": True}
        self.by_id[skill_id] = skill
        self._ids.append(skill_id)
        return skill

    def get(self, skill_id: str) -> dict[str, Any]:
        """``GET /skills/{id}``.

        :param skill_id: the id.
        :return: the skill.
        :raises ApiError: 404 when there is no such skill.
        """
        skill = self.by_id.get(skill_id)
        if skill is None:
            raise _not_found("Skill", skill_id)
        return skill

    def replace(self, skill_id: str, body: Any) -> dict[str, Any]:
        """``PUT /skills/{id}``: every client-set field is replaced; absent ones go back to their defaults.

        :param skill_id: the id.
        :param body: the parsed request body.
        :return: the updated skill.
        :raises ApiError: 404 for an unknown skill, 400 for a bad body.
        """
        old = self.get(skill_id)
        fields = self._fields(body)
        server = {k: old[k] for k in ("id", "global", "created", "owner")}
        self.by_id[skill_id] = skill = {"id": skill_id, **fields, **server}
        return skill

    def find(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /skills``: ``name``, ``id_*``, ``created_*``; ``sort`` by ``id``/``created``; ``limit`` <= 100.

        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a malformed parameter.
        """
        return search(self.by_id, self._ids, query, ("name",), ("created",), SKILLS_MAX_LIMIT)


def round_half_up(value: float) -> int:
    """Round a skill value as the emulator shows it in ``value``: x.5 goes up.

    :param value: the exact value.
    :return: the nearest integer, halves rounded up.
    """
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class UserSkills:
    """Tolokers' skill values; :attr:`version` grows on every change, so cached filter results know they are stale.

    :param skills: the requester's skills (a ``skill_id`` must name one).
    :param now_stamp: the current time as Toloka stamps it.
    :param new_id: a fresh fixed-width decimal id.
    """

    def __init__(self, skills: Skills, now_stamp: Callable[[], str], new_id: Callable[[], str]) -> None:
        self._skills = skills
        self._now_stamp = now_stamp
        self._new_id = new_id
        self.by_id: dict[str, dict[str, Any]] = {}
        self._ids: list[str] = []
        self._by_pair: dict[tuple[str, str], str] = {}
        self.of_user: dict[str, dict[str, float]] = {}  # user id -> skill id -> exact value, for filters
        self.version = 0
        self.on_change: Callable[[], None] = lambda: None

    def put(self, body: Any) -> tuple[int, dict[str, Any]]:
        """``PUT /user-skills``: set one Toloker's value of one skill.

        :param body: ``{"skill_id", "user_id", "value", "reason"?}``.
        :return: ``(201, user skill)`` for a new pair, ``(200, user skill)`` for an update.
        :raises ApiError: 400 for a missing field, an unknown skill or a value outside 0..100.
        """
        skill_id, user_id, value = self._check(body)
        now = self._now_stamp()
        pair_id = self._by_pair.get((skill_id, user_id))
        status = 200
        if pair_id is None:
            status, pair_id = 201, self._new_id()
            self._by_pair[(skill_id, user_id)] = pair_id
            self._ids.append(pair_id)
            self.by_id[pair_id] = {"id": pair_id, "skill_id": skill_id, "user_id": user_id, "created": now}
        entry = self.by_id[pair_id]
        entry.update(value=round_half_up(value), exact_value=value, modified=now)
        self.of_user.setdefault(user_id, {})[skill_id] = value
        self._changed()
        return status, entry

    def _check(self, body: Any) -> tuple[str, str, float]:
        if not isinstance(body, dict):
            raise _invalid({"": field_error("OBJECT_EXPECTED", "The body must be a JSON object")})
        errors: dict[str, Any] = {}
        ids: dict[str, str] = {}
        for name in ("skill_id", "user_id"):
            raw = body.get(name)
            if raw is None:
                errors[name] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
            elif isinstance(raw, bool) or not isinstance(raw, (str, int)):
                errors[name] = field_error("STRING_EXPECTED", "Value must be a string")
            else:
                ids[name] = str(raw)  # Toloka's examples send skill ids as numbers
        if "skill_id" in ids and ids["skill_id"] not in self._skills.by_id:
            errors["skill_id"] = field_error("ENTITY_DOES_NOT_EXIST", "Entity does not exist")
        raw_value = body.get("value")
        value = 0.0
        if raw_value is None:
            errors["value"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif (
            isinstance(raw_value, bool)
            or not isinstance(raw_value, (int, float))
            or not math.isfinite(raw_value)
        ):
            errors["value"] = field_error("FLOAT_EXPECTED", "Value must be a number")
        elif raw_value < 0:
            errors["value"] = field_error("VALUE_LESS_THAN_MIN", "Value must be at least 0", [0])
        elif raw_value > 100:
            errors["value"] = field_error("VALUE_GREATER_THAN_MAX", "Value must be at most 100", [100])
        else:
            value = float(raw_value)
        if errors:
            raise _invalid(errors)
        return ids["skill_id"], ids["user_id"], value

    def _changed(self) -> None:
        self.version += 1
        self.on_change()

    def get(self, pair_id: str) -> dict[str, Any]:
        """``GET /user-skills/{id}``.

        :param pair_id: the user skill's id.
        :return: the user skill.
        :raises ApiError: 404 when there is no such user skill.
        """
        entry = self.by_id.get(pair_id)
        if entry is None:
            raise _not_found("User skill", pair_id)
        return entry

    def delete(self, pair_id: str) -> None:
        """``DELETE /user-skills/{id}``: the Toloker no longer has the skill.

        :param pair_id: the user skill's id.
        :raises ApiError: 404 when there is no such user skill.
        """
        entry = self.get(pair_id)
        del self.by_id[pair_id]
        self._ids.remove(pair_id)
        del self._by_pair[(entry["skill_id"], entry["user_id"])]
        del self.of_user[entry["user_id"]][entry["skill_id"]]
        self._changed()

    def find(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /user-skills``: ``user_id``, ``skill_id``, ``id_*``, ``created_*``, ``modified_*``; ``sort`` by
        ``id``/``created``/``modified``; ``limit`` <= 1000.

        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a malformed parameter.
        """
        return search(
            self.by_id,
            self._ids,
            query,
            ("user_id", "skill_id"),
            ("created", "modified"),
            USER_SKILLS_MAX_LIMIT,
        )


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "EQ": lambda a, b: a == b,
    "NE": lambda a, b: a != b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}


def passes(node: Any, values: Mapping[str, float]) -> bool:
    """Whether a Toloker with these skill values passes a pool ``filter``.

    :param node: the filter, or one of its nodes; ``None`` (no filter) passes.
    :param values: skill id -> the Toloker's exact value.
    :return: whether the Toloker may take the pool's suites.
    """
    if not isinstance(node, dict):
        return True
    if isinstance(node.get("and"), list):
        return all(passes(child, values) for child in node["and"])
    if isinstance(node.get("or"), list):
        return any(passes(child, values) for child in node["or"]) if node["or"] else True
    if node.get("category") != "skill":
        return True
    operator = str(node.get("operator", "")).upper()
    compare = _COMPARE.get(operator)
    if compare is None:
        return True
    have = values.get(str(node.get("key")))
    wanted = node.get("value")
    if wanted is None or wanted == "":
        # the empty forms: EQ = lacks the skill, NE = has it at any level; nothing else compares with "empty"
        if operator == "EQ":
            return have is None
        return have is not None if operator == "NE" else False
    try:
        bound = float(wanted)  # Toloka's examples also send values as strings
    except (TypeError, ValueError):
        return False
    return have is not None and compare(have, bound)
