"""Quality control, end to end: the example pipeline on a crowd with spammers, against no quality control at all.

The figures printed here are the ones README "Quality control" and docs/performance.md quote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from benchmarks.quality import label_without_quality_control
from tests.e2e.conftest import EXAMPLES, AirflowHome

TOKEN = "e2e-secret-token-1234"
# The crowd the issue names: 30 Tolokers of mean accuracy 0.85, 30% of them spammers who answer at random three
# times faster. 300x: the crowd's work takes seconds, and the 3-day auto-acceptance lies far beyond the test.
CROWD: dict[str, Any] = {"crowd": 30, "crowd_accuracy": 0.85, "crowd_spammers": 0.3, "time_scale": 300}


@pytest.fixture
def conn(toloka_emulator: Any) -> dict[str, Any]:
    return {"conn_type": "toloka", "host": toloka_emulator.url, "password": TOKEN}


def test_quality_control_beats_a_spammy_crowd_at_bounded_cost(
    airflow_home: AirflowHome,
    toloka_emulator: Any,
    conn: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(conn))
    toloka_emulator.configure(**{**CROWD, "crowd_spammers": 0.0}, seed=5)
    with TolokaHook() as hook:
        clean = label_without_quality_control(hook)
    toloka_emulator.reset()
    toloka_emulator.configure(**CROWD, seed=5)
    with TolokaHook() as hook:
        spammy = label_without_quality_control(hook)
    toloka_emulator.reset()
    toloka_emulator.configure(**CROWD, seed=5)
    run = airflow_home.dags_test(
        "toloka_quality_pipeline", dags_folder=EXAMPLES, conn=conn, conf={"out_dir": str(tmp_path)}
    )
    assert run.returncode == 0, run.output[-5000:]
    assert TOKEN not in run.output
    (report,) = run.xcom("report")
    print(
        "\nQuality control figures (30 Tolokers, accuracy 0.85, 200 reviews, overlap 3, 10% control):\n"
        f"  spam-free crowd, no quality control: {clean}\n"
        f"  30% spammers, no quality control:    {spammy}\n"
        f"  30% spammers, toloka_quality_pipeline: {report}"
    )
    assert spammy["accuracy"] < 0.85  # the spammers really hurt: the comparison means something
    assert report["labels"] == 200
    assert report["accuracy"] >= 0.95, report
    assert report["accepted_assignments"] <= 1.6 * clean["accepted_assignments"], (report, clean)
    with TolokaHook() as hook:
        banned = {r.user_id for r in hook.get_user_restrictions()}
    assert banned, "quality control banned nobody"
    (html,) = run.xcom("labeling_report")  # the run ends with its report, which shows the bans
    assert Path(html["report_path"].removeprefix("file://")).is_file()
    assert html["labels"] == 200 and 0 < html["banned"] <= len(banned), html
