"""Benchmark child process in ``.venv-kit`` (toloka-kit 1.2.3): the same upload as the provider's runs.

``.venv-kit/bin/python benchmarks/kit_worker.py --url EMULATOR_URL --n N --result FILE [--chunk C]``
``.venv-kit/bin/python benchmarks/kit_worker.py --url EMULATOR_URL --n ROWS --export POOL --result FILE``

The export mode reads a pool's accepted assignments with ``get_assignments`` and flattens them into one dict per
task answer, as a toloka-kit user writes it (``get_assignments_df`` reads Toloka's experimental TSV endpoint,
which the emulator does not serve).

Builds N ``toloka.client.Task`` objects and calls ``TolokaClient(token, url=...).create_tasks(tasks,
allow_defaults=True)`` — one call with the whole list, which is what toloka-kit's API invites (``--chunk C``
instead calls it once per C tasks, as users following Toloka's "≤10,000 per request" advice do). Building the
Task objects is inside the measured block, as building the dicts is for the provider's generator.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _export(args: Any) -> int:
    from toloka.client import TolokaClient

    from benchmarks.common import TOKEN, measure, write_result

    client = TolokaClient(token=TOKEN, url=args.url, timeout=(10.0, args.timeout))
    rows: list[dict[str, Any]] = []
    with measure() as m:
        for a in client.get_assignments(pool_id=args.export, status="ACCEPTED"):
            for task, solution in zip(a.tasks, a.solutions):  # noqa: B905 - the kit venv may predate strict=
                rows.append(
                    {
                        "assignment_id": a.id,
                        "task_id": task.id,
                        "user_id": a.user_id,
                        "status": a.status.value,
                        **{f"INPUT:{k}": v for k, v in task.input_values.items()},
                        **{f"OUTPUT:{k}": v for k, v in solution.output_values.items()},
                    }
                )
    ok = len(rows) == args.n
    write_result(
        args.result,
        {
            "client": "toloka-kit",
            "ok": ok,
            "rows": len(rows),
            "measured": m,
            "error": None if ok else f"{len(rows)} rows",
        },
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import POOL_ID, TOKEN, measure, rss_mb, task_url, write_result

    p = argparse.ArgumentParser(prog="kit_worker.py")
    p.add_argument("--url", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--chunk", type=int, default=0, help="tasks per create_tasks call (0: all in one call)")
    p.add_argument("--timeout", type=float, default=600.0, help="toloka-kit's per-request read timeout")
    p.add_argument("--export", default="", help="export this pool's accepted answers instead of uploading")
    args = p.parse_args(argv)
    if args.export:
        return _export(args)

    import time
    from importlib import metadata

    t0 = time.perf_counter()
    from toloka.client import Task, TolokaClient

    import_s = time.perf_counter() - t0
    rss_imported = rss_mb()
    result: dict[str, Any] = {"client": "toloka-kit", "mode": "kit", "n": args.n}
    try:
        # toloka-kit's default read timeout is 10 s; one POST of 100k+ tasks may take longer to be accepted, so
        # it gets the same generous budget as everything else here (the default would only make it fail).
        client = TolokaClient(token=TOKEN, url=args.url, timeout=(10.0, args.timeout))
        created = rejected = calls = 0
        with measure() as m:
            b0 = time.perf_counter()
            tasks = [Task(pool_id=POOL_ID, input_values={"image": task_url(i)}) for i in range(args.n)]
            build_s = time.perf_counter() - b0
            step = args.chunk or len(tasks) or 1
            for start in range(0, len(tasks), step):
                res = client.create_tasks(tasks[start : start + step], allow_defaults=True)
                created += len(res.items)
                rejected += len(res.validation_errors or {})
                calls += 1
        m["build_s"] = build_s
        ok = created == args.n and not rejected
        result.update(
            ok=ok,
            created=created,
            rejected=rejected,
            calls=calls,
            measured=m,
            error=None if ok else f"created {created} of {args.n}",
        )
    except Exception as exc:
        import traceback

        traceback.print_exc()
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:2000])
    result.update(
        import_s=import_s,
        rss_imported_mb=rss_imported,
        kit_version=metadata.version("toloka-kit"),
    )
    write_result(args.result, result)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
