"""toloka-kit 1.2.3 against the emulator's default mode (no pools file), run by ``.venv-kit/bin/python``.

Usage: ``kit_default_mode.py EMULATOR_URL``. toloka-kit's own partial-upload check: one valid task and one whose
input value is null, with ``skip_invalid_items=True``, sync and async. Prints one JSON line:
``{"<mode>": {"items": [...input indexes...], "errors": {index: {field: code}}}}``.
"""

from __future__ import annotations

import json
import sys

from toloka.client import Task, TolokaClient


def main(base_url: str) -> None:
    client = TolokaClient("any-token", url=base_url, retries=0)
    out = {}
    for async_mode in (False, True):
        tasks = [
            Task(pool_id="901", input_values={"image": "https://example.com/1.jpg"}, overlap=1),
            Task(pool_id="901", input_values={"image": None}, overlap=1),
        ]
        result = client.create_tasks(tasks, skip_invalid_items=True, async_mode=async_mode)
        errors = {
            str(i): {field: error.code for field, error in fields.items()}
            for i, fields in result.validation_errors.items()
        }
        out["async" if async_mode else "sync"] = {"items": sorted(map(int, result.items)), "errors": errors}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
