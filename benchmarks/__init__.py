"""Benchmark harness: this provider against toloka-kit 1.2.3 on the local Toloka emulator (``benchmarks/run.py``).

Kept import-light on purpose: ``kit_worker.py`` imports :mod:`benchmarks.common` from toloka-kit's own virtualenv,
where neither Airflow nor this provider is installed.
"""
