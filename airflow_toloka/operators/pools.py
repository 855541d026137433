"""Operators that set up the crowd's work: a project (usually once), a pool per run, and opening, closing and
archiving it.

Creating is find-or-create under an idempotency key (Toloka has none for these endpoints, see
:mod:`airflow_toloka.hooks.objects`), so an Airflow retry, a cleared task or a re-run of the same date reuses what
the first try made, even once it is finished (archived), and a spec changed since is applied where Toloka allows
or refused naming the fields. Open, close and archive are idempotent in Toloka (204 = already there) and wait for
their operation, on the worker or deferred. Opening first estimates what the pool will cost at most, and leaves it
closed when that is over a limit or the account's balance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import conf

from airflow_toloka.events import OperationEvent
from airflow_toloka.exceptions import TolokaCostError, TolokaInputError
from airflow_toloka.files import read_json_object
from airflow_toloka.models import Operation, Pool
from airflow_toloka.money import DEFAULT_FEE_MIN, DEFAULT_FEE_RATE, PoolCostEstimate, refusal
from airflow_toloka.operators.base import TolokaBaseOperator, run_key
from airflow_toloka.operators.links import (
    XCOM_POOL_IDS,
    XCOM_TOLOKA_URL,
    TolokaPoolLink,
    push_link_values,
)
from airflow_toloka.specs import check_pool_spec, resolve_will_expire
from airflow_toloka.triggers.operation import defer_until_done

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_toloka.lineage import LineageDataset

__all__ = [
    "ArchivePoolOperator",
    "ClosePoolOperator",
    "CreatePoolOperator",
    "CreateProjectOperator",
    "OpenPoolOperator",
]


def _spec(inline: Mapping[str, Any] | None, path: str | None, what: str) -> dict[str, Any]:
    """The spec given inline or as a JSON file (exactly one of them)."""
    if (inline is None) == (path is None):
        raise TolokaInputError(f"give exactly one of {what} and {what}_path")
    if inline is not None:
        if not isinstance(inline, Mapping):
            raise TolokaInputError(f"{what} must be a dict, got {type(inline).__name__}")
        return dict(inline)
    return read_json_object(path)


class CreateProjectOperator(TolokaBaseOperator):
    """Find or create a project; most pipelines make it once and reuse it every run.

    Give the project inline (``project``), as a JSON file (``project_path``, any ``ObjectStoragePath``), or
    pass an existing one through (``project_id``: it is only checked to exist). Created projects are tagged
    with ``idempotency_key`` (default ``dag_id/task_id``, the same for every run), so every run after the first
    finds the project the first one made; where the given spec has changed since (instructions, output fields
    …), the project found is updated and the changed fields are logged.

    :param project: the project (``public_name``, ``public_description``, ``task_spec`` …).
    :param project_path: a JSON file holding it.
    :param project_id: an existing project to use instead.
    :param idempotency_key: what identifies "this DAG's project".
    :param toloka_conn_id: Airflow connection id.
    :return: ``{"project_id": …}`` (also pushed as XCom ``project_id``).
    """

    template_fields: Sequence[str] = ("project", "project_path", "project_id", "idempotency_key")
    ui_color = "#f3d34a"

    def __init__(
        self,
        *,
        project: Mapping[str, Any] | None = None,
        project_path: str | None = None,
        project_id: str | int | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project, self.project_path, self.project_id = project, project_path, project_id
        self.idempotency_key = idempotency_key

    def run(self, context: Context) -> dict[str, Any]:
        """Check or find-or-create the project.

        :param context: the task context.
        :return: ``{"project_id": …}``.
        :raises TolokaInputError: for a missing or unreadable spec, or when the project made under the key is
            ARCHIVED (no pool can be made in it).
        :raises TolokaDoesNotExistError: for a ``project_id`` Toloka does not have.
        :raises TolokaValidationError: when Toloka rejects the spec (the message names the fields).
        """
        if self.project_id is not None:
            project = self.hook.get_project(str(self.project_id))
        else:
            spec = _spec(self.project, self.project_path, "project")
            key = self.idempotency_key or f"{self.dag_id}/{self.task_id}"
            project = self.hook.create_or_update_project(spec, idempotency_key=key)
            if project.status == "ARCHIVED":
                raise TolokaInputError(
                    f"Toloka project {project.id} (idempotency key {key!r}) is ARCHIVED: no pool can be made in "
                    f"it. Give CreateProjectOperator a new idempotency_key (e.g. {key + '/2'!r}) to create a new "
                    "project, or project_id= to use another"
                )
        self.log.info("Toloka project %s (%s)", project.id, project.public_name)
        context["ti"].xcom_push(key="project_id", value=project.id)
        return {"project_id": project.id}


class CreatePoolOperator(TolokaBaseOperator):
    """Create the run's pool from a spec or from a template pool, at most once per run.

    From a spec (``pool`` or ``pool_path``; ``project_id`` fills in when the spec has none), or from the settings
    of a template pool (``clone_from``), with ``overrides`` on top (a name with the run date, ``will_expire``,
    reward …; ``will_expire`` may be a ``timedelta``: that long from now). The result is checked locally first
    (required fields and ranges, errors name the field), then created CLOSED and tagged with the idempotency
    key, so a retry, a cleared task or a re-run of the same date finds it instead of making another (a copy made
    from the template's settings rather than Toloka's clone endpoint, whose result could only be tagged after it
    exists). ``training`` links a training: an existing training id, or a training spec created with the pool.
    The pool id is pushed (XCom ``pool_id`` and the "Toloka pool" link) as soon as it is known.

    A pool found again is returned whatever its status: once a run has finished it (CLOSED, ARCHIVED), a re-run
    of its date gets that pool, not a second one paid again (an upload to an ARCHIVED pool then fails, saying
    so). Where the spec given now differs from the pool found, a CLOSED pool is updated and the changed fields
    logged; an OPEN or ARCHIVED one, which Toloka does not let change, fails the task naming the fields (see
    :meth:`~airflow_toloka.hooks.toloka.TolokaHook.create_or_update_pool`; a ``timedelta`` ``will_expire``
    is not compared).

    :param pool: the Toloka pool spec, a dict (a string is Airflow's own ``pool`` of worker slots, as in
        ``default_args``).
    :param pool_spec: the same as ``pool``, for ``.partial()`` / ``.expand()``, where Airflow reserves ``pool``.
    :param pool_path: a JSON file holding the spec.
    :param project_id: the project, for a spec without one.
    :param clone_from: a template pool whose settings the new pool takes.
    :param overrides: fields set on top of the spec or the template's settings.
    :param training: an existing training id, or a training spec to create and link.
    :param training_passing_skill_value: the score (0 to 100) a Toloker needs in the training.
    :param idempotency_key: default ``dag_id/<logical date>/task_id/map_index``.
    :param toloka_conn_id: Airflow connection id.
    :return: ``{"pool_id", "project_id"}`` (and ``training_id`` when linked).
    """

    template_fields: Sequence[str] = (
        "pool_spec",
        "pool_path",
        "project_id",
        "clone_from",
        "overrides",
        "training",
        "idempotency_key",
    )
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#f3d34a"

    def __init__(
        self,
        *,
        pool: Mapping[str, Any] | str | None = None,
        pool_spec: Mapping[str, Any] | None = None,
        pool_path: str | None = None,
        project_id: str | int | None = None,
        clone_from: str | int | None = None,
        overrides: Mapping[str, Any] | None = None,
        training: str | int | Mapping[str, Any] | None = None,
        training_passing_skill_value: int = 70,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        if pool is not None and not isinstance(pool, Mapping):
            # Airflow's own ``pool`` (worker slots), e.g. from default_args: not a Toloka pool spec.
            kwargs["pool"], pool = pool, None
        super().__init__(**kwargs)
        if pool is not None and pool_spec is not None:
            raise ValueError("give the Toloka pool spec once: pool or pool_spec")
        spec = pool if pool is not None else pool_spec
        if clone_from is not None and (spec is not None or pool_path is not None):
            raise ValueError("give either clone_from or a pool spec (pool / pool_spec / pool_path), not both")
        if not 0 <= training_passing_skill_value <= 100:
            raise ValueError("training_passing_skill_value must be between 0 and 100")
        self.pool_spec, self.pool_path, self.project_id = spec, pool_path, project_id
        self.clone_from, self.overrides, self.training = clone_from, overrides, training
        self.training_passing_skill_value = training_passing_skill_value
        self.idempotency_key = idempotency_key
        self.made_pool_id: str | None = None  # the pool this execution found or created

    def run(self, context: Context) -> dict[str, Any]:
        """Find or create the pool (and its training), then push its id.

        :param context: the task context.
        :return: ``{"pool_id", "project_id"}`` and ``training_id`` when linked.
        :raises TolokaInputError: naming the field of a bad spec, before anything is created; or naming the
            fields that differ from a pool found OPEN or ARCHIVED.
        :raises TolokaValidationError: when Toloka still rejects it.
        """
        hook, ti = self.hook, context["ti"]
        push_link_values(self, ti, {XCOM_TOLOKA_URL: hook.base_url})
        key = self.idempotency_key or run_key(context)
        if self.clone_from is not None:
            spec = hook.get_pool(str(self.clone_from)).read_only_free()
        else:
            spec = _spec(self.pool_spec, self.pool_path, "pool")
            if self.project_id is not None:
                spec.setdefault("project_id", str(self.project_id))
        spec.update(self.overrides or {})
        # Before anything is created, the training included; a timedelta stays one for the hook, which does not
        # compare it with a pool found again.
        check_pool_spec({**spec, "will_expire": resolve_will_expire(spec.get("will_expire"))})
        training_id = self._training(spec["project_id"], key)
        if training_id is not None:
            spec["quality_control"] = self._linked(spec.get("quality_control"), training_id)
        pool = hook.create_or_update_pool(spec, idempotency_key=key)
        self.made_pool_id = pool.id
        push_link_values(self, ti, {XCOM_POOL_IDS: [pool.id], "pool_id": pool.id})
        self.log.info(
            "Toloka pool %s (%s) in project %s, %s", pool.id, pool.private_name, pool.project_id, pool.status
        )
        if pool.status == "ARCHIVED":
            self.log.warning(
                "Toloka pool %s is the pool an earlier run of this date made under idempotency key %r, and it is "
                "ARCHIVED: this run reuses it rather than paying the crowd again, and uploads to it will fail. To "
                "label again, give CreatePoolOperator a new idempotency_key",
                pool.id,
                key,
            )
        result = {"pool_id": pool.id, "project_id": pool.project_id}
        training = ((pool.quality_control or {}).get("training_requirement") or {}).get("training_pool_id")
        if training is not None:
            result["training_id"] = str(training)
        return result

    def lineage_datasets(self) -> tuple[list[LineageDataset], list[LineageDataset]]:
        """The template pool (for ``clone_from``) into the pool made.

        :return: inputs and outputs; no output when no pool was made.
        """
        templates = [self.clone_from] if self.clone_from is not None else []
        made = [self.made_pool_id] if self.made_pool_id is not None else []
        return self.lineage_pools(templates), self.lineage_pools(made)

    def _training(self, project_id: Any, key: str) -> str | None:
        if self.training is None:
            return None
        if not isinstance(self.training, Mapping):
            return str(self.training)
        spec = dict(self.training)
        spec.setdefault("project_id", str(project_id))
        training = self.hook.create_training(spec, idempotency_key=f"{key}/training")
        return training.id

    def _linked(self, quality_control: Any, training_id: str) -> dict[str, Any]:
        qc = dict(quality_control or {})
        qc.setdefault("configs", [])
        qc["training_requirement"] = {
            "training_pool_id": training_id,
            "training_passing_skill_value": self.training_passing_skill_value,
        }
        return qc


class _PoolActionOperator(TolokaBaseOperator):
    """Open, close or archive a pool and wait for the operation; "already there" (204) is success.

    :param pool_id: the pool (templated, e.g. ``create_pool.output["pool_id"]``).
    :param toloka_conn_id: Airflow connection id.
    :param deferrable: wait for the operation in the triggerer.
    :param poll_interval: seconds between status polls.
    :param timeout: how long to wait for the operation, seconds.
    """

    target_state: ClassVar[str]  # what the pool is once the action is done: "open", "closed", "archived"
    template_fields: Sequence[str] = ("pool_id",)
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#f3d34a"

    def __init__(
        self,
        *,
        pool_id: str | int,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 5.0,
        timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_id, self.deferrable = pool_id, deferrable
        self.poll_interval, self.timeout = poll_interval, timeout

    def _start(self, pool_id: str) -> Operation | None:
        raise NotImplementedError

    def _before(self, context: Context, pool_id: str) -> dict[str, Any]:
        """What to check before the action; what it returns joins the result (JSON-able: it survives a deferral)."""
        return {}

    def run(self, context: Context) -> dict[str, Any]:
        """Start the action and wait for it.

        :param context: the task context.
        :return: ``{"pool_id", "status"}``.
        :raises TolokaConflictError: with Toloka's code and message (e.g. ``EMPTY_POOL``).
        :raises TolokaOperationFailedError: when the operation fails.
        """
        pool_id = str(self.pool_id)
        self.push_pool_link(context, pool_id)
        extra = self._before(context, pool_id)
        op = self._start(pool_id)
        if op is None:
            self.log.info("Toloka pool %s: already %s", pool_id, self.target_state)
            return self._result(pool_id, extra)
        self.log.info("Toloka pool %s: %s started (operation %s)", pool_id, op.type, op.id)
        if self.deferrable and not op.is_completed:
            defer_until_done(self, [op.id], timeout=self.timeout, kwargs={"extra": extra} if extra else None)
        self.hook.finish_operation(op, timedelta(seconds=self.timeout))
        return self._result(pool_id, extra)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Turn the trigger's event into the result, or a failure naming what Toloka said.

        :param context: the task context.
        :param event: the trigger's payload.
        :param extra: what :meth:`run` found before the action (the cost estimate of an opening).
        :return: ``{"pool_id", "status"}``.
        :raises TolokaError: when the operation failed or the wait timed out.
        """
        error = OperationEvent.parse(event).error()
        try:
            if error is not None:
                raise error
            return self._result(str(self.pool_id), extra or {})
        finally:
            self.hook.close()

    def _result(self, pool_id: str, extra: dict[str, Any]) -> dict[str, Any]:
        pool = self.hook.get_pool(pool_id)
        return {"pool_id": pool_id, "status": pool.status, **extra}


class OpenPoolOperator(_PoolActionOperator):
    """Open a pool to Tolokers (a no-op when open), unless it would cost more than allowed; fails with Toloka's
    code, e.g. ``EMPTY_POOL``.

    Before opening a pool that is not open yet, what it will cost at most is estimated from its tasks (see
    :meth:`~airflow_toloka.hooks.toloka.TolokaHook.estimate_pool_cost`), logged and pushed (XCom
    ``estimated_cost``). Above ``max_cost``, or above the account's balance with ``check_balance``, the task
    fails with :class:`~airflow_toloka.exceptions.TolokaCostError` naming the estimate, the balance and the
    limit, and the pool stays closed. With ``max_cost=None`` and ``check_balance=False`` nothing is estimated.

    A pool whose ``quality_control.training_requirement`` names a training gets that training opened first (and
    waited for), since no Toloker can qualify for the pool while its training is closed.

    :param pool_id: the pool.
    :param max_cost: the most opening may cost, USD (rewards and fee); None sets no limit.
    :param check_balance: refuse when the estimate is above the requester's balance.
    :param fee_rate: Toloka's fee as a share of each reward (today's rate is not published; 0.30 was the last).
    :param fee_min: the smallest fee of one assignment, USD.
    :return: ``{"pool_id", "status", "estimated_cost"}`` (the estimate's dict, or None when not estimated).
    """

    target_state = "open"

    def __init__(
        self,
        *,
        max_cost: float | None = None,
        check_balance: bool = True,
        fee_rate: float = DEFAULT_FEE_RATE,
        fee_min: float = DEFAULT_FEE_MIN,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_cost is not None and max_cost < 0:
            raise ValueError(f"max_cost must be at least 0, got {max_cost}")
        self.max_cost, self.check_balance = max_cost, check_balance
        self.fee_rate, self.fee_min = fee_rate, fee_min

    def _start(self, pool_id: str) -> Operation | None:
        return self.hook.open_pool_async(pool_id)

    def _result(self, pool_id: str, extra: dict[str, Any]) -> dict[str, Any]:
        return super()._result(pool_id, {"estimated_cost": None, **extra})

    def _before(self, context: Context, pool_id: str) -> dict[str, Any]:
        """Estimate the cost of opening and refuse it when it is over the limit or the balance.

        :raises TolokaCostError: naming the estimate, the balance and the limit; the pool is not opened.
        """
        pool = self.hook.get_pool(pool_id)
        self._open_training(pool)
        if self.max_cost is None and not self.check_balance:
            return {}
        if pool.status == "OPEN":
            return {}  # opening it costs nothing more
        estimate: PoolCostEstimate = self.hook.estimate_pool_cost(
            pool_id, fee_rate=self.fee_rate, fee_min=self.fee_min
        )
        context["ti"].xcom_push(key="estimated_cost", value=estimate.as_dict())
        balance = self.hook.get_requester().balance if self.check_balance else None
        problem = refusal(estimate, max_cost=self.max_cost, balance=balance)
        if problem is not None:
            raise TolokaCostError(problem)
        self.log.info(
            "Toloka pool %s: opening costs at most $%s, within the limit (%s) and the balance (%s)",
            pool_id,
            estimate.total,
            "none" if self.max_cost is None else f"${self.max_cost}",
            "not checked" if balance is None else f"${balance}",
        )
        return {"estimated_cost": estimate.as_dict()}

    def _open_training(self, pool: Pool) -> None:
        """Open the pool's linked training unless it is open."""
        requirement = (pool.quality_control or {}).get("training_requirement") or {}
        training_id = requirement.get("training_pool_id")
        if training_id is None:
            return
        if self.hook.get_training(str(training_id)).status != "OPEN":
            self.log.info("Opening training %s, which pool %s requires", training_id, pool.id)
            self.hook.open_training(str(training_id))


class ClosePoolOperator(_PoolActionOperator):
    """Close a pool (reason MANUAL; a no-op when closed).

    :param pool_id: the pool.
    :return: ``{"pool_id", "status"}``.
    """

    target_state = "closed"

    def _start(self, pool_id: str) -> Operation | None:
        return self.hook.close_pool_async(pool_id)


class ArchivePoolOperator(_PoolActionOperator):
    """Archive a closed pool (a no-op when archived); fails with Toloka's code when it is still open.

    :param pool_id: the pool.
    :return: ``{"pool_id", "status"}``.
    """

    target_state = "archived"

    def _start(self, pool_id: str) -> Operation | None:
        return self.hook.archive_pool_async(pool_id)
