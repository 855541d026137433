"""Operators that get the labels back: export the crowd's answers, review them, aggregate one label per task.

Export and aggregation write to any ``ObjectStoragePath`` (JSONL, CSV, TSV, Parquet; see
:mod:`airflow_toloka.files`) and announce the file as an Airflow Asset: a ``results_path`` without templates is
declared as the task's outlet by default, and every declared Asset outlet gets an event whose ``extra`` holds the
path and the counts, so a downstream DAG scheduled on it runs when fresh labels land.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias, conf

from airflow_toloka.concurrency import (
    bounded_map,
)
from airflow_toloka.events import OperationEvent
from airflow_toloka.exceptions import TolokaError, TolokaInputError
from airflow_toloka.files import WRITE_FORMATS, format_of, read_records, write_rows
from airflow_toloka.labels import (
    Decision,
    Label,
    answer_rows,
    columns_for,
    golden_score,
    majority_of,
    pick_winner,
    read_decisions,
    rule_decision,
    vote_key,
)
from airflow_toloka.operators.base import TolokaBaseOperator, write_owner
from airflow_toloka.operators.links import TolokaPoolLink
from airflow_toloka.operators.quality import ban_until, golden_rates
from airflow_toloka.params import is_templated, names_of
from airflow_toloka.triggers.operation import defer_until_done

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_toloka.lineage import LineageDataset

__all__ = ["AggregateResultsOperator", "ExportAssignmentsOperator", "ReviewAssignmentsOperator"]

METHODS = ("majority", "dawid_skene", "toloka_wdo", "toloka_ds")
ASSIGNMENT_STATUSES = ("ACTIVE", "SUBMITTED", "ACCEPTED", "REJECTED", "SKIPPED", "EXPIRED")
_TOLOKA_TYPES = {"toloka_wdo": "WEIGHTED_DYNAMIC_OVERLAP", "toloka_ds": "DAWID_SKENE"}


def _asset_uri(path: Any) -> str:
    text = str(path)
    return text if "://" in text else f"file://{os.path.abspath(text)}"


def _outlets(results_path: Any, kwargs: dict[str, Any]) -> None:
    """Declare the results file as the task's outlet unless the caller declared outlets or templated the path."""
    if "outlets" not in kwargs and not is_templated(results_path):
        kwargs["outlets"] = [Asset(uri=_asset_uri(results_path))]


def _statuses(status: Any) -> list[str]:
    """The assignment statuses a ``status`` parameter names, in any case; an unknown one is a ValueError."""
    names = [name.upper() for name in names_of(status, "status")]
    return names_of(names, "status", ASSIGNMENT_STATUSES)


class _ResultsOperator(TolokaBaseOperator):
    """Shared by the operators that write a results file: the pool's spec, and the Asset event."""

    pool_id: Any
    results_path: Any

    def _fields(self) -> tuple[list[str], dict[str, dict[str, Any]]]:
        """The pool's input field names and output field specs, from its project."""
        project = self.hook.get_project(str(self.hook.get_pool(str(self.pool_id)).project_id))
        spec = project.task_spec or {}
        return list(spec.get("input_spec") or {}), dict(spec.get("output_spec") or {})

    def lineage_datasets(self) -> tuple[list[LineageDataset], list[LineageDataset]] | None:
        """The pool into the file written from it (answers or labels).

        :return: inputs and outputs.
        """
        from airflow_toloka.lineage import file_dataset

        return self.lineage_pools([self.pool_id]), [file_dataset(self.results_path)]

    def _announce(self, context: Context, extra: dict[str, Any]) -> None:
        """An event for every declared outlet: an Asset gets the extra, an AssetAlias the written file itself."""
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = extra
            elif isinstance(outlet, AssetAlias):
                context["outlet_events"][outlet].add(Asset(uri=_asset_uri(self.results_path)), extra=extra)


class ExportAssignmentsOperator(_ResultsOperator):
    """Stream every matching assignment of a pool to a file, one row per task answer, written atomically.

    Rows: assignment id, task id, task suite id, pool id, user id, status, times, ``golden`` (a control task),
    each ``INPUT:`` field, each ``OUTPUT:`` field and the control task's known answer as ``GOLDEN:`` (columns from
    the pool's project spec). Pages of 1,000 assignments are written as they arrive, so memory stays flat.

    :param pool_id: the pool (templated).
    :param status: the assignment statuses to export (templated): a list, or one status or several
        comma-separated in a string; by default the answers that count, ACCEPTED and SUBMITTED (never REJECTED).
    :param results_path: where to write (templated; any ``ObjectStoragePath``).
    :param file_format: ``jsonl``, ``csv``, ``tsv`` or ``parquet`` (the ``parquet`` extra); guessed from the name.
    :param toloka_conn_id: Airflow connection id.
    :return: ``{"path", "format", "rows", "assignments", "by_status"}``.
    """

    template_fields: Sequence[str] = ("pool_id", "status", "results_path")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#b5e48c"

    def __init__(
        self,
        *,
        pool_id: str | int,
        results_path: Any,
        status: Sequence[str] | str = ("ACCEPTED", "SUBMITTED"),
        file_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        _outlets(results_path, kwargs)
        super().__init__(**kwargs)
        if not is_templated(status):
            _statuses(status)  # a wrong status fails when the DAG is parsed, not at run time
        self.pool_id, self.results_path, self.status = pool_id, results_path, status
        self.file_format = (
            file_format if is_templated(results_path) else format_of(results_path, file_format, WRITE_FORMATS)
        )

    def run(self, context: Context) -> dict[str, Any]:
        """Export the answers.

        :param context: the task context.
        :return: the summary.
        :raises TolokaInputError: for an unknown format.
        :raises TolokaDoesNotExistError: for an unknown pool.
        """
        hook, pool_id = self.hook, str(self.pool_id)
        self.push_pool_link(context, pool_id)
        fmt = format_of(self.results_path, self.file_format, WRITE_FORMATS)
        statuses = _statuses(self.status)
        inputs, outputs = self._fields()
        by_status: Counter[str] = Counter()

        def rows() -> Iterator[dict[str, Any]]:
            for page in hook.get_assignment_pages(pool_id=pool_id, status=statuses):
                for assignment in page:
                    by_status[str(assignment.get("status"))] += 1
                    yield from answer_rows(assignment)

        columns = columns_for(inputs, list(outputs))
        count = write_rows(self.results_path, rows(), fmt, columns, write_owner(context))
        summary = {
            "path": str(self.results_path),
            "format": fmt,
            "rows": count,
            "assignments": sum(by_status.values()),
            "by_status": dict(by_status),
        }
        self.log.info(
            "Exported %d answer rows of %d assignments to %s", count, summary["assignments"], summary["path"]
        )
        self._announce(context, {**summary, "pool_id": pool_id})
        return summary


class ReviewAssignmentsOperator(_ResultsOperator):
    """Accept or reject a pool's assignments, from a decisions file or by accuracy on control tasks.

    A decisions file (JSONL, CSV or TSV with ``assignment_id``, ``verdict`` — ACCEPTED or REJECTED — and
    ``public_comment``) is checked whole first, against the pool's assignments as they are now: an unknown
    assignment, one of another pool, an unknown verdict, a rejection without a comment, or a verdict Toloka would
    refuse (a REJECTED for an assignment already ACCEPTED, any verdict for one still ACTIVE, SKIPPED or EXPIRED)
    fails the task, naming the rows, before any change. ``rule={"min_golden_accuracy": 0.8}`` decides each
    SUBMITTED assignment: accepted when its control tasks were answered at least that well, else rejected with
    ``comment`` (``{correct}`` and ``{total}`` filled in). The rule may also act on the Tolokers: ``restrict``
    (``{"scope": "PROJECT"|"POOL"|"ALL_PROJECTS", "duration": 10, "duration_unit": "DAYS"|"HOURS"|"MINUTES"|
    "PERMANENT", "private_comment": ...}``) bans each Toloker it rejected, and ``skill_id`` sets each judged
    Toloker's skill to their share of control tasks right (0 to 100) in the assignments this review judged; both
    are upserts, so a retry sets them again rather than twice. A review Toloka still refuses midway does not stop the
    others; the task fails at the end naming each one.

    Re-running is safe: a verdict already in place is not sent again. The counts say how many assignments of the
    decisions now have each verdict, and how many this try changed (a retry after a partial failure changes only
    the rest; in rule mode only SUBMITTED assignments are decided, so a retry counts only what was left).

    Nothing is accepted by default without a judgement: a decisions file that holds no decision (empty, or a
    header only) fails the task, since the pool's auto-acceptance would later pay for every assignment, and so
    does the rule when none of the SUBMITTED assignments holds a control task, since it would accept them all
    (accepted work cannot be rejected later). ``allow_empty_decisions`` and ``allow_no_control_tasks`` allow each
    on purpose. In rule mode, an assignment without control tasks in a pool whose others have some is accepted,
    and counted as ``without_control``.

    :param pool_id: the pool (templated).
    :param decisions_path: the decisions file (templated; any ``ObjectStoragePath``).
    :param rule: ``{"min_golden_accuracy": float, "comment": str, "restrict": dict, "skill_id": str}``.
    :param allow_empty_decisions: succeed, reviewing nothing, when the decisions file holds no decision.
    :param allow_no_control_tasks: in rule mode, accept every SUBMITTED assignment when none holds a control task.
    :param max_in_flight: reviews sent concurrently.
    :param toloka_conn_id: Airflow connection id.
    :return: ``{"pool_id", "accepted", "rejected", "changed"}``, and ``without_control`` in rule mode.
    """

    template_fields: Sequence[str] = ("pool_id", "decisions_path", "rule")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#b5e48c"
    DEFAULT_COMMENT = "Too many control tasks answered wrongly: {correct} of {total} right"

    def __init__(
        self,
        *,
        pool_id: str | int,
        decisions_path: Any = None,
        rule: Mapping[str, Any] | None = None,
        allow_empty_decisions: bool = False,
        allow_no_control_tasks: bool = False,
        max_in_flight: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (decisions_path is None) == (rule is None):
            raise ValueError("give exactly one of decisions_path and rule")
        if rule is not None and not isinstance(rule, Mapping):
            raise ValueError(f"rule must be a dict such as {{'min_golden_accuracy': 0.8}}, got {rule!r}")
        if rule is not None and not 0 <= float(rule.get("min_golden_accuracy", -1)) <= 1:
            raise ValueError("rule needs min_golden_accuracy between 0 and 1")
        self.pool_id, self.decisions_path, self.rule = pool_id, decisions_path, rule
        self.allow_empty_decisions, self.allow_no_control_tasks = (
            allow_empty_decisions,
            allow_no_control_tasks,
        )
        self.max_in_flight = max_in_flight
        self.without_control = 0  # set by a rule review: assignments accepted with no control task to judge
        self.judged: list[tuple[str, int, int, str]] = []  # rule review: (user, correct, controls, verdict)

    def lineage_datasets(self) -> tuple[list[LineageDataset], list[LineageDataset]] | None:
        """A review writes no file: no lineage of its own.

        :return: None.
        """
        return None

    def run(self, context: Context) -> dict[str, Any]:
        """Decide, check, then send the reviews that are not in place yet.

        :param context: the task context.
        :return: the counts.
        :raises TolokaInputError: for a bad decisions file (naming its rows) or an archived pool.
        :raises TolokaError: naming each assignment Toloka refused to review, after the others were sent.
        """
        hook, pool_id = self.hook, str(self.pool_id)
        self.push_pool_link(context, pool_id)
        if hook.get_pool(pool_id).status == "ARCHIVED":
            raise TolokaInputError(f"pool {pool_id} is ARCHIVED: Toloka allows no review of its assignments")
        decisions, statuses = self._decisions(pool_id)
        pending = [d for d in decisions if statuses.get(d.assignment_id) != d.verdict]
        refused: list[str] = []

        def send(decision: Decision) -> str | None:
            try:
                hook.patch_assignment(decision.assignment_id, decision.verdict, decision.comment)
            except TolokaError as exc:
                return f"{decision.assignment_id}: {exc}"
            return None

        for problem in bounded_map(iter(pending), send, self.max_in_flight):
            if problem is not None:
                refused.append(problem)
        verdicts = Counter(d.verdict for d in decisions)
        result: dict[str, Any] = {
            "pool_id": pool_id,
            "accepted": verdicts["ACCEPTED"],
            "rejected": verdicts["REJECTED"],
            "changed": len(pending) - len(refused),
        }
        if self.rule is not None:
            result["without_control"] = self.without_control
            result.update(self._act_on_tolokers(pool_id, {d.assignment_id for d in pending} - set(refused)))
        self.log.info("Reviewed pool %s: %s", pool_id, result)
        if refused:
            raise TolokaError(
                f"Toloka refused {len(refused)} of {len(pending)} review(s) (the others were sent): "
                + "; ".join(refused[:10])
                + (f"; and {len(refused) - 10} more" if len(refused) > 10 else "")
            )
        return result

    def _decisions(self, pool_id: str) -> tuple[list[Decision], dict[str, str]]:
        """The decisions and the current status of each assignment they name, checked before any change."""
        hook = self.hook
        if self.rule is not None:
            minimum = float(self.rule["min_golden_accuracy"])
            comment = str(self.rule.get("comment") or self.DEFAULT_COMMENT)
            decided: list[Decision] = []
            without_control = 0
            for page in hook.get_assignment_pages(pool_id=pool_id, status="SUBMITTED"):
                for assignment in page:
                    decided.append(rule_decision(assignment, minimum, comment))
                    correct, controls = golden_score(assignment)
                    without_control += controls == 0
                    self.judged.append((str(assignment["user_id"]), correct, controls, decided[-1].verdict))
            if decided and without_control == len(decided) and not self.allow_no_control_tasks:
                raise TolokaInputError(
                    f"pool {pool_id}: none of its {len(decided)} SUBMITTED assignment(s) holds a control task, so "
                    "min_golden_accuracy cannot judge them and would accept them all (accepted work cannot be "
                    "rejected later); nothing was reviewed. Upload control tasks (known_solutions), review from a "
                    "decisions file, or pass allow_no_control_tasks=True to accept them on purpose"
                )
            self.without_control = without_control
            return decided, {d.assignment_id: "SUBMITTED" for d in decided}
        decisions = read_decisions(read_records(self.decisions_path), str(self.decisions_path))
        if not decisions and not self.allow_empty_decisions:
            raise TolokaInputError(
                f"{self.decisions_path}: holds no decision (the file is empty or has only a header), so nothing "
                "would be reviewed and the pool's auto-acceptance would later pay for every assignment; pass "
                "allow_empty_decisions=True if that is meant"
            )
        statuses = {
            str(a["id"]): str(a.get("status"))
            for page in hook.get_assignment_pages(pool_id=pool_id)
            for a in page
        }
        problems = [
            (n, d.assignment_id, _review_problem(statuses.get(d.assignment_id), d.verdict, pool_id))
            for n, d in enumerate(decisions, 1)
        ]
        bad = [(n, a, why) for n, a, why in problems if why]
        if bad:
            listed = "; ".join(f"data row {n}: {a} {why}" for n, a, why in bad[:10])
            more = f"; and {len(bad) - 10} more" if len(bad) > 10 else ""
            raise TolokaInputError(
                f"{self.decisions_path}: {len(bad)} decision(s) cannot be applied: {listed}{more}; nothing was reviewed"
            )
        return decisions, statuses

    def _act_on_tolokers(self, pool_id: str, sent: set[str]) -> dict[str, int]:
        """The rule's ``restrict`` and ``skill_id``: ban the Tolokers rejected, set the skill of those judged."""
        assert self.rule is not None
        restrict, skill_id, out = self.rule.get("restrict"), self.rule.get("skill_id"), {}
        if restrict:
            pool = self.hook.get_pool(pool_id)
            until = ban_until(restrict, datetime.now(timezone.utc))
            scope = str(restrict.get("scope") or "PROJECT")
            target = {"PROJECT": {"project_id": pool.project_id}, "POOL": {"pool_id": pool_id}}.get(scope, {})
            banned = sorted({user for user, _, _, verdict in self.judged if verdict == "REJECTED"})
            for user in banned:
                self.hook.set_user_restriction(
                    {
                        "scope": scope,
                        "user_id": user,
                        **target,
                        "will_expire": until,
                        "private_comment": restrict.get("private_comment") or f"rejected in pool {pool_id}",
                    }
                )
            out["banned"] = len(banned)
        if skill_id:
            rates = golden_rates((user, c, n) for user, c, n, _ in self.judged)
            for user, rate in sorted(rates.items()):
                self.hook.set_user_skill(skill_id=str(skill_id), user_id=user, value=round(rate, 3))
            out["skills_set"] = len(rates)
        return out


def _review_problem(status: str | None, verdict: str, pool_id: str) -> str | None:
    """Why Toloka would refuse a verdict for an assignment in this status, or None when it would not."""
    if status is None:
        return f"is not in pool {pool_id}"
    if status == verdict or status == "SUBMITTED" or (status == "REJECTED" and verdict == "ACCEPTED"):
        return None
    return f"is {status} and cannot become {verdict}"


class AggregateResultsOperator(_ResultsOperator):
    """One label per task: majority vote or Dawid-Skene locally, or Toloka's own aggregation.

    ``majority`` counts the accepted answers (a tie goes to the answer a hash of the task id picks, the same on
    every run, and is counted in the summary's ``ties``); ``dawid_skene``
    runs crowd-kit's DawidSkene (the ``aggregation`` extra); ``toloka_wdo`` / ``toloka_ds`` start Toloka's
    ``SOLUTION.AGGREGATE`` (rate limited: an Airflow retry waits for the earlier try's operation instead of starting
    another), wait for it (deferrable), and read the results page by page. Fields must be in the pool's output
    spec, and for Toloka's methods aggregatable (``allowed_values`` or boolean). Rows: ``task_id``, each
    ``INPUT:`` field, each ``OUTPUT:`` field of the label, ``confidence``, ``answers``; control tasks are left
    out unless ``include_golden``.

    No labels is a failure by default: with no accepted answer (a pool under manual review not reviewed yet, say)
    the task fails, writes no file and announces nothing, so a DAG scheduled on the labels does not train on
    nothing; ``allow_empty=True`` writes the empty file and announces it.

    :param pool_id: the pool (templated).
    :param fields: the output fields to aggregate (templated): a list, or one name or several comma-separated.
    :param results_path: where to write (templated; any ``ObjectStoragePath``).
    :param method: ``majority``, ``dawid_skene``, ``toloka_wdo`` or ``toloka_ds``.
    :param file_format: ``jsonl``, ``csv``, ``tsv`` or ``parquet``; guessed from the name.
    :param answer_weight_skill_id: the skill weighting answers, for ``toloka_wdo``.
    :param include_golden: keep control tasks in the results.
    :param allow_empty: succeed with an empty file (and its Asset event) when there is nothing to aggregate.
    :param deferrable: wait for Toloka's aggregation in the triggerer.
    :param poll_interval: seconds between status polls.
    :param timeout: how long to wait for Toloka's aggregation, seconds.
    :param toloka_conn_id: Airflow connection id.
    :return: ``{"path", "format", "method", "labels", "ties"}``.
    :raises ValueError: for an unknown method or no field.
    """

    template_fields: Sequence[str] = ("pool_id", "fields", "results_path")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#b5e48c"

    def __init__(
        self,
        *,
        pool_id: str | int,
        fields: Sequence[str] | str,
        results_path: Any,
        method: str = "majority",
        file_format: str | None = None,
        answer_weight_skill_id: str | None = None,
        include_golden: bool = False,
        allow_empty: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if not is_templated(fields):
            fields = names_of(fields, "fields")  # no field fails when the DAG is parsed
        _outlets(results_path, kwargs)
        super().__init__(**kwargs)
        self.pool_id, self.fields, self.results_path, self.method = pool_id, fields, results_path, method
        self.file_format, self.answer_weight_skill_id = file_format, answer_weight_skill_id
        self.include_golden, self.allow_empty, self.deferrable = include_golden, allow_empty, deferrable
        self.poll_interval, self.timeout = poll_interval, timeout

    def run(self, context: Context) -> dict[str, Any]:
        """Aggregate (or start Toloka's aggregation and wait) and write the labels.

        :param context: the task context.
        :return: the summary.
        :raises TolokaInputError: for a field the output spec lacks or Toloka cannot aggregate.
        """
        hook, pool_id = self.hook, str(self.pool_id)
        self.push_pool_link(context, pool_id)
        self.fields = names_of(self.fields, "fields")
        inputs, outputs = self._fields()
        self._check_fields(outputs)
        if self.method in _TOLOKA_TYPES:
            run = context.get("dag_run")
            op = hook.aggregate_solutions_by_pool(
                _TOLOKA_TYPES[self.method],
                pool_id,
                self.fields,
                self.answer_weight_skill_id,
                since=getattr(run, "start_date", None),
            )
            if self.deferrable and not op.is_completed:
                defer_until_done(self, [op.id], timeout=self.timeout)
            hook.finish_operation(op, timedelta(seconds=self.timeout))
            return self._write(context, inputs, self._toloka_labels(op.id))
        return self._write(context, inputs, self._local_labels())

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Read Toloka's aggregation once the trigger says it finished, and write the labels.

        :param context: the task context.
        :param event: the trigger's payload.
        :return: the summary.
        :raises TolokaError: when the aggregation failed or the wait timed out.
        """
        parsed = OperationEvent.parse(event)
        try:
            error = parsed.error()
            if error is not None:
                raise error
            self.fields = names_of(self.fields, "fields")
            inputs, _ = self._fields()
            return self._write(context, inputs, self._toloka_labels(parsed.operation_ids[0]))
        finally:
            self.hook.close()

    def _check_fields(self, outputs: Mapping[str, Mapping[str, Any]]) -> None:
        for name in self.fields:
            spec = outputs.get(name)
            if spec is None:
                raise TolokaInputError(
                    f"field {name!r} is not in pool {self.pool_id}'s output spec (fields: {', '.join(outputs) or 'none'})"
                )
            aggregatable = spec.get("allowed_values") or str(spec.get("type", "")).lower() == "boolean"
            if self.method in _TOLOKA_TYPES and not aggregatable:
                raise TolokaInputError(
                    f"field {name!r} cannot be aggregated by Toloka: it needs allowed_values or type boolean "
                    "(a free-text answer has no label to vote on; use method='majority' for exact matches)"
                )

    def _answers(self) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
        """``(task_id, user_id, label values, input values)`` of every accepted answer kept."""
        for page in self.hook.get_assignment_pages(pool_id=str(self.pool_id), status="ACCEPTED"):
            for assignment in page:
                pairs = zip(assignment.get("tasks") or [], assignment.get("solutions") or [], strict=False)
                for task, solution in pairs:
                    if task.get("known_solutions") and not self.include_golden:
                        continue
                    values = solution.get("output_values") or {}
                    label = {f: values.get(f) for f in self.fields}
                    yield (
                        str(task.get("id")),
                        str(assignment.get("user_id")),
                        label,
                        task.get("input_values") or {},
                    )

    def _local_labels(self) -> tuple[list[Label], dict[str, dict[str, Any]]]:
        inputs: dict[str, dict[str, Any]] = {}
        if self.method == "majority":
            # Votes are counted as they stream by: memory grows with the tasks, not with their answers.
            tally: defaultdict[str, Counter[str]] = defaultdict(Counter)
            for task_id, _, label, values in self._answers():
                inputs.setdefault(task_id, values)
                tally[task_id][vote_key(label)] += 1
            return list(majority_of(tally)), inputs
        votes: list[tuple[str, str, dict[str, Any]]] = []
        for task_id, user_id, label, values in self._answers():
            inputs.setdefault(task_id, values)
            votes.append((task_id, user_id, label))
        return _dawid_skene(votes), inputs

    def _toloka_labels(self, operation_id: str) -> tuple[list[Label], dict[str, dict[str, Any]]]:
        inputs: dict[str, dict[str, Any]] = {}
        control: set[str] = set()
        for task in self.hook.get_tasks(pool_id=str(self.pool_id)):
            if task.known_solutions and not self.include_golden:
                control.add(str(task.id))
            else:
                inputs[str(task.id)] = dict(task.input_values)
        counts: Counter[str] = Counter(t for t, _, _, _ in self._answers())
        labels = [
            Label(
                s.task_id,
                {f: s.output_values.get(f) for f in self.fields},
                float(s.confidence or 0.0),
                counts[s.task_id],
            )
            for s in self.hook.get_aggregated_solutions(operation_id)
            if s.task_id not in control
        ]
        return labels, inputs

    def _write(
        self, context: Context, inputs: Sequence[str], labelled: tuple[list[Label], dict[str, dict[str, Any]]]
    ) -> dict[str, Any]:
        labels, values = labelled
        fmt = format_of(self.results_path, self.file_format, WRITE_FORMATS)
        if not labels and not self.allow_empty:
            by_status = Counter(
                str(a.get("status"))
                for page in self.hook.get_assignment_pages(pool_id=str(self.pool_id))
                for a in page
            )
            raise TolokaError(
                f"pool {self.pool_id} has no accepted answer to aggregate (assignments by status: "
                f"{dict(by_status) or 'none'}); no file was written and no Asset event sent. Review the pool "
                "first (ReviewAssignmentsOperator), or pass allow_empty=True to write an empty file on purpose"
            )
        columns = ["task_id", *(f"INPUT:{f}" for f in inputs), *(f"OUTPUT:{f}" for f in self.fields)]
        columns += ["confidence", "answers"]

        def rows() -> Iterable[dict[str, Any]]:
            for label in labels:
                row: dict[str, Any] = {
                    "task_id": label.task_id,
                    "confidence": label.confidence,
                    "answers": label.answers,
                }
                row.update({f"INPUT:{k}": v for k, v in values.get(label.task_id, {}).items()})
                row.update({f"OUTPUT:{k}": v for k, v in label.label.items()})
                yield row

        count = write_rows(self.results_path, rows(), fmt, columns, write_owner(context))
        summary = {
            "path": str(self.results_path),
            "format": fmt,
            "method": self.method,
            "labels": count,
            "ties": sum(label.tied for label in labels),
        }
        self.log.info("Wrote %d labels (%s) to %s", count, self.method, summary["path"])
        self._announce(context, {**summary, "pool_id": str(self.pool_id)})
        return summary


def _dawid_skene(votes: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Label]:
    """crowd-kit's Dawid-Skene over ``(task, worker, label)``; labels compared as their JSON."""
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene
    except ImportError:
        raise TolokaError(
            "method='dawid_skene' needs crowd-kit: pip install 'airflow-toloka[aggregation]'"
        ) from None
    import json

    if not votes:
        return []
    frame = pd.DataFrame(
        [(t, w, json.dumps(label, sort_keys=True)) for t, w, label in votes],
        columns=["task", "worker", "label"],
    )
    probabilities = DawidSkene(n_iter=100).fit_predict_proba(frame)
    counts = frame.groupby("task").size()
    labels = []
    for task_id in sorted(probabilities.index):
        row = probabilities.loc[task_id]
        best, tied = pick_winner(str(task_id), {str(label): float(row[label]) for label in row.index})
        labels.append(Label(str(task_id), json.loads(best), float(row[best]), int(counts[task_id]), tied))
    return labels
