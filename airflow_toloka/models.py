"""Toloka wire models: the one place where the JSON shapes of the REST API are defined.

Every model keeps fields it does not know (``extra="allow"``) so that a field Toloka adds tomorrow survives a
round trip instead of being silently dropped. Timestamps follow Toloka's convention: naive UTC, ISO-8601,
millisecond precision, no zone suffix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from airflow_toloka.exceptions import TolokaError, TolokaUnexpectedResponseError, TolokaValidationError

__all__ = [
    "MIN_BONUS",
    "POOLS",
    "PROJECTS",
    "READ_ONLY_FIELDS",
    "RESTRICTION_SCOPES",
    "SKILL_READ_ONLY",
    "TASKS",
    "TASK_SUITES",
    "TERMINAL_STATUSES",
    "TRAININGS",
    "USER_BONUSES",
    "AggregatedSolution",
    "Assignment",
    "BaseTask",
    "BaselineSolution",
    "BatchCreateResult",
    "FieldValidationError",
    "KnownSolution",
    "ObjectKind",
    "Operation",
    "OperationLogItem",
    "Pool",
    "Project",
    "Requester",
    "Skill",
    "Task",
    "TaskSuite",
    "Training",
    "UserBonus",
    "UserRestriction",
    "UserSkill",
    "compact_json",
    "format_datetime",
    "parse_body",
]

TERMINAL_STATUSES = frozenset({"SUCCESS", "FAIL"})
M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], data: Any, what: str) -> M:
    """Read an answer of Toloka's as ``model``.

    :param model: the expected shape.
    :param data: the parsed JSON body.
    :param what: the request, for the message (``GET /api/v1/operations/x``).
    :return: the model.
    :raises TolokaUnexpectedResponseError: naming the request, what came and what is missing or wrong.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "the body"
        article = "an" if model.__name__[0] in "AEIOU" else "a"
        raise TolokaUnexpectedResponseError(
            what, f"{article} {model.__name__}", data, f"{where}: {first['msg']}"
        ) from None


def compact_json(data: Any) -> str:
    """JSON as this provider writes it everywhere (request bodies, JSONL lines): compact, non-ASCII kept.

    :param data: JSON-able data.
    :return: the text, on one line.
    """
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def format_datetime(value: datetime) -> str:
    """Render a datetime the way Toloka does (naive UTC with milliseconds), which Toloka's Java SDK requires.

    :param value: naive (taken as UTC) or aware.
    :return: e.g. ``2024-01-02T03:04:05.678``.
    """
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _as_naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _id_to_str(value: Any) -> Any:
    # Toloka ids are strings on the wire; users often write pool ids as ints.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return value


TolokaDatetime = Annotated[
    datetime,
    BeforeValidator(_as_naive_utc),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
]
TolokaId = Annotated[str, BeforeValidator(_id_to_str)]
# Money in USD: exact in Python (Decimal, as toloka-kit insists), a JSON number on the wire (Toloka reads numbers;
# pydantic would write a Decimal as a string).
TolokaMoney = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
MIN_BONUS = Decimal("0.005")
"""Toloka's smallest bonus, USD (docs/toloka-api.md M2; it was $0.01 until December 2022)."""


class TolokaModel(BaseModel):
    """Base for all wire models: keeps unknown fields and validates on assignment."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The object as Toloka expects it in a request body (None fields omitted)."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class KnownSolution(TolokaModel):
    """A correct answer for a control or training task."""

    output_values: dict[str, Any]
    correctness_weight: float | None = Field(default=None, ge=0, le=1)


class BaselineSolution(TolokaModel):
    """A prior answer used by dynamic overlap and aggregation."""

    output_values: dict[str, Any]
    confidence_weight: float | None = Field(default=None, ge=0, le=1)


class BaseTask(TolokaModel):
    """A task as it appears inside a task suite: input data and optional control answers."""

    input_values: dict[str, Any]
    known_solutions: list[KnownSolution] | None = None
    message_on_unknown_solution: str | None = None
    id: str | None = None
    origin_task_id: str | None = None


class _OverlapMixin(TolokaModel):
    overlap: int | None = Field(default=None, ge=1, le=30000)
    infinite_overlap: bool | None = None
    reserved_for: list[str] | None = None
    unavailable_for: list[str] | None = None
    traits_all_of: list[str] | None = None
    traits_any_of: list[str] | None = None
    traits_none_of_any: list[str] | None = None
    remaining_overlap: int | None = None
    created: TolokaDatetime | None = None

    @field_validator("reserved_for", "unavailable_for")
    @classmethod
    def _unique_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("Toloker ids must be unique")
        return value


class Task(BaseTask, _OverlapMixin):
    """A task uploaded to a pool (``POST /api/v1/tasks``)."""

    pool_id: TolokaId
    baseline_solutions: list[BaselineSolution] | None = None


class TaskSuite(_OverlapMixin):
    """A page of tasks shown together to one Toloker (``POST /api/v1/task-suites``)."""

    pool_id: TolokaId
    tasks: list[BaseTask] = Field(min_length=1)
    issuing_order_override: float | None = None
    mixed: bool | None = None
    automerged: bool | None = None
    longitude: float | None = None
    latitude: float | None = None
    id: str | None = None


class Operation(TolokaModel):
    """An asynchronous Toloka operation, e.g. ``TASK.BATCH_CREATE``."""

    id: str
    type: str | None = None
    status: Literal["PENDING", "RUNNING", "SUCCESS", "FAIL"] | str
    submitted: TolokaDatetime | None = None
    started: TolokaDatetime | None = None
    finished: TolokaDatetime | None = None
    progress: int | None = None
    parameters: dict[str, Any] | None = None
    details: Any = None

    @property
    def is_completed(self) -> bool:
        """Whether the operation reached SUCCESS or FAIL (both final)."""
        return self.status in TERMINAL_STATUSES


class OperationLogItem(TolokaModel):
    """One step of an operation: an item created (``success``) or rejected, or a pool being opened."""

    type: str
    success: bool
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None


class Project(TolokaModel):
    """A project: the task interface (``task_spec``) its pools share (``/api/v1/projects``).

    Fields beyond these (instructions, quality control, localisation …) are kept as they come.
    """

    public_name: str
    public_description: str | None = None
    task_spec: dict[str, Any] | None = None
    assignments_issuing_type: str | None = None
    private_comment: str | None = None
    metadata: dict[str, Any] | None = None
    id: TolokaId | None = None
    status: str | None = None
    created: TolokaDatetime | None = None

    @property
    def input_spec(self) -> dict[str, Any] | None:
        """The project's input fields, ``task_spec.input_spec``, or None when it declares none."""
        spec = (self.task_spec or {}).get("input_spec")
        return spec if isinstance(spec, dict) else None


class _PoolBase(TolokaModel):
    """The fields pools and trainings share (a model base, not a kind: see :class:`ObjectKind`): identity, project, status and the stamps of opening and closing."""

    project_id: TolokaId
    private_name: str
    private_comment: str | None = None
    metadata: dict[str, Any] | None = None
    id: TolokaId | None = None
    status: Literal["OPEN", "CLOSED", "ARCHIVED", "LOCKED"] | str | None = None
    last_close_reason: str | None = None
    created: TolokaDatetime | None = None
    last_started: TolokaDatetime | None = None
    last_stopped: TolokaDatetime | None = None

    def read_only_free(self) -> dict[str, Any]:
        """The object as a create or update body: what the server sets (id, status, stamps …) left out.

        :return: the JSON-able body.
        """
        body = self.to_json_dict()
        for key in READ_ONLY_FIELDS:
            body.pop(key, None)
        return body


READ_ONLY_FIELDS = (
    "id",
    "status",
    "last_close_reason",
    "created",
    "last_started",
    "last_stopped",
    "owner",
    "type",
)
"""Fields Toloka sets on projects, pools and trainings; a body sent back leaves them out."""


class Pool(_PoolBase):
    """A pool: tasks, price and rules of one labeling run (``/api/v1/pools``)."""

    reward_per_assignment: float | None = None
    assignment_max_duration_seconds: int | None = None
    will_expire: TolokaDatetime | None = None
    defaults: dict[str, Any] | None = None
    auto_accept_solutions: bool | None = None
    auto_close_after_complete_delay_seconds: int | None = None
    mixer_config: dict[str, Any] | None = None
    quality_control: dict[str, Any] | None = None


class Training(_PoolBase):
    """A training pool: an exam Tolokers pass before a linked pool (``/api/v1/trainings``)."""

    inherited_instructions: bool | None = None
    training_tasks_in_task_suite_count: int | None = None
    assignment_max_duration_seconds: int | None = None


class Assignment(TolokaModel):
    """A task suite as one Toloker did it: ``tasks`` and ``solutions`` aligned (``/api/v1/assignments``).

    Tasks are kept as Toloka sends them (dicts): an export reads a million of them, and their shape is the
    pool's, not this provider's.
    """

    id: str
    pool_id: TolokaId | None = None
    task_suite_id: str | None = None
    user_id: str | None = None
    status: Literal["ACTIVE", "SUBMITTED", "ACCEPTED", "REJECTED", "SKIPPED", "EXPIRED"] | str
    reward: float | None = None
    tasks: list[dict[str, Any]] = Field(default_factory=list)
    solutions: list[dict[str, Any]] | None = None
    mixed: bool | None = None
    public_comment: str | None = None
    created: TolokaDatetime | None = None
    submitted: TolokaDatetime | None = None
    accepted: TolokaDatetime | None = None
    rejected: TolokaDatetime | None = None
    skipped: TolokaDatetime | None = None
    expired: TolokaDatetime | None = None


class AggregatedSolution(TolokaModel):
    """One task's aggregated answer (``/api/v1/aggregated-solutions/{operation_id}``)."""

    pool_id: TolokaId | None = None
    task_id: str
    confidence: float | None = None
    output_values: dict[str, Any] = Field(default_factory=dict)


class Requester(TolokaModel):
    """The account the token belongs to (``GET /api/v1/requester``).

    ``balance`` is in USD, what is available to spend (docs/toloka-api.md M1).
    """

    id: str
    balance: float
    public_name: dict[str, str] | None = None
    company: dict[str, Any] | None = None


class UserBonus(TolokaModel):
    """A bonus paid to one Toloker on top of their rewards (``/api/v1/user-bonuses``).

    ``amount`` is in USD, at least $0.005 (checked before sending), and a JSON number on the wire. Set
    ``public_title`` and ``public_message`` (``{"EN": "…"}``) to tell the Toloker why, or ``without_message=True``.
    ``id`` and ``created`` are Toloka's.
    """

    user_id: str
    amount: Annotated[TolokaMoney, Field(ge=MIN_BONUS)]
    private_comment: str | None = None
    public_title: dict[str, str] | None = None
    public_message: dict[str, str] | None = None
    without_message: bool | None = None
    assignment_id: str | None = None
    id: str | None = None
    created: TolokaDatetime | None = None


class Skill(TolokaModel):
    """A requester's skill: a 0..100 value per Toloker, set by you (``/api/v1/skills``, docs/toloka-api.md M3).

    ``hidden`` defaults to true on Toloka's side (Tolokers do not see it). ``id``, ``created``, ``owner``,
    ``global`` (``global_`` here: a platform skill) and ``training`` are Toloka's; ``update_skill`` leaves them out.
    """

    name: str
    public_name: dict[str, str] | None = None
    public_requester_description: dict[str, str] | None = None
    private_comment: str | None = None
    hidden: bool | None = None
    skill_ttl_hours: int | None = Field(default=None, ge=1)
    training: bool | None = None
    global_: bool | None = Field(default=None, alias="global")
    owner: dict[str, Any] | None = None
    id: TolokaId | None = None
    created: TolokaDatetime | None = None


SKILL_READ_ONLY = ("id", "created", "owner", "global", "training")
"""Fields of a skill that Toloka sets and a ``PUT`` need not send."""


class UserSkill(TolokaModel):
    """One Toloker's value of one skill (``/api/v1/user-skills``, docs/toloka-api.md M4).

    ``exact_value`` is what was set (0..100, fractions allowed), ``value`` it rounded to an integer. ``id`` names the
    (skill, Toloker) pair, ``created`` is when the Toloker first got the skill, ``modified`` the last change.
    """

    skill_id: TolokaId
    user_id: str
    value: int | None = None
    exact_value: Annotated[TolokaMoney, Field(ge=0, le=100)] | None = None
    id: TolokaId | None = None
    created: TolokaDatetime | None = None
    modified: TolokaDatetime | None = None


RESTRICTION_SCOPES = ("ALL_PROJECTS", "PROJECT", "POOL", "SYSTEM")
"""Scopes of a user restriction; ``SYSTEM`` (bans by the platform) is read-only."""


class UserRestriction(TolokaModel):
    """A ban: a Toloker gets no new tasks in a scope until ``will_expire`` (never, when absent) or a delete
    (``/api/v1/user-restrictions``, docs/toloka-api.md M5).

    ``scope`` is ``ALL_PROJECTS`` (every project of the requester), ``PROJECT`` (``project_id`` required), ``POOL``
    (``pool_id`` required) or ``SYSTEM`` (read-only). ``id`` and ``created`` are Toloka's.
    """

    scope: Literal["ALL_PROJECTS", "PROJECT", "POOL", "SYSTEM"]
    user_id: str
    project_id: TolokaId | None = None
    pool_id: TolokaId | None = None
    private_comment: str | None = Field(default=None, max_length=499)
    will_expire: TolokaDatetime | None = None
    id: TolokaId | None = None
    created: TolokaDatetime | None = None


class FieldValidationError(TolokaModel):
    """Why one field of one item was rejected."""

    code: str
    message: str | None = None
    params: list[Any] | None = None


class BatchCreateResult(BaseModel):
    """Outcome of a (batched) creation, keyed by the position of each item in the caller's input.

    ``items`` maps input index to the id of the created task or suite; ``validation_errors`` maps input index
    to the rejected fields. Same meaning as toloka-kit's ``TaskBatchCreateResult``, but created objects are
    not re-fetched: ids come straight from the operation log.
    """

    items: dict[int, str] = Field(default_factory=dict)
    validation_errors: dict[int, dict[str, FieldValidationError]] = Field(default_factory=dict)
    operation_ids: list[str] = Field(default_factory=list)
    pool_ids: list[str] = Field(default_factory=list)
    # Items created but not listed in ``items`` (see ``TolokaHook.operation_results(max_ids=)``).
    _created_unlisted: int = PrivateAttr(default=0)

    @property
    def created_count(self) -> int:
        """How many items were created, whether or not their ids are kept in ``items``."""
        return len(self.items) + self._created_unlisted

    def add_created_count(self, count: int) -> None:
        """Count created items whose ids are not kept.

        :param count: how many.
        """
        self._created_unlisted += count

    def forget_ids(self) -> None:
        """Drop the created ids but keep their count, for callers that need no ids (a million take ~150 MB)."""
        self._created_unlisted += len(self.items)
        self.items = {}

    def merge(self, other: BatchCreateResult) -> None:
        """Fold another batch's outcome into this one; batches of one upload never share an input index.

        :param other: a batch's result.
        :raises TolokaError: when both report the same input index: their operations belong to different
            uploads, whose results are read one upload at a time.
        """
        # Membership tests of the other batch's indexes only: a million-item upload merges in linear time.
        mine, theirs = (
            (self.items.keys(), self.validation_errors.keys()),
            (other.items, other.validation_errors),
        )
        if not all(keys.isdisjoint(part) for keys in mine for part in theirs):
            clash = [i for part in theirs for i in part if i in self.items or i in self.validation_errors]
            raise TolokaError(
                f"operations {', '.join(other.operation_ids)} and {', '.join(self.operation_ids[:3])} both report "
                f"input item {min(clash)}: they belong to different uploads; read each upload's results on its own"
            )
        self.items.update(other.items)
        self._created_unlisted += other._created_unlisted
        self.validation_errors.update(other.validation_errors)
        self.operation_ids.extend(other.operation_ids)
        self.pool_ids.extend(p for p in other.pool_ids if p not in self.pool_ids)

    def raise_for_rejected(
        self,
        skip_invalid_items: bool | None,
        *,
        total: int | None = None,
        label: Callable[[int], str] | None = None,
    ) -> None:
        """Fail when items were rejected and the caller did not ask to skip them, or when nothing was created.

        The error says how many were rejected, created and not created (items of a batch refused whole), and
        names the first ten rejected items with their fields and Toloka's codes and messages.

        :param skip_invalid_items: the caller's flag.
        :param total: the input's count, when known.
        :param label: how an input index is named (default ``item <index>``; a file row for file input).
        :raises TolokaValidationError: when items were rejected and not to be skipped, or nothing was created.
        """
        if not self.validation_errors or (skip_invalid_items and self.created_count):
            return
        name = label or (lambda i: f"item {i}")
        first = sorted(self.validation_errors)[:20]
        payload = {
            str(i): {f: e.model_dump(exclude_none=True) for f, e in self.validation_errors[i].items()}
            for i in first
        }
        detail = "; ".join(
            f"{name(i)}: "
            + ", ".join(
                f"{f or '<item>'} {e.code} ({e.message})" for f, e in self.validation_errors[i].items()
            )
            for i in first[:10]
        )
        rejected = len(self.validation_errors)
        more = f"; and {rejected - 10} more" if rejected > 10 else ""
        missing = total - self.created_count - rejected if total is not None else 0
        refused = f", {missing} not created (their batches were refused whole)" if missing > 0 else ""
        raise TolokaValidationError(
            f"{rejected} item(s) rejected by Toloka, {self.created_count} created{refused}; {detail}{more}",
            code="VALIDATION_ERROR",
            payload=payload,
        )


@dataclass(frozen=True)
class ObjectKind:
    """One kind of object the provider creates or manages: its API collection, its wire model and its names.

    :param name: the collection: ``tasks``, ``task_suites``, ``user_bonuses``, ``projects``, ``pools`` or
        ``trainings`` (part of every upload's operation ids: never change it).
    :param item: one object: ``task``, ``task_suite``, ``user_bonus``, ``project``, ``pool`` or ``training``.
    :param path: the API collection path.
    :param model: the wire model of one object.
    :param op_prefix: the prefix of its operation types (``POOL`` in ``POOL.OPEN``).
    """

    name: str
    item: str
    path: str
    model: type[TolokaModel]
    op_prefix: str

    @property
    def label(self) -> str:
        """The collection in words, for messages (``task suites``)."""
        return self.name.replace("_", " ")

    @property
    def id_key(self) -> str:
        """Where an operation's log entry or details hold the id of one object (``task_suite_id``)."""
        return f"{self.item}_id"

    @property
    def operation_type(self) -> str:
        """The type of the operation that creates a batch of them (``TASK.BATCH_CREATE``)."""
        return f"{self.op_prefix}.BATCH_CREATE"


TASKS = ObjectKind("tasks", "task", "/api/v1/tasks", Task, "TASK")
TASK_SUITES = ObjectKind("task_suites", "task_suite", "/api/v1/task-suites", TaskSuite, "TASK_SUITE")
USER_BONUSES = ObjectKind("user_bonuses", "user_bonus", "/api/v1/user-bonuses", UserBonus, "USER_BONUS")
PROJECTS = ObjectKind("projects", "project", "/api/v1/projects", Project, "PROJECT")
POOLS = ObjectKind("pools", "pool", "/api/v1/pools", Pool, "POOL")
TRAININGS = ObjectKind("trainings", "training", "/api/v1/trainings", Training, "TRAINING")
