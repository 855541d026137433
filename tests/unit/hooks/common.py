"""What the hook tests share: a finished upload operation and a hook that backs off briefly."""

from __future__ import annotations

from airflow_toloka.hooks.toloka import TolokaHook

OP = {"id": "op-1", "type": "TASK.BATCH_CREATE", "status": "SUCCESS", "progress": 100}


def fast_hook(**kwargs: object) -> TolokaHook:
    return TolokaHook(retry_delay=0.01, **kwargs)  # type: ignore[arg-type]
