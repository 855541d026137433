"""Reviewing assignments: ``PATCH /api/v1/assignments/{id}`` with ``{"status", "public_comment"}``.

Allowed transitions (docs/toloka-api.md L6.5): SUBMITTED -> ACCEPTED, SUBMITTED -> REJECTED, REJECTED -> ACCEPTED. The
review sets ``status``, the stamp of the new status (``accepted``/``rejected``, on the clock) and
``public_comment``, and answers 200 with the full assignment. A pool with ``auto_accept_solutions: false`` keeps
SUBMITTED work until it is reviewed or ``auto_accept_period_day`` (simulated) passes (see ``crowd``).

Choices where Toloka's real behaviour is unconfirmed (docs/toloka-api.md L6.5, L13.2, L15):

- any other transition, including a PATCH to the status the assignment already has, is 409
  ``INAPPROPRIATE_STATUS`` with ``payload: {"status": <current>, "appropriate_statuses": [...]}`` (the statuses
  from which the requested one can be reached); a client treats "already in that status" as success.
- reviewing in a pool that is ARCHIVED is 409 ``INAPPROPRIATE_STATUS`` with ``payload: {"pool_status":
  "ARCHIVED"}``; the 409 for the status comes first, so a repeat on an archived pool still tells the status.
- REJECTED without a non-empty ``public_comment`` is 400 ``VALIDATION_ERROR`` with a ``public_comment``
  ``VALUE_REQUIRED`` payload, unless ``reject_needs_comment`` is off; a comment over 2048 characters is
  ``VALUE_TOO_LONG``. Rejecting gives no overlap back by itself: a pool's ``ASSIGNMENTS_ASSESSMENT`` rule with
  ``CHANGE_OVERLAP`` does (``quality``, told through ``on_reviewed``).
- money (docs/toloka-api.md M10): accepting spends what was reserved at submit; rejecting makes it available again.
  Accepting work nothing is reserved for (REJECTED -> ACCEPTED, or SUBMITTED work ``/_emulator/fill`` made) pays
  it now, and is 409 ``NOT_ENOUGH_BALANCE`` (nothing changes) when the balance cannot cover reward and fee.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from toloka_emulator.assignments import Assignments
from toloka_emulator.money import Account
from toloka_emulator.pools import Pool
from toloka_emulator.wire import VALUE_REQUIRED, ApiError, field_error

__all__ = ["Review", "ReviewSettings"]

MAX_COMMENT = 2048
# target status -> the statuses it can be reached from
_FROM = {"ACCEPTED": ("SUBMITTED", "REJECTED"), "REJECTED": ("SUBMITTED",)}


class ReviewSettings(Protocol):
    """The live config a review reads."""

    reject_needs_comment: bool


class Review:
    """Accepting and rejecting assignments.

    :param assignments: the account's assignments.
    :param pools: the account's pools by id.
    :param now_stamp: the clock's current time, as Toloka stamps it.
    :param settings: the live config.
    :param account: the requester's money.
    """

    def __init__(
        self,
        assignments: Assignments,
        pools: Mapping[str, Pool],
        now_stamp: Callable[[], str],
        settings: ReviewSettings,
        account: Account,
    ) -> None:
        self._account = account
        self._assignments = assignments
        self._pools = pools
        self._now_stamp = now_stamp
        self._settings = settings
        # (assignment, ACCEPT | REJECT | ACCEPT_AFTER_REJECT) after each review: quality control's assessment
        self.on_reviewed: Callable[[dict[str, Any], str], None] = lambda assignment, event: None

    def patch(self, assignment_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /assignments/{id}``: accept or reject.

        :param assignment_id: the assignment.
        :param body: the parsed JSON body, ``{"status", "public_comment"?}``.
        :return: the full assignment after the change.
        :raises ApiError: 404 ``DOES_NOT_EXIST``; 400 ``VALIDATION_ERROR`` for a bad body; 409
            ``INAPPROPRIATE_STATUS`` for a transition Toloka does not allow or a pool that is ARCHIVED; 409
            ``NOT_ENOUGH_BALANCE`` for accepting unreserved work the balance cannot pay.
        """
        assignment = self._assignments.get(assignment_id)
        status, comment = self._check_body(body)
        current = assignment["status"]
        allowed = _FROM[status]
        if current not in allowed:
            raise ApiError(
                409,
                "INAPPROPRIATE_STATUS",
                f"Assignment {assignment_id} is {current}; it cannot become {status}",
                {"status": current, "appropriate_statuses": list(allowed)},
            )
        pool = self._pools.get(assignment["pool_id"])
        if pool is not None and pool.status == "ARCHIVED":
            raise ApiError(
                409,
                "INAPPROPRIATE_STATUS",
                f"Pool {pool.id} is ARCHIVED; its assignments can no longer be reviewed",
                {"status": current, "pool_status": pool.status},
            )
        if status == "ACCEPTED":
            self._account.accept(assignment_id, assignment["pool_id"], float(assignment.get("reward") or 0.0))
        else:
            self._account.release(assignment_id)
        extra = {"public_comment": comment} if comment is not None else {}
        self._assignments.move(assignment, status, self._now_stamp(), **extra)
        if status == "REJECTED":
            event = "REJECT"
        else:
            event = "ACCEPT_AFTER_REJECT" if current == "REJECTED" else "ACCEPT"
        self.on_reviewed(assignment, event)
        return assignment

    def _check_body(self, body: Any) -> tuple[str, str | None]:
        """(status, public_comment) of a valid body."""
        if not isinstance(body, dict):
            raise ApiError(400, "VALIDATION_ERROR", "Request body must be a JSON object")
        errors: dict[str, Any] = {}
        status = body.get("status")
        if status is None:
            errors["status"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif status not in _FROM:
            errors["status"] = field_error(
                "UNKNOWN_ENUM_VALUE", "Status must be ACCEPTED or REJECTED", [*_FROM]
            )
        comment = body.get("public_comment")
        if comment is not None and not isinstance(comment, str):
            errors["public_comment"] = field_error("STRING_EXPECTED", "Value must be a string")
        elif comment is not None and len(comment) > MAX_COMMENT:
            errors["public_comment"] = field_error(
                "VALUE_TOO_LONG", f"At most {MAX_COMMENT} characters", [MAX_COMMENT]
            )
        elif status == "REJECTED" and self._settings.reject_needs_comment and not (comment or "").strip():
            errors["public_comment"] = field_error("VALUE_REQUIRED", "A rejection needs a public_comment")
        if errors:
            raise ApiError(400, "VALIDATION_ERROR", "Validation failed", errors)
        assert isinstance(status, str)
        return status, comment
