"""User restrictions (``/user-restrictions``, docs/toloka-api.md M5) and the gate the crowd asks before issuing.

- ``PUT /user-restrictions`` upserts on (``user_id``, ``scope``, ``project_id`` | ``pool_id``) and answers 200; a
  second PUT for the same target keeps the ``id`` and ``created`` and replaces ``private_comment`` and
  ``will_expire``. Scopes: ``ALL_PROJECTS``, ``PROJECT`` (``project_id`` required), ``POOL`` (``pool_id``
  required); ``SYSTEM`` is refused with 409 ``SYSTEM_SCOPE_MODIFICATION``. ``private_comment`` is at most 499
  characters. ``will_expire`` absent means until DELETE (204).
- :class:`Access` answers "may this Toloker take suites of this pool": no live restriction in its scope, and the
  pool's ``filter`` passes on their skills. The answer is cached per (Toloker, pool) until a restriction, a user
  skill or the pool's filter changes, or a restriction's ``will_expire`` passes on the emulator clock.

Choices where Toloka's real behaviour is unconfirmed: ``project_id`` and ``pool_id`` are not checked against the
stored projects and pools (numbers are accepted and stored as strings); suites already issued to a Toloker when a
restriction is set are finished, and their work counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from toloka_emulator.clock import Clock, format_datetime
from toloka_emulator.listing import search
from toloka_emulator.pools import Pool
from toloka_emulator.skills import Skills, UserSkills, passes
from toloka_emulator.timeline import Timeline
from toloka_emulator.wire import VALUE_REQUIRED, ApiError, field_error

__all__ = ["Access", "Restrictions", "gatekeeping"]

SCOPES = ("ALL_PROJECTS", "PROJECT", "POOL")
MAX_COMMENT = 499
MAX_LIMIT = 500
_TARGET = {"ALL_PROJECTS": None, "PROJECT": "project_id", "POOL": "pool_id"}


class Restrictions:
    """The requester's bans; :attr:`version` grows on every change.

    :param clock: the emulator's clock (``created``, and when ``will_expire`` passes).
    :param new_id: a fresh fixed-width decimal id.
    """

    def __init__(self, clock: Clock, new_id: Callable[[], str]) -> None:
        self._clock = clock
        self._new_id = new_id
        self.by_id: dict[str, dict[str, Any]] = {}
        self._ids: list[str] = []
        self._by_key: dict[tuple[str, str, str | None], str] = {}
        self.of_user: dict[str, dict[str, dict[str, Any]]] = {}  # user id -> id -> restriction
        self.version = 0
        self.on_change: Callable[[float | None], None] = lambda expires: None

    def put(self, body: Any) -> dict[str, Any]:
        """``PUT /user-restrictions``.

        :param body: ``{"scope", "user_id", "project_id"|"pool_id", "private_comment"?, "will_expire"?}``.
        :return: the stored restriction.
        :raises ApiError: 400 for a bad body, 409 ``SYSTEM_SCOPE_MODIFICATION`` for the SYSTEM scope.
        """
        fields, expires = self._check(body)
        key = (fields["user_id"], fields["scope"], fields.get("project_id") or fields.get("pool_id"))
        old_id = self._by_key.get(key)
        if old_id is None:
            rid = self._new_id()
            created = self._clock.now_stamp()
            self._by_key[key] = rid
            self._ids.append(rid)
        else:
            rid, created = old_id, self.by_id[old_id]["created"]
        restriction = {"id": rid, **fields, "created": created}
        self.by_id[rid] = self.of_user.setdefault(fields["user_id"], {})[rid] = restriction
        self.version += 1
        self.on_change(expires)
        return restriction

    def _check(self, body: Any) -> tuple[dict[str, Any], float | None]:
        if not isinstance(body, dict):
            raise ApiError(400, "VALIDATION_ERROR", "The body must be a JSON object")
        scope = body.get("scope")
        if scope == "SYSTEM":
            raise ApiError(
                409, "SYSTEM_SCOPE_MODIFICATION", "Restrictions in 'SYSTEM' scope are forbidden to modify"
            )
        errors: dict[str, Any] = {}
        if scope is None:
            errors["scope"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif scope not in SCOPES:
            errors["scope"] = field_error("UNKNOWN_ENUM_VALUE", "Unknown scope", [*SCOPES, "SYSTEM"])
        fields: dict[str, Any] = {"scope": scope}
        target = _TARGET.get(scope) if isinstance(scope, str) else None
        for name in ("user_id", *([target] if target else [])):
            raw = body.get(name)
            if raw is None or raw == "":
                errors[name] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
            elif isinstance(raw, bool) or not isinstance(raw, (str, int)):
                errors[name] = field_error("STRING_EXPECTED", "Value must be a string")
            else:
                fields[name] = str(raw)
        comment = body.get("private_comment")
        if comment is not None:
            if not isinstance(comment, str):
                errors["private_comment"] = field_error("STRING_EXPECTED", "Value must be a string")
            elif len(comment) > MAX_COMMENT:
                errors["private_comment"] = field_error(
                    "VALUE_TOO_LONG", f"Value must be at most {MAX_COMMENT} characters", [MAX_COMMENT]
                )
            else:
                fields["private_comment"] = comment
        expires: float | None = None
        if body.get("will_expire") is not None:
            try:
                when = datetime.fromisoformat(str(body["will_expire"]).replace("Z", "+00:00"))
                fields["will_expire"] = format_datetime(when)
                expires = self._clock.at(datetime.fromisoformat(fields["will_expire"]))
            except ValueError:
                errors["will_expire"] = field_error(
                    "INVALID_DATE_TIME_SYNTAX", "Expected YYYY-MM-DDThh:mm:ss"
                )
        if errors:
            raise ApiError(400, "VALIDATION_ERROR", "Validation failed", errors)
        return fields, expires

    def get(self, rid: str) -> dict[str, Any]:
        """``GET /user-restrictions/{id}``.

        :param rid: the id.
        :return: the restriction.
        :raises ApiError: 404 when there is no such restriction.
        """
        restriction = self.by_id.get(rid)
        if restriction is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"User restriction {rid} does not exist")
        return restriction

    def delete(self, rid: str) -> None:
        """``DELETE /user-restrictions/{id}``: lift the ban.

        :param rid: the id.
        :raises ApiError: 404 when there is no such restriction.
        """
        r = self.get(rid)
        del self.by_id[rid]
        self._ids.remove(rid)
        del self._by_key[(r["user_id"], r["scope"], r.get("project_id") or r.get("pool_id"))]
        del self.of_user[r["user_id"]][rid]
        self.version += 1
        self.on_change(None)

    def find(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /user-restrictions``: ``scope``, ``user_id``, ``project_id``, ``pool_id``, ``id_*``, ``created_*``;
        ``sort`` by ``id``/``created``; ``limit`` <= 500.

        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a malformed parameter.
        """
        exact = ("scope", "user_id", "project_id", "pool_id")
        return search(self.by_id, self._ids, query, exact, ("created",), MAX_LIMIT)

    def blocks(self, user_id: str, pool: Pool, now: str) -> str | None:
        """Whether a live restriction keeps a Toloker out of a pool.

        :param user_id: the Toloker.
        :param pool: the pool.
        :param now: the clock's current stamp.
        :return: ``None`` when nothing does; ``"never"`` for a permanent ban, else the latest ``will_expire``.
        """
        until: str | None = None
        for r in self.of_user.get(user_id, {}).values():
            hit = (
                r["scope"] == "ALL_PROJECTS"
                or (r["scope"] == "PROJECT" and r["project_id"] == pool.project_id)
                or (r["scope"] == "POOL" and r["pool_id"] == pool.id)
            )
            expire = r.get("will_expire")
            if hit and (expire is None or expire > now):
                until = "~" if expire is None else max(until or "", expire)  # "~" sorts after every stamp
        return None if until is None else ("never" if until == "~" else until)


class Access:
    """Who may take suites of which pool, cached: the crowd asks on every try, the stores change rarely.

    :param restrictions: the bans.
    :param user_skills: the skill values a pool ``filter`` reads.
    :param clock: the emulator's clock.
    """

    def __init__(self, restrictions: Restrictions, user_skills: UserSkills, clock: Clock) -> None:
        self._restrictions = restrictions
        self._user_skills = user_skills
        self._clock = clock
        # (user, pool) -> (store versions, the filter object judged, allowed, stamp until which the answer holds)
        self._cache: dict[tuple[str, str], tuple[tuple[int, int], Any, bool, str | None]] = {}

    def admits(self, user_id: str, pool: Pool) -> bool:
        """Whether a Toloker may take a suite of a pool now.

        :param user_id: the Toloker.
        :param pool: the pool.
        :return: no live restriction covers the pool, and the pool's ``filter`` passes.
        """
        versions = (self._restrictions.version, self._user_skills.version)
        rule = pool.setting("filter", None)
        hit = self._cache.get((user_id, pool.id))
        # formatting the time is the costly part, so only a cached ban with an end looks at it
        if (
            hit is not None
            and hit[0] == versions
            and hit[1] is rule
            and (hit[3] is None or self._clock.now_stamp() < hit[3])
        ):
            return hit[2]
        now = self._clock.now_stamp()
        until = self._restrictions.blocks(user_id, pool, now)
        allowed = until is None and passes(rule, self._user_skills.of_user.get(user_id, {}))
        valid = until if until not in (None, "never") else None
        self._cache[(user_id, pool.id)] = (versions, rule, allowed, valid)
        return allowed


class _Crowd(Protocol):
    admits: Callable[[str, Pool], bool]

    def wake(self) -> None: ...


def gatekeeping(
    clock: Clock, timeline: Timeline, new_id: Callable[[], str], crowd: _Crowd
) -> tuple[Skills, UserSkills, Restrictions]:
    """The stores of this API area, wired to the crowd: it asks :class:`Access` before issuing, and idle
    Tolokers look for work again when a ban or a skill changes, or a ban's ``will_expire`` passes.

    :param clock: the emulator's clock.
    :param timeline: where the wake-up at a ban's end is scheduled.
    :param new_id: a fresh fixed-width decimal id.
    :param crowd: the simulated crowd.
    :return: the skills, the user skills and the restrictions.
    """
    skills = Skills(clock.now_stamp, new_id)
    user_skills = UserSkills(skills, clock.now_stamp, new_id)
    restrictions = Restrictions(clock, new_id)
    crowd.admits = Access(restrictions, user_skills, clock).admits
    user_skills.on_change = crowd.wake

    def changed(expires: float | None) -> None:
        crowd.wake()
        if expires is not None:
            timeline.at_clock(expires, crowd.wake)

    restrictions.on_change = changed
    return skills, user_skills, restrictions
