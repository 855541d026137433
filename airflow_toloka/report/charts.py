"""The report's charts, drawn by matplotlib (the ``report`` extra) from aggregates only, as PNG ``data:`` URIs.

Every chart is one figure of bounded size whatever the pool's: bars per label (the most common ones), per
confidence bin and per time bin, and one point per Toloker. matplotlib's object API is used without pyplot, so
nothing global (a backend, a current figure) is touched in the worker.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_toloka.exceptions import TolokaError
from airflow_toloka.report.data import CONFIDENCE_BINS, TolokerRecord

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "confidence_chart",
    "label_chart",
    "require_matplotlib",
    "submissions_chart",
    "time_bins",
    "toloker_chart",
]

MISSING = "the labeling report draws its charts with matplotlib: pip install 'airflow-toloka[report]'"
MAX_LABEL_BARS = 15
"""Labels drawn one bar each; the rest share an "other" bar."""
MAX_TIME_BARS = 60
_COLOURS = {"ok": "#2a9d8f", "rejected": "#f4a261", "banned": "#e63946", "bar": "#457b9d"}


def require_matplotlib() -> None:
    """Fail early, before any request, when the ``report`` extra is missing.

    :raises TolokaError: naming the extra.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise TolokaError(MISSING) from None


def _figure(width: float = 6.4, height: float = 3.4) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise TolokaError(MISSING) from None
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure


def _png(figure: Figure) -> str:
    """The figure as a ``data:image/png;base64`` URI (no metadata: the file names no web address)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def label_chart(label_counts: Mapping[str, int]) -> str:
    """Tasks per label, most common first; labels past :data:`MAX_LABEL_BARS` share one bar.

    :param label_counts: label text -> tasks.
    :return: the PNG data URI.
    """
    ranked = sorted(label_counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ranked[:MAX_LABEL_BARS]
    if len(ranked) > MAX_LABEL_BARS:
        shown.append(
            (f"{len(ranked) - MAX_LABEL_BARS} other labels", sum(n for _, n in ranked[MAX_LABEL_BARS:]))
        )
    figure = _figure(height=max(2.0, 0.9 + 0.32 * len(shown)))
    axes = figure.add_subplot()
    names = [name if len(name) <= 40 else name[:39] + "…" for name, _ in reversed(shown)]
    bars = axes.barh(names, [n for _, n in reversed(shown)], color=_COLOURS["bar"])
    axes.bar_label(bars, padding=3)
    axes.set_xlabel("tasks")
    axes.set_title("Label distribution")
    axes.margins(x=0.12)
    return _png(figure)


def confidence_chart(bins: list[int]) -> str:
    """Tasks per confidence bin (the share of answers, or the probability, behind each label).

    :param bins: tasks per bin of width 1 / :data:`~airflow_toloka.report.data.CONFIDENCE_BINS`.
    :return: the PNG data URI.
    """
    figure = _figure()
    axes = figure.add_subplot()
    width = 1 / CONFIDENCE_BINS
    axes.bar([i * width for i in range(len(bins))], bins, width=width, align="edge", color=_COLOURS["bar"])
    axes.set_xlim(0, 1)
    axes.set_xlabel("confidence (agreement) of the label")
    axes.set_ylabel("tasks")
    _whole_numbers(axes.yaxis)
    axes.set_title("Confidence")
    return _png(figure)


def toloker_chart(tolokers: Mapping[str, TolokerRecord]) -> str:
    """One point per Toloker who answered control tasks: accuracy on them against answers given; rejected and
    banned Tolokers in their own colours (banned wins).

    :param tolokers: Toloker id -> record.
    :return: the PNG data URI.
    """
    groups: dict[str, tuple[list[int], list[float]]] = {k: ([], []) for k in ("ok", "rejected", "banned")}
    for record in tolokers.values():
        accuracy = record.golden_accuracy
        if accuracy is None:
            continue
        kind = "banned" if record.banned else "rejected" if record.rejected else "ok"
        groups[kind][0].append(record.answers)
        groups[kind][1].append(accuracy * 100)
    figure = _figure()
    axes = figure.add_subplot()
    names = {"ok": "no work rejected", "rejected": "had work rejected", "banned": "banned"}
    for kind, (xs, ys) in groups.items():
        marker = "x" if kind == "banned" else "o"
        axes.scatter(xs, ys, s=28, c=_COLOURS[kind], marker=marker, label=f"{names[kind]} ({len(xs)})")
    axes.set_ylim(-5, 105)
    axes.set_xlabel("answers given")
    axes.set_ylabel("control tasks right, %")
    axes.set_title("Tolokers")
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure)


def time_bins(by_minute: Mapping[datetime, int], max_bars: int = MAX_TIME_BARS) -> list[tuple[datetime, int]]:
    """Per-minute counts regrouped into at most ``max_bars`` equal bins from the first minute to the last.

    :param by_minute: minute -> count.
    :param max_bars: the most bins.
    :return: ``(bin start, count)`` in time order; empty for no counts.
    """
    if not by_minute:
        return []
    first, last = min(by_minute), max(by_minute)
    minutes = int((last - first).total_seconds() // 60) + 1
    per_bin = -(-minutes // max_bars)  # ceiling: whole minutes per bin
    counts = [0] * (-(-minutes // per_bin))
    for minute, count in by_minute.items():
        counts[int((minute - first).total_seconds() // 60) // per_bin] += count
    return [(first + timedelta(minutes=i * per_bin), n) for i, n in enumerate(counts)]


def submissions_chart(by_minute: Mapping[datetime, int]) -> str:
    """Assignments submitted over time, in at most :data:`MAX_TIME_BARS` bars.

    :param by_minute: minute (UTC) -> assignments submitted in it.
    :return: the PNG data URI.
    """
    bins = time_bins(by_minute)
    figure = _figure()
    axes = figure.add_subplot()
    if bins:
        from matplotlib.dates import date2num

        starts = [float(date2num(start)) for start, _ in bins]
        width = starts[1] - starts[0] if len(starts) > 1 else 1 / 1440  # days: one minute
        counts = [n for _, n in bins]
        axes.bar(
            starts, counts, width=width, align="edge", color=_COLOURS["bar"], edgecolor="white", linewidth=0.4
        )
        _time_axis(axes)
    axes.set_xlabel("time submitted (UTC)")
    axes.set_ylabel("assignments")
    _whole_numbers(axes.yaxis)
    axes.set_title("Assignments submitted over time")
    return _png(figure)


def _time_axis(axes: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _whole_numbers(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
