"""The triggerer imports a trigger's module on its event loop: that import must not pull in the hooks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from airflow_toloka.triggers.base import import_off_loop

# What made the first trigger of a fresh triggerer block its loop for 0.2-0.5 s ("async thread was blocked").
HEAVY = ("requests", "tenacity", "airflow_toloka.hooks.base", "airflow_toloka.models")


def test_trigger_modules_import_no_hook_and_no_http_stack() -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import airflow.triggers.base  # what the triggerer has loaded before it meets our trigger
        before = set(sys.modules)
        import airflow_toloka.triggers.operation, airflow_toloka.triggers.pool, airflow_toloka.triggers.closed_pools
        print(sorted(m for m in {HEAVY!r} if m in set(sys.modules) - before))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_import_off_loop_returns_the_attribute_and_names_what_is_missing() -> None:
    from airflow_toloka.hooks.toloka import TolokaHook

    assert await import_off_loop("airflow_toloka.hooks.toloka", "TolokaHook") is TolokaHook
    with pytest.raises(AttributeError, match="NoSuchHook"):
        await import_off_loop("airflow_toloka.hooks.pools", "NoSuchHook")
    with pytest.raises(ImportError):
        await import_off_loop("airflow_toloka.hooks.no_such_module", "X")
