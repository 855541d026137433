"""pytest plugin: the Toloka emulator as fixtures, so DAGs and Toloka clients are tested offline.

pytest loads it through the ``pytest11`` entry point of the ``toloka-emulator`` distribution: installing the
package is enough, nothing is imported in ``conftest.py``.

Fixtures:

- ``toloka_emulator``: an emulator on a free loopback port, emptied before the test (no objects, no counters,
  the clock back to real time) and configured by the test's ``toloka_emulator`` markers; its runtime config is
  put back afterwards, so a test may also ``configure(...)`` it freely. It is an
  :class:`~toloka_emulator.process.EmulatorProcess`: ``url``, ``advance(seconds)``, ``stats()``,
  ``config()``, ``configure(**fields)``, ``reset()``, ``airflow_conn(token)``.
- ``toloka_emulator_session``: the one process behind it, started on first use and stopped at the end of the
  session, as it is (not emptied): for session-scoped fixtures of your own.
- ``toloka_emulator_conn``: ``AIRFLOW_CONN_TOLOKA_DEFAULT`` set (for the test only) to a connection to the
  emulator with token ``test-token``; returns that JSON. Depends on ``toloka_emulator``, so the emulator is
  emptied too.

The marker ``@pytest.mark.toloka_emulator(**fields)`` sets runtime config fields for a test (on a module or a
class too; the closest marker wins a field): ``crowd``, ``crowd_accuracy``, ``crowd_accuracy_spread``,
``crowd_spammers``, ``crowd_skip``, ``crowd_abandon``,
``time_scale`` (0: the crowd moves only with ``advance``), ``seed``, ``fault_429``, ``fault_500``,
``fault_503``, ``fault_drop`` (scoped by ``fault_routes``, capped by ``fault_limit``), ``latency_ms``, ``rate``,
``pending_seconds``, ``token`` and the others of ``POST /_emulator/config``. What cannot change at run time
(``--pools FILE``) goes on the process's command line: the ``toloka_emulator_args`` ini option or
``--toloka-emulator-args``.

Starting the process is what costs (about a second), so one process serves the session and each test gets it
emptied. Importing this module imports neither the emulator's app nor ``requests``: it is loaded into every
pytest session of whoever installs the package.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from toloka_emulator.process import EmulatorProcess

__all__ = ["toloka_emulator", "toloka_emulator_conn", "toloka_emulator_session"]

MARKER = "toloka_emulator"
CONN_TOKEN = "test-token"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The command line of the session's emulator, from the ini file or from pytest's command line.

    :param parser: pytest's parser.
    """
    help_text = (
        "arguments of python -m toloka_emulator for the session's emulator (e.g. --pools pools.json); "
        "--host and --port are chosen by the plugin"
    )
    parser.addini("toloka_emulator_args", help_text, type="args", default=[])
    parser.getgroup("toloka_emulator").addoption(
        "--toloka-emulator-args",
        dest="toloka_emulator_args",
        default=None,
        help=f"{help_text}; overrides the ini",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, so ``--strict-markers`` sessions accept it.

    :param config: pytest's config.
    """
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**fields): runtime config of the toloka_emulator fixture for this test, e.g. crowd=8, "
        "crowd_accuracy=0.9, time_scale=0, seed=1, fault_500=0.1 (any field of POST /_emulator/config)",
    )


def _process_args(config: pytest.Config) -> list[str]:
    given = config.getoption("toloka_emulator_args")
    if given is not None:
        return shlex.split(given)
    return list(config.getini("toloka_emulator_args"))


def marker_config(node: pytest.Item) -> dict[str, Any]:
    """The runtime config a test's ``toloka_emulator`` markers ask for.

    :param node: the test.
    :return: field -> value; a marker closer to the test (function over class over module) wins a field.
    :raises pytest.fail.Exception: for a marker with positional arguments or a field the emulator does not have
        (the test errors at setup, naming the marker's problem).
    """
    from toloka_emulator.config import RUNTIME_FIELDS

    fields: dict[str, Any] = {}
    # iter_markers yields the closest first, so the farthest are applied first and overwritten.
    for mark in reversed(list(node.iter_markers(MARKER))):
        if mark.args:
            pytest.fail(f"@pytest.mark.{MARKER} takes keyword arguments only", pytrace=False)
        unknown = sorted(set(mark.kwargs) - set(RUNTIME_FIELDS))
        if unknown:
            pytest.fail(
                f"@pytest.mark.{MARKER} got {', '.join(unknown)}; "
                f"the emulator's runtime fields are {', '.join(RUNTIME_FIELDS)}",
                pytrace=False,
            )
        fields.update(mark.kwargs)
    return fields


@pytest.fixture(scope="session")
def toloka_emulator_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatorProcess]:
    """One emulator process for the test session, as it is (tests usually want ``toloka_emulator``).

    :param request: the fixture request, for the ini and command-line options.
    :param tmp_path_factory: where its log goes (shown when it fails to start).
    :return: the running :class:`~toloka_emulator.process.EmulatorProcess`.
    """
    from toloka_emulator.process import EmulatorProcess

    log = tmp_path_factory.mktemp("toloka_emulator") / "emulator.log"
    with EmulatorProcess(_process_args(request.config), log_path=log) as process:
        yield process


@pytest.fixture
def toloka_emulator(
    toloka_emulator_session: EmulatorProcess, request: pytest.FixtureRequest
) -> Iterator[EmulatorProcess]:
    """The session's emulator emptied for this test, configured by its markers, its config put back after.

    :param toloka_emulator_session: the process.
    :param request: the fixture request, for the test's markers.
    :return: the :class:`~toloka_emulator.process.EmulatorProcess`.
    """
    emulator = toloka_emulator_session
    fields = marker_config(request.node)
    emulator.reset()
    try:
        if fields:
            emulator.configure(**fields)
        yield emulator
    finally:
        emulator.restore_config()


@pytest.fixture
def toloka_emulator_conn(toloka_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    """``AIRFLOW_CONN_TOLOKA_DEFAULT`` pointing at the emulator for this test (token ``test-token``).

    :param toloka_emulator: the emulator.
    :param monkeypatch: undoes the variable after the test.
    :return: the connection, as the JSON put in the variable.
    """
    conn = toloka_emulator.airflow_conn(CONN_TOKEN)
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", conn)
    return conn
