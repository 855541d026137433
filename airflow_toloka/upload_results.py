"""Upload results without I/O: what Toloka's answers about a batch (its operation's log or counters, or a
synchronous response) say about each input item, by input index.

The hook reads the log or the operation; these functions turn what it read into a
:class:`~airflow_toloka.models.BatchCreateResult` (``tests/unit/test_upload_results.py``). Why the log is read
flat first: ``docs/performance.md``, "Reading operation logs".
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import SchemaValidator, core_schema

from airflow_toloka.batching import ITEM_IDX, Batch, ObjectKind
from airflow_toloka.exceptions import TolokaOperationFailedError, TolokaUnexpectedResponseError, json_body
from airflow_toloka.models import BatchCreateResult, FieldValidationError, Operation

__all__ = [
    "LogBody",
    "field_errors",
    "log_decoder",
    "result_from_counters",
    "result_from_log",
    "result_from_sync_response",
]


def field_errors(output: Any) -> dict[str, FieldValidationError]:
    """Toloka's reasons for rejecting one item, by field path.

    Toloka's log reports item failures as a bare ``{field: error}`` map; the Java SDK's fixtures and older docs
    show a wrapped ``{code, message, payload}`` form, so both are accepted.

    :param output: the ``output`` of a failed log entry, or one item's part of a sync error payload.
    :return: field path to error.
    """
    if isinstance(output, Mapping) and "code" in output and isinstance(output.get("payload"), Mapping):
        output = output["payload"]
    if not isinstance(output, Mapping):
        return {"": FieldValidationError(code="UNKNOWN", message=str(output))}
    errors: dict[str, FieldValidationError] = {}
    for path, err in output.items():
        if isinstance(err, Mapping) and "code" in err:
            errors[str(path)] = FieldValidationError.model_validate(err)
        else:
            errors[str(path)] = FieldValidationError(code=str(err))
    return errors


@dataclass
class LogBody:
    """A decoded operation log: the flat reading when the log had the expected shape, and the raw body.

    :param flat: one ``{success, idx, pool_id, id}`` dict per entry, or None.
    :param raw: the body bytes when ``flat`` is set, else the parsed JSON.
    """

    flat: list[dict[str, Any]] | None
    raw: Any


@functools.cache
def _log_validator(id_key: str) -> SchemaValidator:
    """Reads from an operation log only what results need (see docs/performance.md, "Reading logs flat")."""

    def field(*path: str | int) -> core_schema.TypedDictField:
        return core_schema.typed_dict_field(
            core_schema.any_schema(), required=False, validation_alias=list(path)
        )

    entry = core_schema.typed_dict_schema(
        {
            "success": field("success"),
            "idx": field("input", ITEM_IDX),
            "pool_id": field("input", "pool_id"),
            "id": field("output", id_key),
        }
    )
    return SchemaValidator(core_schema.list_schema(entry))


def log_decoder(kind: ObjectKind) -> Callable[[int, bytes], LogBody]:
    """A response decoder for the operation log of an upload of ``kind``.

    :param kind: what the operation created.
    :return: a function of (HTTP status, body bytes) giving a :class:`LogBody`.
    """

    def decode(status: int, content: bytes) -> LogBody:
        if content:
            try:
                return LogBody(_log_validator(kind.id_key).validate_json(content), content)
            except ValidationError:
                pass
        return LogBody(None, json_body(status, content))

    return decode


def result_from_log(
    kind: ObjectKind,
    op: Operation,
    log: LogBody,
    *,
    keep_ids: bool = True,
    logger: Any = None,
) -> BatchCreateResult:
    """What one finished operation created and rejected, by input index.

    :param kind: what the operation created.
    :param op: the finished operation.
    :param log: its decoded log.
    :param keep_ids: keep created ids (else only count them).
    :param logger: where failed steps that concern no item (a pool that would not open) are reported.
    :return: the operation's result.
    :raises TolokaOperationFailedError: when the operation failed without rejecting any item.
    :raises TolokaUnexpectedResponseError: for a log of another shape than Toloka's.
    """
    if log.flat is not None and op.status != "FAIL":
        result = _result_from_flat_log(op, log.flat, keep_ids)
        if result is not None:
            return result
    body = json.loads(log.raw) if log.flat is not None else log.raw
    if body is not None and not isinstance(body, list):
        raise TolokaUnexpectedResponseError(_log_request(op), "a list of log entries", body)
    return _result_from_full_log(kind, op, body or [], keep_ids, logger or logging.getLogger(__name__))


def _log_request(op: Operation) -> str:
    return f"GET /api/v1/operations/{op.id}/log"


def _result_from_flat_log(
    op: Operation, entries: list[dict[str, Any]], keep_ids: bool
) -> BatchCreateResult | None:
    """The common case, every step a success; None when a failed step needs the full entries."""
    result = BatchCreateResult(operation_ids=[op.id])
    items = result.items
    pools: set[str] = set()
    counted = 0
    for entry in entries:
        if not entry.get("success"):
            return None
        idx = entry.get("idx")
        if idx is None:
            continue
        if "id" not in entry:
            return None
        if keep_ids:
            items[int(idx)] = entry["id"]
        else:
            counted += 1
        if "pool_id" in entry:
            pools.add(str(entry["pool_id"]))
    result.pool_ids = sorted(pools)
    result.add_created_count(counted)
    return result


def _result_from_full_log(
    kind: ObjectKind, op: Operation, entries: list[dict[str, Any]], keep_ids: bool, logger: Any
) -> BatchCreateResult:
    result = BatchCreateResult(operation_ids=[op.id])
    pools: set[str] = set()
    item_entries = counted = 0
    for number, entry in enumerate(entries):
        item = entry.get("input") or {} if isinstance(entry, Mapping) else None
        if not isinstance(item, Mapping):
            raise TolokaUnexpectedResponseError(_log_request(op), "log entries with an input object", entry)
        idx = item.get(ITEM_IDX)
        if idx is None:
            if not entry.get("success"):
                logger.warning(
                    "Toloka operation %s step %s failed: %s", op.id, entry.get("type"), entry.get("output")
                )
            continue
        item_entries += 1
        index = int(idx)
        if entry.get("success"):
            output = entry.get("output")
            if not isinstance(output, Mapping) or kind.id_key not in output:
                problem = f"entry {number} is a success without output.{kind.id_key}"
                raise TolokaUnexpectedResponseError(_log_request(op), "created ids", entry, problem)
            created_id = output[kind.id_key]
            if keep_ids:
                result.items[index] = created_id
            else:
                counted += 1
            if "pool_id" in item:
                pools.add(str(item["pool_id"]))
        else:
            result.validation_errors[index] = field_errors(entry.get("output"))
    if op.status == "FAIL" and not item_entries:
        raise TolokaOperationFailedError(
            f"Toloka operation {op.id} ({op.type}) failed: {json.dumps(op.details, default=str)}",
            operation_ids=[op.id],
            details=op.details,
        )
    result.pool_ids = sorted(pools)
    result.add_created_count(counted)
    return result


def result_from_counters(ops: Sequence[Operation], max_ids: int) -> BatchCreateResult | None:
    """The result of uploads that need no log read: more than ``max_ids`` created, and nothing rejected.

    Toloka's documented counters (``success_count``, ``failed_count``, ``not_valid_count``) are used only
    when every operation succeeded and has all three as integers, with no failure; otherwise the caller reads
    the logs (docs/performance.md, "Counters instead of logs").

    :param ops: finished upload operations.
    :param max_ids: created ids the caller would keep; at or below that, the ids are needed from the logs.
    :return: a result with only ``created_count`` and ``operation_ids``, or None when the logs must be read.
    """
    created = 0
    for op in ops:
        details = op.details
        if op.status != "SUCCESS" or not isinstance(details, Mapping):
            return None
        counts = [details.get(key) for key in ("success_count", "failed_count", "not_valid_count")]
        if not all(type(value) is int for value in counts) or counts[1] or counts[2]:
            return None
        created += counts[0]  # type: ignore[operator]
    if created <= max_ids:
        return None
    result = BatchCreateResult(operation_ids=[op.id for op in ops])
    result.add_created_count(created)
    return result


def result_from_sync_response(batch: Batch, data: Any) -> BatchCreateResult:
    """What a synchronous create request created and rejected, by input index.

    :param batch: the batch that was sent.
    :param data: Toloka's ``{items, validation_errors}`` answer, or the index-keyed payload of its 400 error.
    :return: the batch's result.
    """
    result = BatchCreateResult()
    if isinstance(data, Mapping) and ("items" in data or "validation_errors" in data):
        created, rejected = data.get("items") or {}, data.get("validation_errors") or {}
    else:
        created, rejected = {}, data
    pools: set[str] = set()
    for local, obj in created.items():
        if not isinstance(obj, Mapping) or "id" not in obj:
            raise TolokaUnexpectedResponseError("POST (sync create)", "created objects with ids", data)
        result.items[batch.first_index + int(local)] = obj["id"]
        if obj.get("pool_id") is not None:  # bonuses go to no pool
            pools.add(str(obj["pool_id"]))
    for local, errors in rejected.items():
        result.validation_errors[batch.first_index + int(local)] = field_errors(errors)
    result.pool_ids = sorted(pools)
    return result
