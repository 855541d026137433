"""User restrictions (bans), with toloka-kit's method names (docs/toloka-api.md M5).

A restricted Toloker is given no new tasks in the restriction's scope (every project of the requester, one
project, or one pool) until ``will_expire``, or until the restriction is deleted when it has none; work they
already submitted still counts unless rejected. ``PUT /user-restrictions`` is an upsert on the Toloker and the
target, so it is retried freely.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.hooks.base import BaseTolokaHook, seg
from airflow_toloka.models import UserRestriction, compact_json

__all__ = ["RestrictionsMixin", "restriction_body"]

RESTRICTIONS_PATH = "/api/v1/user-restrictions"
_PAGE = 500  # Toloka's largest page of user restrictions
_TARGET = {"PROJECT": "project_id", "POOL": "pool_id"}


def restriction_body(restriction: UserRestriction | Mapping[str, Any]) -> bytes:
    """A restriction as the body of a PUT, checked before sending.

    :param restriction: a model or a dict.
    :return: the JSON body, ``id`` and ``created`` left out.
    :raises TolokaInputError: for the read-only ``SYSTEM`` scope, or a ``PROJECT``/``POOL`` scope without its id.
    :raises pydantic.ValidationError: when it does not fit :class:`~airflow_toloka.models.UserRestriction`.
    """
    model = (
        restriction
        if isinstance(restriction, UserRestriction)
        else UserRestriction.model_validate(restriction)
    )
    if model.scope == "SYSTEM":
        raise TolokaInputError("restrictions in the SYSTEM scope are the platform's and cannot be set")
    target = _TARGET.get(model.scope)
    if target is not None and getattr(model, target) is None:
        raise TolokaInputError(f"a {model.scope} restriction needs {target}")
    data = model.to_json_dict()
    for key in ("id", "created"):
        data.pop(key, None)
    return compact_json(data).encode()


class RestrictionsMixin(BaseTolokaHook):
    """User restrictions: set (create or update), read, search, delete.

    :param toloka_conn_id: Airflow connection id.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def set_user_restriction(self, user_restriction: UserRestriction | Mapping[str, Any]) -> UserRestriction:
        """Ban a Toloker in a scope, or change the ban already there for the same Toloker and target.

        :param user_restriction: ``scope``, ``user_id``, ``project_id``/``pool_id`` as the scope needs,
            ``private_comment`` (at most 499 characters), ``will_expire`` (absent: until deleted).
        :return: the restriction as Toloka stored it (with ``id``).
        :raises TolokaInputError: for the SYSTEM scope or a missing target id (nothing is sent).
        :raises pydantic.ValidationError: for another malformed restriction (nothing is sent).
        :raises TolokaValidationError: when Toloka rejects it.
        """
        body = restriction_body(user_restriction)
        return self._request(  # type: ignore[no-any-return]
            "PUT", RESTRICTIONS_PATH, body=body, idempotent=True, model=UserRestriction
        )

    def get_user_restriction(self, user_restriction_id: str) -> UserRestriction:
        """Read a restriction.

        :param user_restriction_id: the restriction id.
        :return: the restriction.
        :raises TolokaDoesNotExistError: when there is no such restriction.
        """
        path = f"{RESTRICTIONS_PATH}/{seg(user_restriction_id)}"
        return self._request("GET", path, model=UserRestriction)  # type: ignore[no-any-return]

    def get_user_restrictions(self, **filters: Any) -> Iterator[UserRestriction]:
        """Every restriction matching Toloka's search, lazily, paged by id (500 a page).

        :param filters: query parameters of ``GET /user-restrictions``: ``scope``, ``user_id``, ``project_id``,
            ``pool_id``, ``id_gt`` …, ``created_gte`` ….
        :return: the restrictions in id order, one page in memory at a time.
        """
        for page in self._pages(RESTRICTIONS_PATH, {**filters, "limit": _PAGE}):
            yield from (UserRestriction.model_validate(raw) for raw in page)

    def delete_user_restriction(self, user_restriction_id: str) -> None:
        """Lift a ban.

        :param user_restriction_id: the restriction id.
        :raises TolokaDoesNotExistError: when there is no such restriction (also when an earlier try deleted it).
        """
        path = f"{RESTRICTIONS_PATH}/{seg(user_restriction_id)}"
        self._request("DELETE", path, decode=lambda status, content: None)
