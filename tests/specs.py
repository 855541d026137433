"""Project and pool specs the provider-level tests share (the emulator's own tests have tests/emulator/lifecycle)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

IMAGES_PROJECT: dict[str, Any] = {
    "public_name": "Cats or dogs",
    "public_description": "Say what is in the picture.",
    "task_spec": {
        "input_spec": {"image": {"type": "url", "required": True}},
        "output_spec": {"result": {"type": "string", "allowed_values": ["cat", "dog"]}},
        "view_spec": {"type": "tb", "config": "{}"},
    },
}
REVIEWS_PROJECT: dict[str, Any] = {
    "public_name": "Sentiment",
    "public_description": "Pick the sentiment of a review.",
    "task_spec": {
        "input_spec": {
            "text": {"type": "string", "required": True},
            "url": {"type": "url", "required": False},
        },
        "output_spec": {"label": {"type": "string", "allowed_values": ["pos", "neg"]}},
        "view_spec": {"type": "tb", "config": "{}"},
    },
}


def pool_spec(
    project_id: str | None = None, *, overlap: int = 2, suite: int = 2, **extra: Any
) -> dict[str, Any]:
    """A valid pool, a week from expiring.

    :param project_id: its project (left out when None, for operators that fill it in).
    :param overlap: the default overlap of new tasks and suites.
    :param suite: tasks per smart-mixed suite.
    :param extra: more or other fields.
    :return: the spec.
    """
    spec: dict[str, Any] = {
        "private_name": "run",
        "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600,
        "will_expire": (datetime.now(timezone.utc) + timedelta(days=7)).isoformat(),
        "defaults": {
            "default_overlap_for_new_task_suites": overlap,
            "default_overlap_for_new_tasks": overlap,
        },
        "mixer_config": {"real_tasks_count": suite, "golden_tasks_count": 0, "training_tasks_count": 0},
        **extra,
    }
    if project_id is not None:
        spec["project_id"] = project_id
    return spec
