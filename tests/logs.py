"""A stand-in for a trigger's or an operator's logger: what it logged, line by line, for exact assertions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Recorder:
    """Records every line logged, with its level; ``on_line(level, line)`` sees each as it is logged."""

    def __init__(self, on_line: Callable[[str, str], None] | None = None) -> None:
        self.lines: list[tuple[str, str]] = []
        self.on_line = on_line

    def _record(self, level: str, message: str, *args: Any) -> None:
        line = message % args if args else message
        self.lines.append((level, line))
        if self.on_line is not None:
            self.on_line(level, line)

    def debug(self, message: str, *args: Any) -> None:
        self._record("debug", message, *args)

    def info(self, message: str, *args: Any) -> None:
        self._record("info", message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self._record("warning", message, *args)

    def error(self, message: str, *args: Any) -> None:
        self._record("error", message, *args)

    def exception(self, message: str, *args: Any) -> None:
        self._record("error", message, *args)

    def at(self, level: str) -> list[str]:
        """The lines logged at ``level``, in order."""
        return [line for lvl, line in self.lines if lvl == level]

    def progress(self) -> list[str]:
        """The progress lines (``Toloka pool <id>: <n>% done, ...``)."""
        return [line for line in self.at("info") if "% done" in line]


def recorded(logging_object: Any, on_line: Callable[[str, str], None] | None = None) -> Recorder:
    """Put a :class:`Recorder` in place of an Airflow object's logger (a trigger, an operator).

    :param logging_object: a trigger (Airflow's ``LoggingMixin``: its ``log`` reads ``_log``) or an operator (its
        ``log`` reads ``_cached_logger``).
    :param on_line: called with each line's level and text.
    :return: the recorder.
    """
    recorder = Recorder(on_line)
    logging_object._log = recorder
    logging_object._cached_logger = recorder
    return recorder
