"""The labeling report of a real emulator run, checked against what the emulator knows: its counters, its money,
its bans, and the crowd it simulated (who spammed, how accurate each Toloker was)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import (
    AggregateResultsOperator,
    CreatePoolOperator,
    CreateProjectOperator,
    CreateTasksOperator,
    ExportAssignmentsOperator,
    LabelingReportOperator,
    OpenPoolOperator,
    PayBonusesOperator,
    ReviewAssignmentsOperator,
)
from tests.integration.test_labels_emulator import PROJECT, context
from tests.specs import pool_spec

N_TASKS, N_CONTROL, OVERLAP, SUITE = 120, 6, 3, 4
REWARD = 0.02
# Anything that names a place outside the file: a scheme, a protocol-relative address, or the HTML and CSS that
# would fetch one (a script, a stylesheet link, an import, url()), or any src that is not inline data.
EXTERNAL = re.compile(
    r"(?i)[a-z][a-z0-9+.-]*://|\bsrc=(?![\"']?data:)|<script|<link|@import|url\(|//[a-z0-9-]+\."
)


def _assignments(pool_id: str) -> list[Any]:
    with TolokaHook() as hook:
        return list(hook.get_assignments(pool_id=pool_id))


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    pass


def _run_pool(emulator: Any, tmp_path: Path) -> dict[str, Any]:
    """A night's run on a crowd of eight with two spammers: upload, open, work, export, review (ban who fails a
    control task), labels, bonuses; returns the ids and paths."""
    emulator.configure(crowd=8, crowd_spammers=0.25, crowd_accuracy=0.95, time_scale=0, seed=5)
    project_id = CreateProjectOperator(task_id="project", project=PROJECT).execute(context())["project_id"]
    spec = pool_spec(overlap=OVERLAP, suite=SUITE, auto_accept_solutions=False, auto_accept_period_day=3)
    spec["reward_per_assignment"] = REWARD
    spec["mixer_config"]["golden_tasks_count"] = 1
    pool_id = str(
        CreatePoolOperator(task_id="pool", project_id=project_id, pool=spec).execute(context())["pool_id"]
    )
    tasks: list[dict[str, Any]] = [
        {"input_values": {"text": f"review {i}", "truth": "pos" if i % 3 else "neg"}} for i in range(N_TASKS)
    ]
    tasks += [
        {
            "input_values": {"text": f"control {i}", "truth": "neg" if i % 2 else "pos"},
            "known_solutions": [{"output_values": {"label": "neg" if i % 2 else "pos"}}],
            "infinite_overlap": True,
        }
        for i in range(N_CONTROL)
    ]
    CreateTasksOperator(
        task_id="up", pool_id=pool_id, tasks=tasks, allow_defaults=True, poll_interval=0.1
    ).execute(context())
    OpenPoolOperator(task_id="open", pool_id=pool_id, poll_interval=0.1).execute(context())
    emulator.advance(2 * 86400)  # two simulated days: the crowd finishes and the pool closes
    answers, labels = tmp_path / "answers.jsonl", tmp_path / "labels.jsonl"
    ExportAssignmentsOperator(task_id="export", pool_id=pool_id, results_path=str(answers)).execute(context())
    ban = {"scope": "PROJECT", "duration": 10, "duration_unit": "DAYS"}
    ReviewAssignmentsOperator(
        task_id="review", pool_id=pool_id, rule={"min_golden_accuracy": 1.0, "restrict": ban}
    ).execute(context())
    AggregateResultsOperator(
        task_id="agg", pool_id=pool_id, fields=["label"], results_path=str(labels)
    ).execute(context())
    bonus_rule = {
        "min_golden_accuracy": 1.0,
        "min_golden_tasks": 3,
        "amount": 0.05,
        "public_title": "Thanks",
        "public_message": "All right.",
    }
    PayBonusesOperator(task_id="bonuses", pool_id=pool_id, rule=bonus_rule, poll_interval=0.1).execute(
        context()
    )
    return {"pool_id": pool_id, "project_id": project_id, "answers": answers, "labels": labels}


def test_the_report_of_an_emulator_run_tells_the_emulators_truth(
    toloka_emulator: Any, tmp_path: Path
) -> None:
    run = _run_pool(toloka_emulator, tmp_path)
    pool_id = run["pool_id"]
    out = tmp_path / "report" / "report.html"
    op = LabelingReportOperator(
        task_id="report",
        pool_id=pool_id,
        labels_path=str(run["labels"]),
        answers_path=str(run["answers"]),
        results_path=str(out),
    )
    assert op.outlets == [Asset(uri=f"file://{out}")]
    ctx = context("report")
    headline = op.execute(ctx)
    stats = toloka_emulator.stats()
    money = stats["money"]

    # counts: the emulator's own counters
    assert headline["report_path"] == f"file://{out}" and out.is_file()
    assert (headline["tasks"], headline["control_tasks"]) == (N_TASKS, N_CONTROL)
    assert headline["assignments"] == stats["assignments_by_pool"][pool_id]
    label_rows = [json.loads(line) for line in run["labels"].read_text().splitlines()]
    answer_rows = [json.loads(line) for line in run["answers"].read_text().splitlines()]
    assert headline["labels"] == len(label_rows) == N_TASKS
    solutions = sum(len(a.solutions or []) for a in _assignments(pool_id))
    assert headline["answers"] == len(answer_rows) == solutions > 0
    # money: what the emulator debited (rewards of accepted work, fees, bonuses)
    assert headline["cost"]["rewards"] == pytest.approx(money["rewards_by_pool"][pool_id], abs=1e-4)
    assert headline["cost"]["bonuses"] == pytest.approx(money["bonuses"]["amount"], abs=1e-4)
    assert money["bonuses"]["amount"] > 0
    assert headline["cost"]["bonus_count"] == money["bonuses"]["count"]
    assert headline["cost"]["total"] == pytest.approx(money["spent"], abs=1e-3)

    # the crowd: every Toloker the emulator simulated, its spammers, and who it banned
    workers = {w["user_id"]: w for w in stats["crowd"]["workers"]}
    report = op.gather(pool_id)
    assert set(report.tolokers) <= set(workers)
    with TolokaHook() as hook:
        banned = {r.user_id for r in hook.get_user_restrictions(project_id=run["project_id"])}
        rejected = {a.user_id for a in hook.get_assignments(pool_id=pool_id, status="REJECTED")}
    assert banned == rejected and banned  # the rule banned each Toloker it rejected
    assert {u for u, r in report.tolokers.items() if r.banned} == banned
    assert {u for u, r in report.tolokers.items() if r.rejected} == rejected
    assert (headline["banned"], headline["rejected_tolokers"]) == (len(banned), len(rejected))
    spammers = {u for u, w in workers.items() if w["spammer"]}
    honest = {u for u, w in workers.items() if not w["spammer"]}
    assert (
        spammers & set(report.tolokers) and spammers & set(report.tolokers) <= banned
    )  # random answers fail
    # accuracy on control tasks: what the crowd's profiles predict (spammers answer one of two labels at random)
    expected = {u: 0.5 if w["spammer"] else w["accuracy"] for u, w in workers.items()}
    controls = {u: r.golden_total for u, r in report.tolokers.items()}
    predicted = sum(expected[u] * n for u, n in controls.items()) / sum(controls.values())
    assert headline["control_accuracy"] == pytest.approx(predicted, abs=0.12)
    # and exactly what the exported answers say, Toloker by Toloker
    golden = [r for r in answer_rows if r["golden"]]
    right = Counter(r["user_id"] for r in golden if r["OUTPUT:label"] == r["GOLDEN:label"])
    asked = Counter(r["user_id"] for r in golden)
    assert headline["control_accuracy"] == pytest.approx(sum(right.values()) / len(golden), abs=1e-4)
    assert {u: (r.golden_right, r.golden_total) for u, r in report.tolokers.items()} == {
        u: (right[u], asked[u]) for u in asked
    }
    assert min(report.tolokers[u].golden_accuracy or 0 for u in honest & set(report.tolokers)) >= 0.5
    # labels: the file's distribution, close to the truth the crowd was given (two in three positive)
    assert report.label_counts == dict(Counter(r["OUTPUT:label"] for r in label_rows))
    assert abs(report.label_counts.get("pos", 0) - N_TASKS * 2 / 3) <= N_TASKS * 0.15
    assert sum(report.confidence_bins) == N_TASKS
    # the least certain labels come with their inputs and every answer they got
    least = report.uncertain[0]
    assert least.confidence == min(r["confidence"] for r in label_rows) < 1
    assert least.inputs["text"].startswith("review ") and len(least.answers) == OVERLAP
    assert {status for _, status, _ in least.answers} <= {"ACCEPTED", "REJECTED"}  # as reviewed, not exported
    with TolokaHook() as hook:
        pool = hook.get_pool(pool_id)
    assert pool.last_started is not None and pool.last_stopped is not None
    assert 0 < headline["duration_seconds"] <= (pool.last_stopped - pool.last_started).total_seconds() + 1

    # the file opens offline and holds no secret; its Asset event carries the headline
    html = out.read_text(encoding="utf-8")
    assert EXTERNAL.findall(html) == [] and "test-token" not in html
    assert html.count('src="data:image/png;base64,') == 4
    assert ctx["outlet_events"][op.outlets[0]].extra["report_path"] == headline["report_path"]
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left


def test_without_an_answers_file_the_answers_come_from_the_pool(toloka_emulator: Any, tmp_path: Path) -> None:
    run = _run_pool(toloka_emulator, tmp_path)
    out = tmp_path / "report.html"
    headline = LabelingReportOperator(
        task_id="report", pool_id=run["pool_id"], labels_path=str(run["labels"]), results_path=str(out)
    ).execute(context("report"))
    exported = len(run["answers"].read_text().splitlines())
    assert headline["answers"] == exported  # every assignment was answered and exported before the review
