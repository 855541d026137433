"""A realistic crowd: each worker's accuracy drawn around the mean, spammers who answer at random three times
faster, all from the seed, shown in ``/_emulator/stats`` and changeable at run time.

The emulator runs with ``time_scale 0`` (see conftest), so the crowd moves only when a test advances the time.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.emulator.api import Api
from tests.emulator.lifecycle import (
    CROWD_ARGS,
    INPUT_SPEC,
    act,
    all_assignments,
    make_pool,
    make_project,
    upload,
)
from toloka_emulator import EmulatorProcess
from toloka_emulator.__main__ import parse_args

LABELS = ["pos", "neg", "mixed"]
OUTPUT_SPEC = {
    "label": {"type": "string", "required": True, "allowed_values": LABELS},
    "ok": {"type": "boolean", "required": True},
    "note": {"type": "string", "required": True},
}
CHI2_2DOF_P001 = 13.8  # chi-square critical values at p = 0.001
CHI2_1DOF_P001 = 10.8


def workers(emu: EmulatorProcess) -> list[dict[str, Any]]:
    return emu.stats()["crowd"]["workers"]  # type: ignore[no-any-return]


def run_pool(api: Api, emu: EmulatorProcess, n: int, seconds: float = 4 * 3600) -> list[dict[str, Any]]:
    """A pool of ``n`` tasks whose truth is "pos", worked on until done; its assignments."""
    task_spec = {"input_spec": INPUT_SPEC, "output_spec": OUTPUT_SPEC, "view_spec": {"type": "tb"}}
    pool = make_pool(api, make_project(api, task_spec=task_spec))
    upload(api, pool["id"], n)
    act(api, f"/pools/{pool['id']}/open")
    emu.advance(seconds)
    return all_assignments(api, pool["id"])


def chi_square(counts: Counter[Any], values: list[Any]) -> float:
    expected = sum(counts.values()) / len(values)
    return sum((counts[v] - expected) ** 2 / expected for v in values)


def seconds(a: dict[str, Any]) -> float:
    return (datetime.fromisoformat(a["submitted"]) - datetime.fromisoformat(a["created"])).total_seconds()


# ---------------------------------------------------------------------------------------------- accuracies


def test_accuracies_spread_around_the_mean(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=200, crowd_accuracy=0.8, crowd_accuracy_spread=0.05)
    accuracies = [w["accuracy"] for w in workers(emu)]
    assert len(accuracies) == 200 and all(0.0 <= a <= 1.0 for a in accuracies)
    assert statistics.fmean(accuracies) == pytest.approx(0.8, abs=0.015)
    assert statistics.stdev(accuracies) == pytest.approx(0.05, abs=0.01)
    emu.configure(crowd_accuracy_spread=0.0)
    assert {w["accuracy"] for w in workers(emu)} == {0.8}


def test_a_certain_crowd_stays_certain_whatever_the_spread(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=50, crowd_accuracy=1.0, crowd_accuracy_spread=0.2)
    assert {w["accuracy"] for w in workers(emu)} == {1.0}
    emu.configure(crowd_accuracy=0.0)
    assert {w["accuracy"] for w in workers(emu)} == {0.0}


def test_a_spread_past_the_maximum_gives_all_or_nothing_workers(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=100, crowd_accuracy=0.5, crowd_accuracy_spread=1.0)
    accuracies = [w["accuracy"] for w in workers(emu)]
    assert all(a < 0.05 or a > 0.95 for a in accuracies)
    assert 20 < sum(a > 0.5 for a in accuracies) < 80


def test_each_worker_answers_with_its_own_accuracy(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=10, crowd_accuracy=0.5, crowd_accuracy_spread=0.45)
    accuracy = {w["user_id"]: w["accuracy"] for w in workers(emu)}
    right: dict[str, list[bool]] = defaultdict(list)
    for a in run_pool(api, emu, n=200):
        right[a["user_id"]].extend(s["output_values"]["label"] == "pos" for s in a["solutions"])
    assert len(right) == 10
    for user, answers in right.items():
        assert len(answers) >= 30
        assert statistics.fmean(answers) == pytest.approx(accuracy[user], abs=0.2), user


# ---------------------------------------------------------------------------------------------- spammers


def test_spammers_count_answers_and_speed(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=20, crowd_spammers=0.25)
    profiles = workers(emu)
    spammers = {w["user_id"] for w in profiles if w["spammer"]}
    assert len(spammers) == 5
    assignments = run_pool(api, emu, n=300)
    by_kind: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for a in assignments:
        by_kind[a["user_id"] in spammers].append(a)
    spam = [s["output_values"] for a in by_kind[True] for s in a["solutions"]]
    assert len(spam) >= 200
    assert chi_square(Counter(v["label"] for v in spam), LABELS) < CHI2_2DOF_P001
    assert chi_square(Counter(v["ok"] for v in spam), [True, False]) < CHI2_1DOF_P001
    assert all(v["note"].startswith("answer-") for v in spam)
    honest = [s["output_values"]["label"] for a in by_kind[False] for s in a["solutions"]]
    assert Counter(honest)["pos"] > 0.8 * len(honest)  # the truth, for the others
    ratio = statistics.fmean(map(seconds, by_kind[True])) / statistics.fmean(map(seconds, by_kind[False]))
    assert 0.2 < ratio < 0.5  # about a third of an honest worker's time per suite
    factor = {w["user_id"]: w["time_factor"] for w in profiles}
    for user in spammers:
        mine = [seconds(a) / factor[user] for a in by_kind[True] if a["user_id"] == user]
        assert statistics.fmean(mine) == pytest.approx(
            14.0, abs=2.0
        )  # 2 s + 2 tasks x 3..9 s, times the factor


def test_the_spammer_count_rounds_half_up_and_follows_the_crowd(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(crowd=10, crowd_spammers=0.25)
    first = [w["user_id"] for w in workers(emu) if w["spammer"]]
    assert len(first) == 3  # 2.5 rounds up
    emu.configure(crowd_spammers=0.5)
    more = [w["user_id"] for w in workers(emu) if w["spammer"]]
    assert len(more) == 5 and set(first) <= set(more)  # a larger fraction keeps the spammers it had
    emu.configure(crowd=20)
    assert sum(w["spammer"] for w in workers(emu)) == 10
    emu.configure(crowd=4)
    assert sum(w["spammer"] for w in workers(emu)) == 2  # retired workers are not counted
    emu.configure(crowd_spammers=0.0)
    assert not any(w["spammer"] for w in workers(emu))
    emu.configure(crowd_spammers=1.0)
    assert all(w["spammer"] for w in workers(emu))


# ---------------------------------------------------------------------------------------------- determinism


def test_one_seed_gives_the_same_workers_and_answers_after_a_reset(api: Api, emu: EmulatorProcess) -> None:
    def run() -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
        emu.reset()
        emu.configure(seed=21, crowd=12, crowd_accuracy_spread=0.1, crowd_spammers=0.3)
        profiles = workers(emu)
        answers = [
            (a["user_id"], a["status"], a["tasks"][0]["input_values"], a["solutions"])
            for a in run_pool(api, emu, 30)
        ]
        return profiles, answers

    first = run()
    assert first == run() and len(first[1]) >= 40
    assert sum(w["spammer"] for w in first[0]) == 4


def test_two_emulators_with_one_seed_agree_and_the_flags_reach_the_config(emu: EmulatorProcess) -> None:
    flags = ["--crowd", "30", "--crowd-accuracy-spread", "0.07", "--crowd-spammers", "0.2"]
    with (
        EmulatorProcess(extra_args=[*CROWD_ARGS, *flags]) as one,
        EmulatorProcess(extra_args=[*CROWD_ARGS, *flags]) as two,
    ):
        config = one.config()
        assert (config["crowd_accuracy_spread"], config["crowd_spammers"]) == (0.07, 0.2)
        assert workers(one) == workers(two)
        assert sum(w["spammer"] for w in workers(one)) == 6
        assert len({w["accuracy"] for w in workers(one)}) == 30


def test_the_flags_default_to_a_small_spread_and_no_spammers() -> None:
    config = parse_args([])
    assert (config.crowd_accuracy_spread, config.crowd_spammers) == (0.03, 0.0)
    config = parse_args(["--crowd-accuracy-spread", "0.1", "--crowd-spammers", "0.5"])
    assert (config.crowd_accuracy_spread, config.crowd_spammers) == (0.1, 0.5)
    with pytest.raises(SystemExit):
        parse_args(["--crowd-spammers", "1.5"])


# ---------------------------------------------------------------------------------------------- at run time


def test_runtime_changes_redraw_profiles_and_keep_the_people(api: Api, emu: EmulatorProcess) -> None:
    emu.configure(seed=3, crowd=10, crowd_accuracy_spread=0.05, crowd_spammers=0.3)
    before = workers(emu)
    ids = [w["user_id"] for w in before]
    emu.configure(crowd_accuracy_spread=0.2)
    wider = workers(emu)
    assert [w["user_id"] for w in wider] == ids and wider != before
    emu.configure(crowd_accuracy=0.6)
    assert statistics.fmean(w["accuracy"] for w in workers(emu)) < 0.75
    emu.configure(crowd_accuracy=0.9, crowd_accuracy_spread=0.05)
    assert workers(emu) == before  # the same seed and config give the same profiles
    emu.configure(seed=4)
    assert [w["user_id"] for w in workers(emu)] != ids
    emu.configure(seed=3)
    assert workers(emu) == before


def test_bad_values_are_refused(api: Api, emu: EmulatorProcess) -> None:
    for field, value in [("crowd_spammers", 1.5), ("crowd_spammers", -0.1), ("crowd_accuracy_spread", "x")]:
        with pytest.raises(requests.HTTPError):
            emu.configure(**{field: value})
    assert emu.config()["crowd_spammers"] == 0.0


@pytest.mark.toloka_emulator(crowd=8, crowd_spammers=0.5, crowd_accuracy_spread=0.0)
def test_the_marker_sets_the_crowd_profiles(toloka_emulator: EmulatorProcess) -> None:
    profiles = toloka_emulator.stats()["crowd"]["workers"]
    assert sum(w["spammer"] for w in profiles) == 4
    accuracy = toloka_emulator.config()["crowd_accuracy"]
    assert {w["accuracy"] for w in profiles} == {accuracy}
