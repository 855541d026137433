"""The official client, toloka-kit 1.2.3, against the emulator: the emulator must behave as kit expects Toloka to.

toloka-kit cannot live beside Airflow, so ``scripts/kit_venv.sh`` builds ``.venv-kit/`` (once; the first run takes
about a minute) and ``kit_script.py`` runs there as a subprocess. Never skipped: if kit and the emulator disagree,
the emulator is wrong.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toloka_emulator import EmulatorProcess
from toloka_emulator.skills import passes

ROOT = Path(__file__).resolve().parents[2]
KIT_PYTHON = ROOT / ".venv-kit" / "bin" / "python"
SCRIPT = Path(__file__).with_name("kit_script.py")

SPEC = {"image": {"type": "url", "required": True}}
DEFAULTS = {"default_overlap_for_new_tasks": 3, "default_overlap_for_new_task_suites": 3}
POOLS = {
    "auto_create": True,
    "pools": [
        {"id": "101", "status": "OPEN", "input_spec": SPEC, "defaults": DEFAULTS},
        {"id": "102", "status": "CLOSED", "input_spec": SPEC, "defaults": DEFAULTS},
    ],
}

pytestmark = pytest.mark.toloka_kit


@pytest.fixture(scope="module")
def kit_python() -> Path:
    subprocess.run(["bash", str(ROOT / "scripts" / "kit_venv.sh")], check=True, timeout=900)
    return KIT_PYTHON


@pytest.fixture(scope="module")
def kit_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    path = tmp_path_factory.mktemp("kit") / "pools.json"
    path.write_text(json.dumps(POOLS))
    # time-scale 0: the crowd works only when the script advances time, so "OPEN after open" is not a race
    with EmulatorProcess(extra_args=["--pools", str(path), "--time-scale", "0"]) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def kit_run(kit_python: Path, kit_emulator: EmulatorProcess) -> dict[str, Any]:
    proc = subprocess.run(
        [str(kit_python), str(SCRIPT), kit_emulator.url],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"kit_script printed nothing (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    summary: dict[str, Any] = json.loads(lines[-1])
    summary["returncode"] = proc.returncode
    return summary


def test_every_kit_step_passes(kit_run: dict[str, Any]) -> None:
    assert kit_run["failures"] == [], "\n\n".join(kit_run["failures"])
    assert kit_run["ok"] and kit_run["returncode"] == 0
    assert all(result != "FAILED" for result in kit_run["steps"].values())
    assert len(kit_run["steps"]) == 26


def test_emulator_holds_exactly_what_kit_created(
    kit_run: dict[str, Any], kit_emulator: EmulatorProcess
) -> None:
    stats = kit_emulator.stats()
    expected = kit_run["expected"]
    assert stats["objects"]["tasks"] == expected["tasks"] == 2038
    assert stats["objects"]["task_suites"] == expected["task_suites"] == 6
    assert stats["tasks_by_pool"] == expected["tasks_by_pool"]
    assert stats["task_suites_by_pool"] == expected["task_suites_by_pool"]
    assert stats["pools"]["102"] == "OPEN"  # opened by open_pool=true


def test_kit_talked_the_way_toloka_expects(kit_run: dict[str, Any], kit_emulator: EmulatorProcess) -> None:
    stats = kit_emulator.stats()
    responses = stats["responses"]
    assert responses["409"] == 3  # the two resubmits with a known operation_id, one repeated accept
    assert responses["202"] >= 10 and responses["201"] >= 4
    assert stats["faults"] == {"429": 0, "500": 0, "503": 0, "drop": 0}
    assert "401" not in responses and "415" not in responses and "404" not in responses
    # kit fetched the 2000 created tasks back page by page (default limit 50)
    assert stats["requests"]["GET /api/v1/tasks"] >= 40


def test_kits_partial_upload_against_the_default_mode(
    kit_python: Path, toloka_emulator: EmulatorProcess
) -> None:
    # No pools file: a null input value is still VALUE_REQUIRED, as on every real pool.
    emulator = toloka_emulator
    proc = subprocess.run(
        [str(kit_python), str(SCRIPT.with_name("kit_default_mode.py")), emulator.url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    for mode in ("sync", "async"):
        assert seen[mode] == {"items": [0], "errors": {"1": {"input_values.image": "VALUE_REQUIRED"}}}, mode
    assert emulator.stats()["tasks_by_pool"] == {"901": 2}


def test_kits_skills_user_skills_and_restrictions(kit_python: Path, toloka_emulator: EmulatorProcess) -> None:
    emulator = toloka_emulator
    user = emulator.stats()["crowd"]["user_ids"][0]
    proc = subprocess.run(
        [str(kit_python), str(SCRIPT.with_name("kit_skills.py")), emulator.url, user],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["skill"] == [True, True, "kit skill 2", True]
    value, exact, same_pair, listed, after_delete = seen["user_skill"]
    assert (value, exact, same_pair, len(listed), after_delete) == ("60", "59.7", True, 1, [])
    assert seen["restrictions"] == [
        [True] * 3,
        "ProjectUserRestriction",
        ["ALL_PROJECTS", "POOL", "PROJECT"],
        2,
    ]
    # kit's own filter shape is what the emulator's crowd reads
    sid, rule = seen["skill_id"], seen["filter"]
    assert passes(rule, {sid: 75.0}) and passes(rule, {}) and not passes(rule, {sid: 10.0}), rule


def test_kits_quality_control_configs_are_accepted(
    kit_python: Path, toloka_emulator: EmulatorProcess
) -> None:
    # kit sends no collector uuid; the emulator assigns one, and kit reads every collector and action back
    proc = subprocess.run(
        [str(kit_python), str(SCRIPT.with_name("kit_quality.py")), toloka_emulator.url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["sent_uuids"] == [None, None, None, None]
    assert seen["types"] == ["GoldenSet", "AssignmentSubmitTime", "MajorityVote", "AssignmentsAssessment"]
    assert seen["actions"] == ["RestrictionV2", "RestrictionV2", "SetSkillFromOutputField", "ChangeOverlap"]
    assert len(set(seen["uuids"])) == 4 and all(len(u) == 36 for u in seen["uuids"])
    assert seen["conditions"] == [2, 2, 1, 1]
