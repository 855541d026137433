"""Checks of project, pool and training bodies (POST and PUT), reported as Toloka's field-path payload.

A bad body is a 400 ``VALIDATION_ERROR`` whose payload maps each bad field's dotted path to
``{"code", "message", "params"?}``, the shape uploads already use, e.g.
``{"defaults.default_overlap_for_new_task_suites": {"code": "VALUE_REQUIRED", ...}}``. Every problem is
reported at once, in the order the fields are checked. Read-only fields in a body are dropped, unknown ones kept.

Choices where Toloka's real behaviour is unconfirmed (see docs/toloka-api.md L3.3, L4):

- a ``project_id`` that does not exist or is ARCHIVED, and a ``training_requirement.training_pool_id`` that is
  not an existing training, are ``DOES_NOT_EXIST`` at that field's path.
- a ``will_expire`` not in the future is ``DATE_OUT_OF_RANGE``; one that is not a date-time is
  ``INVALID_DATE_TIME_SYNTAX``.
- ``reward_per_assignment`` below 0.005 but not 0 is ``VALUE_LESS_THAN_MIN`` with params ``[0.005]``.
- ``priority`` is 0..100 (DOCS), not toloka-kit's -100..100.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from toloka_emulator.quality import check_configs
from toloka_emulator.wire import MAX_OVERLAP, VALUE_REQUIRED, ApiError, field_error

__all__ = ["READ_ONLY", "Form", "check_pool", "check_training", "parse_stamp", "validation_error"]

READ_ONLY = frozenset(
    {"id", "status", "created", "owner", "last_started", "last_stopped", "last_close_reason", "type"}
)
_MISSING: Any = object()
_INT_MAX = 2_147_483_647


def validation_error(errors: dict[str, Any]) -> ApiError:
    """The 400 for a body with bad fields.

    :param errors: field path -> field error.
    :return: the error to raise.
    """
    return ApiError(400, "VALIDATION_ERROR", "Validation failed", errors)


def parse_stamp(value: Any) -> datetime | None:
    """A Toloka timestamp as a naive UTC datetime.

    :param value: e.g. ``2025-03-10T00:00:00`` (a ``Z`` or an offset is accepted too).
    :return: the datetime, or ``None`` when it is not a date-time string.
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


class Form:
    """Collects the field errors of one request body.

    :param body: the parsed JSON body.
    :raises ApiError: 400 ``VALIDATION_ERROR`` when the body is not a JSON object.
    """

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise validation_error({"": field_error("OBJECT_EXPECTED", "Request body must be a JSON object")})
        self.body: dict[str, Any] = body
        self.errors: dict[str, Any] = {}

    def error(self, path: str, code: str, message: str, params: list[Any] | None = None) -> None:
        """Record the first error of a field.

        :param path: the dotted field path.
        :param code: Toloka's field error code.
        :param message: human-readable text.
        :param params: the bounds or values the code refers to.
        """
        self.errors.setdefault(path, field_error(code, message, params))

    def value(self, path: str) -> Any:
        """A nested value by dotted path.

        :param path: e.g. ``defaults.default_overlap_for_new_task_suites``.
        :return: the value, or ``None`` when a step is missing.
        """
        node: Any = self.body
        for part in path.split("."):
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return node

    def _get(self, path: str, value: Any, required: bool) -> Any:
        value = self.value(path) if value is _MISSING else value
        if value is None and required:
            self.error(path, "VALUE_REQUIRED", VALUE_REQUIRED)
        return value

    def text(self, path: str, *, required: bool = True) -> str | None:
        """A string field that, when present, is not blank.

        :param path: the field path.
        :param required: whether it must be present.
        :return: the string, or ``None`` when absent or bad.
        """
        value = self._get(path, _MISSING, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(path, "STRING_EXPECTED", "Value must be a string")
            return None
        if not value.strip():
            self.error(path, "BLANK_STRING_NOT_ALLOWED", "Value must not be blank")
            return None
        return value

    def obj(self, path: str, value: Any = _MISSING, *, required: bool = True) -> dict[str, Any] | None:
        """An object field.

        :param path: the field path.
        :param value: its value when already at hand (default: looked up by path).
        :param required: whether it must be present.
        :return: the object, or ``None`` when absent or not an object.
        """
        value = self._get(path, value, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(path, "OBJECT_EXPECTED", "Value must be an object")
            return None
        return value

    def boolean(self, path: str, *, required: bool = False) -> bool | None:
        """A boolean field.

        :param path: the field path.
        :param required: whether it must be present.
        :return: the value, or ``None`` when absent or bad.
        """
        value = self._get(path, _MISSING, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.error(path, "BOOLEAN_EXPECTED", "Value must be a boolean")
            return None
        return value

    def number(
        self, path: str, low: float, high: float, *, required: bool = False, integer: bool = True
    ) -> float | None:
        """A number within ``[low, high]``.

        :param path: the field path.
        :param low: the smallest value allowed.
        :param high: the largest value allowed.
        :param required: whether it must be present.
        :param integer: whether it must be an integer.
        :return: the value, or ``None`` when absent or bad.
        """
        value = self._get(path, _MISSING, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not _is_int(value)):
            code = "INTEGER_EXPECTED" if integer else "FLOAT_EXPECTED"
            self.error(path, code, f"Value must be {'an integer' if integer else 'a number'}")
            return None
        if value < low:
            self.error(path, "VALUE_LESS_THAN_MIN", f"Value must be greater than or equal to {low}", [low])
            return None
        if value > high:
            self.error(path, "VALUE_GREATER_THAN_MAX", f"Value must be less than or equal to {high}", [high])
            return None
        return float(value)

    def cleaned(self) -> dict[str, Any]:
        """The body without its read-only fields.

        :return: what is stored.
        :raises ApiError: 400 ``VALIDATION_ERROR`` when any field was bad.
        """
        if self.errors:
            raise validation_error(self.errors)
        return {k: v for k, v in self.body.items() if k not in READ_ONLY}


def _is_int(value: float) -> bool:
    return isinstance(value, int) or float(value).is_integer()


def _project(form: Form, project_ok: Callable[[str], bool]) -> None:
    raw = form.value("project_id")
    if raw is None:
        form.error("project_id", "VALUE_REQUIRED", VALUE_REQUIRED)
    elif isinstance(raw, bool) or not isinstance(raw, (str, int)):
        form.error("project_id", "STRING_EXPECTED", "Value must be a project id string")
    elif not project_ok(str(raw)):
        form.error("project_id", "DOES_NOT_EXIST", f"Project {raw} does not exist or is archived")
    else:
        form.body["project_id"] = str(raw)


def check_pool(
    body: Any, now: datetime, project_ok: Callable[[str], bool], training_ok: Callable[[str], bool]
) -> dict[str, Any]:
    """Check a pool body (``POST /pools``, ``PUT /pools/{id}``).

    :param body: the parsed request body.
    :param now: the emulator's current time, for ``will_expire``.
    :param project_ok: whether a project id exists and is ACTIVE.
    :param training_ok: whether a pool id is an existing training.
    :return: the body without read-only fields.
    :raises ApiError: 400 ``VALIDATION_ERROR`` naming every bad field.
    """
    form = Form(body)
    _project(form, project_ok)
    form.text("private_name")
    reward = form.number("reward_per_assignment", 0, 1e9, required=True, integer=False)
    if reward is not None and 0 < reward < 0.005:
        form.error(
            "reward_per_assignment", "VALUE_LESS_THAN_MIN", "Value must be 0 or at least 0.005", [0.005]
        )
    form.number("assignment_max_duration_seconds", 5, _INT_MAX, required=True)
    expire = form.value("will_expire")
    if expire is None:
        form.error("will_expire", "VALUE_REQUIRED", VALUE_REQUIRED)
    else:
        when = parse_stamp(expire)
        if when is None:
            form.error("will_expire", "INVALID_DATE_TIME_SYNTAX", "Expected YYYY-MM-DDThh:mm:ss[.sss]")
        elif when <= now:
            form.error("will_expire", "DATE_OUT_OF_RANGE", "will_expire must be in the future")
    if form.obj("defaults") is not None:
        form.number("defaults.default_overlap_for_new_task_suites", 1, MAX_OVERLAP, required=True)
        form.number("defaults.default_overlap_for_new_tasks", 1, MAX_OVERLAP)
    form.boolean("auto_accept_solutions")
    form.number("auto_accept_period_day", 1, 21)
    form.number("auto_close_after_complete_delay_seconds", 0, 259_200)
    form.number("priority", 0, 100)
    if form.obj("mixer_config", required=False) is not None:
        for key in ("real_tasks_count", "golden_tasks_count", "training_tasks_count"):
            form.number(f"mixer_config.{key}", 0, 500, required=True)
        form.boolean("mixer_config.force_last_assignment")
    if form.obj("dynamic_overlap_config", required=False) is not None:
        form.number("dynamic_overlap_config.max_overlap", 1, MAX_OVERLAP)
    if form.obj("quality_control", required=False) is not None:
        requirement = form.obj("quality_control.training_requirement", required=False)
        if requirement is not None:
            training = requirement.get("training_pool_id")
            path = "quality_control.training_requirement.training_pool_id"
            if training is None:
                form.error(path, "VALUE_REQUIRED", VALUE_REQUIRED)
            elif not training_ok(str(training)):
                form.error(path, "DOES_NOT_EXIST", f"Training {training} does not exist")
            form.number("quality_control.training_requirement.training_passing_skill_value", 0, 100)
        if form.value("quality_control.configs") is not None:
            check_configs(form.value("quality_control.configs"), form.errors)
    return form.cleaned()


def check_training(body: Any, project_ok: Callable[[str], bool]) -> dict[str, Any]:
    """Check a training body (``POST /trainings``, ``PUT /trainings/{id}``).

    :param body: the parsed request body.
    :param project_ok: whether a project id exists and is ACTIVE.
    :return: the body without read-only fields.
    :raises ApiError: 400 ``VALIDATION_ERROR`` naming every bad field.
    """
    form = Form(body)
    _project(form, project_ok)
    form.text("private_name")
    form.boolean("inherited_instructions", required=True)
    form.number("training_tasks_in_task_suite_count", 0, 500, required=True)
    form.number("assignment_max_duration_seconds", 5, _INT_MAX)
    form.number("task_suites_required_to_pass", 0, 500)
    form.number("retry_training_after_days", 1, _INT_MAX)
    form.boolean("mix_tasks_in_creation_order")
    form.boolean("shuffle_tasks_in_task_suite")
    return form.cleaned()
