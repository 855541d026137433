"""Quality control, measured: majority accuracy and cost of one labeling job with and without it.

The job is ``dags_examples/toloka_quality_pipeline``'s: 200 reviews and 20 control reviews, overlap 3, suites of
four reviews and one control review. Without quality control (:func:`label_without_quality_control`) the pool
accepts every answer and the labels are the majority of the first three; the example DAG adds a training gate,
bans from control answers and fast submissions, review by control tasks, and one round of more answers on the
reviews the crowd disagreed on. "Cost" is the accepted assignments, the ones Toloka pays for.

``tests/e2e/test_quality.py`` runs both on the same seeded crowd (30 Tolokers, mean accuracy 0.85, 30% spammers)
and prints the figures README "Quality control" and docs/performance.md quote.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.labels import answer_rows, majority_of, vote_key

DATA = Path(__file__).resolve().parents[1] / "dags_examples" / "data"
PROJECT: dict[str, Any] = {
    "public_name": "Is this review positive?",
    "public_description": "Read a short product review and say whether it is positive or negative.",
    "task_spec": {
        "input_spec": {
            "text": {"type": "string", "required": True},
            "truth": {"type": "string", "required": False, "hidden": True},
        },
        "output_spec": {"label": {"type": "string", "required": True, "allowed_values": ["pos", "neg"]}},
        "view_spec": {"type": "tb", "config": "{}"},
    },
}
OVERLAP = 3
MIXER = {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0}


def _tasks(name: str) -> list[dict[str, Any]]:
    """The example's TSV as task dicts (``INPUT:`` fields, a control review's known answer)."""
    with (DATA / name).open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    tasks = []
    for row in rows:
        task: dict[str, Any] = {"input_values": {"text": row["INPUT:text"], "truth": row["INPUT:truth"]}}
        if row.get("KNOWN_SOLUTION:label"):
            task["known_solutions"] = [{"output_values": {"label": row["KNOWN_SOLUTION:label"]}}]
            task["infinite_overlap"] = True
        else:
            task["overlap"] = OVERLAP
        tasks.append(task)
    return tasks


def accuracy(labels: Mapping[str, str], truth: Mapping[str, str]) -> float:
    """The share of labels that match the truth the simulated crowd was given.

    :param labels: task id -> label.
    :param truth: task id -> true label, for every general task.
    :return: right labels over all general tasks (a task with no label counts as wrong).
    """
    return sum(labels.get(task_id) == value for task_id, value in truth.items()) / len(truth)


def label_without_quality_control(hook: TolokaHook, poll_interval: float = 0.2) -> dict[str, Any]:
    """Run the job with no quality control at all: every answer accepted, the majority of three.

    :param hook: a hook on the emulator.
    :param poll_interval: seconds between the pool's polls.
    :return: ``{"accuracy", "accepted_assignments", "labels"}``.
    """
    project = hook.create_project(PROJECT)
    pool = hook.create_pool(
        {
            "project_id": project.id,
            "private_name": "reviews, no quality control",
            "reward_per_assignment": 0.02,
            "assignment_max_duration_seconds": 600,
            "auto_accept_solutions": True,
            "will_expire": (datetime.now(timezone.utc) + timedelta(days=2)).isoformat(),
            "defaults": {
                "default_overlap_for_new_task_suites": OVERLAP,
                "default_overlap_for_new_tasks": OVERLAP,
            },
            "mixer_config": MIXER,
        }
    )
    tasks = [{**t, "pool_id": pool.id} for t in _tasks("quality_golden.tsv") + _tasks("quality_reviews.tsv")]
    hook.create_tasks(tasks)
    hook.open_pool(pool.id)
    hook.wait_pool(pool.id, poll_interval=poll_interval, timeout=timedelta(minutes=5))
    truth = {
        str(t.id): str(t.input_values["truth"])
        for t in hook.get_tasks(pool_id=pool.id)
        if not t.known_solutions
    }
    tally: defaultdict[str, Counter[str]] = defaultdict(Counter)
    accepted = 0
    for page in hook.get_assignment_pages(pool_id=pool.id, status="ACCEPTED"):
        for assignment in page:
            accepted += 1
            for row in answer_rows(assignment):
                if str(row["task_id"]) in truth:
                    tally[str(row["task_id"])][vote_key({"label": row["OUTPUT:label"]})] += 1
    labels = {label.task_id: str(label.label["label"]) for label in majority_of(tally)}
    return {
        "accuracy": round(accuracy(labels, truth), 3),
        "accepted_assignments": accepted,
        "labels": len(labels),
    }


def labels_accuracy(labels_path: str | Path) -> float:
    """The accuracy of a labels file written by ``AggregateResultsOperator`` (JSONL, with ``INPUT:truth``).

    :param labels_path: the file.
    :return: right labels over labelled general tasks.
    """
    rows = [json.loads(line) for line in Path(labels_path).read_text(encoding="utf-8").splitlines()]
    return sum(r["OUTPUT:label"] == r["INPUT:truth"] for r in rows) / len(rows)


# The crowd README "Quality control" names: 30 Tolokers of mean accuracy 0.85, 30% spammers. 300x: the crowd's work
# takes seconds, and the 3-day auto-acceptance lies far beyond the run.
CROWD: dict[str, Any] = {"crowd": 30, "crowd_accuracy": 0.85, "crowd_spammers": 0.3, "time_scale": 300}
SEED = 5
_REPORT = "Quality report: "


def quality_runs(out: Path, timeout: float = 600) -> list[dict[str, Any]]:
    """The three runs of README "Quality control" on one seeded crowd, each on a fresh emulator account.

    A spam-free crowd and the spammy one without quality control (:func:`label_without_quality_control`), then
    ``dags_examples/toloka_quality_pipeline`` through ``airflow dags test``.

    :param out: a folder for the Airflow home, the labels and the DAG's log.
    :param timeout: seconds for the DAG run.
    :return: one row per run: ``{"run", "accuracy", "accepted_assignments", "labels"}``.
    :raises RuntimeError: when the DAG run fails (its log's path is in the message).
    """
    import os
    import subprocess
    import sys

    from toloka_emulator import EmulatorProcess

    airflow = str(Path(sys.executable).parent / "airflow")
    home = out / "quality-airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    with EmulatorProcess() as emulator:
        conn = json.dumps({"conn_type": "toloka", "host": emulator.url, "password": "bench-quality-token"})
        # only loopback here: no Airflow settings of the caller's, no proxy
        child = {
            k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and "proxy" not in k.lower()
        }
        child.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(DATA.parent),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW_CONN_TOLOKA_DEFAULT=conn,
        )
        rows = []
        for run, spammers in (
            ("spam-free crowd, no quality control", 0.0),
            ("30% spammers, no quality control", 0.3),
        ):
            emulator.reset()
            emulator.configure(**{**CROWD, "crowd_spammers": spammers}, seed=SEED)
            saved = os.environ.get("AIRFLOW_CONN_TOLOKA_DEFAULT")
            os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] = conn
            try:
                with TolokaHook() as hook:
                    rows.append({"run": run, **label_without_quality_control(hook)})
            finally:
                if saved is None:
                    os.environ.pop("AIRFLOW_CONN_TOLOKA_DEFAULT", None)
                else:
                    os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] = saved
        emulator.reset()
        emulator.configure(**CROWD, seed=SEED)
        subprocess.run([airflow, "db", "migrate"], env=child, check=True, capture_output=True)
        conf = json.dumps({"out_dir": str(out / "quality-labels")})
        proc = subprocess.run(
            [airflow, "dags", "test", "toloka_quality_pipeline", "--conf", conf],
            env=child,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        log = out / "logs" / "quality-pipeline.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stdout + proc.stderr)
        found = [line for line in (proc.stdout + proc.stderr).splitlines() if _REPORT in line]
        if proc.returncode != 0 or not found:
            raise RuntimeError(f"toloka_quality_pipeline failed (rc {proc.returncode}); log: {log}")
        report = json.loads(found[-1].split(_REPORT, 1)[1])
        rows.append(
            {
                "run": "30% spammers, toloka_quality_pipeline",
                "accuracy": report["accuracy"],
                "accepted_assignments": report["accepted_assignments"],
                "labels": report["labels"],
            }
        )
    return rows


def quality_table(rows: list[dict[str, Any]]) -> str:
    """The runs as README "Quality control" shows them, cost relative to the spam-free crowd's.

    :param rows: :func:`quality_runs`'s rows, the spam-free run first.
    :return: a plain-text table.
    """
    base = rows[0]["accepted_assignments"] or 1
    lines = [f"  {'run':<40} {'accuracy':>8} {'accepted':>9} {'cost':>6}"]
    for row in rows:
        cost = row["accepted_assignments"] / base
        lines.append(
            f"  {row['run']:<40} {row['accuracy']:>8.3f} {row['accepted_assignments']:>9} {cost:>5.2f}x"
        )
    return "\n".join(lines)
