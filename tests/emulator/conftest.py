"""Fixtures of the emulator's crowd tests; a module defining its own ``emu`` or ``api`` overrides these."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulator.api import Api
from tests.emulator.lifecycle import CROWD_ARGS
from toloka_emulator import EmulatorProcess


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """A crowd emulator per test module: seeded, time moved only by the tests, nobody abandons a suite."""
    with EmulatorProcess(extra_args=[*CROWD_ARGS, "--crowd-abandon", "0"]) as emulator:
        yield emulator


@pytest.fixture
def api(emu: EmulatorProcess) -> Iterator[Api]:
    """A client of the module's emulator, reset before the test and its config put back after."""
    emu.reset()
    try:
        yield Api(emu.url)
    finally:
        emu.restore_config()
