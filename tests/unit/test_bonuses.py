"""The checks every bonus passes before any money moves, and the rule form's choice of Tolokers, without a server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from airflow_toloka.bonuses import (
    Bonus,
    check_bonuses,
    money,
    parse_max_total,
    parse_rule,
    pool_comment,
    rule_bonuses,
    toloker_scores,
)
from airflow_toloka.exceptions import TolokaInputError

ALICE, BOB, CAROL = "a" * 32, "0123456789abcdef" * 2, "c" * 32
THANKS = {"public_title": "Thanks", "public_message": "Great work"}


def name(row: int) -> str:
    return f"bonuses.csv, data row {row}"


def bonus(user: str = ALICE, amount: Any = "0.05", **more: Any) -> dict[str, Any]:
    return {"user_id": user, "amount": amount, **THANKS, **more}


def refused(rows: list[Any], **kwargs: Any) -> str:
    with pytest.raises(TolokaInputError) as info:
        check_bonuses(rows, name, **kwargs)
    assert "nothing was paid" in str(info.value)
    return str(info.value)


def test_a_good_input_becomes_bonuses_in_input_order() -> None:
    checked = check_bonuses([bonus(BOB, 1), bonus(ALICE, "0.5", assignment_id="x--1")], name)
    assert [(b.row, b.user_id, b.amount) for b in checked.bonuses] == [
        (1, BOB, Decimal(1)),
        (2, ALICE, Decimal("0.5")),
    ]
    assert checked.bonuses[0].public_title == {"EN": "Thanks"} and checked.bonuses[1].assignment_id == "x--1"
    assert checked.total == Decimal("1.5") and not checked.refused


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "is missing"),
        ("", "is missing"),
        ("A" * 32, "is not a Toloker id"),  # upper case: another, unknown id
        ("a" * 31, "is not a Toloker id"),
        ("g" * 32, "is not a Toloker id"),
        (12345, "is not a Toloker id"),
    ],
)
def test_a_malformed_user_id_names_the_row_and_field(value: Any, reason: str) -> None:
    message = refused([bonus(), bonus(value)])
    assert "bonuses.csv, data row 2, field 'user_id': " in message and reason in message
    assert "data row 1" not in message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "'abc' is not a number"),
        (None, "is missing"),
        (True, "must be a number"),
        ([1], "must be a number"),
        ("NaN", "not a finite number"),
        (float("inf"), "not a finite number"),
        ("0.004", "below Toloka's smallest bonus, $0.005"),
        (-1, "below Toloka's smallest bonus"),
        (0, "below Toloka's smallest bonus"),
        ("100.01", "above Toloka's largest bonus, $100"),
    ],
)
def test_an_amount_outside_tolokas_limits_names_the_row_and_field(value: Any, reason: str) -> None:
    message = refused([bonus(amount=value)])
    assert "data row 1, field 'amount': " in message and reason in message


@pytest.mark.parametrize("amount", ["0.005", 0.005, "100", 100, Decimal("42.5"), " 7 "])
def test_the_limits_themselves_and_every_number_form_are_accepted(amount: Any) -> None:
    assert check_bonuses([bonus(amount=amount)], name).bonuses[0].amount == Decimal(str(amount).strip())


def test_a_missing_title_or_message_is_refused_unless_paid_without_message() -> None:
    message = refused([{"user_id": ALICE, "amount": 1, "public_title": "Thanks"}])
    assert "data row 1, field 'public_message': is missing" in message
    message = refused([{"user_id": ALICE, "amount": 1, "public_message": {"EN": "x"}, "public_title": {}}])
    assert "field 'public_title': is missing" in message
    silent = check_bonuses([{"user_id": ALICE, "amount": 1, "without_message": "true"}], name).bonuses[0]
    assert silent.without_message and silent.body() == {
        "user_id": ALICE,
        "amount": Decimal(1),
        "without_message": True,
    }
    message = refused([bonus(without_message=True)])  # a message that would never be sent: which was meant?
    assert "field 'public_title': is given although without_message is true" in message


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("Thanks", {"EN": "Thanks"}),
        ({"EN": "Thanks"}, {"EN": "Thanks"}),
        ({"en": "Thanks", "RU": "Спасибо"}, {"EN": "Thanks", "RU": "Спасибо"}),
        ('{"EN": "Thanks", "TR": "Teşekkürler"}', {"EN": "Thanks", "TR": "Teşekkürler"}),  # a CSV cell
        ("{name} did well", {"EN": "{name} did well"}),
    ],
)
def test_titles_are_english_text_or_a_language_map(given: Any, meant: dict[str, str]) -> None:
    assert check_bonuses([bonus(public_title=given)], name).bonuses[0].public_title == meant


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("{not json}", "looks like a JSON object"),
        ({"EN": ""}, "the EN text is empty"),
        ({"EN": "a", "en": "b"}, "language EN is given twice"),
        (["Thanks"], "must be text or a {language: text} object"),
    ],
)
def test_a_malformed_title_names_the_row_and_field(given: Any, reason: str) -> None:
    message = refused([bonus(public_title=given)])
    assert "data row 1, field 'public_title': " in message and reason in message


def test_an_unknown_field_is_refused_so_a_typo_pays_nothing() -> None:
    message = refused([bonus(privat_comment="run 1")])
    assert "data row 1, field 'privat_comment': is not a bonus field" in message


def test_every_problem_of_every_row_is_named() -> None:
    message = refused([bonus(), {"user_id": "x", "amount": "y"}, "not a row", bonus(amount=500)])
    assert "3 bonus row(s) cannot be paid" in message
    for expected in (
        "data row 2, field 'user_id'",
        "data row 2, field 'amount'",
        "data row 2, field 'public_title'",
        "data row 3: must be an object",
        "data row 4, field 'amount'",
    ):
        assert expected in message


def test_the_same_toloker_twice_with_one_private_comment_is_refused() -> None:
    message = refused(
        [bonus(ALICE, private_comment="week 1"), bonus(BOB), bonus(ALICE, 2, private_comment="week 1")]
    )
    assert "data row 3, field 'private_comment': pays Toloker " + ALICE in message and "as row 1" in message
    message = refused([bonus(ALICE), bonus(ALICE)])  # no comment is one comment too
    assert "data row 2, field 'private_comment'" in message
    assert (
        len(
            check_bonuses(
                [bonus(ALICE, private_comment="a"), bonus(ALICE, private_comment="b")], name
            ).bonuses
        )
        == 2
    )


def test_duplicates_fail_even_when_invalid_rows_are_skipped() -> None:
    with pytest.raises(TolokaInputError, match="data row 2, field 'private_comment'"):
        check_bonuses([bonus(), bonus()], name, skip_invalid_items=True)


def test_skip_invalid_items_leaves_malformed_rows_out_and_keeps_them() -> None:
    checked = check_bonuses([bonus(ALICE), bonus("bad", 0.001), bonus(BOB)], name, skip_invalid_items=True)
    assert [b.user_id for b in checked.bonuses] == [ALICE, BOB]
    assert {(p.row, p.field) for p in checked.refused} == {(2, "user_id"), (2, "amount")}
    assert checked.refused[0].user_id == "bad" and checked.refused[0].amount == 0.001


def test_the_total_is_exact_and_capped_by_max_total() -> None:
    rows = [bonus(f"{i:032x}", "0.1") for i in range(3)]
    checked = check_bonuses(rows, name, max_total=Decimal("0.3"))  # as floats, 0.1 * 3 > 0.3
    assert checked.total == Decimal("0.3") and money(checked.total) == 0.3
    message = refused(rows, max_total=Decimal("0.29"))
    assert "add up to $0.3, more than max_total $0.29" in message
    assert "passes it at bonuses.csv, data row 3, field 'amount' ($0.3)" in message


def test_float_amounts_are_read_as_written() -> None:
    rows = [bonus(f"{i:032x}", 0.1) for i in range(10)]
    assert check_bonuses(rows, name, max_total=Decimal(1)).total == Decimal("1.0")


@pytest.mark.parametrize(
    ("value", "cap"), [(None, None), ("", None), ("2.50", Decimal("2.50")), (3, Decimal(3))]
)
def test_max_total_is_read_exactly(value: Any, cap: Decimal | None) -> None:
    assert parse_max_total(value) == cap


@pytest.mark.parametrize(("value", "reason"), [("lots", "is not a number"), (-1, "must not be negative")])
def test_a_bad_max_total_is_refused(value: Any, reason: str) -> None:
    with pytest.raises(TolokaInputError, match=reason):
        parse_max_total(value)


def test_bodies_are_the_same_for_the_same_bonus_however_it_was_written() -> None:
    from_csv = check_bonuses(
        [{"user_id": ALICE, "amount": "0.50", **THANKS, "without_message": "false"}], name
    )
    from_json = check_bonuses([{"without_message": False, **THANKS, "amount": 0.5, "user_id": ALICE}], name)
    assert list(from_csv.bonuses[0].body().items()) == list(from_json.bonuses[0].body().items())


def test_languages_come_in_one_order_whatever_the_inputs() -> None:
    one = check_bonuses([bonus(public_message={"RU": "Спасибо", "EN": "Thanks"})], name).bonuses[0]
    other = check_bonuses([bonus(public_message='{"en": "Thanks", "RU": "Спасибо"}')], name).bonuses[0]
    assert list(one.body()["public_message"].items()) == list(other.body()["public_message"].items())
    assert list(one.body()["public_message"]) == ["EN", "RU"]


def test_a_user_bonus_model_is_read_by_its_fields() -> None:
    from airflow_toloka.models import TolokaModel

    class Model(TolokaModel):
        user_id: str
        amount: Decimal
        id: str | None = None

    checked = check_bonuses(
        [Model(user_id=ALICE, amount=Decimal("0.5"), id="9")], name, skip_invalid_items=True
    )
    assert not checked.bonuses and {p.field for p in checked.refused} == {"public_title", "public_message"}


# ---------------------------------------------------------------------- the rule form

RULE = {"min_golden_accuracy": 0.7, "amount": 0.05, **THANKS}


def assignment(user: str, right: int, wrong: int, general: int = 1) -> dict[str, Any]:
    control = {"known_solutions": [{"output_values": {"label": "pos"}}]}
    tasks = [control] * (right + wrong) + [{}] * general
    solutions = [{"output_values": {"label": "pos"}}] * right + [{"output_values": {"label": "neg"}}] * (
        wrong + general
    )
    return {"user_id": user, "tasks": tasks, "solutions": solutions}


def test_scores_add_up_over_all_of_a_tolokers_assignments() -> None:
    pages = [[assignment(ALICE, 3, 1), assignment(BOB, 0, 0)], [assignment(ALICE, 4, 2)]]
    assert toloker_scores(pages) == {ALICE: (7, 10), BOB: (0, 0)}


def test_the_rule_pays_those_at_or_above_the_threshold_exactly() -> None:
    scores = {CAROL: (7, 10), ALICE: (69, 100), BOB: (1, 1), "d" * 32: (0, 0)}
    paid = rule_bonuses(scores, parse_rule(RULE), "1042")
    assert [(b.row, b.user_id) for b in paid] == [
        (1, BOB),
        (2, CAROL),
    ]  # 7 of 10 meets 0.7; 69 of 100 does not
    assert all(b.private_comment == "airflow-toloka pool 1042 bonus" == pool_comment("1042") for b in paid)
    assert paid[0].amount == Decimal("0.05") and paid[0].public_message == {"EN": "Great work"}


def test_min_golden_tasks_leaves_out_those_judged_on_too_few() -> None:
    paid = rule_bonuses({ALICE: (2, 2), BOB: (3, 3)}, parse_rule({**RULE, "min_golden_tasks": 3}), "1")
    assert [b.user_id for b in paid] == [BOB]


def test_a_templated_rule_reads_its_numbers_from_text() -> None:
    rule = parse_rule({**RULE, "min_golden_accuracy": "0.9", "amount": "0.10", "min_golden_tasks": "2"})
    assert (rule.min_golden_accuracy, rule.amount, rule.min_golden_tasks) == (
        Decimal("0.9"),
        Decimal("0.10"),
        2,
    )


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ({**RULE, "min_golden_accuracy": 1.5}, "min_golden_accuracy must be from 0 to 1"),
        ({k: v for k, v in RULE.items() if k != "min_golden_accuracy"}, "min_golden_accuracy is missing"),
        ({**RULE, "amount": 0.001}, "amount 0.001 is below Toloka's smallest bonus"),
        ({**RULE, "amount": 101}, "amount 101 is above Toloka's largest bonus"),
        ({**RULE, "public_message": None}, "public_message is missing"),
        ({**RULE, "min_golden_tasks": 0}, "min_golden_tasks must be a whole number of at least 1"),
        ({**RULE, "comment": "x"}, "comment is not a rule key"),
        ("0.9", "rule must be a dict"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_key(rule: Any, reason: str) -> None:
    with pytest.raises(TolokaInputError, match=reason.replace("$", r"\$")):
        parse_rule(rule)


def test_a_rule_without_message_pays_silently() -> None:
    rule = parse_rule({"min_golden_accuracy": 1, "amount": 1, "without_message": True})
    assert rule_bonuses({ALICE: (1, 1)}, rule, "5")[0].body() == {
        "user_id": ALICE,
        "amount": Decimal(1),
        "private_comment": "airflow-toloka pool 5 bonus",
        "without_message": True,
    }


def test_bonus_bodies_keep_one_key_order() -> None:
    full = Bonus(1, ALICE, Decimal(1), "c", {"EN": "t"}, {"EN": "m"}, "a--1")
    assert list(full.body()) == [
        "user_id",
        "amount",
        "private_comment",
        "public_title",
        "public_message",
        "assignment_id",
    ]
