"""The labeling report as one self-contained HTML page: inline CSS, charts as PNG ``data:`` URIs, no script, and no
reference to anything outside the file, so it opens offline and anywhere (a browser, Airflow's UI, a mail).

Everything from the crowd or the files (inputs, answers, labels, names) is escaped: it is shown as text, never
loaded or run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from html import escape
from typing import Any

from airflow_toloka.report.data import LabelingReport, UncertainTask

__all__ = ["duration_text", "render_report"]

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2733}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.5rem;margin:0 0 4px}h2{font-size:1.15rem;margin:28px 0 10px}
.sub{color:#5b6773;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
.card{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:10px 14px}
.card b{display:block;font-size:1.35rem}.card span{color:#5b6773;font-size:.85rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}
.charts figure{background:#fff;border:1px solid #dde2e8;border-radius:8px;margin:0;padding:8px}
.charts img{width:100%;height:auto}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{border:1px solid #dde2e8;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;white-space:nowrap}
ul.answers{margin:0;padding-left:18px}.muted{color:#5b6773}
"""


def duration_text(seconds: float | None) -> str:
    """A duration as people read it: ``2 h 05 min``, ``4 min 10 s``, ``12 s``; an em dash when unknown.

    :param seconds: the duration.
    :return: the text.
    """
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _card(value: Any, name: str) -> str:
    return f'<div class="card"><b>{escape(str(value))}</b><span>{escape(name)}</span></div>'


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def _cards(report: LabelingReport) -> str:
    cost = report.cost
    by_status = ", ".join(f"{n} {s.lower()}" for s, n in sorted(report.assignments.items())) or "none"
    cards = [
        _card(report.tasks, f"tasks (and {report.control_tasks} control)"),
        _card(sum(report.assignments.values()), f"assignments: {by_status}"),
        _card(report.answers, "answers"),
        _card(report.labels, "labels"),
        _card(_percent(report.control_accuracy), "right on control tasks"),
        _card(
            f"${cost.total:.2f}",
            f"spent: ${cost.rewards:.2f} rewards + ${cost.fees:.2f} fees + bonuses ${cost.bonuses_with_fees:.2f}",
        ),
        _card(
            f"${cost.bonuses:.2f}", f"{cost.bonus_count} bonuses (with fees ${cost.bonuses_with_fees:.2f})"
        ),
        _card(f"${cost.pending:.2f}", "submitted, not paid yet"),
        _card(duration_text(report.duration_seconds), "from open to close"),
        _card(len(report.tolokers), "Tolokers"),
        _card(sum(r.banned for r in report.tolokers.values()), "Tolokers banned"),
        _card(sum(r.rejected > 0 for r in report.tolokers.values()), "Tolokers with work rejected"),
    ]
    return '<div class="cards">' + "".join(cards) + "</div>"


def _figure(uri: str, caption: str) -> str:
    return f'<figure><img src="{uri}" alt="{escape(caption)}"></figure>'


def _charts(report: LabelingReport) -> str:
    from airflow_toloka.report import charts

    figures = [
        _figure(charts.label_chart(report.label_counts), "Label distribution"),
        _figure(charts.confidence_chart(report.confidence_bins), "Confidence histogram"),
        _figure(charts.toloker_chart(report.tolokers), "Tolokers: accuracy on control tasks and answers"),
        _figure(charts.submissions_chart(report.submitted_by_minute), "Assignments submitted over time"),
    ]
    return '<div class="charts">' + "".join(figures) + "</div>"


def _value(value: Any) -> str:
    return escape(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _uncertain_rows(tasks: Iterable[UncertainTask]) -> str:
    rows = []
    for task in tasks:
        inputs = "<br>".join(f"<b>{escape(k)}</b>: {_value(v)}" for k, v in task.inputs.items())
        answers = "".join(
            f"<li>{escape(text)} <span class='muted'>({escape(user[:8])}…, {escape(status.lower())})</span></li>"
            for user, status, text in task.answers
        )
        rows.append(
            f"<tr><td>{escape(task.task_id)}</td><td>{inputs}</td><td>{escape(task.label)}</td>"
            f"<td class='num'>{task.confidence:.2f}</td><td><ul class='answers'>{answers}</ul></td></tr>"
        )
    return "".join(rows)


def render_report(report: LabelingReport, generated: datetime | None = None) -> str:
    """The page.

    :param report: what it shows.
    :param generated: when it was made (now by default), shown under the title.
    :return: the HTML text.
    :raises TolokaError: when matplotlib (the ``report`` extra) is missing.
    """
    stamp = (generated or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    window = " to ".join(t.strftime("%Y-%m-%d %H:%M UTC") for t in (report.opened, report.closed) if t)
    title = f"Labeling report: pool {report.pool_id}"
    uncertain = (
        "<table><tr><th>task</th><th>inputs</th><th>label</th><th>confidence</th><th>answers</th></tr>"
        + _uncertain_rows(report.uncertain)
        + "</table>"
        if report.uncertain
        else "<p class='muted'>No labels.</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        f"<p class='sub'>{escape(report.pool_name)} · {escape(window or 'not opened')} · made {stamp}</p>"
        f"<h2>Numbers</h2>{_cards(report)}"
        f"<h2>Charts</h2>{_charts(report)}"
        f"<h2>The {len(report.uncertain)} least certain labels</h2>{uncertain}"
        "</main></body></html>\n"
    )
