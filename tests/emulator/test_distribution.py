"""toloka-emulator as its own distribution: ``pip install ./emulator`` alone, no Airflow, serves the API, and a
user's pytest session there finds the plugin's fixtures without an import.

The virtualenv is ``.venv-emulator/`` at the repository root, made on the first run (about half a minute) and
kept; the emulator is installed into it (not editable, so the wheel's contents are what is tested) again whenever
its files change. Never skipped: a distribution that cannot stand alone is broken.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = ROOT / "emulator"
VENV = ROOT / ".venv-emulator"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed-emulator"
READY = re.compile(r"Toloka emulator listening on (http://\S+)")


def _digest() -> str:
    """What the installed copy was built from: every file of the distribution (not its build leftovers)."""
    sha = hashlib.sha256()
    files = [EMULATOR / "pyproject.toml", EMULATOR / "README.md", *sorted(EMULATOR.glob("toloka_emulator/*"))]
    for path in files:
        if path.is_file():
            sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


@pytest.fixture(scope="module")
def python() -> Path:
    """The virtualenv's interpreter, with toloka-emulator (as the checkout has it) and pytest, nothing else."""
    digest = _digest()
    if STAMP.is_file() and STAMP.read_text() == digest:
        return PYTHON
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=300)
    # pip rebuilds a local directory every time, so an existing venv gets the changed emulator, and only
    # the dependencies it does not have yet.
    install = [str(PYTHON), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    proc = subprocess.run(
        [*install, str(EMULATOR), "pytest"], capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    assert proc.returncode == 0, (
        f"pip install ./emulator failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    STAMP.write_text(digest)
    return PYTHON


def clean_env() -> dict[str, str]:
    """The environment without what would let the checkout or the project's .venv leak into the test venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def run(python: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, cwd=cwd, env=clean_env()
    )


def test_no_airflow_and_no_provider_there(python: Path, tmp_path: Path) -> None:
    for module in ("airflow", "airflow_toloka"):
        proc = run(python, f"import {module}", tmp_path)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, module
    proc = run(
        python,
        "import toloka_emulator, importlib.resources as r; "
        "print(toloka_emulator.__file__); print(r.files('toloka_emulator').joinpath('py.typed').is_file())",
        tmp_path,
    )
    where, typed = proc.stdout.split()
    assert str(VENV) in where and typed == "True"  # the installed copy, not the checkout, and typed


@pytest.fixture
def served(python: Path, tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "emulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python), "-m", "toloka_emulator", "--host", "127.0.0.1", "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,  # not the checkout, whose packages would shadow what is installed
            env=clean_env(),
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := READY.search(log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def readme_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (EMULATOR / "README.md").read_text(), flags=re.S | re.M)


def test_the_readmes_emulator_process_example_runs(python: Path, tmp_path: Path) -> None:
    (example,) = [block for block in readme_blocks() if "with EmulatorProcess(" in block]
    proc = subprocess.run(
        [str(python), "-c", example], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("http://127.0.0.1:") and "'tasks': 0" in proc.stdout


def test_python_m_toloka_emulator_serves_the_api(served: str) -> None:
    resp = requests.get(
        f"{served}/api/v1/requester", headers={"Authorization": "OAuth any-token"}, timeout=10
    )
    assert resp.status_code == 200 and resp.json()["id"] == "emulator-requester"
    created = requests.post(
        f"{served}/api/v1/tasks",
        json={"pool_id": "1", "input_values": {"x": 1}, "overlap": 1},
        headers={"Authorization": "OAuth any-token"},
        timeout=10,
    )
    assert created.status_code == 201, created.text


def test_a_users_pytest_session_there_finds_the_fixtures(python: Path, tmp_path: Path) -> None:
    listed = subprocess.run(
        [str(python), "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(),
    )
    for fixture in ("toloka_emulator", "toloka_emulator_session", "toloka_emulator_conn"):
        assert re.search(rf"^{fixture}\b", listed.stdout, flags=re.M), listed.stdout[-3000:]
    # The emulator README's example, as a user pastes it into a test file.
    (example,) = [block for block in readme_blocks() if "def test_" in block]
    (tmp_path / "test_example.py").write_text(example)
    proc = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", "test_example.py"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 passed" in proc.stdout
