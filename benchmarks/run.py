"""Benchmarks entry: ``.venv/bin/python benchmarks/run.py [--sizes 10000,100000,1000000] [--latency-ms 0]
[--rate 200000] [--out .bench/] [--only hook,operator,kit,triggers] [--profile]``.

Runs this provider (hook from a generator, operator from a TSV file) and toloka-kit 1.2.3 on the same tasks
against the local emulator, then the triggerer-capacity run; prints figures and ratios, writes
``OUT/results.json`` and ``OUT/chart.png``. See :mod:`benchmarks.harness`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.harness import main

    sys.exit(main())
