"""OpenLineage stays optional: without its provider the package imports and the operators run, and with it
installed, running them imports none of it (only the provider's own call of the lineage method does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from tests.specs import IMAGES_PROJECT, pool_spec

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter; with FARM set, on a copy of site-packages that lacks OpenLineage (see without_openlineage).
SCRIPT = textwrap.dedent(
    """
    import os, site, sys
    if os.environ.get("FARM"):
        site.addsitedir(os.environ["FARM"])  # run with -S: this is the only site-packages

    import importlib, json, pkgutil
    from unittest.mock import MagicMock

    import airflow_toloka
    from airflow_toloka.operators import CreatePoolOperator, CreateTasksOperator

    for module in pkgutil.walk_packages(airflow_toloka.__path__, "airflow_toloka."):
        importlib.import_module(module.name)

    def context(task_id):
        return {"ti": MagicMock(dag_id="d", run_id="r", task_id=task_id, map_index=-1, try_number=1)}

    made = CreatePoolOperator(task_id="pool", clone_from=os.environ["TEMPLATE"]).execute(context("pool"))
    upload = CreateTasksOperator(
        task_id="up", pool_id=made["pool_id"], tasks_path=os.environ["TASKS"], allow_defaults=True,
        poll_interval=0.2,
    ).execute(context("up"))
    # What the lineage method would import; Airflow itself loads the provider's plugin when it is installed.
    lineage = ("openlineage", "airflow.providers.openlineage.extractors", "airflow.providers.common.compat.openlineage")
    loaded = sorted(n for n in sys.modules if n.startswith(lineage))
    print(json.dumps({"created": upload["created"], "loaded": loaded}))
    """
)
_LINEAGE = ("openlineage", "apache_airflow_providers_openlineage")


def without_openlineage(site_packages: Path, farm: Path, skip: tuple[str, ...] = _LINEAGE) -> Path:
    """A site-packages of symlinks to this one's entries, less OpenLineage's: as if it had never been installed.

    Blocking the import would not do: Airflow finds every installed provider by its entry point and fails when
    one cannot be imported. ``airflow/providers`` holds many distributions' packages, so it is linked one level
    deeper, leaving out ``openlineage``.
    """
    farm.mkdir()
    for entry in site_packages.iterdir():
        if entry.name.startswith(skip):
            continue
        if entry.name in ("airflow", "providers") and entry.is_dir():
            without_openlineage(
                entry, farm / entry.name, ("openlineage",) if entry.name == "providers" else ()
            )
        else:
            (farm / entry.name).symlink_to(entry)
    return farm


@pytest.mark.parametrize("installed", [False, True], ids=["not-installed", "installed"])
def test_operators_run_without_importing_openlineage(
    toloka_emulator: Any, toloka_emulator_conn: str, tmp_path: Path, installed: bool
) -> None:
    if installed:
        pytest.importorskip(
            "airflow.providers.openlineage", reason="the OpenLineage provider is not installed"
        )
    with TolokaHook() as hook:
        project = hook.create_project(IMAGES_PROJECT)
        template = hook.create_pool(pool_spec(project.id, private_name="template"))
    tasks = tmp_path / "tasks.tsv"
    tasks.write_text("INPUT:image\n" + "".join(f"https://example.com/{i}.jpg\n" for i in range(3)))
    env = {
        **os.environ,
        "TEMPLATE": template.id,
        "TASKS": str(tasks),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "emulator"), os.environ.get("PYTHONPATH", "")]),
    }
    python = [sys.executable]
    if not installed:
        site_packages = Path(sysconfig.get_paths()["purelib"])
        env["FARM"] = str(without_openlineage(site_packages, tmp_path / "site-packages"))
        python.append("-S")
    proc = subprocess.run(
        [*python, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=50, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"created": 3, "loaded": []}
    assert sum(toloka_emulator.stats()["tasks_by_pool"].values()) == 3
