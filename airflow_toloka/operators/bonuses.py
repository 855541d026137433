"""Pay Tolokers bonuses: from a list, from a file, or by a rule over a pool's accepted work; each exactly once.

Everything is checked before the first payment (:mod:`airflow_toloka.bonuses`), then paid in batches under
operation ids derived from the idempotency key, so an Airflow retry, a cleared task, a worker killed mid-way or a
new run of the same logical date re-attaches to the payments already made instead of paying again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_toloka.batching import (
    MAX_RESUBMITS,
    USER_BONUSES,
    CreateOptions,
    iter_batches,
    operation_id,
    resolve_batch_size,
    successor_id,
)
from airflow_toloka.bonuses import (
    RESULT_COLUMNS,
    Bonus,
    CheckedBonuses,
    check_bonuses,
    check_total,
    money,
    parse_max_total,
    parse_rule,
    pool_comment,
    rule_bonuses,
    toloker_scores,
)
from airflow_toloka.exceptions import (
    TolokaCostError,
    TolokaDoesNotExistError,
    TolokaInputError,
    TolokaValidationError,
)
from airflow_toloka.files import WRITE_FORMATS, format_of, read_records, write_rows
from airflow_toloka.models import BatchCreateResult
from airflow_toloka.money import DEFAULT_FEE_MIN, DEFAULT_FEE_RATE, bonuses_cost
from airflow_toloka.operators.base import TolokaBaseOperator, run_key, write_owner
from airflow_toloka.operators.links import (
    XCOM_OPERATION_IDS,
    XCOM_POOL_IDS,
    XCOM_TOLOKA_URL,
    TolokaOperationLink,
    TolokaPoolLink,
    push_link_values,
)
from airflow_toloka.params import is_templated, rendered_list
from airflow_toloka.version_compat import task_state_store

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["PayBonusesOperator"]

# The operation ids a list or file maps to, kept before anything is paid: a retry compares its input against them.
_STATE_PLANNED = "toloka_bonus_planned_ids"
# The operation ids of a rule-form payment, kept before waiting: a retry waits for them before it asks Toloka who
# was paid, so that a payment still running is not taken for one never made (Airflow 3.3's task_state_store).
_STATE_OPS = "toloka_bonus_operation_ids"


def _templated(value: Any) -> bool:
    """Whether a parameter, or any value inside a dict of it, is a template not rendered yet."""
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    return is_templated(value)


class PayBonusesOperator(TolokaBaseOperator):
    """Pay bonuses to Tolokers, checked whole first and paid exactly once per idempotency key.

    Give exactly one of:

    - ``bonuses``: a list of dicts (literal, an upstream ``XComArg`` or a template) with ``user_id``, ``amount``
      (USD), ``public_title`` and ``public_message`` (text, meaning English, or ``{"EN": …, "RU": …}``), and
      optionally ``private_comment``, ``assignment_id`` and ``without_message`` (then no title or message);
    - ``bonuses_path``: the same as a JSONL, CSV or TSV file on any ``ObjectStoragePath`` (a title or message
      cell may hold a ``{language: text}`` JSON object);
    - ``pool_id`` with ``rule={"min_golden_accuracy": 0.9, "amount": 0.05, "public_title": …,
      "public_message": …}`` (optionally ``"min_golden_tasks"``, default 1): every Toloker whose control answers
      over all their ACCEPTED assignments of the pool were right at least that often, on at least that many
      control tasks, is paid once per pool. The bonuses carry the ``private_comment``
      ``airflow-toloka pool <id> bonus``, and Tolokers holding such a bonus already (paid by any run, under any
      key) are skipped.

    Nothing is paid unless the whole input passes: a malformed Toloker id, an amount that is not a number or is
    outside Toloka's $0.005 to $100, a missing title or message (unless ``without_message``), an unknown field,
    the same Toloker twice with one ``private_comment``, or a total above ``max_total`` fails the task naming the
    source, the 1-based row and the field. With ``skip_invalid_items=True`` malformed rows are left out locally and
    Toloka's own refusals (an unknown Toloker, say) are reported rather than fatal; a duplicate or a total above
    ``max_total`` still fails the task, and so does paying nothing at all.

    Paid exactly once: the bonuses go in batches of up to 1,000, each one Toloka operation whose id comes from the
    idempotency key, the batch number and the batch's content, so the same input under the same key (a lost
    answer, an Airflow retry, a cleared task, a worker killed mid-way, a new run of the same logical date) finds
    the operations already made and pays nothing again. On Airflow 3.3 a list or file that changed between tries
    of one task instance is refused, since its changed batches would have new ids. With ``check_balance`` what is
    still to pay (the batches not sent yet), with Toloka's fee, must be within the requester's balance, or nothing
    is paid.

    :param bonuses: the bonuses, a list of dicts (templated).
    :param bonuses_path: a JSONL, CSV or TSV file of bonuses (templated; any ``ObjectStoragePath``).
    :param pool_id: the pool of the rule form (templated).
    :param rule: the rule form's rule (templated).
    :param max_total: the most the bonuses of one run may add up to, USD (templated); None (default) for no
        cap. Toloka's fee comes on top.
    :param skip_invalid_items: leave out what cannot be paid instead of failing.
    :param results_path: where to write one row per input bonus (``row``, ``user_id``, ``amount``, ``status``
        paid/skipped/rejected, ``bonus_id``, ``error``), atomically (templated; JSONL, CSV, TSV or Parquet by
        its name).
    :param file_format: the format of ``bonuses_path`` (``jsonl``, ``csv``, ``tsv``), guessed from its name.
    :param encoding: the text encoding of ``bonuses_path``.
    :param idempotency_key: what makes a payment repeated find the first one (templated); default
        ``dag_id/<logical date>/task_id/map_index``, as uploads.
    :param batch_size: bonuses per Toloka operation (at most 1,000, the default).
    :param check_balance: refuse, paying nothing, when what is still to pay (fee included) is above the
        requester's balance; batches an earlier try or run with the same key already sent are not counted.
    :param fee_rate: Toloka's fee as a share of each bonus, for the balance check (not published; 0.30 was the
        last rate Toloka's docs gave).
    :param fee_min: the smallest fee of one bonus, USD, for the balance check.
    :param poll_interval: longest pause between two polls of the payment operations, seconds.
    :param timeout: how long to wait for Toloka to process the payments.
    :param toloka_conn_id: Airflow connection id.
    :return: ``{"paid", "amount", "operation_ids", "skipped", "rejected", "results_path"}``: bonuses paid, the
        USD they add up to, Toloka's operations, Tolokers skipped as paid already, bonuses not paid.
    """

    template_fields: Sequence[str] = (
        "bonuses",
        "bonuses_path",
        "pool_id",
        "rule",
        "max_total",
        "results_path",
        "idempotency_key",
    )
    operator_extra_links = (TolokaPoolLink(), TolokaOperationLink())
    ui_color = "#f6bd60"

    def __init__(
        self,
        *,
        bonuses: Any = None,
        bonuses_path: Any = None,
        pool_id: str | int | None = None,
        rule: Mapping[str, Any] | None = None,
        max_total: Decimal | float | str | None = None,
        skip_invalid_items: bool = False,
        results_path: Any = None,
        file_format: str | None = None,
        encoding: str = "utf-8-sig",
        idempotency_key: str | None = None,
        batch_size: int | None = None,
        check_balance: bool = True,
        fee_rate: float = DEFAULT_FEE_RATE,
        fee_min: float = DEFAULT_FEE_MIN,
        poll_interval: float = 5.0,
        timeout: timedelta | float = timedelta(hours=1),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = [
            n
            for n, v in (("bonuses", bonuses), ("bonuses_path", bonuses_path), ("rule", rule))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of bonuses=, bonuses_path= or pool_id= with rule=; got {', '.join(given) or 'none'}"
            )
        if (rule is None) != (pool_id is None):
            raise ValueError("pool_id= and rule= go together: the rule decides who of the pool is paid")
        # What can be checked before a run fails when the DAG is parsed, not when money is about to move.
        if rule is not None and not _templated(rule):
            parse_rule(rule)
        if not is_templated(max_total):
            parse_max_total(max_total)
        if results_path is not None and not is_templated(results_path):
            format_of(results_path, None, WRITE_FORMATS)
        self.bonuses, self.bonuses_path, self.pool_id, self.rule = bonuses, bonuses_path, pool_id, rule
        self.max_total, self.skip_invalid_items, self.results_path = (
            max_total,
            skip_invalid_items,
            results_path,
        )
        self.file_format, self.encoding = file_format, encoding
        self.idempotency_key, self.batch_size, self.poll_interval = idempotency_key, batch_size, poll_interval
        self.check_balance, self.fee_rate, self.fee_min = check_balance, fee_rate, fee_min
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)

    def hook_options(self) -> dict[str, Any]:
        """The pace of polling the payment operations.

        :return: ``poll_interval``.
        """
        return {"poll_interval": self.poll_interval}

    # ------------------------------------------------------------------ what to pay

    def _name(self) -> Callable[[int], str]:
        """How a 1-based input row is named in errors and logs."""
        if self.bonuses_path is not None:
            return lambda row: f"{self.bonuses_path}, data row {row}"
        if self.rule is not None:
            return lambda row: f"pool {self.pool_id}, bonus {row} (Tolokers who qualify, by id)"
        return lambda row: f"bonuses, row {row}"

    def _source(self) -> str:
        """The input in words, for messages."""
        if self.bonuses_path is not None:
            return str(self.bonuses_path)
        return f"pool {self.pool_id} (by the rule)" if self.rule is not None else "bonuses="

    def _rows(self) -> Iterable[Any]:
        if self.bonuses_path is not None:
            return read_records(self.bonuses_path, self.file_format, self.encoding)
        rows = rendered_list(self.bonuses, "bonuses")
        if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
            raise TolokaInputError(
                f"bonuses must be a list of dicts, got {type(rows).__name__}: {rows!r:.200}"
            )
        return rows

    def _plan(self, context: Context) -> tuple[CheckedBonuses, list[Bonus]]:
        """The bonuses to pay, checked whole, and (rule form) those skipped because they were paid already."""
        cap = parse_max_total(self.max_total)
        if self.rule is None:
            checked = check_bonuses(
                self._rows(), self._name(), max_total=cap, skip_invalid_items=self.skip_invalid_items
            )
            return checked, []
        pool_id = str(self.pool_id)
        rule = parse_rule(self.rule)
        self._wait_for_earlier_try(context)
        scores = toloker_scores(self.hook.get_assignment_pages(pool_id=pool_id, status="ACCEPTED"))
        due = rule_bonuses(scores, rule, pool_id)
        paid = {b.user_id for b in self.hook.get_user_bonuses(private_comment=pool_comment(pool_id))}
        self.log.info(
            "Pool %s: %d Toloker(s) with accepted work, %d meet the rule, %d of them paid already",
            pool_id,
            len(scores),
            len(due),
            sum(b.user_id in paid for b in due),
        )
        # Rows keep their place among all who qualify, so a results file lists the skipped beside the paid.
        checked = CheckedBonuses([b for b in due if b.user_id not in paid])
        check_total(checked.bonuses, cap, self._name())
        return checked, [b for b in due if b.user_id in paid]

    def _wait_for_earlier_try(self, context: Context) -> None:
        """Let the payments an earlier try of this task instance started finish before asking who was paid.

        A payment still running is not listed yet; taken for unpaid, its Tolokers would go into a new batch under
        a new operation id and be paid twice.
        """
        state = task_state_store(context)
        earlier = state.get(_STATE_OPS) if state is not None else None
        if earlier:
            self.log.info("Waiting for %d payment operation(s) of an earlier try", len(earlier))
            self.hook.wait_operations(list(earlier), timeout=self.timeout)

    # ------------------------------------------------------------------ paying

    def run(self, context: Context) -> dict[str, Any]:
        """Check everything, pay what is due in batches (or re-attach to the payments made), report.

        :param context: the task context.
        :return: the summary.
        :raises TolokaInputError: for an input that cannot be paid as a whole, before anything is paid.
        :raises TolokaCostError: when the balance does not cover what is still to pay, before anything is paid.
        :raises TolokaValidationError: when Toloka refuses bonuses and ``skip_invalid_items`` is not set, or when
            nothing at all could be paid.
        :raises TolokaTimeoutError: when Toloka is still processing at ``timeout`` (a retry re-attaches).
        """
        ti = context["ti"]
        links: dict[str, Any] = {XCOM_TOLOKA_URL: self.hook.base_url}
        if self.pool_id is not None:
            links[XCOM_POOL_IDS] = [str(self.pool_id)]
        push_link_values(self, ti, links)
        checked, skipped = self._plan(context)
        if not (checked.bonuses or checked.refused or skipped):
            self.log.warning("Nothing to pay: %s holds no bonus", self._source())
        self.log.info(
            "Paying %d bonus(es), $%s in all (max_total %s); %d left out as invalid, %d skipped as paid already",
            len(checked.bonuses),
            checked.total,
            "none" if self.max_total is None else f"${parse_max_total(self.max_total)}",
            len({p.row for p in checked.refused}),
            len(skipped),
        )
        result = self._pay(context, checked.bonuses)
        summary = self._summary(context, checked, skipped, result)
        self._raise_for_unpaid(checked, result)
        return summary

    def _pay(self, context: Context, bonuses: Sequence[Bonus]) -> BatchCreateResult:
        """Pay under deterministic operation ids; the ids are pushed (and kept) before waiting on them."""
        if not bonuses:
            return BatchCreateResult()
        key = self.idempotency_key or run_key(context)
        options = CreateOptions(skip_invalid_items=self.skip_invalid_items)
        bodies = [b.body() for b in bonuses]
        self._before_paying(context, key, options, bonuses, bodies)
        ops = self.hook.submit_batches(
            USER_BONUSES, bodies, idempotency_key=key, options=options, batch_size=self.batch_size
        )
        ids = [op.id for op in ops]
        push_link_values(self, context["ti"], {XCOM_OPERATION_IDS: ids})
        state = task_state_store(context)
        if state is not None and self.rule is not None:
            state.set(_STATE_OPS, ids)
        done = self.hook.wait_operations(ops, timeout=self.timeout)
        return self.hook.operation_results(USER_BONUSES, done)

    def _before_paying(
        self,
        context: Context,
        key: str,
        options: CreateOptions,
        bonuses: Sequence[Bonus],
        bodies: list[dict[str, Any]],
    ) -> None:
        """Refuse, before anything is sent, a list or file changed since an earlier try, and a payment the balance
        cannot cover.

        :raises TolokaInputError: for an input changed between tries (its changed batches have new operation ids,
            so their unchanged bonuses would be paid twice).
        :raises TolokaCostError: when what is still to pay, fee included, is above the balance.
        """
        size = resolve_batch_size(self.batch_size, True, USER_BONUSES)
        planned = [
            (operation_id(key, USER_BONUSES, b, options), b) for b in iter_batches(USER_BONUSES, bodies, size)
        ]
        state = task_state_store(context)
        if state is not None and self.rule is None:
            earlier = state.get(_STATE_PLANNED)
            ids = [op_id for op_id, _ in planned]
            if isinstance(earlier, dict) and earlier.get("key") == key and earlier.get("ids") != ids:
                raise TolokaInputError(
                    f"the bonuses changed since an earlier try of this task sent them in {len(earlier['ids'])} "
                    "batch(es); sending them again would pay their unchanged bonuses twice, so nothing was paid: "
                    "restore the input, or pay the change under its own idempotency_key"
                )
            state.set(_STATE_PLANNED, {"key": key, "ids": ids})
        if not self.check_balance:
            return
        unsent = [
            bonuses[i].amount
            for op_id, batch in planned
            if not self._sent(op_id)
            for i in range(batch.first_index, batch.first_index + batch.count)
        ]
        if not unsent:
            return
        cost = bonuses_cost(unsent, fee_rate=self.fee_rate, fee_min=self.fee_min)
        balance = self.hook.get_requester().balance
        if cost > Decimal(str(balance)):
            raise TolokaCostError(
                f"paying {len(unsent)} bonus(es) of ${sum(unsent, Decimal(0))} costs up to ${cost} with Toloka's fee "
                f"({self.fee_rate:.0%}, at least ${self.fee_min} a bonus), more than the balance ${balance}; nothing "
                "was paid. Top up the account, or pass check_balance=False"
            )
        self.log.info("Paying costs up to $%s with Toloka's fee; the balance is $%s", cost, balance)

    def _sent(self, op_id: str) -> bool:
        """Whether a batch was sent already under this id (or, after a FAIL, the next of its chain): its money is
        spent or being spent, and not to be counted against the balance again."""
        for _ in range(MAX_RESUBMITS):
            try:
                op = self.hook.get_operation(op_id)
            except TolokaDoesNotExistError:
                return False
            if op.status != "FAIL":
                return True
            op_id = successor_id(op_id)
        return False

    def _summary(
        self, context: Context, checked: CheckedBonuses, skipped: Sequence[Bonus], result: BatchCreateResult
    ) -> dict[str, Any]:
        paid = [b for i, b in enumerate(checked.bonuses) if i in result.items]
        amount = sum((b.amount for b in paid), Decimal(0))
        summary: dict[str, Any] = {
            "paid": len(paid),
            "amount": money(amount),
            "operation_ids": result.operation_ids,
            "skipped": len(skipped),
            "rejected": len({p.row for p in checked.refused}) + len(checked.bonuses) - len(paid),
            "results_path": None,
        }
        if self.results_path:
            rows = _result_rows(checked, skipped, result)
            fmt = format_of(self.results_path, None, WRITE_FORMATS)
            write_rows(self.results_path, rows, fmt, RESULT_COLUMNS, write_owner(context))
            summary["results_path"] = str(self.results_path)
        self.log.info("Paid %d bonus(es), $%s; %s", len(paid), amount, summary)
        return summary

    def _raise_for_unpaid(self, checked: CheckedBonuses, result: BatchCreateResult) -> None:
        """Fail when Toloka refused bonuses that were not to be skipped, or when nothing at all was paid."""
        name = self._name()
        result.raise_for_rejected(
            self.skip_invalid_items, total=len(checked.bonuses), label=lambda i: name(checked.bonuses[i].row)
        )
        if checked.refused and not result.items:
            raise TolokaValidationError(
                f"none of the bonuses was paid: {len({p.row for p in checked.refused})} row(s) left out as invalid "
                f"(e.g. {name(checked.refused[0].row)}: {checked.refused[0].field} {checked.refused[0].reason})"
                + (f", and Toloka refused the other {len(checked.bonuses)}" if checked.bonuses else ""),
                code="VALIDATION_ERROR",
            )


_NOT_PAID = (
    "not paid: its batch was refused as a whole (another bonus in it was rejected, or its operation failed)"
)


def _result_rows(
    checked: CheckedBonuses, skipped: Sequence[Bonus], result: BatchCreateResult
) -> Iterator[dict[str, Any]]:
    """One row per input bonus, in row order: paid with its id, skipped as paid already, or rejected and why."""
    rows: list[dict[str, Any]] = []
    for i, bonus in enumerate(checked.bonuses):
        row: dict[str, Any] = {"row": bonus.row, "user_id": bonus.user_id, "amount": money(bonus.amount)}
        if i in result.items:
            row.update(status="paid", bonus_id=result.items[i])
        elif i in result.validation_errors:
            errors = result.validation_errors[i]
            row.update(
                status="rejected", error="; ".join(f"{f} {e.code}: {e.message}" for f, e in errors.items())
            )
        else:
            row.update(status="rejected", error=_NOT_PAID)
        rows.append(row)
    for bonus in skipped:
        rows.append(
            {
                "row": bonus.row,
                "user_id": bonus.user_id,
                "amount": money(bonus.amount),
                "status": "skipped",
                "error": "paid already (a bonus with this pool's private_comment exists)",
            }
        )
    refused: dict[int, dict[str, Any]] = {}
    for problem in checked.refused:
        row = refused.setdefault(
            problem.row,
            {
                "row": problem.row,
                "user_id": problem.user_id,
                "amount": problem.amount,
                "status": "rejected",
                "error": "",
            },
        )
        row["error"] = "; ".join(filter(None, (row["error"], f"{problem.field or 'row'}: {problem.reason}")))
    rows.extend(refused.values())
    return iter(sorted(rows, key=lambda r: int(r["row"])))
