"""User bonuses: ``POST /user-bonuses`` (sync, or async as ``USER_BONUS.BATCH_CREATE``), ``GET /user-bonuses``
and ``GET /user-bonuses/{id}`` (docs/toloka-api.md M2).

A request is one UserBonus object or an array of them. Each item is checked on arrival (:func:`check_bonus`):
``user_id`` must name a Toloker the emulator knows (a worker of the simulated crowd, retired or not, or anyone who
has an assignment), ``amount`` must be a number from 0.005 to 100. Sync mode answers 201 with the bonus, or with
``{"items", "validation_errors"}`` keyed by array position; async mode answers 202 with an operation whose log has
one ``USER_BONUS_PERSIST`` or ``USER_BONUS_VALIDATE`` entry per item, ``input`` echoed as received.

Money: each bonus is paid through the account (``money.Account``: amount plus fee) exactly when it is stored. A
request is all or nothing: the cost of every valid item is checked against the balance first, and a short
balance pays none of them (sync: 409 ``NOT_ENOUGH_BALANCE``; async: the operation FAILs). An async request is
checked and paid when its operation completes, so the balance it sees is the one at that moment (an earlier
operation that completed first has been paid).

Choices where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md M2, M11):

- two identical bonuses in one request (same ``user_id``, ``amount``, titles, messages and ``private_comment``)
  are a 409 with code ``CONFLICT_STATE`` and ``payload: {"user_id": {"code": "ENTITY_CONFLICT", ...}}``, in either
  mode, before anything else is checked (Toloka's documented body is the bare field map).
- ``amount`` may also be a decimal string (toloka-kit's log example echoes ``"1.50"``); it is stored as a number.
  Above 100 is ``VALUE_GREATER_THAN_MAX`` (``params: [100]``), a non-number ``FLOAT_EXPECTED``.
- ``assignment_id`` is stored but not checked; titles and messages are not required with ``without_message``
  false.
- sync mode ignores ``operation_id``: a retried sync request pays again. More than 100 items in sync mode is a
  400 ``VALIDATION_ERROR``; async mode has no item limit.
- every item invalid is a 400 in sync mode (payload ``{"<idx>": {field: error}}``, or ``{field: error}`` for one
  object) and a FAIL in async mode, whatever ``skip_invalid_items`` says.
- an async operation that FAILs for a short balance logs each valid item as ``USER_BONUS_PERSIST`` with
  ``success: false`` and ``output: {"amount": {"code": "NOT_ENOUGH_BALANCE", ...}}``.
- the log is written when the operation completes, in a shuffled order (as for uploads); clients map entries back
  through ``input.__item_idx``.
- ``GET /user-bonuses``: ``limit`` defaults to 50, above 300 is a 400; default order is by ``id``.
"""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from toloka_emulator.clock import Clock
from toloka_emulator.operations import Entry, Operation, Operations
from toloka_emulator.query import bool_param, id_range, int_param, sort_param, stamp_filters
from toloka_emulator.wire import VALUE_REQUIRED, ApiError, field_error, parse_items

__all__ = ["MAX_AMOUNT", "MIN_AMOUNT", "OPERATION_TYPE", "SYNC_LIMIT", "UserBonuses", "Wallet", "check_bonus"]

OPERATION_TYPE = "USER_BONUS.BATCH_CREATE"
SYNC_LIMIT = 100
MIN_AMOUNT = 0.005
MAX_AMOUNT = 100
LIST_MAX_LIMIT = 300

# the fields a bonus keeps; __item_idx, id, created and unknown keys of a request are not stored
_TEXT_FIELDS = ("private_comment", "assignment_id")
_LANG_FIELDS = ("public_title", "public_message")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")

# the rounding slack of money.Account's own check: a balance that covers a request to within it pays it, so the
# replay below refuses exactly what pay_bonus would refuse
_TOLERANCE = 1e-9


class Wallet(Protocol):
    """What paying bonuses needs from the account (``money.Account``)."""

    balance: float

    def cost(self, amount: float) -> float:
        """What paying ``amount`` takes from the balance, fee included.

        :param amount: the bonus, in USD.
        :return: the debit.
        """
        ...

    def pay_bonus(self, amount: float) -> None:
        """Debit a bonus and its fee.

        :param amount: the bonus, in USD.
        :raises ApiError: 409 ``NOT_ENOUGH_BALANCE`` when the balance is short.
        """
        ...


def check_bonus(
    item: Any, known_user: Callable[[str], bool]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Check one item of a bonus request.

    :param item: the item as received.
    :param known_user: whether a ``user_id`` names a Toloker the emulator knows.
    :return: ``(bonus fields, None)`` when valid, ``(None, field path -> error)`` when not.
    """
    if not isinstance(item, dict):
        return None, {"": field_error("OBJECT_EXPECTED", "Each item must be a JSON object")}
    errors: dict[str, Any] = {}
    user_id = item.get("user_id")
    if user_id is None:
        errors["user_id"] = field_error("VALUE_REQUIRED", VALUE_REQUIRED)
    elif not isinstance(user_id, str):
        errors["user_id"] = field_error("STRING_EXPECTED", "Value must be a string")
    elif not known_user(user_id):
        errors["user_id"] = field_error("ENTITY_DOES_NOT_EXIST", "Entity does not exist")
    amount, amount_error = _amount(item.get("amount"))
    if amount_error is not None:
        errors["amount"] = amount_error
    for name in _TEXT_FIELDS:
        if item.get(name) is not None and not isinstance(item[name], str):
            errors[name] = field_error("STRING_EXPECTED", "Value must be a string")
    for name in _LANG_FIELDS:
        errors.update(_lang_errors(name, item.get(name)))
    without = item.get("without_message")
    if without is not None and not isinstance(without, bool):
        errors["without_message"] = field_error("BOOLEAN_EXPECTED", "Value must be a boolean")
    if errors:
        return None, errors
    bonus: dict[str, Any] = {"user_id": user_id, "amount": amount}
    for name in (*_TEXT_FIELDS, *_LANG_FIELDS):
        if item.get(name) is not None:
            bonus[name] = item[name]
    bonus["without_message"] = bool(without)
    return bonus, None


def _amount(value: Any) -> tuple[float, dict[str, Any] | None]:
    if value is None:
        return 0.0, field_error("VALUE_REQUIRED", VALUE_REQUIRED)
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0.0, field_error("FLOAT_EXPECTED", "Value must be a number")
    if value < MIN_AMOUNT:
        return 0.0, field_error(
            "VALUE_LESS_THAN_MIN", f"Value must be greater or equal to {MIN_AMOUNT}", [MIN_AMOUNT]
        )
    if value > MAX_AMOUNT:
        return 0.0, field_error(
            "VALUE_GREATER_THAN_MAX", f"Value must be less or equal to {MAX_AMOUNT}", [MAX_AMOUNT]
        )
    return float(value), None


def _lang_errors(name: str, value: Any) -> dict[str, Any]:
    """``public_title`` / ``public_message``: absent, or an object of language -> text."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        return {name: field_error("OBJECT_EXPECTED", "Value must be an object of language -> text")}
    return {
        f"{name}.{lang}": field_error("STRING_EXPECTED", "Value must be a string")
        for lang, text in value.items()
        if not isinstance(text, str)
    }


def _duplicate_key(item: Any) -> str | None:
    """What makes two bonuses "the same" for Toloka's one-per-request rule; ``None`` for a non-object."""
    if not isinstance(item, dict):
        return None
    amount = item.get("amount")
    if isinstance(amount, (int, float)) and not isinstance(amount, bool):
        amount = float(amount)  # 1 and 1.0 are one amount
    fields = (item.get("user_id"), amount, *(item.get(f) for f in (*_LANG_FIELDS, "private_comment")))
    return json.dumps(fields, sort_keys=True, default=str)


def _reject_duplicates(items: list[Any]) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        key = _duplicate_key(item)
        if key is None:
            continue
        if key in seen:
            message = (
                "Not allowed to apply multiple bonuses with the same amount, title, message and comment to the "
                f"same Toloker in a single operation (items {seen[key]} and {index})"
            )
            raise ApiError(
                409, "CONFLICT_STATE", message, {"user_id": field_error("ENTITY_CONFLICT", message)}
            )
        seen[key] = index


class UserBonuses:
    """The account's bonuses, in creation (= id) order, and the requests that create and find them.

    :param operations: the account's operations (async requests become ``USER_BONUS.BATCH_CREATE``).
    :param clock: the emulator's clock (``created`` stamps).
    :param wallet: the account the bonuses are paid from.
    :param known_user: whether a ``user_id`` names a Toloker the emulator knows.
    :param new_id: a fresh fixed-width decimal id.
    """

    def __init__(
        self,
        operations: Operations,
        clock: Clock,
        wallet: Wallet,
        known_user: Callable[[str], bool],
        new_id: Callable[[], str],
    ) -> None:
        self._operations = operations
        self._clock = clock
        self._wallet = wallet
        self._known_user = known_user
        self._new_id = new_id
        self.by_id: dict[str, dict[str, Any]] = {}
        self._ids: list[str] = []  # growing ids, so this stays sorted as strings

    # ------------------------------------------------------------------ POST

    def create(self, body: bytes, query: Mapping[str, str]) -> tuple[int, Any]:
        """``POST /user-bonuses``, sync or async.

        :param body: the raw request body: one object or an array.
        :param query: ``async_mode``, ``skip_invalid_items``, ``operation_id``.
        :return: (HTTP status, JSON-able body): 201 with the bonus or ``{"items", "validation_errors"}``, or 202
            with the operation.
        :raises ApiError: 409 ``OPERATION_ALREADY_EXISTS`` for a reused async ``operation_id``, 409
            ``CONFLICT_STATE`` for duplicate bonuses, 400 for a malformed body or parameter and in sync mode for
            invalid items (unless skipped) or more than 100 items, 409 ``NOT_ENOUGH_BALANCE`` in sync mode.
        """
        async_mode = bool_param(query, "async_mode")
        skip_invalid = bool_param(query, "skip_invalid_items")
        operation_id = query.get("operation_id") or None
        self._operations.refuse_reused(async_mode, operation_id)
        single, items = parse_items(body)
        if not async_mode and len(items) > SYNC_LIMIT:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"At most {SYNC_LIMIT} bonuses in a synchronous request, not {len(items)}",
                {"": field_error("ARRAY_SIZE_GREATER_THAN_MAX", f"Max {SYNC_LIMIT} items", [SYNC_LIMIT])},
            )
        _reject_duplicates(items)
        entries: list[Entry] = [(item, *check_bonus(item, self._known_user)) for item in items]
        if async_mode:
            return 202, self._operations.to_json(self._submit(entries, operation_id, skip_invalid))
        return 201, self._create_now(single, entries, skip_invalid)

    def _create_now(self, single: bool, entries: list[Entry], skip_invalid: bool) -> Any:
        errors = {str(i): errs for i, (_, norm, errs) in enumerate(entries) if norm is None}
        if errors and (single or not skip_invalid or len(errors) == len(entries)):
            payload = entries[0][2] if single else errors
            raise ApiError(400, "VALIDATION_ERROR", "Validation failed", payload)
        valid = [(str(i), norm) for i, (_, norm, _) in enumerate(entries) if norm is not None]
        self._check_balance([norm for _, norm in valid])
        stored = self._pay_and_store([norm for _, norm in valid], self._clock.now())
        if single:
            return stored[0]
        items = {key: bonus for (key, _), bonus in zip(valid, stored, strict=True)}
        return {"items": items, "validation_errors": errors}

    def _submit(self, entries: list[Entry], operation_id: str | None, skip_invalid: bool) -> Operation:
        total = len(entries)
        invalid = sum(1 for _, norm, _ in entries if norm is None)
        details = {
            "total_count": total,
            "valid_count": total - invalid,
            "not_valid_count": invalid,
            "success_count": 0,
            "failed_count": 0,
        }
        op = self._operations.submit(
            operation_id or str(uuid.uuid4()),
            OPERATION_TYPE,
            {"skip_invalid_items": skip_invalid},
            items=total,
            details=details,
            on_complete=lambda done: self._complete(done, entries),
        )
        if invalid and (not skip_invalid or invalid == total):
            op.final_status = "FAIL"
        return op

    def _complete(self, op: Operation, entries: list[Entry]) -> None:
        """Pay and store the valid bonuses of a finished async request (or none), and write its log."""
        log: list[dict[str, Any]] = [
            {"type": "USER_BONUS_VALIDATE", "success": False, "input": raw, "output": errs}
            for raw, norm, errs in entries
            if norm is None
        ]
        valid = [(raw, norm) for raw, norm, _ in entries if norm is not None]
        paid = 0
        if op.final_status == "SUCCESS":
            try:
                self._check_balance([norm for _, norm in valid])
            except ApiError as short:
                op.final_status = "FAIL"
                output = {"amount": field_error(short.code, short.message)}
                log += [
                    {"type": "USER_BONUS_PERSIST", "success": False, "input": raw, "output": output}
                    for raw, _ in valid
                ]
            else:
                stored = self._pay_and_store([norm for _, norm in valid], op.finish_at)
                paid = len(stored)
                log += [
                    {
                        "type": "USER_BONUS_PERSIST",
                        "success": True,
                        "input": raw,
                        "output": {"user_bonus_id": b["id"]},
                    }
                    for (raw, _), b in zip(valid, stored, strict=True)
                ]
        # Toloka does not promise log order; clients map entries back through ``__item_idx``.
        random.Random(op.id).shuffle(log)
        assert op.details is not None
        op.details["success_count"] = paid
        op.details["failed_count"] = len(entries) - paid
        op.log = log

    def _check_balance(self, bonuses: list[dict[str, Any]]) -> None:
        """Refuse the whole request up front when the balance cannot pay every bonus in it.

        The debits are replayed in order, as :meth:`Wallet.pay_bonus` will make them, so the check and the
        payments agree to the last bit of rounding and a request is never paid in part.
        """
        wallet, left = self._wallet, self._wallet.balance
        for bonus in bonuses:
            cost = wallet.cost(bonus["amount"])
            if left + _TOLERANCE < cost:
                total = sum(wallet.cost(b["amount"]) for b in bonuses)
                raise ApiError(
                    409,
                    "NOT_ENOUGH_BALANCE",
                    f"Not enough money for {len(bonuses)} bonus(es): {total:.6f} needed with fees, "
                    f"{wallet.balance:.6f} available",
                    {"needed": round(total, 6), "balance": round(wallet.balance, 6)},
                )
            left -= cost

    def _pay_and_store(self, bonuses: list[dict[str, Any]], mono: float) -> list[dict[str, Any]]:
        created = self._clock.stamp(mono)
        stored: list[dict[str, Any]] = []
        for bonus in bonuses:
            self._wallet.pay_bonus(bonus["amount"])
            bonus_id = self._new_id()
            row = {"id": bonus_id, **bonus, "created": created}
            self.by_id[bonus_id] = row
            self._ids.append(bonus_id)
            stored.append(row)
        return stored

    # ------------------------------------------------------------------ GET

    def get(self, bonus_id: str) -> dict[str, Any]:
        """``GET /user-bonuses/{id}``.

        :param bonus_id: its id.
        :return: the bonus.
        :raises ApiError: 404 ``DOES_NOT_EXIST``.
        """
        found = self.by_id.get(bonus_id)
        if found is None:
            raise ApiError(404, "DOES_NOT_EXIST", f"User bonus {bonus_id} does not exist")
        return found

    def find(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /user-bonuses``: ``user_id``, ``assignment_id``, ``private_comment``, ``id_*`` (as strings),
        ``created_*``; ``sort`` by ``id``/``created`` (``-`` descending, commas); ``limit`` 1..300, default 50.

        :param query: the request's query parameters.
        :return: ``{"items", "has_more"}``.
        :raises ApiError: 400 for a malformed parameter.
        """
        limit = int_param(query, "limit", 50, 1, LIST_MAX_LIMIT)
        sort_keys = sort_param(query.get("sort"))
        checks = stamp_filters(query, ("created",))
        exact = [
            (name, query[name]) for name in ("user_id", "assignment_id", "private_comment") if name in query
        ]
        lo, hi = id_range(self._ids, query)
        natural = sort_keys in ([], [("id", False)])
        found: list[dict[str, Any]] = []
        for bonus_id in self._ids[lo:hi]:
            bonus = self.by_id[bonus_id]
            if all(bonus.get(name) == value for name, value in exact) and all(
                check(bonus) for check in checks
            ):
                found.append(bonus)
                if natural and len(found) > limit:
                    break
        for key, desc in reversed(sort_keys):
            found.sort(key=lambda b, k=key: b[k], reverse=desc)  # type: ignore[misc]
        return {"items": found[:limit], "has_more": len(found) > limit}

    def stats(self) -> dict[str, Any]:
        """The ``user_bonuses`` part of ``/_emulator/stats``, read from the stored bonuses.

        :return: ``count``, ``amount`` (their sum, without fees) and ``by_user`` (user id -> sum), amounts rounded
            to 6 places.
        """
        by_user: dict[str, float] = {}
        for bonus in self.by_id.values():
            by_user[bonus["user_id"]] = by_user.get(bonus["user_id"], 0.0) + bonus["amount"]
        return {
            "count": len(self.by_id),
            "amount": round(sum(by_user.values()), 6),
            "by_user": {user: round(amount, 6) for user, amount in by_user.items()},
        }
