"""Test levels, and CI's rule that nothing is skipped.

The emulator's fixtures come from the ``toloka-emulator`` distribution's pytest plugin (``make setup`` installs
it), the same a user gets: ``toloka_emulator`` (one process for the session, emptied before each test, its
config put back after; ``@pytest.mark.toloka_emulator(...)`` configures it), ``toloka_emulator_session`` (that
process as it is) and ``toloka_emulator_conn`` (``AIRFLOW_CONN_TOLOKA_DEFAULT`` pointing at it with token
``test-token``).

Every test carries the marker of its level, taken from its top-level folder (``unit``, ``emulator``,
``integration``, ``e2e``, ``stack``, ``toloka_kit``), so ``pytest -m unit`` or ``-m "not e2e"`` selects by level
while the folders below mirror the package's modules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# pytester runs a user's test session in a subprocess: how tests/emulator sees the emulator's pytest plugin.
pytest_plugins = ["pytester"]

LEVELS = ("unit", "emulator", "integration", "e2e", "stack", "toloka_kit")
# Seconds before pytest-timeout fails a test of these levels (the slowest takes a few): a trigger that never
# fires or a lookup that deadlocks, even one holding the event loop, fails the test instead of hanging the run.
# The other levels drive Airflow processes, each under its own subprocess timeout.
LEVEL_TIMEOUTS = {"unit": 60, "emulator": 60, "integration": 60}
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its level, the first folder under ``tests/``, and its level's time limit."""
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(_TESTS).parts
        if parts and parts[0] in LEVELS:
            item.add_marker(getattr(pytest.mark, parts[0]))
            limit = LEVEL_TIMEOUTS.get(parts[0])
            if limit is not None and item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(limit))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: every part of the suite must really run there."""
    import os

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and session.exitstatus == 0:
        print(f"\n{skipped} test(s) skipped in CI; failing the run (tests are never skipped in CI)")
        session.exitstatus = 1
