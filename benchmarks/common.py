"""Pieces shared by the harness and its child processes; standard library only (also imported in ``.venv-kit``)."""

from __future__ import annotations

import gc
import json
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

POOL_ID = "bench-pool"
TOKEN = "bench-token"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def task_url(i: int) -> str:
    """The one input value of task ``i``; every client uploads exactly the same tasks."""
    return f"https://example.com/images/{i:08d}.jpg"


def task_dict(i: int) -> dict[str, Any]:
    return {"pool_id": POOL_ID, "input_values": {"image": task_url(i)}}


def rss_mb() -> float:
    """Current resident set size of this process, MiB (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss_mb() -> float:
    """Peak RSS of this process so far, MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def measure() -> Iterator[dict[str, float]]:
    """Wall time, CPU (user+sys, all threads) and RSS of the block; the dict is filled when the block exits."""
    gc.collect()
    out: dict[str, float] = {}
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        out.update(
            wall_s=t1 - t0,
            cpu_s=(r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
            user_s=r1.ru_utime - r0.ru_utime,
            sys_s=r1.ru_stime - r0.ru_stime,
            rss_before_mb=rss0,
            rss_after_mb=rss_mb(),
            peak_rss_mb=r1.ru_maxrss / 1024,
        )


def write_result(path: str | Path, result: dict[str, Any]) -> None:
    """Children hand their figures back in a JSON file (stdout belongs to the code under test)."""
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    tmp.replace(path)
