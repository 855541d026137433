"""Reading operator and sensor parameters as a user writes them: a template not rendered yet, one name or
several, or a list that Jinja rendered as text.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["is_templated", "names_of", "rendered_list"]


def rendered_list(value: Any, what: str) -> Any:
    """The list a rendered template wrote as text, else the value as it is.

    Jinja renders a pulled XCom list as its Python repr (``"['a', 'b']"``) unless the DAG renders native objects,
    so JSON and Python-literal lists are both read.

    :param value: the rendered parameter.
    :param what: its name, for the error.
    :return: the list, or ``value`` unchanged when it is not the text of one.
    :raises ValueError: naming the parameter, for text that looks like a list but is not one.
    """
    if not isinstance(value, str) or not value.strip().startswith(("[", "(")):
        return value
    text = value.strip()
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(f"{what} looks like a list but cannot be parsed: {text!r}") from None


def is_templated(value: Any) -> bool:
    """Whether a parameter is still a Jinja template (known only once rendered).

    :param value: the parameter as given: a string, an ``ObjectStoragePath``, a list …
    :return: True for a string holding ``{{``.
    """
    return isinstance(value, str) and "{{" in value


def names_of(value: Any, what: str, allowed: Iterable[str] | None = None) -> list[str]:
    """A parameter that names one thing or several, as a list: ``"ACCEPTED"``, ``"ACCEPTED,SUBMITTED"``,
    ``["ACCEPTED"]``, or a list rendered as text (``"['a', 'b']"``, what Jinja makes of a list).

    :param value: the parameter, rendered.
    :param what: its name, for the error.
    :param allowed: the names it may hold (compared as given), or None for any.
    :return: the names, each once, in order.
    :raises ValueError: naming the parameter when it names nothing, is not text or a list of text, or holds a
        name not in ``allowed``.
    """
    value = rendered_list(value, what)
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable) or isinstance(value, (bytes, Mapping)):
        raise ValueError(f"{what} must be a name or a list of names, got {type(value).__name__}: {value!r}")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{what} must hold names, got {type(item).__name__}: {item!r}")
        if item.strip() and item.strip() not in names:
            names.append(item.strip())
    if not names:
        raise ValueError(f"{what} must name at least one, got {value!r}")
    if allowed is not None:
        known = tuple(allowed)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"{what}: unknown {', '.join(unknown)} (one of {', '.join(known)})")
    return names
