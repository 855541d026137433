"""``[core] hostname_callable`` of the distributed stack: each process reports its own name (``STACK_PROCESS``),
so ``task_instance.hostname`` says which Celery worker ran a try and ``job.hostname`` which triggerer is which,
although all of them run on one host."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The stack process's name, else the host's.

    :return: e.g. ``celery-worker-2``.
    """
    return os.environ.get("STACK_PROCESS") or socket.getfqdn()
