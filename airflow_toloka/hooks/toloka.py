"""The Toloka hook: one class for the whole API, with toloka-kit's method names so that its users feel at home.

:class:`TolokaHook` is composed of one mixin per area of Toloka's API, each in its own module, so a method is
found by the area it belongs to: :class:`~airflow_toloka.hooks.projects.ProjectsMixin` (projects),
:class:`~airflow_toloka.hooks.pools.PoolsMixin` (pools, what they take, waiting for the crowd),
:class:`~airflow_toloka.hooks.trainings.TrainingsMixin` (training pools),
:class:`~airflow_toloka.hooks.tasks.TasksMixin` (tasks and suites, uploads and their results),
:class:`~airflow_toloka.hooks.bonuses.BonusesMixin` (user bonuses, paid at most once per idempotency key),
:class:`~airflow_toloka.hooks.requester.RequesterMixin` (the account's balance, what opening a pool costs),
:class:`~airflow_toloka.hooks.skills.SkillsMixin` (skills and Tolokers' values of them),
:class:`~airflow_toloka.hooks.restrictions.RestrictionsMixin` (bans of Tolokers),
:class:`~airflow_toloka.hooks.assignments.AssignmentsMixin` (assignments, review, aggregation) and
:class:`~airflow_toloka.hooks.analytics.AnalyticsMixin` (analytics: a pool's progress and spend). They build on
:class:`~airflow_toloka.hooks.operations.OperationsMixin` (operations); projects and pools on the find-or-create
machinery of :class:`~airflow_toloka.hooks.objects.ObjectsMixin`, tasks and bonuses on the batched, idempotent
uploads of :class:`~airflow_toloka.hooks.uploads.UploadsMixin`, all above the transport
(:class:`~airflow_toloka.hooks.base.BaseTolokaHook`); no area calls another's private helper.
"""

from __future__ import annotations

from airflow_toloka.hooks.analytics import AnalyticsMixin
from airflow_toloka.hooks.assignments import AssignmentsMixin
from airflow_toloka.hooks.bonuses import BonusesMixin
from airflow_toloka.hooks.pools import PoolsMixin
from airflow_toloka.hooks.projects import ProjectsMixin
from airflow_toloka.hooks.requester import RequesterMixin
from airflow_toloka.hooks.restrictions import RestrictionsMixin
from airflow_toloka.hooks.skills import SkillsMixin
from airflow_toloka.hooks.tasks import TasksMixin
from airflow_toloka.hooks.trainings import TrainingsMixin

__all__ = ["TolokaHook"]


class TolokaHook(
    ProjectsMixin,
    PoolsMixin,
    TrainingsMixin,
    TasksMixin,
    BonusesMixin,
    RequesterMixin,
    SkillsMixin,
    RestrictionsMixin,
    AssignmentsMixin,
    AnalyticsMixin,
):
    """Talk to the Toloka REST API: projects, pools, trainings, tasks and suites, operations, assignments,
    review, aggregation, bonuses, the account's balance, skills, bans and analytics. Operators, sensors and triggers all use
    this one hook.

    The connection (``conn_type`` ``toloka``) keeps the token in ``password``; ``extra.environment`` picks
    ``PRODUCTION`` or ``SANDBOX``, and a ``host`` holding a full URL (e.g. the local emulator) overrides both.
    ``with TolokaHook() as hook:`` closes its pooled connections at the end (``async with`` in a trigger).

    :param toloka_conn_id: Airflow connection id.
    :param timeout: read timeout of one HTTP request, seconds.
    :param retry_limit: retries of one request on 429, 5xx and network errors.
    :param retry_delay: base of the exponential backoff, seconds.
    :param retry_budget: total seconds one request may spend retrying.
    :param max_in_flight: requests of one call run concurrently (batches, log reads, reviews).
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    """
