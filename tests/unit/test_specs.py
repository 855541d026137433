"""Local checks of what Toloka would refuse: pool specs name their field, items their field and Toloka's code."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_toloka.exceptions import TolokaDoesNotExistError, TolokaInputError
from airflow_toloka.models import Task, TaskSuite
from airflow_toloka.specs import (
    InputSpecChecker,
    changed_fields,
    check_pool_spec,
    field_problem,
    resolve_will_expire,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
POOL: dict[str, Any] = {
    "project_id": "7",
    "private_name": "run 2026-11-30",
    "reward_per_assignment": 0.02,
    "assignment_max_duration_seconds": 600,
    "will_expire": "2026-12-07T00:00:00",
    "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
}


def test_a_good_pool_spec_passes() -> None:
    check_pool_spec(POOL, now=NOW)
    check_pool_spec({**POOL, "reward_per_assignment": 0}, now=NOW)  # control-only pools may pay nothing


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"reward_per_assignment": None}, "reward_per_assignment", "missing"),
        ({"private_name": None}, "private_name", "missing"),
        ({"defaults": {}}, "defaults.default_overlap_for_new_task_suites", "missing"),
        ({"reward_per_assignment": 0.001}, "reward_per_assignment", "at least 0.005"),
        ({"reward_per_assignment": -1}, "reward_per_assignment", "between"),
        ({"reward_per_assignment": "0.02"}, "reward_per_assignment", "a number"),
        ({"assignment_max_duration_seconds": 3}, "assignment_max_duration_seconds", "between 5"),
        ({"auto_accept_period_day": 22}, "auto_accept_period_day", "between 1 and 21"),
        (
            {"auto_close_after_complete_delay_seconds": 300000},
            "auto_close_after_complete_delay_seconds",
            "259200",
        ),
        ({"priority": 101}, "priority", "between 0 and 100"),
        (
            {"defaults": {"default_overlap_for_new_task_suites": 0}},
            "defaults.default_overlap_for_new_task_suites",
            "between 1",
        ),
        ({"will_expire": "2026-11-29T00:00:00"}, "will_expire", "in the past"),
        ({"will_expire": "next week"}, "will_expire", "date and time"),
    ],
)
def test_a_bad_pool_spec_names_its_field(change: dict[str, Any], field: str, words: str) -> None:
    spec = {k: v for k, v in {**POOL, **change}.items() if v is not None}
    with pytest.raises(TolokaInputError) as err:
        check_pool_spec(spec, now=NOW)
    assert err.value.field == field
    assert words in str(err.value)


def test_will_expire_as_a_timedelta_is_from_now() -> None:
    assert resolve_will_expire(timedelta(days=7), now=NOW) == NOW + timedelta(days=7)
    assert resolve_will_expire("2026-12-07T00:00:00", now=NOW) == "2026-12-07T00:00:00"


SPEC = {
    "image": {"type": "url", "required": True},
    "label": {"type": "string", "required": False, "allowed_values": ["cat", "dog"]},
    "size": {"type": "integer", "required": False, "min_value": 1, "max_value": 10},
    "tags": {"type": "array_string", "required": False, "max_size": 2, "max_length": 5},
    "votes": {"type": "array_string", "required": False, "allowed_values": ["pos", "neg"]},
    "sizes": {"type": "array_integer", "required": False, "max_value": 10},
    "where": {"type": "coordinates", "required": False},
}


@pytest.mark.parametrize(
    ("values", "field", "code"),
    [
        ({}, "input_values.image", "VALUE_REQUIRED"),
        ({"image": None}, "input_values.image", "VALUE_REQUIRED"),
        ({"image": "not a url"}, "input_values.image", "INVALID_URL_SYNTAX"),
        ({"image": "https://x/1.jpg", "color": "red"}, "input_values.color", "VALUE_NOT_ALLOWED"),
        ({"image": "https://x/1.jpg", "label": "cow"}, "input_values.label", "VALUE_NOT_ALLOWED"),
        ({"image": "https://x/1.jpg", "size": "3"}, "input_values.size", "INTEGER_EXPECTED"),
        ({"image": "https://x/1.jpg", "size": True}, "input_values.size", "INTEGER_EXPECTED"),
        ({"image": "https://x/1.jpg", "size": 11}, "input_values.size", "VALUE_GREATER_THAN_MAX"),
        ({"image": "https://x/1.jpg", "tags": "a"}, "input_values.tags", "ARRAY_EXPECTED"),
        ({"image": "https://x/1.jpg", "tags": ["a", 1]}, "input_values.tags", "STRING_EXPECTED"),
        ({"image": "https://x/1.jpg", "tags": ["a", "b", "c"]}, "input_values.tags", "VALUE_TOO_LONG"),
        ({"image": "https://x/1.jpg", "tags": ["toolong"]}, "input_values.tags", "VALUE_TOO_LONG"),
        ({"image": "https://x/1.jpg", "votes": ["pos", "meh"]}, "input_values.votes", "VALUE_NOT_ALLOWED"),
        ({"image": "https://x/1.jpg", "sizes": [1, 500]}, "input_values.sizes", "VALUE_GREATER_THAN_MAX"),
        ({"image": "https://x/1.jpg", "where": "north"}, "input_values.where", "INVALID_COORDINATES_SYNTAX"),
    ],
)
def test_items_are_checked_against_their_pools_input_spec(
    values: dict[str, Any], field: str, code: str
) -> None:
    checker = InputSpecChecker(lambda pool_id: SPEC)
    with pytest.raises(TolokaInputError) as err:
        checker.check(Task(pool_id="5", input_values=values), 41)
    assert (err.value.index, err.value.field) == (41, field)
    assert err.value.reason.startswith(code)


def test_good_items_pass_and_each_pool_is_read_once() -> None:
    reads: list[str] = []

    def fetch(pool_id: str) -> dict[str, Any] | None:
        reads.append(pool_id)
        return SPEC if pool_id == "5" else None

    checker = InputSpecChecker(fetch)
    good = {
        "image": "https://x/1.jpg",
        "label": "cat",
        "size": 3,
        "tags": ["a"],
        "where": "55.7,37.6",
        "x": None,
    }
    for i in range(3):
        checker.check(Task(pool_id="5", input_values={k: v for k, v in good.items() if k != "x"}), i)
        checker.check(Task(pool_id="6", input_values={"anything": object.__name__}), i)  # no spec: unchecked
    assert reads == ["5", "6"]


def test_suite_tasks_are_checked_with_their_path() -> None:
    checker = InputSpecChecker(lambda pool_id: SPEC)
    suite = TaskSuite(pool_id="5", tasks=[{"input_values": {"image": "https://x/1"}}, {"input_values": {}}])
    with pytest.raises(TolokaInputError) as err:
        checker.check(suite, 0)
    assert err.value.field == "tasks.1.input_values.image"


def test_an_unknown_pool_is_named() -> None:
    def fetch(pool_id: str) -> None:
        raise TolokaDoesNotExistError("no", http_status=404, code="DOES_NOT_EXIST")

    with pytest.raises(TolokaInputError) as err:
        InputSpecChecker(fetch).check(Task(pool_id="404", input_values={}), 2)
    assert (err.value.index, err.value.field) == (2, "pool_id")
    assert "no pool 404" in str(err.value)


def test_field_problem_accepts_what_toloka_accepts() -> None:
    assert field_problem(1.5, {"type": "float"}) is None
    assert field_problem(2, {"type": "float"}) is None
    assert field_problem({"a": [1]}, {"type": "json"}) is None
    assert field_problem("x", {"type": "FILE"}) is None  # upper case, as the docs sometimes write it
    assert field_problem(0, {"type": "integer", "min_value": 0}) is None


# ---------------------------------------------------------------------- changed_fields

FOUND: dict[str, Any] = {  # as Toloka returns a pool: the given fields, and what the server added
    **POOL,
    "id": "1002",
    "status": "CLOSED",
    "created": "2026-11-30T12:00:00.000",
    "defaults": {**POOL["defaults"], "server_default": 1},
    "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "force_last_assignment": True},
    "quality_control": {"configs": [{"collector_config": {"type": "GOLDEN_SET", "uuid": "u-1"}}]},
    "metadata": {"airflow_toloka_key": ["d/2026-11-30/pool/-1"], "team": ["nlp"]},
}


def test_the_same_spec_has_no_changes_whatever_the_server_added() -> None:
    given = {
        **POOL,
        "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1},
        "quality_control": {
            "configs": [{"collector_config": {"type": "GOLDEN_SET"}}]
        },  # no uuid: the server's
        "metadata": {"team": ["nlp"]},
    }
    assert changed_fields(given, FOUND) == []
    assert changed_fields({"reward_per_assignment": 1}, {"reward_per_assignment": 1.0}) == []
    assert changed_fields({"quality_control": {"configs": []}, "metadata": {}}, {}) == []


def test_changed_fields_are_named_by_their_dotted_paths() -> None:
    given = {
        **POOL,
        "private_name": "run 2026-11-30 again",
        "reward_per_assignment": 0.05,
        "defaults": {"default_overlap_for_new_task_suites": 5, "default_overlap_for_new_tasks": 3},
        "auto_accept_solutions": False,  # a field the found pool does not have
        "quality_control": {"configs": [{"collector_config": {"type": "CAPTCHA"}}]},
    }
    assert changed_fields(given, FOUND) == [
        "private_name",
        "reward_per_assignment",
        "defaults.default_overlap_for_new_task_suites",
        "auto_accept_solutions",
        "quality_control.configs.0.collector_config.type",
    ]


def test_lists_must_match_in_length_and_order() -> None:
    found = {"filter": {"and": [{"a": 1}, {"b": 2}]}, "tags": ["x", "y"]}
    assert changed_fields({"filter": {"and": [{"a": 1}]}}, found) == ["filter.and"]
    assert changed_fields({"tags": ["y", "x"]}, found) == ["tags"]
    assert changed_fields({"filter": {"and": [{"b": 2}, {"a": 1}]}}, found) == [
        "filter.and.0.b",
        "filter.and.1.a",
    ]
    assert changed_fields({"tags": ["x", "y", "z"]}, found) == ["tags"]
    assert changed_fields({"tags": "x"}, found) == ["tags"]


def test_a_boolean_only_equals_a_boolean() -> None:
    assert changed_fields({"auto_accept_solutions": True}, {"auto_accept_solutions": 1}) == [
        "auto_accept_solutions"
    ]
    assert changed_fields({"priority": 0}, {"priority": False}) == ["priority"]


def test_ignored_paths_are_not_compared() -> None:
    given = {**POOL, "will_expire": "2027-01-01T00:00:00", "metadata": {"airflow_toloka_key": ["other"]}}
    ignore = {"will_expire", "metadata.airflow_toloka_key"}
    assert changed_fields(given, FOUND, ignore=ignore) == []
    assert changed_fields(given, FOUND) == ["will_expire", "metadata.airflow_toloka_key"]


def test_a_removed_input_or_output_field_is_a_change() -> None:
    found = {
        "task_spec": {
            "input_spec": {"text": {"type": "string", "required": True, "hidden": False}},
            "output_spec": {
                "label": {"type": "string", "required": True},
                "comment": {"type": "string", "required": False},
            },
            "view_spec": {"type": "tb", "config": "{}", "server": "added"},
        }
    }
    given = {
        "task_spec": {
            "input_spec": {"text": {"type": "string"}},  # the server's defaults are no change
            "output_spec": {"label": {"type": "string"}},  # "comment" removed
            "view_spec": {"type": "tb", "config": "{}"},
        }
    }
    assert changed_fields(given, found) == ["task_spec.output_spec.comment"]
    given["task_spec"]["input_spec"]["text"]["type"] = "url"
    assert changed_fields(given, found) == ["task_spec.input_spec.text.type", "task_spec.output_spec.comment"]
    assert changed_fields(given, found, exact_keys=()) == ["task_spec.input_spec.text.type"]
