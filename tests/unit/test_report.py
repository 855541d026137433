"""The labeling report without a server: the tally's arithmetic, the page's size for a 100k-task pool, escaping,
no external reference, and the ``report`` extra's error."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow_toloka.report import ReportTally, render_report
from airflow_toloka.report.charts import MAX_TIME_BARS, time_bins
from airflow_toloka.report.page import duration_text

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 12, 1, tzinfo=timezone.utc)
EXTERNAL = re.compile(
    r"(?i)[a-z][a-z0-9+.-]*://|\bsrc=(?![\"']?data:)|<script|<link|@import|url\(|//[a-z0-9-]+\."
)
GOLDEN = {"id": "g", "known_solutions": [{"output_values": {"label": "pos"}}]}


def assignment(n: int, user: str, status: str, control: str | None = "pos", **extra: Any) -> dict[str, Any]:
    """An assignment of one general task (``t<n>``), with one control task answered ``control`` unless None."""
    tasks: list[dict[str, Any]] = [{"id": f"t{n}", "input_values": {"text": f"review {n}"}}]
    solutions: list[dict[str, Any]] = [{"output_values": {"label": "pos", "note": "x"}}]
    if control is not None:
        tasks.append(GOLDEN)
        solutions.append({"output_values": {"label": control}})
    stamp = START + timedelta(minutes=n)
    return {
        "id": f"a{n}",
        "user_id": user,
        "status": status,
        "tasks": tasks,
        "solutions": solutions if status in ("SUBMITTED", "ACCEPTED", "REJECTED") else None,
        "created": stamp.isoformat(),
        "submitted": (stamp + timedelta(seconds=30)).isoformat(),
        **extra,
    }


def pool(closed_after: timedelta | None = timedelta(hours=2)) -> dict[str, Any]:
    stopped = START + closed_after if closed_after else None
    return {
        "name": "reviews",
        "status": "CLOSED" if stopped else "OPEN",
        "last_started": START,
        "last_stopped": stopped,
    }


def test_the_tally_counts_statuses_control_answers_money_and_bans() -> None:
    tally = ReportTally("7", fee_rate=0.3, fee_min=0.001)
    tally.add_assignment(assignment(1, "u1", "ACCEPTED", reward=0.02))
    tally.add_assignment(
        assignment(2, "u1", "ACCEPTED"), reward=0.02
    )  # the pool's reward, none on the assignment
    tally.add_assignment(assignment(3, "u2", "REJECTED", control="neg", reward=0.02))
    tally.add_assignment(assignment(4, "u2", "SUBMITTED", reward=0.02))
    tally.add_assignment(assignment(5, "u3", "ACTIVE", reward=0.02))  # nothing answered yet
    tally.add_bans(["u2", "someone-else"])
    tally.add_bonus("0.05")
    report = tally.finish(pool(), tasks=4, control_tasks=1)
    head = report.headline("file:///r.html")
    assert head["assignments"] == {"ACCEPTED": 2, "REJECTED": 1, "SUBMITTED": 1, "ACTIVE": 1}
    assert head["control_accuracy"] == 0.75  # three of four control answers right
    assert (report.tolokers["u1"].golden_accuracy, report.tolokers["u2"].golden_accuracy) == (1.0, 0.5)
    assert set(report.tolokers) == {"u1", "u2"}  # an ACTIVE assignment answered nothing
    assert [u for u, r in report.tolokers.items() if r.banned] == ["u2"]  # only those who worked here
    assert (head["banned"], head["rejected_tolokers"], head["tolokers"]) == (1, 1, 2)
    cost = report.cost
    assert (cost.rewards, cost.fees, cost.pending) == (Decimal("0.04"), Decimal("0.012"), Decimal("0.02"))
    assert (cost.bonuses, cost.bonuses_with_fees) == (Decimal("0.05"), Decimal("0.065"))
    assert head["cost"] == {
        "rewards": 0.04,
        "fees": 0.012,
        "pending": 0.02,
        "bonuses": 0.05,
        "total": 0.117,
        "bonus_count": 1,
    }
    assert head["duration_seconds"] == 7200 and head["report_path"] == "file:///r.html"
    assert sum(report.submitted_by_minute.values()) == 4  # the ACTIVE one submitted nothing
    assert tally.finish(pool(None), 4, 1).duration_seconds is None  # still open


def test_the_least_certain_labels_are_kept_with_their_answers_under_their_latest_status() -> None:
    tally = ReportTally("7", uncertain=2)
    for n, confidence in enumerate([1.0, 0.4, 0.9, 0.5, 0.67]):
        tally.add_label(
            {"task_id": f"t{n}", "INPUT:text": f"review {n}", "OUTPUT:label": "pos", "confidence": confidence}
        )
    for n in range(5):
        row = {"assignment_id": f"a{n}", "task_id": f"t{n}", "user_id": "u1", "status": "SUBMITTED"}
        tally.add_answer({**row, "OUTPUT:label": "neg", "OUTPUT:note": "not shown"})
    tally.add_assignment(assignment(1, "u1", "REJECTED"))
    report = tally.finish(pool(), 5, 0)
    assert [(t.task_id, t.confidence) for t in report.uncertain] == [("t1", 0.4), ("t3", 0.5)]
    assert report.uncertain[0].answers == [("u1", "REJECTED", "neg")]  # the review came after the export
    assert report.uncertain[1].answers == [("u1", "SUBMITTED", "neg")]
    assert report.uncertain[0].inputs == {"text": "review 1"}
    assert (
        report.confidence_bins[8] == 1
        and report.confidence_bins[19] == 1
        and sum(report.confidence_bins) == 5
    )
    assert (report.labels, report.answers, report.label_counts) == (5, 5, {"pos": 5})


def test_submits_are_regrouped_into_a_bounded_number_of_bars() -> None:
    minutes = {START + timedelta(minutes=m): 1 for m in range(0, 24 * 60, 7)}
    bins = time_bins(minutes)
    assert len(bins) <= MAX_TIME_BARS and sum(n for _, n in bins) == len(minutes)
    assert bins[0][0] == START and [b for b, _ in bins] == sorted(b for b, _ in bins)
    assert time_bins({START: 3}) == [(START, 3)] and time_bins({}) == []


def test_durations_read_as_people_say_them() -> None:
    assert [duration_text(s) for s in (None, 12, 250, 7500, 90000)] == [
        "—",
        "12 s",
        "4 min 10 s",
        "2 h 05 min",
        "1 d 01 h",
    ]


def test_a_100k_task_pool_makes_a_modest_self_contained_page() -> None:
    rnd = random.Random(3)
    tally = ReportTally("9")
    for n in range(100_000):
        label = rnd.choice(["pos", "neg", "neutral"])
        tally.add_label(
            {
                "task_id": f"t{n}",
                "INPUT:text": f"review {n}",
                "OUTPUT:label": label,
                "confidence": rnd.random(),
            }
        )
    users = [f"{u:032x}" for u in range(2_000)]
    for n in range(75_000):  # overlap 3, four tasks a suite
        user = rnd.choice(users)
        tally.add_assignment(
            assignment(n, user, rnd.choice(["ACCEPTED", "REJECTED"]), rnd.choice(["pos", "neg"]))
        )
        for _ in range(4):
            tally.add_answer(
                {"assignment_id": f"a{n}", "task_id": f"t{rnd.randrange(100_000)}", "user_id": user}
            )
    tally.add_bans(users[:100])
    html = render_report(tally.finish(pool(timedelta(hours=60)), 100_000, 50))
    assert len(html.encode()) < 2_000_000, len(html)
    assert EXTERNAL.findall(html) == []
    assert html.count('src="data:image/png;base64,') == 4
    assert "100000" in html and "75000" in html


def test_what_the_crowd_wrote_is_shown_as_text() -> None:
    tally = ReportTally("7")
    tally.add_label(
        {"task_id": "<t>", "INPUT:text": "<script>alert(1)</script>", "OUTPUT:label": "<b>pos</b>"}
    )
    html = render_report(tally.finish(pool(), 1, 0))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>pos</b>" not in html and "&lt;t&gt;" in html


_WITHOUT_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None  # as if the report extra were not installed
import airflow_toloka, airflow_toloka.operators, airflow_toloka.report
from unittest.mock import MagicMock
from airflow_toloka.exceptions import TolokaError
from airflow_toloka.operators import LabelingReportOperator
op = LabelingReportOperator(task_id="r", pool_id="1", labels_path="l.jsonl", results_path="r.html",
                            toloka_conn_id="no_such_connection")
try:
    op.execute({"ti": MagicMock()})
except TolokaError as exc:
    print(exc)
"""


def test_without_the_report_extra_the_provider_imports_and_the_operator_names_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_MATPLOTLIB], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # before any connection lookup or request: the connection named does not exist
    assert "pip install 'airflow-toloka[report]'" in done.stdout, done.stdout + done.stderr
