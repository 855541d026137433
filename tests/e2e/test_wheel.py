"""The release as a user gets it: the sdist and wheel ``make dist`` builds, the wheel installed (not editable) into a
fresh virtualenv with Airflow under constraints.txt, the checkout nowhere on the path. Airflow lists the provider,
parses an example DAG and runs it with ``airflow dags test`` against the emulator (run from the project's venv, on
loopback), its uploads deferred to the provider's trigger.

The virtualenv is made afresh each session (about a minute from pip's cache): a kept one could hide a file the
wheel lost.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import airflow_toloka

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "dags_examples" / "toloka_image_classification.py"
TOKEN = "wheel-secret-token-7c1d"
VERSION = airflow_toloka.__version__


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without what would let the checkout or the project's venv leak into the test venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AIRFLOW")}
    return {**env, **extra}


def run(cmd: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=clean_env(**env))
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``make dist`` builds (the same command), into a temporary folder."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=out)
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and Airflow under constraints.txt; its ``bin`` folder."""
    where = tmp_path_factory.mktemp("venv-wheel")
    run([sys.executable, "-m", "venv", str(where)], cwd=where)
    (wheel,) = dist.glob("*.whl")
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    run([*pip, str(wheel)], cwd=where, timeout=1200)
    return where / "bin"


def test_the_wheel_holds_the_provider_only_and_the_sdist_no_emulator(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    assert wheel.name == f"airflow_toloka-{VERSION}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"airflow_toloka", f"airflow_toloka-{VERSION}.dist-info"}, tops
    assert {"airflow_toloka/py.typed", "airflow_toloka/triggers/closed_pools.py"} <= set(names)
    entry_points = (
        zipfile.ZipFile(wheel).read(f"airflow_toloka-{VERSION}.dist-info/entry_points.txt").decode()
    )
    assert "[apache_airflow_provider]" in entry_points
    # the Apache-2.0 text pyproject names
    assert f"airflow_toloka-{VERSION}.dist-info/licenses/LICENSE" in names
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "airflow_toloka/__init__.py"} <= members
    assert not [m for m in members if m.startswith(("emulator", "toloka_emulator", "tests", "dags_examples"))]


def test_airflow_lists_the_installed_provider(venv: Path, tmp_path: Path) -> None:
    where = run(
        [str(venv / "python"), "-c", "import airflow_toloka; print(airflow_toloka.__file__)"], tmp_path
    )
    assert where.stdout.startswith(str(venv.parent)), where.stdout  # the installed copy, not the checkout
    listed = run([str(venv / "airflow"), "providers", "list"], tmp_path, AIRFLOW_HOME=str(tmp_path))
    (line,) = [line for line in listed.stdout.splitlines() if "airflow-toloka" in line]
    assert VERSION in line, listed.stdout


def test_an_example_dag_parses_and_runs_against_the_emulator(
    venv: Path, tmp_path: Path, toloka_emulator: Any
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE, dags / EXAMPLE.name)
    shutil.copytree(EXAMPLE.parent / "data", dags / "data")
    conn = {"conn_type": "toloka", "host": toloka_emulator.url, "password": TOKEN}
    env = {
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_TOLOKA_DEFAULT": json.dumps(conn),
    }
    airflow = str(venv / "airflow")
    run([airflow, "db", "migrate"], tmp_path, **env)
    parsed = run([airflow, "dags", "list", "--local", "--output", "json"], tmp_path, **env)
    (listing,) = [line for line in parsed.stdout.splitlines() if line.startswith("[")]  # log lines come first
    assert [d["dag_id"] for d in json.loads(listing)] == ["toloka_image_classification"], parsed.stdout
    ran = run([airflow, "dags", "test", "toloka_image_classification"], tmp_path, **env)
    output = ran.stdout + ran.stderr
    assert output.count("[DAG TEST] running trigger in line") == 2  # both uploads deferred to the trigger
    assert toloka_emulator.stats()["tasks_by_pool"] == {"1001": 201}
    assert TOKEN not in output
