"""The pytest plugin of toloka-emulator, as a user's test session meets it: fixtures found without an import.

The user's session runs in a subprocess of its own (``pytester``), with nothing but the installed distribution.
"""

from __future__ import annotations

import json
import os

import pytest

from toloka_emulator import EmulatorProcess

USER_TESTS = """
import json
import os
import sys

import pytest
import requests

# What the plugin brought into the session before any fixture ran: it must stay light.
LOADED = sorted(m for m in ("airflow", "fastapi", "uvicorn", "toloka_emulator.state") if m in sys.modules)
HEADERS = {"Authorization": "OAuth any-token"}

pytestmark = pytest.mark.toloka_emulator(crowd=2, crowd_accuracy=0.7)


def test_nothing_heavy_is_imported_by_the_plugin():
    assert LOADED == []


@pytest.mark.toloka_emulator(crowd=7, time_scale=0, fault_503=0.5)
def test_the_closest_marker_wins(toloka_emulator):
    config = toloka_emulator.config()
    assert (config["crowd"], config["crowd_accuracy"], config["time_scale"]) == (7, 0.7, 0.0)
    assert (config["fault_503"], config["seed"]) == (0.5, 9)  # seed from the ini's command line
    toloka_emulator.configure(fault_503=0.0, rate=5.0)
    assert requests.get(f"{toloka_emulator.url}/api/v1/requester", headers=HEADERS).status_code == 200


def test_the_next_test_gets_it_empty_and_configured_again(toloka_emulator, toloka_emulator_session):
    config = toloka_emulator.config()
    assert (config["crowd"], config["time_scale"], config["fault_503"], config["rate"]) == (2, 60.0, 0.0, 100000.0)
    assert toloka_emulator.stats()["requests"] == {}
    assert toloka_emulator_session.initial_config["crowd"] == 4  # the process as the ini started it
    toloka_emulator.advance(60)
    assert toloka_emulator.stats()["time"]["advanced_seconds"] == 60


def test_the_airflow_connection(toloka_emulator_conn, toloka_emulator):
    assert os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] == toloka_emulator_conn
    conn = json.loads(toloka_emulator_conn)
    assert conn == {"conn_type": "toloka", "host": toloka_emulator.url, "password": "test-token"}


@pytest.mark.toloka_emulator(crowds=3)
def test_a_misspelt_field(toloka_emulator):
    pass
"""


def test_a_users_session_finds_the_fixtures_and_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntoloka_emulator_args = --crowd 4 --seed 9\naddopts = --strict-markers\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.toloka_emulator got crowds; the emulator's runtime fields are*"]
    )


def test_the_command_line_overrides_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntoloka_emulator_args = --crowd 4\n")
    pytester.makepyfile(
        test_user="""
def test_crowd(toloka_emulator_session):
    assert toloka_emulator_session.config()["crowd"] == 1
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--toloka-emulator-args=--crowd 1")
    result.assert_outcomes(passed=1)


@pytest.mark.toloka_emulator(crowd=3, crowd_accuracy=0.8, time_scale=0, seed=5, fault_500=0.25)
def test_the_marker_configures_this_suites_emulator(
    toloka_emulator: EmulatorProcess, toloka_emulator_conn: str
) -> None:
    config = toloka_emulator.config()
    wanted = {"crowd": 3, "crowd_accuracy": 0.8, "time_scale": 0.0, "seed": 5, "fault_500": 0.25}
    assert {name: config[name] for name in wanted} == wanted
    assert json.loads(os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"])["host"] == toloka_emulator.url
