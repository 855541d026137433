"""Small HTML pages for people: a pool and an operation, at the paths of Toloka's requester UI.

The provider's extra links point a browser here when its connection names the emulator (a browser sends no token,
so the JSON API would answer 401). The pages sit outside ``/api/``: no auth, no injected faults. Every value is
HTML-escaped; nothing secret is in the state they show.
"""

from __future__ import annotations

import html
from typing import Any

from toloka_emulator.state import EmulatorState

__all__ = ["operation_page", "pool_page"]

_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
    "th,td{text-align:left;padding:.3em 1em .3em 0;border-bottom:1px solid #ddd}th{color:#666;font-weight:normal}"
)


def _page(title: str, rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape('' if v is None else str(v))}</td></tr>"
        for k, v in rows
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1><table>{cells}</table>"
        "<p>Served by the local Toloka emulator.</p></body></html>"
    )


def pool_page(state: EmulatorState, project_id: str, pool_id: str) -> str:
    """The pool: status, project, name, times, and how far the crowd got.

    :param state: the emulator's state.
    :param project_id: the project in the path (the page says so when the pool belongs to another one).
    :param pool_id: the pool.
    :return: the HTML page.
    :raises ApiError: 404 when there is no such pool.
    """
    pool = state.get_pool(pool_id)
    tally = state.tallies.of(pool_id)
    project = str(pool.get("project_id"))
    if project != project_id:
        project = f"{project} (not {project_id})"
    return _page(
        f"Toloka pool {pool_id}",
        [
            ("Name", pool.get("private_name")),
            ("Project", project),
            ("Status", pool.get("status")),
            ("Close reason", pool.get("last_close_reason")),
            ("Created", pool.get("created")),
            ("Last opened", pool.get("last_started")),
            ("Last closed", pool.get("last_stopped")),
            ("Tasks", tally.real_tasks),
            ("Done", f"{tally.completion():.0f}%"),
        ],
    )


def operation_page(state: EmulatorState, operation_id: str) -> str:
    """The operation: type, status, times and its details.

    :param state: the emulator's state.
    :param operation_id: the operation.
    :return: the HTML page.
    :raises ApiError: 404 when there is no such operation.
    """
    op = state.get_operation(operation_id)
    details = op.get("details") or {}
    return _page(
        f"Toloka operation {operation_id}",
        [
            ("Type", op.get("type")),
            ("Status", op.get("status")),
            ("Submitted", op.get("submitted")),
            ("Finished", op.get("finished")),
            *((f"Details: {k}", v) for k, v in sorted(details.items())),
        ],
    )
