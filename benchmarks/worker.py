"""Benchmark child process in ``.venv``: one measured run of this provider, figures written to ``--result``.

``python -m benchmarks.worker hook --n N --result FILE``
    ``TolokaHook.create_tasks`` over a generator of N task dicts (default hook settings).
``python -m benchmarks.worker operator --tsv FILE --n N --result FILE``
    ``CreateTasksOperator(tasks_path=FILE, deferrable=False).execute(context)`` with a minimal context.
``python -m benchmarks.worker triggers --count K --op-seconds S --poll-interval P --emulator URL --result FILE``
    submits K one-task operations, then runs K ``TolokaOperationTrigger``s in one event loop while a ticker
    measures the loop's lag.
``python -m benchmarks.worker export --pool P --n ROWS --out FILE --result FILE``
    ``ExportAssignmentsOperator(pool_id=P, status=("ACCEPTED",), results_path=FILE).execute(context)``.
``python -m benchmarks.worker pool-triggers --count K --op-seconds S --poll-interval P --emulator URL --result FILE``
    runs K ``TolokaPoolTrigger``s on the emulator's pools ``1..K`` (open, so they keep waiting) for S seconds,
    until their deadline: what a triggerer holding thousands of multi-day waits costs.
``python -m benchmarks.worker mixed-triggers --count K --pools M --pool-seconds W …``
    both in one event loop: K operation triggers (which succeed) and M pool triggers (which wait to a deadline
    W seconds after the start, by default 90: 30 s after one-minute operations end).

The connection comes from ``AIRFLOW_CONN_TOLOKA_DEFAULT`` (set by the harness). Only the measured block is timed
in-process; the harness adds whole-process figures (``wait4`` rusage) around it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.common import POOL_ID, measure, rss_mb, task_dict, write_result


def _imports() -> float:
    """Import what every mode needs up front so that import time is not part of the measured block."""
    t0 = time.perf_counter()
    from airflow.sdk.lineage import get_hook_lineage_collector

    import airflow_toloka.hooks.toloka
    import airflow_toloka.operators
    import airflow_toloka.triggers  # noqa: F401

    # Reading a file through ObjectStoragePath reports lineage, whose collector loads Airflow's plugins on first
    # use (about 0.3 s here). A worker has done that before it runs a task, so it is not the upload's cost.
    get_hook_lineage_collector()

    return time.perf_counter() - t0


def _tasks(n: int) -> Iterator[dict[str, Any]]:
    return (task_dict(i) for i in range(n))


def run_hook(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_toloka.hooks.toloka import TolokaHook

    if "gc-threshold" in (args.experiment or []):
        gc.set_threshold(50_000, 20, 100)

    hook = TolokaHook("toloka_default")
    with measure() as m:
        result = hook.create_tasks(
            _tasks(args.n), allow_defaults=True, idempotency_key=f"bench-hook-{uuid.uuid4()}"
        )
    hook.close()
    created = len(result.items)
    ok = created == args.n and not result.validation_errors
    return {
        "ok": ok,
        "created": created,
        "rejected": len(result.validation_errors),
        "operations": len(result.operation_ids),
        "experiments": args.experiment or [],
        "measured": m,
        "error": None if ok else f"created {created} of {args.n}",
    }


class _TaskInstance:
    """What the operator reads from ``context["ti"]``; XComs are recorded, not stored."""

    def __init__(self) -> None:
        self.dag_id = "bench_dag"
        self.run_id = f"bench__{uuid.uuid4()}"
        self.task_id = "upload"
        self.map_index = -1
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = value


def run_operator(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_toloka.operators import CreateTasksOperator

    if "gc-threshold" in (args.experiment or []):
        gc.set_threshold(50_000, 20, 100)

    op = CreateTasksOperator(
        task_id="upload",
        tasks_path=args.tsv,
        pool_id=POOL_ID,
        allow_defaults=True,
        deferrable=False,
        max_ids_in_xcom=10,
    )
    ti = _TaskInstance()
    context: Any = {"ti": ti}
    with measure() as m:
        summary = op.execute(context)
    xcom_bytes = len(json.dumps({**ti.xcoms, "return_value": summary}, default=str))
    ok = summary.get("created") == args.n and summary.get("failed") == 0
    return {
        "ok": ok,
        "created": summary.get("created"),
        "rejected": summary.get("failed"),
        "operations": len(summary.get("operation_ids") or []),
        "xcom_bytes": xcom_bytes,
        "experiments": args.experiment or [],
        "measured": m,
        "error": None if ok else f"summary {json.dumps(summary)[:500]}",
    }


def run_export(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_toloka.operators import ExportAssignmentsOperator

    op = ExportAssignmentsOperator(
        task_id="export", pool_id=args.pool, results_path=args.out, status=("ACCEPTED",)
    )
    # Airflow's outlet_events hands out an accessor per asset; a namespace with an ``extra`` stands in for it.
    context: Any = {"ti": _TaskInstance(), "outlet_events": defaultdict(lambda: SimpleNamespace(extra={}))}
    with measure() as m:
        summary = op.execute(context)
    ok = summary["rows"] == args.n
    return {
        "ok": ok,
        "rows": summary["rows"],
        "assignments": summary["assignments"],
        "file_mb": round(Path(args.out).stat().st_size / 2**20, 1),
        "measured": m,
        "error": None if ok else f"exported {summary['rows']} rows, expected {args.n}",
    }


def _emulator_stats(url: str) -> dict[str, Any]:
    import requests

    resp = requests.get(f"{url}/_emulator/stats", timeout=30)
    resp.raise_for_status()
    return resp.json()  # type: ignore[no-any-return]


def _submit_operations(count: int) -> tuple[list[str], float]:
    from airflow_toloka.hooks.toloka import TolokaHook

    hook = TolokaHook("toloka_default")
    t0 = time.perf_counter()
    try:
        ids = [
            hook.create_tasks_async([task_dict(i)], allow_defaults=True, operation_id=str(uuid.uuid4())).id
            for i in range(count)
        ]
    finally:
        hook.close()
    return ids, time.perf_counter() - t0


async def _run_triggers(
    triggers: list[Any], timeout: float, tick: float, deadline: float | None = None
) -> dict[str, Any]:
    """Drive every trigger to its event in this loop while a ticker measures the loop's lag.

    :param triggers: the triggers.
    :param timeout: seconds before the run is given up.
    :param tick: the ticker's period, seconds.
    :param deadline: epoch seconds at which the pool triggers' deadlines fall, if they share one; the lag from then
        on is reported apart (thousands of triggers wake at once and queue their final polls).
    :return: the figures.
    """
    rss_before = rss_mb()
    tracked_before = len(gc.get_objects())
    lags: list[tuple[float, float]] = []  # (seconds since start, overshoot)
    stop = asyncio.Event()
    start = time.perf_counter()

    async def ticker() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(tick)
            t1 = time.perf_counter()
            lags.append((t1 - start, t1 - t0 - tick))

    async def drive(trigger: Any) -> tuple[dict[str, Any], float]:
        events = [event async for event in trigger.run()]
        return events[0].payload if events else {"status": "no event"}, time.perf_counter() - start

    gc_pauses: list[tuple[float, int, float]] = []  # (seconds since start, generation, pause)
    gc_started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            gc_started[:] = [now]
        elif gc_started:
            gc_pauses.append((now - start, info["generation"], now - gc_started[0]))

    tick_task = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)  # a settled baseline before the triggers start
    gc.callbacks.append(on_gc)
    lags.clear()
    start = time.perf_counter()
    deadline_at = None if deadline is None else deadline - time.time()  # seconds since start
    error = None
    try:
        outcomes = await asyncio.wait_for(asyncio.gather(*(drive(t) for t in triggers)), timeout)
    except asyncio.TimeoutError:
        outcomes, error = [], f"triggers did not all fire within {timeout:.0f}s"
    elapsed = time.perf_counter() - start
    rss_waiting = rss_mb()
    gc.callbacks.remove(on_gc)
    young = gc.get_count()
    stop.set()
    await tick_task
    statuses: dict[str, int] = {}
    for payload, _ in outcomes:
        statuses[payload.get("status", "?")] = statuses.get(payload.get("status", "?"), 0) + 1
    values = sorted(v for _, v in lags) or [0.0]
    # The pool triggers of a run share one deadline: from then on they all poll a last time and fire.
    burst = (lambda at: False) if deadline_at is None else (lambda at: at >= deadline_at)
    outside = [v for at, v in lags if not burst(at)] or [0.0]
    worst = sorted(lags, key=lambda x: -x[1])[:5]
    per_second: dict[int, float] = {}
    for at, v in lags:
        per_second[int(at)] = max(per_second.get(int(at), 0.0), v)
    return {
        "elapsed_s": elapsed,
        "statuses": statuses,
        "first_event_s": min((at for _, at in outcomes), default=None),
        "last_event_s": max((at for _, at in outcomes), default=None),
        "lag_max_ms": values[-1] * 1000,
        "lag_p50_ms": statistics.median(values) * 1000,
        "lag_p99_ms": values[min(len(values) - 1, int(len(values) * 0.99))] * 1000,
        "lag_ticks": len(values),
        "lag_max_ms_before_deadline": max(outside) * 1000,
        "lag_max_ms_from_deadline": max((v for at, v in lags if burst(at)), default=0.0) * 1000,
        "lag_worst": [{"at_s": round(at, 2), "lag_ms": round(v * 1000, 1)} for at, v in worst],
        "gc": {
            f"gen{g}": {
                "collections": sum(1 for _, gen, _ in gc_pauses if gen == g),
                "total_ms": round(1000 * sum(p for _, gen, p in gc_pauses if gen == g), 1),
                "max_ms": round(1000 * max((p for _, gen, p in gc_pauses if gen == g), default=0.0), 1),
            }
            for g in (0, 1, 2)
        },
        "gc_full": [{"at_s": round(at, 2), "ms": round(p * 1000, 1)} for at, g, p in gc_pauses if g == 2],
        "gc_frozen": gc.get_freeze_count(),
        "gc_tracked_before": tracked_before,
        "gc_young_counts_at_end": list(young),
        "gc_worst": [
            {"at_s": round(at, 2), "gen": g, "ms": round(p * 1000, 1)}
            for at, g, p in sorted(gc_pauses, key=lambda x: -x[2])[:5]
        ],
        "lag_max_ms_per_second": {str(k): round(v * 1000, 1) for k, v in sorted(per_second.items())},
        "rss_growth_kb_per_trigger": round((rss_waiting - rss_before) * 1024 / max(1, len(triggers)), 2),
        "error": error,
    }


def _apply_experiments(names: list[str]) -> None:
    """Monkeypatches that try a proposed fix in this process only (never the default).

    Shared client and settings, the first-poll spread and quieter progress logs are the provider's own
    behaviour now, so the trigger run measures them as shipped.
    """
    if "gc-freeze" in names:
        # what a process that freezes its import-time heap would see (the triggerer does not do this)
        gc.collect()
        gc.freeze()
    if "gc-threshold" in names:
        # what a deployment that makes full collections rarer would see (Python 3.11's meaning of the thresholds)
        gc.set_threshold(50_000, 20, 100)


def run_triggers(args: argparse.Namespace) -> dict[str, Any]:
    if args.experiment:
        _apply_experiments(args.experiment)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < args.count + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.count + 1024), hard))
    from airflow_toloka.triggers import TolokaOperationTrigger, TolokaPoolTrigger

    triggers: list[Any] = []
    expected: dict[str, int] = {}
    routes: list[str] = []
    submit_s = 0.0
    ops = 0 if args.mode == "pool-triggers" else args.count
    pools = args.count if args.mode == "pool-triggers" else args.pools
    if ops:
        op_ids, submit_s = _submit_operations(ops)
        end_time = time.time() + args.op_seconds + args.timeout
        triggers += [
            TolokaOperationTrigger([i], poll_interval=args.poll_interval, end_time=end_time) for i in op_ids
        ]
        expected["success"] = ops
        routes.append("GET /api/v1/operations/{id}")
    pool_end = None
    if pools:
        # Pools 1..K are open and nobody labels them: each trigger waits to its deadline, after the operations.
        end_time = pool_end = time.time() + (args.pool_seconds if ops else args.op_seconds)
        interval = args.pool_poll_interval if ops else args.poll_interval
        triggers += [
            TolokaPoolTrigger(str(i), poll_interval=interval, end_time=end_time) for i in range(1, pools + 1)
        ]
        expected["timeout"] = pools
        routes.append("GET /api/v1/pools/{id}")
    before = _emulator_stats(args.emulator)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    with measure() as m:
        wait = max(args.op_seconds, args.pool_seconds if pools and ops else 0.0)
        phase = asyncio.run(_run_triggers(triggers, wait + args.timeout, args.tick, pool_end))
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    after = _emulator_stats(args.emulator)
    polls = sum(after["requests"].get(r, 0) - before["requests"].get(r, 0) for r in routes)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    ok = phase["error"] is None and phase["statuses"] == expected
    return {
        "ok": ok,
        "count": len(triggers),
        "pool_triggers": pools,
        "experiments": args.experiment or [],
        "poll_interval_s": args.poll_interval,
        "submit_s": submit_s,
        "polls": polls,
        "requests_per_s": polls / phase["elapsed_s"] if phase["elapsed_s"] else 0.0,
        "cpu_s": cpu,
        "cpu_pct_of_one_core": 100 * cpu / phase["elapsed_s"] if phase["elapsed_s"] else 0.0,
        "measured": m,
        **phase,
        "error": phase["error"] or (None if ok else f"statuses {phase['statuses']}"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    p.add_argument(
        "mode", choices=["hook", "operator", "export", "triggers", "pool-triggers", "mixed-triggers"]
    )
    p.add_argument(
        "--pools", type=int, default=0, help="mixed-triggers: pool triggers beside the operation triggers"
    )
    p.add_argument("--pool-poll-interval", type=float, default=30.0)
    p.add_argument(
        "--pool-seconds", type=float, default=90.0, help="mixed-triggers: how long the pool triggers wait"
    )
    p.add_argument("--pool", default="")
    p.add_argument("--out", default="")
    p.add_argument("--result", required=True)
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--tsv")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--op-seconds", type=float, default=30.0)
    p.add_argument("--poll-interval", type=float, default=1.0)
    p.add_argument("--tick", type=float, default=0.01)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--emulator", default="")
    p.add_argument(
        "--experiment",
        action="append",
        choices=[
            "gc-freeze",
            "gc-threshold",
        ],
        help="try a proposed fix by monkeypatching (reported as an experiment): gc-freeze for triggers; "
        "gc-threshold for hook, operator and triggers",
    )
    p.add_argument("--profile", help="write a pyinstrument HTML/text profile of the measured block here")
    args = p.parse_args(argv)

    import_s = _imports()
    rss_imported = rss_mb()
    modes = {
        "hook": run_hook,
        "operator": run_operator,
        "export": run_export,
        "triggers": run_triggers,
        "pool-triggers": run_triggers,
        "mixed-triggers": run_triggers,
    }
    run = modes[args.mode]
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002, async_mode="enabled")
        profiler.start()
    try:
        result = run(args)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    finally:
        if profiler is not None:
            profiler.stop()
            with open(args.profile, "w") as fh:
                fh.write(profiler.output_text(unicode=True, color=False, show_all=False))
            with open(f"{args.profile}.html", "w") as fh:
                fh.write(profiler.output_html())
    result.update(
        client="this provider", mode=args.mode, n=args.n, import_s=import_s, rss_imported_mb=rss_imported
    )
    write_result(args.result, result)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
