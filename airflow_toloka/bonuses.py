"""Bonuses to Tolokers, checked whole before any money moves, with no I/O.

What is checked here is what Toloka would refuse, or what would pay money nobody meant: a Toloker id that is not
32 lowercase hex characters, an amount that is not a number or is outside Toloka's $0.005 to $100 per bonus, a
bonus without a title or message when ``without_message`` is not true, a field that is not a bonus field (a typo
in ``private_comment`` would otherwise go unnoticed), the same Toloker twice with the same ``private_comment`` in
one input, and a total above the caller's cap. Amounts are :class:`~decimal.Decimal` from the start (a float
amount is read through its shortest text), so totals do not drift (docs/toloka-api.md M2).

The rule form turns a pool's accepted assignments into bonuses: per Toloker, their accuracy on control tasks over
all their accepted assignments, paid once per Toloker per pool under a ``private_comment`` naming the pool
(:func:`pool_comment`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, cast

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.labels import golden_score

__all__ = [
    "BONUS_FIELDS",
    "MAX_AMOUNT",
    "MIN_AMOUNT",
    "RESULT_COLUMNS",
    "Bonus",
    "BonusRule",
    "CheckedBonuses",
    "RowProblem",
    "check_bonuses",
    "check_total",
    "money",
    "parse_max_total",
    "parse_rule",
    "pool_comment",
    "rule_bonuses",
    "toloker_scores",
]

MIN_AMOUNT = Decimal("0.005")
"""Toloka's smallest bonus, USD."""
MAX_AMOUNT = Decimal("100")
"""Toloka's largest bonus, USD ("per Toloker per time")."""
BONUS_FIELDS = (
    "user_id",
    "amount",
    "public_title",
    "public_message",
    "private_comment",
    "assignment_id",
    "without_message",
)
"""What one input bonus may hold."""
RESULT_COLUMNS = ("row", "user_id", "amount", "status", "bonus_id", "error")
"""The columns of a results file: one row per input bonus, ``status`` ``paid``, ``skipped`` or ``rejected``."""
_USER_ID = re.compile(r"[0-9a-f]{32}")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_RULE_FIELDS = (
    "min_golden_accuracy",
    "amount",
    "public_title",
    "public_message",
    "without_message",
    "min_golden_tasks",
)


class _FieldError(ValueError):
    """One field of one bonus is wrong; ``field`` names it."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class Bonus:
    """One bonus as it will be paid.

    :param row: its 1-based row in the input (the rule form: its place among the Tolokers, by id).
    :param user_id: the Toloker.
    :param amount: USD, exact.
    :param private_comment: seen only by the requester; with ``user_id`` it names the bonus in one input.
    :param public_title: the message's title, language -> text.
    :param public_message: the message, language -> text.
    :param assignment_id: the assignment the bonus is for, if any.
    :param without_message: pay without telling the Toloker why.
    """

    row: int
    user_id: str
    amount: Decimal
    private_comment: str | None = None
    public_title: dict[str, str] | None = None
    public_message: dict[str, str] | None = None
    assignment_id: str | None = None
    without_message: bool = False

    def body(self) -> dict[str, Any]:
        """The bonus as the hook sends it: always the same keys in the same order, so one input always makes the
        same batches (and so the same operation ids).

        :return: the fields of :class:`~airflow_toloka.models.UserBonus`; ``amount`` stays a Decimal.
        """
        body: dict[str, Any] = {"user_id": self.user_id, "amount": self.amount}
        if self.private_comment is not None:
            body["private_comment"] = self.private_comment
        if self.without_message:
            body["without_message"] = True
        else:
            body["public_title"] = self.public_title
            body["public_message"] = self.public_message
        if self.assignment_id is not None:
            body["assignment_id"] = self.assignment_id
        return body


@dataclass(frozen=True)
class RowProblem:
    """An input row refused by the local checks.

    :param row: its 1-based row.
    :param field: the field at fault, or None for the row as a whole.
    :param reason: why.
    :param user_id: the row's user id as given, for the results file.
    :param amount: the row's amount as given, for the results file.
    """

    row: int
    field: str | None
    reason: str
    user_id: Any = None
    amount: Any = None


@dataclass
class CheckedBonuses:
    """An input after its checks: what will be paid, and the rows refused (only kept with ``skip_invalid_items``).

    :param bonuses: the bonuses to pay, in input order.
    :param refused: rows the local checks refused, one entry per problem.
    """

    bonuses: list[Bonus] = field(default_factory=list)
    refused: list[RowProblem] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """What the bonuses to pay add up to, USD, exact."""
        return sum((b.amount for b in self.bonuses), Decimal(0))


def money(value: Decimal) -> float:
    """An exact amount as the float a summary shows: to a tenth of a cent past Toloka's smallest step, so a sum of
    exact amounts does not show binary noise (``0.30000000000000004``).

    :param value: USD.
    :return: the float.
    """
    return float(value.quantize(Decimal("0.000001")))


def pool_comment(pool_id: str) -> str:
    """The ``private_comment`` of the rule form's bonuses for a pool: how any later run finds who was paid.

    :param pool_id: the pool.
    :return: ``airflow-toloka pool <id> bonus``.
    """
    return f"airflow-toloka pool {pool_id} bonus"


# ---------------------------------------------------------------------- fields


def _plain(value: Any) -> Any:
    """A value as given, for a results file: text, a number or None as they are, anything else as its text."""
    return value if value is None or isinstance(value, (str, int, float)) else str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _user_id(value: Any) -> str:
    if _missing(value):
        raise _FieldError("user_id", "is missing")
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _USER_ID.fullmatch(text):
        raise _FieldError("user_id", f"{value!r} is not a Toloker id (32 lowercase hexadecimal characters)")
    return text


def _amount(value: Any, field_name: str = "amount") -> Decimal:
    """An amount as exact USD within Toloka's limits for one bonus (a number, or its text in a CSV cell)."""
    amount = _decimal(value, field_name)
    if amount < MIN_AMOUNT:
        raise _FieldError(field_name, f"{amount} is below Toloka's smallest bonus, ${MIN_AMOUNT}")
    if amount > MAX_AMOUNT:
        raise _FieldError(field_name, f"{amount} is above Toloka's largest bonus, ${MAX_AMOUNT}")
    return amount


def _decimal(value: Any, field_name: str) -> Decimal:
    if _missing(value):
        raise _FieldError(field_name, "is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _FieldError(field_name, f"must be a number, got {type(value).__name__} {value!r}")
    try:
        # A float through its shortest text: 0.1 is the 0.1 the user wrote, not 0.1000000000000000055511…
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise _FieldError(field_name, f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise _FieldError(field_name, f"{value!r} is not a finite number")
    return amount


def _texts(value: Any, field_name: str) -> dict[str, str] | None:
    """A title or message: text is English, a ``{language: text}`` object (or its JSON, e.g. a CSV cell) as is."""
    if _missing(value) or (isinstance(value, Mapping) and not value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("{") and text.endswith("}")):
            return {"EN": value}
        try:
            value = json.loads(text)
        except ValueError:
            raise _FieldError(
                field_name, "looks like a JSON object ({language: text}) but is not valid JSON"
            ) from None
    if not isinstance(value, Mapping):
        raise _FieldError(field_name, f"must be text or a {{language: text}} object, got {value!r}")
    texts: dict[str, str] = {}
    for lang, text in value.items():
        if not isinstance(lang, str) or not lang.strip():
            raise _FieldError(field_name, f"language {lang!r} is not a language code such as EN")
        if not isinstance(text, str) or not text.strip():
            raise _FieldError(field_name, f"the {lang} text is empty or not text: {text!r}")
        code = lang.strip().upper()
        if code in texts:
            raise _FieldError(field_name, f"language {code} is given twice")
        texts[code] = text
    # One order whatever the input's, so the same bonus always makes the same batch (and operation id).
    return dict(sorted(texts.items()))


def _flag(value: Any, field_name: str) -> bool:
    if _missing(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _FieldError(field_name, f"must be true or false, got {value!r}")


def _text(value: Any, field_name: str) -> str | None:
    if _missing(value):
        return None
    if not isinstance(value, str):
        raise _FieldError(field_name, f"must be text, got {type(value).__name__} {value!r}")
    return value


def _messages(
    row: Mapping[str, Any], without: bool, problems: list[_FieldError]
) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """The title and message, each required unless ``without_message``, which allows neither."""
    found: list[dict[str, str] | None] = []
    for name in ("public_title", "public_message"):
        try:
            texts = _texts(row.get(name), name)
        except _FieldError as exc:
            problems.append(exc)
            texts = None
        else:
            if without and texts is not None:
                problems.append(
                    _FieldError(
                        name, "is given although without_message is true (Toloka sends no message then)"
                    )
                )
            elif not without and texts is None:
                problems.append(
                    _FieldError(
                        name, "is missing (the Toloker is told why; set without_message to pay silently)"
                    )
                )
        found.append(texts)
    return found[0], found[1]


def _bonus(raw: Any, row: int) -> tuple[Bonus | None, list[_FieldError]]:
    """One input row as a bonus, or every problem of the row (a row may be wrong in several fields)."""
    if hasattr(raw, "model_dump"):  # a models.UserBonus: its fields, Toloka's own ones left out
        raw = raw.model_dump(exclude_none=True, exclude={"id", "created"})
    if not isinstance(raw, Mapping):
        return None, [_FieldError("", f"must be an object with user_id and amount, got {type(raw).__name__}")]
    problems = [
        _FieldError(str(key), f"is not a bonus field (one of {', '.join(BONUS_FIELDS)})")
        for key in raw
        if key not in BONUS_FIELDS
    ]
    parsed: dict[str, Any] = {}
    parsers: dict[str, Callable[[Any, str], Any]] = {
        "user_id": lambda v, _: _user_id(v),
        "amount": _amount,
        "private_comment": _text,
        "assignment_id": _text,
        "without_message": _flag,
    }
    for name, parse in parsers.items():
        try:
            parsed[name] = parse(raw.get(name), name)
        except _FieldError as exc:
            problems.append(exc)
    without = bool(parsed.get("without_message"))
    title, message = _messages(raw, without, problems)
    if problems:
        return None, problems
    return Bonus(row, public_title=title, public_message=message, **parsed), []


# ---------------------------------------------------------------------- the whole input


def check_bonuses(
    rows: Iterable[Any],
    name: Callable[[int], str],
    *,
    max_total: Decimal | None = None,
    skip_invalid_items: bool = False,
) -> CheckedBonuses:
    """Check a whole input before anything is paid.

    A malformed row fails the whole input, or with ``skip_invalid_items`` is left out and kept in
    :attr:`CheckedBonuses.refused`. Two bonuses for the same Toloker with the same ``private_comment``, and a
    total above ``max_total``, fail the input either way: which row was meant is not for this code to guess.

    :param rows: the input bonuses (dicts, or :class:`~airflow_toloka.models.UserBonus`), in order.
    :param name: how a 1-based row is named in errors (``/data/b.csv, data row 3``).
    :param max_total: the most the bonuses may add up to, USD; None for no cap.
    :param skip_invalid_items: leave malformed rows out instead of failing.
    :return: the bonuses to pay and the rows left out.
    :raises TolokaInputError: naming each row and field at fault (the first ten), and saying nothing was paid.
    """
    checked = CheckedBonuses()
    fatal: list[RowProblem] = []
    first_of: dict[tuple[str, str | None], int] = {}
    for row, raw in enumerate(rows, 1):
        bonus, problems = _bonus(raw, row)
        if bonus is None:
            given = raw if isinstance(raw, Mapping) else {}
            user, amount = (_plain(given.get(k)) for k in ("user_id", "amount"))
            found = [RowProblem(row, p.field or None, p.reason, user, amount) for p in problems]
            (checked.refused if skip_invalid_items else fatal).extend(found)
            continue
        key = (bonus.user_id, bonus.private_comment)
        if key in first_of:
            fatal.append(
                RowProblem(
                    row,
                    "private_comment",
                    f"pays Toloker {bonus.user_id} a second time with the same private_comment "
                    f"{bonus.private_comment!r} as row {first_of[key]}: one input pays a Toloker once per "
                    "private_comment, so give each bonus its own",
                )
            )
            continue
        first_of[key] = row
        checked.bonuses.append(bonus)
    if fatal:
        raise TolokaInputError(_listed(fatal, name))
    check_total(checked.bonuses, max_total, name)
    return checked


def _listed(problems: Sequence[RowProblem], name: Callable[[int], str]) -> str:
    rows = len({p.row for p in problems})
    listed = "; ".join(_named(p, name) for p in problems[:10])
    more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
    return f"{rows} bonus row(s) cannot be paid, so nothing was paid: {listed}{more}"


def _named(problem: RowProblem, name: Callable[[int], str]) -> str:
    at = f", field '{problem.field}'" if problem.field else ""
    return f"{name(problem.row)}{at}: {problem.reason}"


def check_total(bonuses: Sequence[Bonus], max_total: Decimal | None, name: Callable[[int], str]) -> None:
    """Refuse bonuses that add up to more than ``max_total``, naming the row where the running total passes it.

    :param bonuses: the bonuses to pay.
    :param max_total: the cap, USD; None for none.
    :param name: how a 1-based row is named.
    :raises TolokaInputError: above the cap, saying nothing was paid.
    """
    if max_total is None:
        return
    running = Decimal(0)
    for bonus in bonuses:
        running += bonus.amount
        if running > max_total:
            total = sum((b.amount for b in bonuses), Decimal(0))
            raise TolokaInputError(
                f"the {len(bonuses)} bonuses add up to ${total}, more than max_total ${max_total}, so nothing was "
                f"paid; the running total passes it at {name(bonus.row)}, field 'amount' (${running})"
            )


def parse_max_total(value: Any) -> Decimal | None:
    """``max_total`` as exact USD.

    :param value: a number, its text, or None for no cap.
    :return: the cap, or None.
    :raises TolokaInputError: for no number, or a negative one.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        cap = _decimal(value, "max_total")
    except _FieldError as exc:
        raise TolokaInputError(f"max_total {exc.reason}") from None
    if cap < 0:
        raise TolokaInputError(f"max_total must not be negative, got {value!r}")
    return cap


# ---------------------------------------------------------------------- the rule form


@dataclass(frozen=True)
class BonusRule:
    """Who gets a bonus from a pool, and what: every Toloker whose control answers over their accepted
    assignments were right at least ``min_golden_accuracy`` of the time, on at least ``min_golden_tasks``.

    :param min_golden_accuracy: 0 to 1.
    :param amount: USD per Toloker.
    :param public_title: the message's title, language -> text.
    :param public_message: the message, language -> text.
    :param without_message: pay without a message.
    :param min_golden_tasks: the fewest control answers that judge a Toloker (at least 1).
    """

    min_golden_accuracy: Decimal
    amount: Decimal
    public_title: dict[str, str] | None
    public_message: dict[str, str] | None
    without_message: bool = False
    min_golden_tasks: int = 1


def parse_rule(rule: Any) -> BonusRule:
    """Check a ``rule=`` before anything is read or paid.

    :param rule: ``{"min_golden_accuracy", "amount", "public_title", "public_message"}``, optionally
        ``"min_golden_tasks"`` (default 1) and ``"without_message"`` (then no title or message).
    :return: the rule.
    :raises TolokaInputError: naming the key at fault.
    """
    if not isinstance(rule, Mapping):
        raise TolokaInputError(
            f"rule must be a dict such as {{'min_golden_accuracy': 0.9, 'amount': 0.05}}, got {rule!r}"
        )
    problems: list[_FieldError] = [
        _FieldError(str(k), f"is not a rule key (one of {', '.join(_RULE_FIELDS)})")
        for k in rule
        if k not in _RULE_FIELDS
    ]
    accuracy = Decimal(-1)
    try:
        accuracy = _decimal(rule.get("min_golden_accuracy"), "min_golden_accuracy")
    except _FieldError as exc:
        problems.append(exc)
    else:
        if not 0 <= accuracy <= 1:
            problems.append(_FieldError("min_golden_accuracy", f"must be from 0 to 1, got {accuracy}"))
    least = rule.get("min_golden_tasks", 1)
    if isinstance(least, str) and least.strip().isdigit():
        least = int(least)  # a templated rule renders its numbers as text
    if isinstance(least, bool) or not isinstance(least, int) or least < 1:
        problems.append(
            _FieldError("min_golden_tasks", f"must be a whole number of at least 1, got {least!r}")
        )
    amount = without = None
    try:
        amount = _amount(rule.get("amount"))
    except _FieldError as exc:
        problems.append(exc)
    try:
        without = _flag(rule.get("without_message"), "without_message")
    except _FieldError as exc:
        problems.append(exc)
    title, message = _messages(rule, bool(without), problems)
    if problems:
        raise TolokaInputError("rule: " + "; ".join(f"{p.field} {p.reason}" for p in problems))
    return BonusRule(accuracy, cast(Decimal, amount), title, message, bool(without), least)


def toloker_scores(pages: Iterable[Iterable[Mapping[str, Any]]]) -> dict[str, tuple[int, int]]:
    """Each Toloker's control answers over the assignments given (the rule form gives the ACCEPTED ones).

    :param pages: pages of assignments as Toloka sends them.
    :return: user id -> ``(right, control answers)``.
    """
    scores: dict[str, tuple[int, int]] = {}
    for page in pages:
        for assignment in page:
            user = assignment.get("user_id")
            if not user:
                continue
            right, total = golden_score(assignment)
            had_right, had_total = scores.get(str(user), (0, 0))
            scores[str(user)] = (had_right + right, had_total + total)
    return scores


def rule_bonuses(scores: Mapping[str, tuple[int, int]], rule: BonusRule, pool_id: str) -> list[Bonus]:
    """The bonuses a rule pays, one per Toloker who qualifies, in user id order (so one pool's answers always make
    the same batches).

    :param scores: :func:`toloker_scores`.
    :param rule: the rule.
    :param pool_id: the pool, named in every bonus's ``private_comment`` (:func:`pool_comment`).
    :return: the bonuses, numbered 1.. in that order.
    """
    # Exact fractions: 7 of 10 right meets 0.7, which a float product (0.7 * 10 = 7.000000000000001) would not.
    threshold = Fraction(rule.min_golden_accuracy)
    winners = [
        user
        for user, (right, total) in sorted(scores.items())
        if total >= rule.min_golden_tasks and Fraction(right, total) >= threshold
    ]
    return [
        Bonus(
            row,
            user,
            rule.amount,
            private_comment=pool_comment(pool_id),
            public_title=rule.public_title,
            public_message=rule.public_message,
            without_message=rule.without_message,
        )
        for row, user in enumerate(winners, 1)
    ]
