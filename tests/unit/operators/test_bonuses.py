"""PayBonusesOperator refuses contradictory or malformed parameters when the DAG is parsed, before any run."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.operators import PayBonusesOperator

RULE = {"min_golden_accuracy": 0.9, "amount": 0.05, "public_title": "Thanks", "public_message": "Well done"}
LIST = [{"user_id": "a" * 32, "amount": 1, "public_title": "Hi", "public_message": "Thanks"}]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({}, "give exactly one of bonuses=, bonuses_path= or pool_id= with rule=; got none"),
        ({"bonuses": LIST, "bonuses_path": "/b.csv"}, "got bonuses, bonuses_path"),
        ({"bonuses": LIST, "pool_id": 7, "rule": RULE}, "got bonuses, rule"),
        ({"rule": RULE}, "pool_id= and rule= go together"),
        ({"bonuses": LIST, "pool_id": 7}, "pool_id= and rule= go together"),
        ({"bonuses": LIST, "results_path": "/out/paid.xlsx"}, "cannot tell the format"),
    ],
)
def test_contradictory_parameters_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        PayBonusesOperator(task_id="bonus", **kwargs)


def test_a_bad_rule_or_max_total_fails_when_the_dag_is_parsed() -> None:
    with pytest.raises(TolokaInputError, match="rule: amount 500 is above Toloka's largest bonus"):
        PayBonusesOperator(task_id="bonus", pool_id=7, rule={**RULE, "amount": 500})
    with pytest.raises(TolokaInputError, match="max_total must not be negative"):
        PayBonusesOperator(task_id="bonus", bonuses=LIST, max_total=-1)


def test_templates_are_checked_once_rendered() -> None:
    op = PayBonusesOperator(
        task_id="bonus",
        pool_id="{{ params.pool }}",
        rule={**RULE, "amount": "{{ params.amount }}"},
        max_total="{{ params.cap }}",
        results_path="{{ params.out }}",
    )
    assert set(op.template_fields) >= {
        "bonuses",
        "bonuses_path",
        "pool_id",
        "rule",
        "max_total",
        "results_path",
    }
    assert "idempotency_key" in op.template_fields
