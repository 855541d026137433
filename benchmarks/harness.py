"""The benchmark harness behind ``benchmarks/run.py``: this provider against toloka-kit 1.2.3, same run, same tasks.

For every N, each client runs in its own child process against its own freshly started emulator (so the
emulator's heap never carries one run's million tasks into the next):

* ``hook``     — ``TolokaHook.create_tasks`` over a generator of N dicts (``benchmarks/worker.py hook``);
* ``operator`` — ``CreateTasksOperator(tasks_path=<N-row TSV>, deferrable=False).execute(context)``
  (``benchmarks/worker.py operator``);
* ``kit``      — toloka-kit 1.2.3 ``TolokaClient.create_tasks(tasks, allow_defaults=True)`` in ``.venv-kit``
  (``benchmarks/kit_worker.py``), skipped when the previous size projects past the per-run timeout.

Figures per run: wall time and CPU time (user+sys) of the measured call as the child saw it, the whole child
process's wall, CPU and peak RSS (``os.wait4`` rusage, imports included), HTTP requests by route (emulator
counters), the emulator's own CPU, and ratios to toloka-kit. Then the triggerer-capacity run: K
``TolokaOperationTrigger``s in one event loop. Results go to ``OUT/results.json`` and ``OUT/chart.png``.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.common import POOL_ID, TOKEN, task_url
from toloka_emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[1]
KIT_PYTHON = ROOT / ".venv-kit" / "bin" / "python"
POLL_ROUTE = "GET /api/v1/operations/{id}"
CLIENTS = ("hook", "operator", "kit")
LABELS = {
    "hook": "hook.create_tasks (generator)",
    "operator": "CreateTasksOperator (TSV file)",
    "kit": "toloka-kit 1.2.3 create_tasks",
}
TARGETS = {
    "wall_100k": "100k tasks: wall >= 10x faster than toloka-kit",
    "cpu_per_task": "client CPU per task <= 1/10 of toloka-kit's",
    "requests": "<= 3 requests per 10k tasks, plus polls",
    "rss_1m_file": "1M tasks from a file: peak RSS <= 250 MB",
    "trigger_lag": "1,000 triggers: event-loop lag <= 50 ms",
}

TRIGGER_EXPERIMENTS = ("gc-freeze", "gc-threshold")
# The triggers' own defaults (TolokaOperationTrigger, TolokaPoolTrigger), for the mixed-defaults run; not imported,
# so that this process never loads Airflow.
DEFAULT_OPERATION_POLL_INTERVAL = 30.0
DEFAULT_POOL_POLL_INTERVAL = 300.0
OPERATOR_EXPERIMENTS = ("gc-threshold",)
HOOK_EXPERIMENTS = ("gc-threshold",)

_live_children: set[int] = set()


def _experiment_note(args: argparse.Namespace, kinds: Sequence[str]) -> str:
    names = [e for e in args.experiment if e in kinds]
    if not names:
        return ""
    return f"\n  EXPERIMENT (monkeypatched, not the provider as shipped): {', '.join(names)}"


# ---------------------------------------------------------------------- child processes


@dataclass
class ChildRun:
    returncode: int | None
    timed_out: bool
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    result: dict[str, Any] | None


def _kill_group(pid: int) -> None:
    """SIGTERM the child's process group (it has its own session), SIGKILL after 5 s, then reap."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    _live_children.discard(pid)
                    return
            except ChildProcessError:
                _live_children.discard(pid)
                return
            time.sleep(0.05)
    _live_children.discard(pid)


def run_child(cmd: Sequence[str], env: dict[str, str], timeout: float, log_path: Path) -> ChildRun:
    """Run one measured child; its rusage comes from ``wait4`` so CPU and peak RSS are that child's alone."""
    result_path = log_path.with_suffix(".result.json")
    result_path.unlink(missing_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--result", str(result_path)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _live_children.add(proc.pid)
    t0 = time.perf_counter()
    deadline = t0 + timeout
    timed_out = False
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
    except BaseException:
        _kill_group(proc.pid)
        raise
    wall = time.perf_counter() - t0
    _live_children.discard(proc.pid)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    return ChildRun(
        returncode=proc.returncode,
        timed_out=timed_out,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,
        result=result,
    )


def child_env(emulator_url: str, out: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_CONN_TOLOKA_DEFAULT=json.dumps(
            {"conn_type": "toloka", "host": emulator_url, "password": TOKEN}
        ),
        AIRFLOW_HOME=str(out / "airflow-home"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONDONTWRITEBYTECODE="1",
    )
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(var, None)
    return env


# ---------------------------------------------------------------------- emulator


def _upload_pool_file(out: Path) -> Path:
    """The pool every upload run fills, with an input spec as a real project has, so the client's spec check
    (and the emulator's) is part of what is measured."""
    path = out / "pools-upload.json"
    pool = {
        "id": POOL_ID,
        "status": "OPEN",
        "input_spec": {"image": {"type": "url", "required": True}},
        "defaults": {"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1},
    }
    path.write_text(json.dumps({"auto_create": False, "pools": [pool]}))
    return path


@contextmanager
def emulator(
    args: argparse.Namespace, tag: str, rate: float | None = None, more: list[str] | None = None
) -> Iterator[EmulatorProcess]:
    extra = ["--rate", repr(rate or args.rate), "--latency-ms", repr(args.latency_ms), *(more or [])]
    with EmulatorProcess(
        extra, log_path=args.out / "logs" / f"emulator-{tag}.log", startup_timeout=60
    ) as emu:
        yield emu


def _emulator_cpu(emu: EmulatorProcess) -> float | None:
    proc = getattr(emu, "_proc", None)
    if proc is None:
        return None
    try:
        import psutil

        times = psutil.Process(proc.pid).cpu_times()
        return float(times.user + times.system)
    except Exception:
        return None


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


# ---------------------------------------------------------------------- inputs


def ensure_tsv(out: Path, n: int) -> Path:
    """An N-row TSV (``INPUT:image`` column), written once and reused while its size matches."""
    path = out / "data" / f"tasks-{n}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "INPUT:image\n"
    expected = len(header) + (len(task_url(0)) + 1) * n  # the urls are fixed-width
    if path.exists() and path.stat().st_size == expected:
        return path
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(header)
        for start in range(0, n, 50_000):
            fh.write("".join(f"{task_url(i)}\n" for i in range(start, min(n, start + 50_000))))
    tmp.replace(path)
    return path


def ensure_kit_venv(timeout: float) -> str | None:
    """Build ``.venv-kit`` with ``scripts/kit_venv.sh`` (idempotent); returns why it is unusable, or None."""
    try:
        proc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "kit_venv.sh")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"scripts/kit_venv.sh did not finish within {timeout:.0f}s"
    if proc.returncode != 0 or not KIT_PYTHON.exists():
        return f"scripts/kit_venv.sh failed (rc {proc.returncode}): {proc.stderr[-1000:]}"
    return None


# ---------------------------------------------------------------------- one upload run


def upload_run(args: argparse.Namespace, client: str, n: int, kit_problem: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"client": client, "label": LABELS[client], "n": n}
    if client == "kit" and kit_problem:
        return {**record, "status": "skipped", "reason": kit_problem}
    tag = f"{client}-{n}"
    log = args.out / "logs" / f"{tag}.log"
    if client == "hook":
        cmd = [sys.executable, "-m", "benchmarks.worker", "hook", "--n", str(n)]
        names = [e for e in args.experiment if e in HOOK_EXPERIMENTS]
        for name in names:
            cmd += ["--experiment", name]
        if names:
            record["label"] = f"{LABELS[client]} + EXPERIMENT {'+'.join(names)}"
    elif client == "operator":
        tsv = ensure_tsv(args.out, n)
        cmd = [sys.executable, "-m", "benchmarks.worker", "operator", "--n", str(n), "--tsv", str(tsv)]
        names = [e for e in args.experiment if e in OPERATOR_EXPERIMENTS]
        for name in names:
            cmd += ["--experiment", name]
        if names:
            record["label"] = f"{LABELS[client]} + EXPERIMENT {'+'.join(names)}"
    else:
        cmd = [str(KIT_PYTHON), str(ROOT / "benchmarks" / "kit_worker.py"), "--n", str(n)]
        cmd += ["--timeout", str(args.run_timeout)]
        if args.kit_chunk:
            cmd += ["--chunk", str(args.kit_chunk)]
    if args.profile and client != "kit":
        cmd += ["--profile", str(args.out / "profiles" / f"{tag}.txt")]
    record["load_avg_before"] = os.getloadavg()
    with emulator(args, tag, more=["--pools", str(_upload_pool_file(args.out))]) as emu:
        if client == "kit":
            cmd += ["--url", emu.url]
        before, cpu0 = emu.stats(), _emulator_cpu(emu)
        child = run_child(cmd, child_env(emu.url, args.out), args.run_timeout, log)
        cpu1 = _emulator_cpu(emu)
        try:
            after = emu.stats()
        except Exception as exc:  # the emulator died under the load: say so rather than abort the harness
            after = {"requests": before["requests"], "error": f"emulator stats unavailable: {exc}"}
    requests = _delta(after["requests"], before["requests"])
    polls = requests.get(POLL_ROUTE, 0)
    other = sum(requests.values()) - polls
    res = child.result or {}
    measured = res.get("measured") or {}
    stored = (after.get("tasks_by_pool") or {}).get(POOL_ID, 0)
    if child.timed_out:
        status, reason = "timeout", f"did not finish within the {args.run_timeout:.0f}s per-run limit"
    elif res.get("ok") and stored == n:
        status, reason = "ok", None
    else:
        status = "failed"
        reason = res.get("error") or f"exit code {child.returncode}, no result (see {log})"
        if res.get("ok"):
            reason = (
                after.get("error")
                or f"client reported success but the emulator holds {stored} tasks, not {n}"
            )
    record.update(
        status=status,
        reason=reason,
        wall_s=measured.get("wall_s"),
        cpu_s=measured.get("cpu_s"),
        cpu_us_per_task=(measured["cpu_s"] / n * 1e6) if measured.get("cpu_s") is not None else None,
        process_wall_s=child.wall_s,
        process_cpu_s=child.cpu_s,
        peak_rss_mb=child.maxrss_mb,
        rss_after_imports_mb=res.get("rss_imported_mb"),
        import_s=res.get("import_s"),
        requests=requests,
        requests_total=sum(requests.values()),
        polls=polls,
        non_poll_requests=other,
        non_poll_per_10k=other / -(-n // 10_000),  # per started 10k: 2,000 tasks still need one batch
        emulator_cpu_s=(cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        tasks_stored=stored,
        operations=res.get("operations"),
        details={k: v for k, v in res.items() if k not in ("measured", "ok", "error")},
        measured=measured,
        log=str(log.relative_to(args.out)),
    )
    return record


# ---------------------------------------------------------------------- triggerer capacity


def triggers_run(args: argparse.Namespace, kind: str = "triggers") -> dict[str, Any]:
    """One triggerer-capacity run: ``triggers`` (operation triggers that succeed), ``pool-triggers`` (pool
    triggers on open pools, waiting until their deadline), ``mixed-triggers`` (both in one loop, pools polled
    every ``--pool-trigger-poll-interval``) or ``mixed-defaults`` (the same with both triggers' default
    intervals)."""
    pools = kind == "pool-triggers"
    defaults = kind == "mixed-defaults"
    count = args.pool_triggers if pools else args.triggers
    seconds = args.pool_trigger_seconds if pools else args.trigger_op_seconds
    interval = args.pool_trigger_poll_interval if pools else args.trigger_poll_interval
    if defaults:
        interval = DEFAULT_OPERATION_POLL_INTERVAL
    pool_interval = DEFAULT_POOL_POLL_INTERVAL if defaults else args.pool_trigger_poll_interval
    pool_seconds = args.defaults_pool_seconds if defaults else args.pool_trigger_seconds
    rate = 1.0 / args.trigger_op_seconds  # one task per operation: each stays RUNNING for op_seconds
    more: list[str] = []
    waiting = args.pool_triggers if kind != "triggers" else 0
    if waiting:
        # Open pools with no tasks and no crowd: nothing ever finishes them, so every trigger waits to its deadline.
        # auto_create keeps the operation triggers' upload pool working beside them.
        spec = {
            "auto_create": True,
            "pools": [{"id": str(i), "status": "OPEN"} for i in range(1, waiting + 1)],
        }
        pools_file = args.out / "pools-bench.json"
        pools_file.write_text(json.dumps(spec))
        more = ["--pools", str(pools_file), "--crowd", "0"]
    log = args.out / "logs" / f"{kind}.log"
    mode = "mixed-triggers" if defaults else kind
    cmd = [sys.executable, "-m", "benchmarks.worker", mode, "--count", str(count)]
    cmd += ["--op-seconds", str(seconds), "--poll-interval", str(interval)]
    if mode == "mixed-triggers":
        cmd += ["--pools", str(args.pool_triggers), "--pool-poll-interval", str(pool_interval)]
        cmd += ["--pool-seconds", str(pool_seconds)]
        seconds = max(seconds, pool_seconds)
    cmd += ["--timeout", "300"]
    for name in args.experiment:
        if name in TRIGGER_EXPERIMENTS:
            cmd += ["--experiment", name]
    if args.profile:
        cmd += ["--profile", str(args.out / "profiles" / f"{kind}.txt")]
    record: dict[str, Any] = {
        "count": count,
        "pool_poll_interval_s": pool_interval if mode == "mixed-triggers" else None,
        "load_avg_before": os.getloadavg(),
    }
    with emulator(args, kind, rate=rate, more=more) as emu:
        cmd += ["--emulator", emu.url]
        cpu0 = _emulator_cpu(emu)
        child = run_child(cmd, child_env(emu.url, args.out), seconds + 600, log)
        cpu1 = _emulator_cpu(emu)
    res = child.result or {}
    record.update(res)
    record.update(
        status="ok" if res.get("ok") else ("timeout" if child.timed_out else "failed"),
        reason=res.get("error") or (None if res else f"exit code {child.returncode}, no result (see {log})"),
        emulator_rate=rate,
        process_cpu_s=child.cpu_s,
        peak_rss_mb=child.maxrss_mb,
        emulator_cpu_s=(cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        log=str(log.relative_to(args.out)),
    )
    return record


# ---------------------------------------------------------------------- reporting


def _fmt(value: float | None, spec: str = ".2f", unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{unit}"


def _ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def add_ratios(runs: list[dict[str, Any]]) -> None:
    kit = {r["n"]: r for r in runs if r["client"] == "kit" and r.get("status") == "ok"}
    for r in runs:
        k = kit.get(r["n"])
        if r["client"] == "kit" or r.get("status") != "ok" or k is None:
            continue
        r["vs_kit"] = {
            "wall_x": _ratio(k["wall_s"], r["wall_s"]),
            "cpu_x": _ratio(k["cpu_s"], r["cpu_s"]),
            "process_wall_x": _ratio(k["process_wall_s"], r["process_wall_s"]),
            "process_cpu_x": _ratio(k["process_cpu_s"], r["process_cpu_s"]),
            "peak_rss_x": _ratio(k["peak_rss_mb"], r["peak_rss_mb"]),
            "requests_x": _ratio(k["requests_total"], r["requests_total"]),
        }


def print_run(r: dict[str, Any]) -> None:
    head = f"  {r['client']:<8} N={r['n']:>9,}  "
    if r["status"] == "skipped":
        print(f"{head}SKIPPED: {r['reason']}", flush=True)
        return
    status = "" if r["status"] == "ok" else f"{r['status'].upper()}: {r['reason']}\n{' ' * len(head)}"
    print(
        f"{head}{status}wall {_fmt(r['wall_s'])} s (process {r['process_wall_s']:.2f} s)  "
        f"CPU {_fmt(r['cpu_s'])} s = {_fmt(r['cpu_us_per_task'], '.1f')} µs/task "
        f"(process {r['process_cpu_s']:.2f} s)  peak RSS {r['peak_rss_mb']:.0f} MB  "
        f"emulator CPU {_fmt(r['emulator_cpu_s'])} s",
        flush=True,
    )
    routes = ", ".join(f"{k}: {v}" for k, v in r["requests"].items()) or "none"
    print(f"{' ' * len(head)}requests: {routes}", flush=True)
    vs = r.get("vs_kit")
    if vs:
        print(
            f"{' ' * len(head)}vs toloka-kit: wall {_fmt(vs['wall_x'], '.1f')}x faster, "
            f"CPU {_fmt(vs['cpu_x'], '.1f')}x less, peak RSS {_fmt(_ratio(1, vs['peak_rss_x']), '.1f')}x kit's, "
            f"requests {_fmt(vs['requests_x'], '.0f')}x fewer "
            f"(whole process: wall {_fmt(vs['process_wall_x'], '.1f')}x, CPU {_fmt(vs['process_cpu_x'], '.1f')}x)",
            flush=True,
        )


def table(runs: list[dict[str, Any]]) -> str:
    head = (
        "| N | client | wall s | CPU s | CPU µs/task | peak RSS MB | requests (non-poll + polls) "
        "| kit ÷ this: wall | kit ÷ this: CPU |\n|---:|---|---:|---:|---:|---:|---|---:|---:|"
    )
    rows = [head]
    for r in sorted(runs, key=lambda r: (r["n"], CLIENTS.index(r["client"]))):
        if r["status"] == "skipped":
            rows.append(f"| {r['n']:,} | {r['client']} | skipped: {r['reason']} | | | | | | |")
            continue
        vs = r.get("vs_kit") or {}
        status = "" if r["status"] == "ok" else f" ({r['status']})"
        rows.append(
            f"| {r['n']:,} | {r['client']}{status} | {_fmt(r['wall_s'])} | {_fmt(r['cpu_s'])} "
            f"| {_fmt(r['cpu_us_per_task'], '.1f')} | {r['peak_rss_mb']:.0f} "
            f"| {r['non_poll_requests']} + {r['polls']} | {_fmt(vs.get('wall_x'), '.1f', 'x')} "
            f"| {_fmt(vs.get('cpu_x'), '.1f', 'x')} |"
        )
    return "\n".join(rows)


def evaluate_targets(runs: list[dict[str, Any]], trig: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    ok = [r for r in runs if r["status"] == "ok"]
    ours = [r for r in ok if r["client"] != "kit"]
    out: dict[str, dict[str, Any]] = {}

    def verdict(key: str, met: bool | None, evidence: str) -> None:
        out[key] = {
            "target": TARGETS[key],
            "verdict": "not measured" if met is None else ("MET" if met else "MISSED"),
            "evidence": evidence,
        }

    at_100k = [r for r in ours if r["n"] == 100_000 and r.get("vs_kit")]
    if at_100k:
        worst = min(at_100k, key=lambda r: r["vs_kit"]["wall_x"] or 0)
        verdict(
            "wall_100k",
            (worst["vs_kit"]["wall_x"] or 0) >= 10,
            "; ".join(f"{r['client']} {_fmt(r['vs_kit']['wall_x'], '.1f')}x" for r in at_100k),
        )
    else:
        verdict("wall_100k", None, "no 100k run with a toloka-kit run to compare")
    with_kit = [r for r in ours if r.get("vs_kit") and r["vs_kit"]["cpu_x"] is not None]
    if with_kit:
        verdict(
            "cpu_per_task",
            all(r["vs_kit"]["cpu_x"] >= 10 for r in with_kit),
            "; ".join(
                f"{r['client']}@{r['n']:,}: {r['cpu_us_per_task']:.1f} µs/task, kit ÷ this "
                f"{r['vs_kit']['cpu_x']:.1f}x"
                for r in with_kit
            ),
        )
    else:
        verdict("cpu_per_task", None, "no run with a toloka-kit run to compare")
    if ours:
        verdict(
            "requests",
            all(r["non_poll_per_10k"] <= 3 for r in ours),
            "; ".join(
                f"{r['client']}@{r['n']:,}: {r['non_poll_per_10k']:.2f} per 10k (+{r['polls']} polls)"
                for r in ours
            ),
        )
    else:
        verdict("requests", None, "no successful provider run")
    big = [r for r in runs if r["client"] == "operator" and r["n"] >= 1_000_000 and r["status"] != "skipped"]
    if big:
        verdict(
            "rss_1m_file",
            all(r["status"] == "ok" and r["peak_rss_mb"] <= 250 for r in big),
            "; ".join(f"operator@{r['n']:,}: {r['peak_rss_mb']:.0f} MB ({r['status']})" for r in big),
        )
    else:
        verdict("rss_1m_file", None, "no 1M operator run (pass --sizes ...,1000000)")
    if trig and trig.get("lag_max_ms") is not None:
        verdict(
            "trigger_lag",
            trig["status"] == "ok" and trig["lag_max_ms"] <= 50,
            f"{trig['count']} triggers: max lag {trig['lag_max_ms']:.1f} ms, p99 {trig['lag_p99_ms']:.1f} ms "
            f"({trig['status']})",
        )
    else:
        verdict("trigger_lag", None, "triggers not run" if not trig else f"failed: {trig.get('reason')}")
    return out


def chart(runs: list[dict[str, Any]], path: Path, subtitle: str = "") -> str | None:
    """Wall time and peak RSS against N (log x); returns why no chart was drawn, or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no chart"
    fig, (ax_wall, ax_rss) = plt.subplots(1, 2, figsize=(12, 4.8))
    for client in CLIENTS:
        done = sorted(
            (r for r in runs if r["client"] == client and r["status"] == "ok"), key=lambda r: r["n"]
        )
        if not done:
            continue
        ns = [r["n"] for r in done]
        ax_wall.plot(ns, [r["wall_s"] for r in done], marker="o", label=done[0]["label"])
        ax_rss.plot(ns, [r["peak_rss_mb"] for r in done], marker="o", label=done[0]["label"])
        for r in runs:
            if r["client"] == client and r["status"] in ("timeout", "skipped"):
                ax_wall.annotate(f"{client}: {r['status']}", (r["n"], max(x["wall_s"] for x in done)))
    for ax, title, unit in (
        (ax_wall, "Wall time", "seconds (log)"),
        (ax_rss, "Peak RSS of the client", "MB"),
    ):
        ax.set_xscale("log")
        ax.set_xlabel("tasks (log)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_wall.set_yscale("log")
    rss = [r["peak_rss_mb"] for r in runs if r["status"] == "ok"]
    if rss and max(rss) > 8 * min(rss):
        ax_rss.set_yscale("log")
    ax_rss.axhline(250, color="grey", linestyle="--", linewidth=1)
    if subtitle:
        fig.suptitle(subtitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _git() -> dict[str, Any]:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(
                ["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {"commit": out("rev-parse", "HEAD"), "dirty_files": len(out("status", "--porcelain").splitlines())}


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000", help="comma-separated task counts")
    p.add_argument(
        "--latency-ms", type=float, default=0.0, help="emulator round-trip latency added per request"
    )
    p.add_argument("--rate", type=float, default=200_000.0, help="emulator processing rate, items/s")
    p.add_argument("--out", type=Path, default=ROOT / ".bench")
    p.add_argument(
        "--only",
        default="hook,operator,kit,export,triggers,pool-triggers,mixed-triggers,quality",
        help="which runs: any of hook, operator, kit, export, triggers, pool-triggers, mixed-triggers, quality, "
        "mixed-defaults (not run by default: about 7 minutes)",
    )
    p.add_argument("--run-timeout", type=float, default=900.0, help="seconds per upload run")
    p.add_argument(
        "--kit-chunk",
        type=int,
        default=10_000,
        # toloka-kit sends each create_tasks call as one request, and Toloka takes at most 1 MiB of input_values
        # per request: a kit user cuts the calls, as the provider cuts its batches.
        help="toloka-kit: tasks per create_tasks call (0: all in one call, which Toloka refuses past 1 MiB)",
    )
    p.add_argument("--triggers", type=int, default=1000, help="concurrent triggers")
    p.add_argument(
        "--trigger-poll-interval", type=float, default=30.0, help="seconds (the operators' default)"
    )
    p.add_argument("--trigger-op-seconds", type=float, default=60.0, help="how long each operation runs")
    p.add_argument("--export-sizes", default="100000,1000000", help="answer rows of the export runs")
    p.add_argument("--pool-triggers", type=int, default=10_000, help="concurrent pool triggers")
    p.add_argument(
        "--pool-trigger-poll-interval",
        type=float,
        default=30.0,
        help="seconds; 30 is a stress figure, a tenth of the default 5 minutes, so that a short run sees several "
        "polls of each (mixed-defaults polls at the defaults)",
    )
    p.add_argument("--pool-trigger-seconds", type=float, default=90.0, help="how long the pool triggers wait")
    p.add_argument(
        "--defaults-pool-seconds",
        type=float,
        default=360.0,
        help="mixed-defaults: how long the pool triggers wait (two polls each at the default 5 minutes)",
    )
    p.add_argument(
        "--experiment",
        action="append",
        default=[],
        choices=sorted({*TRIGGER_EXPERIMENTS, *OPERATOR_EXPERIMENTS}),
        help="monkeypatch a proposed fix into the trigger or operator runs (labelled EXPERIMENT in the output)",
    )
    p.add_argument("--profile", action="store_true", help="pyinstrument profiles of provider runs")
    args = p.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.export_sizes = [int(s.replace("_", "")) for s in args.export_sizes.split(",") if s.strip()]
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = args.only - {
        *CLIENTS,
        "export",
        "triggers",
        "pool-triggers",
        "mixed-triggers",
        "mixed-defaults",
        "quality",
    }
    if unknown:
        p.error(f"unknown --only entries: {', '.join(sorted(unknown))}")
    args.out = args.out.resolve()
    return args


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------------- exporting answers


def _filled_pool(emu: EmulatorProcess, rows: int) -> str:
    """A pool holding ``rows`` accepted answers (10 per assignment), made through the emulator's fill endpoint."""
    import requests

    api = requests.Session()
    api.headers["Authorization"] = f"OAuth {TOKEN}"
    project = {
        "public_name": "bench",
        "public_description": "bench",
        "task_spec": {
            "input_spec": {"image": {"type": "url"}},
            "output_spec": {"result": {"type": "string", "allowed_values": ["cat", "dog"]}},
        },
    }
    project_id = api.post(f"{emu.url}/api/v1/projects", json=project, timeout=60).json()["id"]
    pool = {
        "project_id": project_id,
        "private_name": "bench",
        "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2099-01-01T00:00:00",
        "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
    }
    pool_id = str(api.post(f"{emu.url}/api/v1/pools", json=pool, timeout=60).json()["id"])
    params = {"pool_id": pool_id, "assignments": rows // 10, "tasks_per_assignment": 10}
    filled = api.post(f"{emu.url}/_emulator/fill", params=params, timeout=600).json()
    if filled.get("rows") != rows:
        raise RuntimeError(f"the emulator filled {filled}, not {rows} rows")
    return pool_id


def export_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """ExportAssignmentsOperator and toloka-kit's get_assignments reading the same pool of accepted answers."""
    records: list[dict[str, Any]] = []
    for rows in args.export_sizes:
        with emulator(args, f"export-{rows}", more=["--crowd", "0"]) as emu:
            pool_id = _filled_pool(emu, rows)
            for client in ("provider", "kit"):
                if client == "kit" and not KIT_PYTHON.exists():
                    continue
                log = args.out / "logs" / f"export-{client}-{rows}.log"
                if client == "provider":
                    out = args.out / f"answers-{rows}.jsonl"
                    cmd = [
                        sys.executable,
                        "-m",
                        "benchmarks.worker",
                        "export",
                        "--pool",
                        pool_id,
                        "--n",
                        str(rows),
                    ]
                    cmd += ["--out", str(out)]
                else:
                    cmd = [str(KIT_PYTHON), str(ROOT / "benchmarks" / "kit_worker.py"), "--url", emu.url]
                    cmd += ["--n", str(rows), "--export", pool_id]
                before = emu.stats()["requests"].get("GET /api/v1/assignments", 0)
                child = run_child(cmd, child_env(emu.url, args.out), args.run_timeout, log)
                requests_made = emu.stats()["requests"].get("GET /api/v1/assignments", 0) - before
                res = child.result or {}
                measured = res.get("measured") or {}
                record = {
                    "client": client,
                    "rows": rows,
                    "ok": bool(res.get("ok")),
                    "wall_s": measured.get("wall_s"),
                    "cpu_s": measured.get("cpu_s"),
                    "peak_rss_mb": child.maxrss_mb,
                    "requests": requests_made,
                    "error": res.get("error") or (None if res else f"exit {child.returncode}, see {log}"),
                }
                records.append(record)
                label = (
                    "ExportAssignmentsOperator (JSONL)"
                    if client == "provider"
                    else "toloka-kit get_assignments"
                )
                if record["ok"]:
                    print(
                        f"  {rows:>9,} rows  {label:<36} wall {record['wall_s']:7.2f} s  CPU {record['cpu_s']:7.2f} s  "
                        f"peak RSS {record['peak_rss_mb']:6.0f} MB  {requests_made} requests",
                        flush=True,
                    )
                else:
                    print(f"  {rows:>9,} rows  {label:<36} FAILED: {record['error']}", flush=True)
    return records


def _polls_asked(trig: dict[str, Any], poll_interval: float) -> float:
    pools, pool_interval = trig.get("pool_triggers") or 0, trig.get("pool_poll_interval_s")
    if not pools or not pool_interval:
        return float(trig["count"]) / poll_interval
    return (trig["count"] - pools) / poll_interval + pools / pool_interval


def print_triggers(trig: dict[str, Any], poll_interval: float) -> None:
    """The figures of one triggerer-capacity run.

    :param trig: its record.
    :param poll_interval: the triggers' poll interval, seconds (for a mixed run, the operation triggers').
    """
    if trig["status"] != "ok" and trig.get("lag_max_ms") is None:
        print(f"  {trig['status'].upper()}: {trig['reason']}", flush=True)
        return
    print(
        f"  {trig['status']}: max event-loop lag {trig['lag_max_ms']:.1f} ms "
        f"(p99 {trig['lag_p99_ms']:.1f} ms, p50 {trig['lag_p50_ms']:.2f} ms, 10 ms ticker), "
        f"{trig['requests_per_s']:.0f} polls/s served, process CPU {trig['cpu_s']:.1f} s "
        f"= {trig['cpu_pct_of_one_core']:.0f}% of one core over {trig['elapsed_s']:.1f} s, "
        f"peak RSS {trig['peak_rss_mb']:.0f} MB ({trig.get('rss_growth_kb_per_trigger')} KB per trigger), "
        f"events {trig['statuses']}",
        flush=True,
    )
    gcs = trig.get("gc") or {}
    gc2 = gcs.get("gen2") or {}
    print(
        f"  worst lags: {trig['lag_worst']}; full (gen2) GC: {gc2.get('collections')} collections, "
        f"longest {gc2.get('max_ms')} ms, {gc2.get('total_ms')} ms in all; young collections: "
        f"{(gcs.get('gen0') or {}).get('collections')} gen0, {(gcs.get('gen1') or {}).get('collections')} gen1; "
        f"polls asked for: {_polls_asked(trig, poll_interval):.0f}/s",
        flush=True,
    )
    if trig.get("lag_max_ms_from_deadline"):
        print(
            f"  max lag before the pool triggers' shared deadline: {trig['lag_max_ms_before_deadline']:.1f} ms "
            f"(from it on: {trig['lag_max_ms_from_deadline']:.1f} ms); "
            f"full collections at {[(g['at_s'], g['ms']) for g in trig.get('gc_full') or []]} (s, ms)",
            flush=True,
        )


def _quality(args: argparse.Namespace) -> list[dict[str, Any]]:
    """README "Quality control"'s figures: majority accuracy and accepted assignments with and without it."""
    from benchmarks.quality import quality_runs, quality_table

    print(
        "\nQuality control: 30 Tolokers (accuracy 0.85), 200 reviews, overlap 3, 10% control reviews",
        flush=True,
    )
    try:
        rows = quality_runs(args.out)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"  FAILED: {exc}"[:600], flush=True)
        return []
    print(quality_table(rows), flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for sub in ("logs", "data", "profiles", "airflow-home"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _raise_fd_limit()  # inherited by the emulators and the children (many sockets at 1M tasks and 1,000 triggers)
    started = datetime.now(timezone.utc)
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "benchmarks/run.py", *(argv or sys.argv[1:])]),
        "sizes": args.sizes,
        "latency_ms": args.latency_ms,
        "rate": args.rate,
        "run_timeout_s": args.run_timeout,
        "kit_chunk": args.kit_chunk,
        "experiments": args.experiment,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "git": _git(),
    }
    print(
        f"airflow-toloka benchmarks — {meta['cpus']} CPUs, emulator rate {args.rate:g} items/s, "
        f"latency {args.latency_ms:g} ms, sizes {', '.join(f'{n:,}' for n in args.sizes)}; out {args.out}"
        + _experiment_note(args, (*OPERATOR_EXPERIMENTS, *HOOK_EXPERIMENTS)),
        flush=True,
    )
    runs: list[dict[str, Any]] = []
    trig: dict[str, Any] | None = None
    pool_trig: dict[str, Any] | None = None
    mixed_trig: dict[str, Any] | None = None
    defaults_trig: dict[str, Any] | None = None
    exports: list[dict[str, Any]] = []
    quality: list[dict[str, Any]] = []
    results_path = args.out / "results.json"

    def save(finished: bool) -> None:
        add_ratios(runs)
        doc = {
            "meta": {
                **meta,
                "finished": finished,
                "elapsed_s": (datetime.now(timezone.utc) - started).seconds,
            },
            "runs": runs,
            "triggers": trig,
            "pool_triggers": pool_trig,
            "mixed_triggers": mixed_trig,
            "mixed_defaults": defaults_trig,
            "exports": exports,
            "quality": quality,
            "targets": evaluate_targets(runs, trig),
        }
        results_path.write_text(json.dumps(doc, indent=1, default=str))

    try:
        kit_problem = None
        if "kit" in args.only:
            kit_problem = ensure_kit_venv(900)
            if kit_problem:
                print(f"toloka-kit runs skipped: {kit_problem}", flush=True)
        kit_done: dict[int, dict[str, Any]] = {}
        for n in args.sizes:
            print(f"\nN = {n:,}", flush=True)
            batch: list[dict[str, Any]] = []
            for client in CLIENTS:
                if client not in args.only:
                    continue
                problem = kit_problem if client == "kit" else None
                if client == "kit" and not problem and kit_done:
                    prev_n = max(kit_done)
                    prev = kit_done[prev_n]
                    if prev["status"] == "timeout":
                        problem = f"timed out at N={prev_n:,}"
                    elif prev["status"] == "ok":
                        projected = prev["process_wall_s"] * n / prev_n
                        if projected > args.run_timeout:
                            problem = (
                                f"projected {projected:.0f}s from the {prev_n:,}-task run exceeds the "
                                f"{args.run_timeout:.0f}s per-run limit"
                            )
                try:
                    record = upload_run(args, client, n, problem)
                except (RuntimeError, OSError, ValueError) as exc:  # e.g. an emulator that did not come up
                    record = {"client": client, "label": LABELS[client], "n": n, "status": "skipped"}
                    record["reason"] = f"harness error: {type(exc).__name__}: {str(exc)[:500]}"
                if client == "kit":
                    kit_done[n] = record
                runs.append(record)
                batch.append(record)
                if record["status"] != "ok" and client != "kit":
                    print_run(record)
                save(False)
            add_ratios(runs)
            for record in batch:
                print_run(record)
        if "export" in args.only:
            print("\nExporting accepted answers (10 per assignment) to a file:", flush=True)
            try:
                exports = export_runs(args)
            except (RuntimeError, OSError, ValueError) as exc:
                print(f"  FAILED: harness error: {exc}", flush=True)
            save(False)
        if "triggers" in args.only:
            print(
                f"\nTriggerer capacity: {args.triggers:,} TolokaOperationTriggers in one event loop, "
                f"poll every {args.trigger_poll_interval:g} s, operations running ~{args.trigger_op_seconds:g} s"
                + _experiment_note(args, TRIGGER_EXPERIMENTS),
                flush=True,
            )
            try:
                trig = triggers_run(args)
            except (RuntimeError, OSError, ValueError) as exc:
                trig = {"count": args.triggers, "status": "failed", "reason": f"harness error: {exc}"[:600]}
            print_triggers(trig, args.trigger_poll_interval)
            save(False)
        if "pool-triggers" in args.only:
            print(
                f"\nTriggerer capacity: {args.pool_triggers:,} TolokaPoolTriggers waiting in one event loop, "
                f"poll every {args.pool_trigger_poll_interval:g} s, for {args.pool_trigger_seconds:g} s",
                flush=True,
            )
            try:
                pool_trig = triggers_run(args, "pool-triggers")
            except (RuntimeError, OSError, ValueError) as exc:
                pool_trig = {
                    "count": args.pool_triggers,
                    "status": "failed",
                    "reason": f"harness error: {exc}"[:600],
                }
            print_triggers(pool_trig, args.pool_trigger_poll_interval)
            save(False)
        if "mixed-triggers" in args.only:
            print(
                f"\nTriggerer capacity: {args.triggers:,} TolokaOperationTriggers (poll every "
                f"{args.trigger_poll_interval:g} s) and {args.pool_triggers:,} TolokaPoolTriggers (every "
                f"{args.pool_trigger_poll_interval:g} s"
                + (", a stress figure: the default is 300 s" if args.pool_trigger_poll_interval < 300 else "")
                + f", for {args.pool_trigger_seconds:g} s) in one event loop"
                + _experiment_note(args, TRIGGER_EXPERIMENTS),
                flush=True,
            )
            try:
                mixed_trig = triggers_run(args, "mixed-triggers")
            except (RuntimeError, OSError, ValueError) as exc:
                mixed_trig = {"count": 0, "status": "failed", "reason": f"harness error: {exc}"[:600]}
            print_triggers(mixed_trig, args.trigger_poll_interval)
            save(False)
        if "mixed-defaults" in args.only:
            print(
                f"\nTriggerer capacity at the triggers' defaults: {args.triggers:,} TolokaOperationTriggers (poll "
                f"every {DEFAULT_OPERATION_POLL_INTERVAL:g} s) and {args.pool_triggers:,} TolokaPoolTriggers (every "
                f"{DEFAULT_POOL_POLL_INTERVAL:g} s, for {args.defaults_pool_seconds:g} s) in one event loop"
                + _experiment_note(args, TRIGGER_EXPERIMENTS),
                flush=True,
            )
            try:
                defaults_trig = triggers_run(args, "mixed-defaults")
            except (RuntimeError, OSError, ValueError) as exc:
                defaults_trig = {"count": 0, "status": "failed", "reason": f"harness error: {exc}"[:600]}
            print_triggers(defaults_trig, DEFAULT_OPERATION_POLL_INTERVAL)
        if "quality" in args.only:
            quality = _quality(args)
            save(False)
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({exc}); stopping children", flush=True)
        for pid in list(_live_children):
            _kill_group(pid)
        save(False)
        return 130
    finally:
        for pid in list(_live_children):
            _kill_group(pid)

    save(True)
    print("\n" + table(runs), flush=True)
    targets = evaluate_targets(runs, trig)
    print("\nTargets (issue #5), as measured on this machine:", flush=True)
    for t in targets.values():
        print(f"  [{t['verdict']}] {t['target']} — {t['evidence']}", flush=True)
    why = chart(
        runs,
        args.out / "chart.png",
        f"airflow-toloka vs toloka-kit 1.2.3 — emulator on loopback, rate {args.rate:g} items/s, "
        f"latency {args.latency_ms:g} ms, {meta['cpus']} CPUs, {meta['started']}",
    )
    print(
        f"\nresults: {results_path}" + (f"\nchart: {args.out / 'chart.png'}" if why is None else f"\n{why}")
    )
    return 0
