"""Pool analytics: ``POST /api/staging/analytics-2`` (docs/toloka-api.md M).

The body is a JSON array of at most 10 requests ``{"subject": "POOL", "subject_id": "<pool id>", "name":
"<metric>"}``. The answer is 200 with an ``ANALYTICS`` operation, PENDING for ``pending_seconds`` like every
operation, whose ``parameters`` are ``{"value": [the requests as sent]}``. When it finishes (the next request
after ``pending_seconds``, or an ``advance``) the results are computed from the counters of ``tally`` and the
per-status assignment counts, so a request costs O(1) per metric however many tasks the pool holds, and
``details`` becomes ``{"value": [{"request", "result", "finished"}]}`` in request order.

Metrics: ``real_tasks_count``, ``submitted_assignments_count`` (SUBMITTED + ACCEPTED + REJECTED),
``skipped_assignments_count``, ``rejected_assignments_count``, ``approved_assignments_count``,
``completion_percentage`` (``{"type": "NORMAL", "value", "infinite", "approximate": false}``),
``spent_budget``, ``unique_workers_count``, ``unique_submitters_count``, ``avg_submit_assignment_millis``.

Choices where Toloka's real behaviour is unconfirmed (docs/toloka-api.md M):

- ``completion_percentage`` is ``100 * Σ min(answers, overlap) / Σ overlap`` over the general tasks with finite
  overlap (see ``tally``), a whole number when it is one, else rounded to 2 places; ``infinite`` tells whether
  the pool has a general task with infinite overlap (those are left out of the sums).
- ``spent_budget`` is the rewards of ACCEPTED assignments, without fees: in an auto-accept pool that is every
  submitted suite, with manual review what was accepted (by a review or at the end of
  ``auto_accept_period_day``); money reserved for SUBMITTED work is not spent yet. For the crowd's work it equals
  the pool's entry of ``money.rewards_by_pool`` in ``/_emulator/stats``; ``/_emulator/fill`` moves no money but
  its ACCEPTED assignments count here.
- ``avg_submit_assignment_millis`` is 0 before any submit; it is rounded to whole milliseconds.
- a malformed body, an unknown ``subject`` or ``name``, an empty array or more than 10 requests: 400
  ``VALIDATION_ERROR`` with per-request field errors; an unknown pool: 404 ``DOES_NOT_EXIST``, synchronously.
- ``active_workers_by_filter_count`` and ``estimated_assignments_count`` are not modelled (400).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from toloka_emulator.assignments import Assignments
from toloka_emulator.clock import Clock
from toloka_emulator.operations import Operation, Operations
from toloka_emulator.pools import Pool
from toloka_emulator.tally import Tallies
from toloka_emulator.wire import VALUE_REQUIRED, ApiError, field_error

__all__ = ["MAX_REQUESTS", "METRICS", "Analytics"]

MAX_REQUESTS = 10


METRICS = (
    "real_tasks_count",
    "submitted_assignments_count",
    "skipped_assignments_count",
    "rejected_assignments_count",
    "approved_assignments_count",
    "completion_percentage",
    "spent_budget",
    "unique_workers_count",
    "unique_submitters_count",
    "avg_submit_assignment_millis",
)


class Analytics:
    """``POST /api/staging/analytics-2``.

    :param pools: the account's pools by id.
    :param tallies: the per-pool counters.
    :param assignments: the account's assignments (for their per-status counts).
    :param operations: where the ``ANALYTICS`` operations live.
    :param clock: the emulator's clock, for ``finished``.
    """

    def __init__(
        self,
        pools: Mapping[str, Pool],
        tallies: Tallies,
        assignments: Assignments,
        operations: Operations,
        clock: Clock,
    ) -> None:
        self._pools = pools
        self._tallies = tallies
        self._assignments = assignments
        self._operations = operations
        self._clock = clock
        tally = tallies.of
        self._metrics: dict[str, Callable[[str], Any]] = {
            "real_tasks_count": lambda pool_id: tally(pool_id).real_tasks,
            "submitted_assignments_count": lambda pool_id: self._count(
                pool_id, "SUBMITTED", "ACCEPTED", "REJECTED"
            ),
            "skipped_assignments_count": lambda pool_id: self._count(pool_id, "SKIPPED"),
            "rejected_assignments_count": lambda pool_id: self._count(pool_id, "REJECTED"),
            "approved_assignments_count": lambda pool_id: self._count(pool_id, "ACCEPTED"),
            "completion_percentage": self._completion,
            "spent_budget": lambda pool_id: round(tally(pool_id).accepted_rewards, 6),
            "unique_workers_count": lambda pool_id: len(tally(pool_id).workers),
            "unique_submitters_count": lambda pool_id: len(tally(pool_id).submitters),
            "avg_submit_assignment_millis": lambda pool_id: round(tally(pool_id).avg_submit_millis()),
        }

    def request(self, body: Any) -> dict[str, Any]:
        """Start an ``ANALYTICS`` operation for the requests of ``body``.

        :param body: the parsed JSON body: an array of requests.
        :return: the operation (200), PENDING or RUNNING; its results come when it finishes.
        :raises ApiError: 400 ``VALIDATION_ERROR`` for a malformed body or request, 404 ``DOES_NOT_EXIST`` for an
            unknown pool.
        """
        requests = _checked(body)
        for item in requests:
            pool_id = str(item["subject_id"])
            if pool_id not in self._pools:
                raise ApiError(404, "DOES_NOT_EXIST", f"Pool {pool_id} does not exist")
        op = self._operations.submit(
            str(uuid.uuid4()),
            "ANALYTICS",
            {"value": requests},
            items=0,
            on_complete=self._complete,
        )
        return self._operations.to_json(op)

    def _complete(self, op: Operation) -> None:
        """The results, from the counters as they stand when the operation finishes."""
        finished = self._clock.stamp(op.finish_at)
        op.details = {
            "value": [
                {
                    "request": item,
                    "result": self._metrics[item["name"]](str(item["subject_id"])),
                    "finished": finished,
                }
                for item in op.parameters["value"]
            ]
        }

    def _count(self, pool_id: str, *statuses: str) -> int:
        counts = self._assignments.counts.get(pool_id)
        return sum(counts[s] for s in statuses) if counts else 0

    def _completion(self, pool_id: str) -> dict[str, Any]:
        tally = self._tallies.of(pool_id)
        value = round(tally.completion(), 2)
        return {
            "type": "NORMAL",
            "value": int(value) if value.is_integer() else value,
            "infinite": tally.infinite,
            "approximate": False,
        }


def _checked(body: Any) -> list[dict[str, Any]]:
    """The requests of a valid body, as sent."""
    if not isinstance(body, list):
        raise ApiError(400, "VALIDATION_ERROR", "Request body must be a JSON array of analytics requests")
    if not body or len(body) > MAX_REQUESTS:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Between 1 and {MAX_REQUESTS} analytics requests are allowed, not {len(body)}",
            {"value": field_error("VALUE_OUT_OF_RANGE", "Wrong number of requests", [1, MAX_REQUESTS])},
        )
    errors: dict[str, Any] = {}
    for i, item in enumerate(body):
        if not isinstance(item, dict):
            errors[str(i)] = field_error("OBJECT_EXPECTED", "Value must be an object")
            continue
        subject, subject_id, name = item.get("subject"), item.get("subject_id"), item.get("name")
        if subject is None:
            errors[f"{i}.subject"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif subject != "POOL":
            errors[f"{i}.subject"] = field_error("UNKNOWN_ENUM_VALUE", "Subject must be POOL", ["POOL"])
        if subject_id is None or subject_id == "":
            errors[f"{i}.subject_id"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif isinstance(subject_id, bool) or not isinstance(subject_id, (str, int)):
            errors[f"{i}.subject_id"] = field_error("STRING_EXPECTED", "Value must be a string")
        if name is None:
            errors[f"{i}.name"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
        elif name not in METRICS:
            errors[f"{i}.name"] = field_error("UNKNOWN_ENUM_VALUE", f"Unknown metric {name!r}", [*METRICS])
    if errors:
        raise ApiError(400, "VALIDATION_ERROR", "Validation failed", errors)
    return body
