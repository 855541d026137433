"""What the crowd did: assignments (read, accept, reject) and aggregated answers.

Every search pages with ``sort`` on a unique key and a ``*_gt`` cursor, never offsets (objects keep appearing
while a pool runs), and yields lazily: a million answers cost one page of memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_toloka.exceptions import TolokaConflictError, TolokaInputError, TolokaRemoteUnavailableError
from airflow_toloka.hooks.base import Request, seg
from airflow_toloka.hooks.operations import OperationsMixin
from airflow_toloka.models import AggregatedSolution, Assignment, Operation, compact_json

__all__ = ["AGGREGATION_TYPES", "AssignmentsMixin"]

ASSIGNMENTS = "/api/v1/assignments"
AGGREGATED = "/api/v1/aggregated-solutions"
AGGREGATION_TYPES = ("WEIGHTED_DYNAMIC_OVERLAP", "DAWID_SKENE")
# toloka-kit's streaming cursor reads assignments 1,000 at a time; aggregated answers are small, and their GET may
# be rate limited like the aggregation itself, so they come in big pages.
_ASSIGNMENT_PAGE = 1000
_RESULT_PAGE = 100_000  # Toloka's largest: the results GET may be rate limited too


class AssignmentsMixin(OperationsMixin):
    """Assignments, review and aggregation with toloka-kit's method names.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    # ------------------------------------------------------------------ assignments

    def get_assignment_pages(self, **filters: Any) -> Iterator[list[dict[str, Any]]]:
        """Every assignment matching Toloka's search, page by page, as Toloka sends them (no model per item).

        :param filters: ``pool_id``, ``task_suite_id`` or ``task_id`` (one is required), ``status`` (one or a
            list), ``user_id``, ``id_gt`` …, and the ``_gt/_gte/_lt/_lte`` filters on ``created``,
            ``submitted``, ``accepted``, ``rejected``, ``skipped``, ``expired`` (datetimes or Toloka stamps).
        :return: pages of assignment dicts in id order.
        :raises TolokaInputError: without a pool, suite or task to search in, or with ``sort``/``limit``.
        """
        if not any(filters.get(k) for k in ("pool_id", "task_suite_id", "task_id")):
            raise TolokaInputError("searching assignments needs a pool_id, task_suite_id or task_id")
        if "sort" in filters or "limit" in filters:
            raise TolokaInputError("get_assignments pages by id itself: leave out sort and limit")
        yield from self._pages(ASSIGNMENTS, {**filters, "limit": _ASSIGNMENT_PAGE})

    def get_assignments(self, **filters: Any) -> Iterator[Assignment]:
        """Every assignment matching Toloka's search, lazily (one page in memory).

        :param filters: as :meth:`get_assignment_pages`.
        :return: the assignments in id order.
        :raises TolokaInputError: without a pool, suite or task to search in.
        """
        for page in self.get_assignment_pages(**filters):
            yield from (Assignment.model_validate(raw) for raw in page)

    def get_assignment(self, assignment_id: str) -> Assignment:
        """Read an assignment.

        :param assignment_id: its id.
        :return: the assignment.
        :raises TolokaDoesNotExistError: when there is no such assignment.
        """
        return self._request("GET", f"{ASSIGNMENTS}/{seg(assignment_id)}", model=Assignment)

    def accept_assignment(self, assignment_id: str, public_comment: str = "") -> Assignment:
        """Accept a SUBMITTED (or REJECTED) assignment; one accepted already is left as it is.

        :param assignment_id: its id.
        :param public_comment: shown to the Toloker.
        :return: the assignment after the change.
        :raises TolokaConflictError: naming the assignment and its status when it cannot be accepted.
        """
        return self.patch_assignment(assignment_id, "ACCEPTED", public_comment)

    def reject_assignment(self, assignment_id: str, public_comment: str) -> Assignment:
        """Reject a SUBMITTED assignment; one rejected already is left as it is.

        :param assignment_id: its id.
        :param public_comment: why, shown to the Toloker (required: they may appeal).
        :return: the assignment after the change.
        :raises TolokaInputError: without a comment (nothing is sent).
        :raises TolokaConflictError: naming the assignment and its status when it cannot be rejected.
        """
        if not public_comment or not public_comment.strip():
            raise TolokaInputError(f"rejecting assignment {assignment_id} needs a public_comment saying why")
        return self.patch_assignment(assignment_id, "REJECTED", public_comment)

    def patch_assignment(self, assignment_id: str, status: str, public_comment: str = "") -> Assignment:
        """Set an assignment's review status; "already in that status" (Toloka's 409) is success.

        :param assignment_id: its id.
        :param status: ``ACCEPTED`` or ``REJECTED``.
        :param public_comment: shown to the Toloker.
        :return: the assignment after the change.
        :raises TolokaConflictError: naming the assignment and its status for any other conflict (e.g. it is
            ACCEPTED and cannot be rejected, or its pool is archived).
        """
        body = compact_json({"status": status, "public_comment": public_comment}).encode()
        path = f"{ASSIGNMENTS}/{seg(assignment_id)}"
        try:
            # The same PATCH twice lands in the same state, so it may be retried like a GET.
            return self._send(Request("PATCH", path, body=body, idempotent=True, model=Assignment))  # type: ignore[no-any-return]
        except TolokaConflictError as exc:
            current = self.get_assignment(assignment_id)
            if current.status == status:
                return current
            raise TolokaConflictError(
                f"assignment {assignment_id} is {current.status} and cannot become {status}: {exc.message or exc}",
                http_status=exc.http_status,
                code=exc.code,
                payload=exc.payload,
            ) from None

    # ------------------------------------------------------------------ aggregation

    def aggregate_solutions_by_pool(
        self,
        type: str,
        pool_id: str,
        fields: Iterable[str | Mapping[str, Any]],
        answer_weight_skill_id: str | None = None,
        *,
        since: datetime | None = None,
    ) -> Operation:
        """Start Toloka's aggregation of a pool's accepted answers (``SOLUTION.AGGREGATE``), at most once per try.

        Aggregation is rate limited (5/min, 30/h, 200/day) and not idempotent. With ``since`` (when this run
        started), an aggregation of the same pool, algorithm and fields started since then and not failed is
        returned instead of a new one: an Airflow retry waits for the earlier try's operation.

        :param type: ``WEIGHTED_DYNAMIC_OVERLAP`` or ``DAWID_SKENE``.
        :param pool_id: the pool.
        :param fields: output field names (``DAWID_SKENE`` takes one).
        :param answer_weight_skill_id: the skill weighting answers, required for ``WEIGHTED_DYNAMIC_OVERLAP``.
        :param since: look for an earlier aggregation from this time on.
        :return: the operation; its id is where the results are read.
        :raises TolokaInputError: for an unknown type, no fields, two DS fields, or WDO without a skill.
        :raises TolokaValidationError: when Toloka refuses the field (not in the output spec, not aggregatable).
        """
        names = [str(f["name"]) if isinstance(f, Mapping) else str(f) for f in fields]
        if type not in AGGREGATION_TYPES:
            raise TolokaInputError(
                f"aggregation type must be one of {', '.join(AGGREGATION_TYPES)}, got {type!r}"
            )
        if not names or (type == "DAWID_SKENE" and len(names) != 1):
            raise TolokaInputError(
                f"{type} aggregates {'exactly one field' if type == 'DAWID_SKENE' else 'fields'}"
            )
        if type == "WEIGHTED_DYNAMIC_OVERLAP" and not answer_weight_skill_id:
            raise TolokaInputError("WEIGHTED_DYNAMIC_OVERLAP needs answer_weight_skill_id")
        earlier = self._earlier_aggregation(str(pool_id), type, names, answer_weight_skill_id, since)
        if earlier is not None:
            self.log.info("Reusing aggregation %s of pool %s started by an earlier try", earlier.id, pool_id)
            return earlier
        body: dict[str, Any] = {"type": type, "pool_id": str(pool_id), "fields": [{"name": n} for n in names]}
        if answer_weight_skill_id:
            body["answer_weight_skill_id"] = str(answer_weight_skill_id)
        started = datetime.now(timezone.utc)
        path = f"{AGGREGATED}/aggregate-by-pool"
        try:
            return self._send(
                Request("POST", path, body=compact_json(body).encode(), idempotent=False, model=Operation)
            )  # type: ignore[no-any-return]
        except TolokaRemoteUnavailableError:
            found = self._earlier_aggregation(str(pool_id), type, names, answer_weight_skill_id, started)
            if found is None:
                raise
            return found

    def get_aggregated_solutions(self, operation_id: str) -> Iterator[AggregatedSolution]:
        """The answers of a finished aggregation, lazily, paged by task id.

        :param operation_id: the ``SOLUTION.AGGREGATE`` operation.
        :return: one aggregated answer per task, in task id order.
        :raises TolokaDoesNotExistError: when there is no such operation.
        """
        for page in self._pages(f"{AGGREGATED}/{seg(operation_id)}", {"limit": _RESULT_PAGE}, key="task_id"):
            yield from (AggregatedSolution.model_validate(raw) for raw in page)

    def _earlier_aggregation(
        self, pool_id: str, algorithm: str, fields: list[str], skill: str | None, since: datetime | None
    ) -> Operation | None:
        """The newest aggregation since ``since`` of the same pool, algorithm, fields and skill that did not fail."""
        if since is None:
            return None
        params = {
            "type": "SOLUTION.AGGREGATE",
            "submitted_gte": since,
            "sort": "-submitted",
            "limit": 500,
        }
        page = self._request("GET", "/api/v1/operations", params=params)
        for raw in page.get("items", []) if isinstance(page, Mapping) else []:
            op = Operation.model_validate(raw)
            if op.status != "FAIL" and _same_aggregation(
                op.parameters or {}, pool_id, algorithm, fields, skill
            ):
                return op
        return None


def _same_aggregation(
    parameters: Mapping[str, Any], pool_id: str, algorithm: str, fields: list[str], skill: str | None
) -> bool:
    """Whether an operation's parameters describe this aggregation (Toloka names the fields per algorithm)."""
    if str(parameters.get("pool_id")) != pool_id or parameters.get("algorithm", algorithm) != algorithm:
        return False
    named = parameters.get("aggregated_output_fields") or [
        f.get("name") if isinstance(f, Mapping) else f for f in parameters.get("aggregated_fields") or []
    ]
    if named and sorted(map(str, named)) != sorted(fields):
        return False
    given = parameters.get("answer_weight_skill_id")
    return not (skill and given is not None and str(given) != str(skill))
