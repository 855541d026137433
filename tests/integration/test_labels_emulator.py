"""Export, review and aggregation against the emulator's crowd: exact counts, files, and clear errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import TaskDeferred

from airflow_toloka.exceptions import TolokaError, TolokaInputError
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import (
    AggregateResultsOperator,
    CreatePoolOperator,
    CreateProjectOperator,
    CreateTasksOperator,
    ExportAssignmentsOperator,
    OpenPoolOperator,
    ReviewAssignmentsOperator,
)
from tests.specs import pool_spec

PROJECT = {
    "public_name": "Sentiment",
    "public_description": "Pick the sentiment of a review.",
    "task_spec": {
        "input_spec": {"text": {"type": "string"}, "truth": {"type": "string", "required": False}},
        "output_spec": {
            "label": {"type": "string", "allowed_values": ["pos", "neg"]},
            "note": {"type": "string", "required": False},
        },
        "view_spec": {"type": "tb", "config": "{}"},
    },
}
N_TASKS, OVERLAP = 20, 3


class Outlets(dict):  # type: ignore[type-arg]
    """``context["outlet_events"]``: an accessor per asset with an ``extra``."""

    def __missing__(self, asset: Asset) -> Any:
        self[asset] = MagicMock(extra={})
        return self[asset]


def context(task_id: str = "t") -> dict[str, Any]:
    ti = MagicMock(dag_id="d", run_id="r1", task_id=task_id, map_index=-1, try_number=1)
    return {"ti": ti, "dag_run": MagicMock(start_date=None), "outlet_events": Outlets()}


def labeled_pool(
    emulator: Any,
    *,
    manual_review: bool = False,
    golden: int = 0,
    accuracy: float = 0.9,
    texts: list[str] | None = None,
) -> str:
    """A pool the crowd finished: N_TASKS reviews (truth in the input; ``texts`` replace their text), OVERLAP
    answers each; seeded, so the crowd's answers are the same on every run."""
    emulator.configure(crowd=8, time_scale=0, crowd_accuracy=accuracy, seed=11)
    project_id = CreateProjectOperator(task_id="project", project=PROJECT).execute(context("project"))[
        "project_id"
    ]
    extra = {"auto_accept_solutions": False, "auto_accept_period_day": 3} if manual_review else {}
    spec = pool_spec(overlap=OVERLAP, suite=4, **extra)
    spec["mixer_config"]["golden_tasks_count"] = 1 if golden else 0
    pool_id = str(
        CreatePoolOperator(task_id="pool", project_id=project_id, pool=spec).execute(context("pool"))[
            "pool_id"
        ]
    )
    texts = texts or [f"review {i}" for i in range(N_TASKS)]
    tasks: list[dict[str, Any]] = [
        {"input_values": {"text": text, "truth": "pos" if i % 3 else "neg"}} for i, text in enumerate(texts)
    ]
    tasks += [
        {
            "input_values": {"text": f"control {i}", "truth": "pos"},
            "known_solutions": [{"output_values": {"label": "pos"}}],
            "infinite_overlap": True,
        }
        for i in range(golden)
    ]
    CreateTasksOperator(
        task_id="up", pool_id=pool_id, tasks=tasks, allow_defaults=True, poll_interval=0.1
    ).execute(context("up"))
    OpenPoolOperator(task_id="open", pool_id=pool_id, poll_interval=0.1).execute(context("open"))
    emulator.advance(2 * 86400)  # two simulated days: the crowd finishes and the pool closes
    with TolokaHook() as hook:
        assert hook.get_pool(pool_id).last_close_reason == "COMPLETED"
    return pool_id


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    pass


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
def test_export_writes_one_row_per_answer_and_announces_the_file(
    toloka_emulator: Any, tmp_path: Path, fmt: str
) -> None:
    pool_id = labeled_pool(toloka_emulator)
    path = tmp_path / f"answers.{fmt}"
    export = ExportAssignmentsOperator(
        task_id="export", pool_id=pool_id, results_path=str(path), status=("ACCEPTED",)
    )
    assert export.outlets == [Asset(uri=f"file://{path}")]  # a fixed path is the task's outlet by default
    ctx = context("export")
    summary = export.execute(ctx)
    assert summary["rows"] == N_TASKS * OVERLAP and summary["by_status"] == {
        "ACCEPTED": summary["assignments"]
    }
    assert ctx["outlet_events"][export.outlets[0]].extra["rows"] == N_TASKS * OVERLAP
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert {r["OUTPUT:label"] for r in rows} <= {"pos", "neg"} and all(r["INPUT:text"] for r in rows)
        assert len({(r["task_id"], r["user_id"]) for r in rows}) == len(rows)  # nobody answered a task twice
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_table(path).num_rows == N_TASKS * OVERLAP
    else:
        header = path.read_text().splitlines()[0]
        assert header.startswith("assignment_id") and "OUTPUT:label" in header and "INPUT:truth" in header
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_an_exported_file_uploads_again_with_every_value_intact(
    toloka_emulator: Any, tmp_path: Path, fmt: str
) -> None:
    from tests.unit.test_files import AWKWARD

    pool_id = labeled_pool(toloka_emulator, texts=AWKWARD)
    path = tmp_path / f"answers.{fmt}"
    ExportAssignmentsOperator(
        task_id="export", pool_id=pool_id, results_path=str(path), status=("ACCEPTED",)
    ).execute(context("export"))
    # The export as a task file: every column lands in the tasks (an emulator pool of unknown id takes any
    # field); its pool_id column is renamed, or each row would name the pool it came from.
    summary = CreateTasksOperator(
        task_id="again",
        pool_id="424242",
        tasks_path=str(path),
        column_map={"pool_id": "source_pool"},
        allow_defaults=True,
        poll_interval=0.1,
    ).execute(context("again"))
    assert summary["created"] == len(AWKWARD) * OVERLAP
    with TolokaHook() as hook:
        again = sorted(t.input_values["text"] for t in hook.get_tasks(pool_id="424242"))
    assert again == sorted(AWKWARD * OVERLAP)


_KILLED_EXPORT = """
import os, signal, sys
from unittest.mock import MagicMock
from airflow_toloka.operators import labels

def dying(assignment):
    yield from answers(assignment)
    os.kill(os.getpid(), signal.SIGKILL)  # the worker dies half-way through the file

answers, labels.answer_rows = labels.answer_rows, dying
ti = MagicMock(dag_id="d", run_id="r1", task_id="export", map_index=-1, try_number=int(sys.argv[3]))
labels.ExportAssignmentsOperator(task_id="export", pool_id=sys.argv[1], results_path=sys.argv[2]).execute(
    {"ti": ti, "outlet_events": {}}
)
"""


def test_a_killed_export_leaves_nothing_behind_once_a_retry_succeeds(
    toloka_emulator: Any, tmp_path: Path
) -> None:
    import subprocess
    import sys

    pool_id = labeled_pool(toloka_emulator)
    path = tmp_path / "answers.csv"
    for try_number in (1, 2):
        killed = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, pool_id, str(path), str(try_number)])
        assert killed.returncode == -9
    assert len(list(tmp_path.iterdir())) == 1  # the second try took over the first one's temporary file
    ExportAssignmentsOperator(task_id="export", pool_id=pool_id, results_path=str(path)).execute(
        context("export")
    )
    assert [p.name for p in tmp_path.iterdir()] == ["answers.csv"]


def test_majority_labels_are_mostly_the_truth(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator, golden=2)
    path = tmp_path / "labels.jsonl"
    summary = AggregateResultsOperator(
        task_id="agg", pool_id=pool_id, fields=["label"], results_path=str(path)
    ).execute(context("agg"))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert summary["labels"] == len(rows) == N_TASKS  # control tasks left out
    assert all(r["answers"] == OVERLAP and 0 < r["confidence"] <= 1 for r in rows)
    right = sum(r["OUTPUT:label"] == r["INPUT:truth"] for r in rows)
    assert right >= N_TASKS * 0.8, rows


def test_dawid_skene_and_toloka_aggregation_agree_with_the_majority(
    toloka_emulator: Any, tmp_path: Path
) -> None:
    pool_id = labeled_pool(toloka_emulator)
    labels: dict[str, dict[str, str]] = {}
    for method in ("majority", "dawid_skene", "toloka_ds"):
        path = tmp_path / f"{method}.jsonl"
        AggregateResultsOperator(
            task_id="agg",
            pool_id=pool_id,
            fields=["label"],
            method=method,
            results_path=str(path),
            poll_interval=0.1,
        ).execute(context("agg"))
        labels[method] = {
            (row := json.loads(line))["task_id"]: row["OUTPUT:label"]
            for line in path.read_text().splitlines()
        }
    assert labels["dawid_skene"].keys() == labels["majority"].keys() == labels["toloka_ds"].keys()
    agree = sum(labels["dawid_skene"][t] == labels["majority"][t] for t in labels["majority"])
    assert agree >= N_TASKS * 0.8


def test_toloka_aggregation_defers_and_resumes(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator)
    toloka_emulator.configure(pending_seconds=30)
    agg = AggregateResultsOperator(
        task_id="agg",
        pool_id=pool_id,
        fields=["label"],
        method="toloka_wdo",
        answer_weight_skill_id="skill-1",
        results_path=str(tmp_path / "wdo.jsonl"),
        deferrable=True,
        poll_interval=0.1,
    )
    with pytest.raises(TaskDeferred) as info:
        agg.execute(context("agg"))
    toloka_emulator.advance(60)

    async def first_event() -> dict[str, Any]:
        async for event in info.value.trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(first_event(), 60))
    summary = agg.execute_complete(context("agg"), event)
    assert summary["labels"] == N_TASKS and summary["method"] == "toloka_wdo"


def test_bad_aggregation_fields_are_named(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator)
    out = str(tmp_path / "x.jsonl")
    with pytest.raises(TolokaInputError, match=r"'colour' is not in pool .* output spec"):
        AggregateResultsOperator(task_id="a", pool_id=pool_id, fields=["colour"], results_path=out).execute(
            context()
        )
    with pytest.raises(TolokaInputError, match="'note' cannot be aggregated by Toloka"):
        AggregateResultsOperator(
            task_id="a", pool_id=pool_id, fields=["note"], method="toloka_ds", results_path=out
        ).execute(context())
    assert not Path(out).exists()


def test_review_by_control_tasks_then_again_changes_nothing(toloka_emulator: Any) -> None:
    pool_id = labeled_pool(toloka_emulator, manual_review=True, golden=2)
    review = ReviewAssignmentsOperator(task_id="review", pool_id=pool_id, rule={"min_golden_accuracy": 1.0})
    first = review.execute(context("review"))
    assert first["accepted"] > 0 and first["rejected"] > 0  # 70% accurate: some miss their control task
    assert first["changed"] == first["accepted"] + first["rejected"]
    with TolokaHook() as hook:
        statuses = {a.status for a in hook.get_assignments(pool_id=pool_id)}
        rejected = list(hook.get_assignments(pool_id=pool_id, status="REJECTED"))
    assert "SUBMITTED" not in statuses
    assert all(a.public_comment and "right" in a.public_comment for a in rejected)
    assert review.execute(context("review")) == {
        "pool_id": pool_id,
        "accepted": 0,
        "rejected": 0,
        "changed": 0,
        "without_control": 0,
    }


def test_review_from_a_decisions_file(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator, manual_review=True)
    with TolokaHook() as hook:
        ids = [a.id for a in hook.get_assignments(pool_id=pool_id, status="SUBMITTED")]
    decisions = tmp_path / "decisions.csv"
    lines = ["assignment_id,verdict,public_comment", f"{ids[0]},REJECTED,too fast"]
    lines += [f"{i},ACCEPTED," for i in ids[1:]]
    decisions.write_text("\n".join(lines) + "\n")
    review = ReviewAssignmentsOperator(task_id="review", pool_id=pool_id, decisions_path=str(decisions))
    done = {"pool_id": pool_id, "accepted": len(ids) - 1, "rejected": 1}
    assert review.execute(context()) == {**done, "changed": len(ids)}
    assert review.execute(context()) == {**done, "changed": 0}  # a retry: every verdict is in place already
    bad = tmp_path / "bad.csv"
    bad.write_text(f"assignment_id,verdict,public_comment\n{ids[1]},ACCEPTED,\nnot-an-assignment,ACCEPTED,\n")
    with pytest.raises(
        TolokaInputError, match=r"bad\.csv: 1 decision\(s\) cannot be applied: data row 2: not-an"
    ):
        ReviewAssignmentsOperator(task_id="r", pool_id=pool_id, decisions_path=str(bad)).execute(context())
    # Toloka cannot reject an accepted assignment: refused up front, naming the row, nothing sent
    (bad := tmp_path / "late.csv").write_text(
        f"assignment_id,verdict,public_comment\n{ids[1]},REJECTED,late\n"
    )
    with pytest.raises(
        TolokaInputError, match=rf"data row 1: {ids[1]} is ACCEPTED and cannot become REJECTED"
    ):
        ReviewAssignmentsOperator(task_id="r", pool_id=pool_id, decisions_path=str(bad)).execute(context())


def test_review_of_an_archived_pool_is_refused(toloka_emulator: Any) -> None:
    pool_id = labeled_pool(toloka_emulator)
    with TolokaHook() as hook:
        hook.archive_pool(pool_id)
    with pytest.raises(TolokaError, match="ARCHIVED"):
        ReviewAssignmentsOperator(task_id="r", pool_id=pool_id, rule={"min_golden_accuracy": 0.5}).execute(
            context()
        )


def test_rejected_answers_are_no_votes(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator, manual_review=True, accuracy=0.6)
    with TolokaHook() as hook:
        submitted = [a.to_json_dict() for a in hook.get_assignments(pool_id=pool_id, status="SUBMITTED")]
    answers: dict[str, list[tuple[str, str]]] = {}  # task -> (assignment, label)
    for a in submitted:
        for task, solution in zip(a["tasks"], a["solutions"], strict=True):
            answers.setdefault(task["id"], []).append((a["id"], solution["output_values"]["label"]))
    # reject whoever gave the winning answer of a split task: counted anyway, they would keep it winning
    split = next(t for t, given in answers.items() if len({label for _, label in given}) == 2)
    winner = max(("pos", "neg"), key=lambda lb: sum(label == lb for _, label in answers[split]))
    rejected = {a for a, label in answers[split] if label == winner}
    lines = ["assignment_id,verdict,public_comment"]
    lines += [f"{a['id']},{'REJECTED,wrong' if a['id'] in rejected else 'ACCEPTED,'}" for a in submitted]
    (decisions := tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    ReviewAssignmentsOperator(task_id="review", pool_id=pool_id, decisions_path=str(decisions)).execute(
        context()
    )

    path = tmp_path / "labels.jsonl"
    AggregateResultsOperator(
        task_id="agg", pool_id=pool_id, fields=["label"], results_path=str(path)
    ).execute(context("agg"))
    rows = {(r := json.loads(line))["task_id"]: r for line in path.read_text().splitlines()}
    kept = {t: [label for a, label in given if a not in rejected] for t, given in answers.items()}
    assert {t: r["answers"] for t, r in rows.items()} == {t: len(k) for t, k in kept.items() if k}
    assert rows[split]["OUTPUT:label"] != winner  # the rejected majority did not win
    for task_id, labels in kept.items():
        counts = sorted(((labels.count(lb), lb) for lb in set(labels)), reverse=True)
        if counts and (len(counts) == 1 or counts[0][0] > counts[1][0]):
            assert rows[task_id]["OUTPUT:label"] == counts[0][1], task_id


def test_export_leaves_rejected_answers_out_by_default(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator, manual_review=True)
    with TolokaHook() as hook:
        submitted = list(hook.get_assignments(pool_id=pool_id, status="SUBMITTED"))
        bad = submitted[0]
        hook.patch_assignment(bad.id, "REJECTED", "wrong")
    path = tmp_path / "answers.jsonl"
    summary = ExportAssignmentsOperator(task_id="export", pool_id=pool_id, results_path=str(path)).execute(
        context("export")
    )
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    per_assignment = len(bad.tasks)
    assert summary["by_status"] == {"SUBMITTED": len(submitted) - 1}
    assert summary["rows"] == len(rows) == (len(submitted) - 1) * per_assignment
    assert bad.id not in {r["assignment_id"] for r in rows}


def test_review_refuses_to_accept_blindly(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator, manual_review=True)  # no control tasks
    review = ReviewAssignmentsOperator(task_id="review", pool_id=pool_id, rule={"min_golden_accuracy": 0.9})
    with pytest.raises(TolokaInputError, match=rf"pool {pool_id}: none of its \d+ SUBMITTED .* control task"):
        review.execute(context())
    for name, text in [("empty.csv", ""), ("header.tsv", "assignment_id\tverdict\n"), ("blank.jsonl", "\n")]:
        (path := tmp_path / name).write_text(text)
        with pytest.raises(TolokaInputError, match=rf"{name}: holds no decision"):
            ReviewAssignmentsOperator(task_id="r", pool_id=pool_id, decisions_path=str(path)).execute(
                context()
            )
        allowed = ReviewAssignmentsOperator(
            task_id="r", pool_id=pool_id, decisions_path=str(path), allow_empty_decisions=True
        )
        assert allowed.execute(context())["changed"] == 0
    with TolokaHook() as hook:
        statuses = {a.status for a in hook.get_assignments(pool_id=pool_id)}
    assert "ACCEPTED" not in statuses and "REJECTED" not in statuses  # nothing was reviewed
    on_purpose = ReviewAssignmentsOperator(
        task_id="review", pool_id=pool_id, rule={"min_golden_accuracy": 0.9}, allow_no_control_tasks=True
    ).execute(context())
    assert on_purpose["accepted"] == on_purpose["changed"] == on_purpose["without_control"] > 0


@pytest.mark.parametrize("method", ["majority", "dawid_skene", "toloka_ds"])
def test_no_accepted_answer_means_no_labels_file_and_no_event(
    toloka_emulator: Any, tmp_path: Path, method: str
) -> None:
    pool_id = labeled_pool(toloka_emulator, manual_review=True)  # answers SUBMITTED, not reviewed yet
    path = tmp_path / "labels.jsonl"
    agg = AggregateResultsOperator(
        task_id="agg",
        pool_id=pool_id,
        fields=["label"],
        method=method,
        results_path=str(path),
        poll_interval=0.1,
    )
    ctx = context("agg")
    with pytest.raises(TolokaError, match=rf"pool {pool_id} has no accepted answer .*'SUBMITTED': \d+"):
        agg.execute(ctx)
    assert not path.exists() and not ctx["outlet_events"]
    allowed = AggregateResultsOperator(
        task_id="agg",
        pool_id=pool_id,
        fields=["label"],
        method=method,
        results_path=str(path),
        allow_empty=True,
        poll_interval=0.1,
    )
    assert allowed.execute(ctx)["labels"] == 0 and path.read_text() == ""
    assert ctx["outlet_events"][allowed.outlets[0]].extra["labels"] == 0


def test_ties_are_counted(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator, accuracy=0.5)
    path = tmp_path / "labels.jsonl"
    summary = AggregateResultsOperator(
        task_id="agg", pool_id=pool_id, fields=["label", "note"], results_path=str(path)
    ).execute(context("agg"))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # three answers, all different (the free-text note differs): a three-way tie
    tied = [r for r in rows if r["answers"] > 1 and r["confidence"] == 1 / r["answers"]]
    assert summary["ties"] == len(tied) > 0


def test_paths_lists_and_templates_are_taken_as_given(toloka_emulator: Any, tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    pool_id = labeled_pool(toloka_emulator)
    path = ObjectStoragePath(f"file://{tmp_path}/answers.csv")
    export = ExportAssignmentsOperator(
        task_id="export", pool_id=pool_id, results_path=path, status="ACCEPTED"
    )
    assert export.outlets == [Asset(uri=f"file://{tmp_path}/answers.csv")]
    assert export.execute(context("export"))["by_status"] == {"ACCEPTED": N_TASKS * OVERLAP // 4}
    templated = ExportAssignmentsOperator(
        task_id="export",
        pool_id=pool_id,
        results_path=str(tmp_path / "t.jsonl"),
        status="{{ params.status }}",
    )
    templated.status = "accepted, submitted"  # as Jinja renders it
    assert set(templated.execute(context("export"))["by_status"]) == {"ACCEPTED"}
    with pytest.raises(ValueError, match="status: unknown DONE"):
        ExportAssignmentsOperator(
            task_id="e", pool_id=pool_id, results_path=str(path), status="ACCEPTED,DONE"
        )
    agg = AggregateResultsOperator(
        task_id="agg",
        pool_id=pool_id,
        fields="label",
        results_path=ObjectStoragePath(f"file://{tmp_path}/l.tsv"),
    )
    assert agg.execute(context("agg"))["labels"] == N_TASKS
    (tmp_path / "none.csv").write_text("assignment_id,verdict,public_comment\n")
    review = ReviewAssignmentsOperator(
        task_id="r", pool_id=pool_id, decisions_path=ObjectStoragePath(f"file://{tmp_path}/none.csv")
    )
    with pytest.raises(TolokaInputError, match=r"none\.csv: holds no decision"):
        review.execute(context())
    with pytest.raises(ValueError, match="fields must name at least one"):
        AggregateResultsOperator(task_id="agg", pool_id=pool_id, fields=[], results_path=str(path))
