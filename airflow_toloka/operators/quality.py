"""Quality operators: a skill found or made once per account, and more answers where the crowd disagreed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.files import read_records
from airflow_toloka.models import Skill
from airflow_toloka.operators.base import TolokaBaseOperator
from airflow_toloka.operators.links import TolokaPoolLink

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["CreateSkillOperator", "RaiseOverlapOperator", "ban_until", "golden_rates", "uncertain_tasks"]


class CreateSkillOperator(TolokaBaseOperator):
    """Find the account's skill of this name, or create it: every run of every DAG shares one skill.

    Skills belong to the account, not to a run, so the name is the key: the first skill whose ``name`` matches
    is returned. Toloka's ``POST /skills`` has no idempotency key and is never resent after it may have arrived;
    two first runs at the same instant could each create one (the later lookups then take the older).

    :param name: the skill's private name, its key (templated).
    :param public_name: what Tolokers see, by language (``{"EN": ...}``).
    :param public_requester_description: its description for Tolokers, by language.
    :param hidden: whether Tolokers do not see it.
    :param skill_ttl_hours: hours after which a Toloker's value lapses; ``None`` keeps it.
    :param toloka_conn_id: Airflow connection id.
    :return: the skill id.
    """

    template_fields: Sequence[str] = ("name",)
    ui_color = "#c8b6ff"

    def __init__(
        self,
        *,
        name: str,
        public_name: Mapping[str, str] | None = None,
        public_requester_description: Mapping[str, str] | None = None,
        hidden: bool = True,
        skill_ttl_hours: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(name, str) or not name.strip():
            raise ValueError("CreateSkillOperator needs a non-empty name")
        self.name, self.hidden, self.skill_ttl_hours = name, hidden, skill_ttl_hours
        self.public_name = dict(public_name) if public_name else None
        self.public_requester_description = (
            dict(public_requester_description) if public_requester_description else None
        )

    def run(self, context: Context) -> str:
        """Look the skill up by name; create it when there is none.

        :param context: the task context.
        :return: the skill id.
        :raises TolokaError: when Toloka refuses the skill.
        """
        hook = self.hook
        for skill in hook.get_skills(name=self.name):
            if skill.name == self.name:
                self.log.info("Toloka skill %s (%r) found", skill.id, self.name)
                return str(skill.id)
        made = hook.create_skill(
            Skill(
                name=self.name,
                public_name=self.public_name,
                public_requester_description=self.public_requester_description,
                hidden=self.hidden,
                skill_ttl_hours=self.skill_ttl_hours,
            )
        )
        self.log.info("Toloka skill %s (%r) created", made.id, self.name)
        return str(made.id)


def uncertain_tasks(rows: Any, min_confidence: float, where: str) -> dict[str, int]:
    """The tasks of a labels file whose label is less sure than ``min_confidence``, with their accepted answers.

    :param rows: the labels file's records (``task_id``, ``confidence``, ``answers``), as
        :class:`~airflow_toloka.operators.labels.AggregateResultsOperator` writes them.
    :param min_confidence: the confidence a label needs, 0 to 1.
    :param where: the file, for errors.
    :return: task id -> accepted answers it had, for the uncertain tasks.
    :raises TolokaInputError: naming the 1-based data row of a record without those fields.
    """
    found: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        try:
            task_id, confidence, answers = str(row["task_id"]), float(row["confidence"]), int(row["answers"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TolokaInputError(
                f"{where}: data row {n} is not a label row with task_id, confidence and answers ({exc!r}); "
                "give the file AggregateResultsOperator wrote"
            ) from None
        if confidence < min_confidence:
            found[task_id] = answers
    return found


_UNIT_SECONDS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86_400}


def ban_until(restrict: Mapping[str, Any], now: datetime) -> datetime | None:
    """When a ban given in a quality-control action's terms ends.

    :param restrict: ``{"duration": int, "duration_unit": "MINUTES"|"HOURS"|"DAYS"|"PERMANENT"}``.
    :param now: the time the ban starts.
    :return: its ``will_expire``; None for PERMANENT (until deleted).
    :raises TolokaInputError: for an unknown unit or a duration that is not a positive number.
    """
    unit = str(restrict.get("duration_unit") or "PERMANENT")
    if unit == "PERMANENT":
        return None
    if unit not in _UNIT_SECONDS:
        raise TolokaInputError(
            f"restrict.duration_unit must be MINUTES, HOURS, DAYS or PERMANENT, not {unit!r}"
        )
    try:
        duration = float(restrict["duration"])
    except (KeyError, TypeError, ValueError):
        raise TolokaInputError(f"restrict needs a duration (a number of {unit}), got {restrict!r}") from None
    if duration <= 0:
        raise TolokaInputError(f"restrict.duration must be above 0, not {duration}")
    return now + timedelta(seconds=duration * _UNIT_SECONDS[unit])


def golden_rates(judged: Iterable[tuple[str, int, int]]) -> dict[str, float]:
    """Each Toloker's share of control tasks answered right, in percent, over the assignments judged.

    :param judged: ``(user_id, correct, control tasks)`` per assignment.
    :return: user id -> 0..100, for Tolokers with at least one control task.
    """
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for user, correct, controls in judged:
        right[user] += correct
        total[user] += controls
    return {user: 100.0 * right[user] / total[user] for user in total if total[user]}


class RaiseOverlapOperator(TolokaBaseOperator):
    """Ask the crowd for more answers on the tasks whose label is unsure, and reopen the pool for them.

    Reads a labels file written by :class:`~airflow_toloka.operators.labels.AggregateResultsOperator` and, for
    each task whose ``confidence`` is below ``min_confidence``, sets its overlap to the answers it was given so far
    (accepted and rejected) plus ``add``, at most ``max_overlap``, with Toloka's ``set-overlap-or-min``. The
    target comes from the file and the pool's rejected answers, not from the task's current overlap, so a retry
    or a re-run asks for the same overlap again instead of adding twice. A CLOSED pool is reopened when any task
    got more overlap, so a DAG can aggregate, raise, wait, and aggregate again.

    For pools of tasks (mixed into suites by Toloka); a pool of uploaded task suites has no per-task overlap.

    :param pool_id: the pool (templated).
    :param labels_path: the labels file (templated; JSONL, CSV or TSV; any ``ObjectStoragePath``).
    :param min_confidence: a label less sure than this gets more answers (0 to 1; a 2-to-1 majority is 0.67).
    :param add: more answers wanted per uncertain task.
    :param max_overlap: the most answers a task may get in all; ``None`` for no cap.
    :param toloka_conn_id: Airflow connection id.
    :return: how many tasks got more overlap (0: the pool was left as it was).
    """

    template_fields: Sequence[str] = ("pool_id", "labels_path")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#c8b6ff"

    def __init__(
        self,
        *,
        pool_id: str | int,
        labels_path: Any,
        min_confidence: float,
        add: int = 1,
        max_overlap: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0 < float(min_confidence) <= 1:
            raise ValueError(f"min_confidence must be above 0 and at most 1, not {min_confidence!r}")
        if isinstance(add, bool) or not isinstance(add, int) or add < 1:
            raise ValueError(f"add must be a whole number of answers, 1 or more, not {add!r}")
        if max_overlap is not None and (isinstance(max_overlap, bool) or int(max_overlap) < 1):
            raise ValueError(f"max_overlap must be 1 or more, not {max_overlap!r}")
        self.pool_id, self.labels_path = pool_id, labels_path
        self.min_confidence, self.add, self.max_overlap = float(min_confidence), add, max_overlap

    def run(self, context: Context) -> int:
        """Raise the overlap of the uncertain tasks, then reopen the pool if it is CLOSED.

        :param context: the task context.
        :return: how many tasks got more overlap.
        :raises TolokaInputError: for a labels file without the label columns, or an ARCHIVED pool.
        """
        hook, pool_id = self.hook, str(self.pool_id)
        self.push_pool_link(context, pool_id)
        unsure = uncertain_tasks(read_records(self.labels_path), self.min_confidence, str(self.labels_path))
        if not unsure:
            self.log.info(
                "Every label in %s is at least %s sure: nothing to ask again",
                self.labels_path,
                self.min_confidence,
            )
            return 0
        pool = hook.get_pool(pool_id)
        if pool.status == "ARCHIVED":
            raise TolokaInputError(f"pool {pool_id} is ARCHIVED: its tasks cannot get more answers")
        rejected: Counter[str] = Counter()
        for page in hook.get_assignment_pages(pool_id=pool_id, status="REJECTED"):
            for assignment in page:
                rejected.update(str(task["id"]) for task in assignment.get("tasks") or ())
        raised, waiting = 0, False
        for task_id, answers in unsure.items():
            target = answers + rejected[task_id] + self.add
            if self.max_overlap is not None:
                target = min(target, int(self.max_overlap))
            task = hook.get_task(task_id)
            if (task.overlap or 0) < target:
                task = hook.patch_task_overlap_or_min(task_id, target)
            # counted whether this try or an earlier one raised it, so a retry returns the same figure
            raised += (task.overlap or 0) >= target > answers + rejected[task_id]
            waiting = waiting or bool(task.remaining_overlap)
        self.log.info("%d of %d uncertain task(s) of pool %s got more overlap", raised, len(unsure), pool_id)
        if waiting and hook.get_pool(pool_id).status == "CLOSED":
            hook.open_pool(pool_id)
        return raised
