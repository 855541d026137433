"""What a simulated Toloker answers: always a value the project's ``output_spec`` accepts.

The truth of a task comes from, in this order: its ``known_solutions`` (control and training tasks), then the
input field named by ``truth_field`` (default ``truth``). A worker gives the truth with probability
``accuracy`` and otherwise a different value; without a truth it answers uniformly over ``allowed_values``, or
with a value of the field's type. A spammer (:mod:`profiles`) ignores the truth and answers every field that
way (:func:`random_answer`).

Choices (emulator-only, no Toloka counterpart):

- a scalar truth in ``input_values`` answers the first output field; an object truth maps output field names to
  their truths. A truth the field's spec would refuse is ignored.
- generated values: strings ``"answer-<n>"``, integers and floats within ``min_value``/``max_value`` (default
  0..100), URLs ``https://example.com/answer/<n>``, coordinates ``"55.75,37.61"``, JSON ``{"value": <n>}``,
  arrays of one generated element; the wrong answer of a boolean is its negation.
"""

from __future__ import annotations

import random
from typing import Any

from toloka_emulator.validation import compile_input_spec

__all__ = ["answer", "generated", "random_answer", "truths"]


def generated(spec: dict[str, Any], rng: random.Random) -> Any:
    """A value of a field's type (see the module docstring for what each type gets).

    :param spec: the field's spec (``type``, maybe ``min_value``/``max_value``).
    :param rng: the random source.
    :return: the value.
    """
    ftype = str(spec.get("type", "string")).lower()
    if ftype.startswith("array_"):
        return [generated({**spec, "type": ftype[len("array_") :]}, rng)]
    n = rng.randrange(1_000_000)
    if ftype == "boolean":
        return rng.random() < 0.5
    if ftype == "integer":
        low, high = int(spec.get("min_value", 0)), int(spec.get("max_value", 100))
        return rng.randint(low, max(low, high))
    if ftype == "float":
        lo, hi = float(spec.get("min_value", 0.0)), float(spec.get("max_value", 100.0))
        return round(rng.uniform(lo, max(lo, hi)), 3)
    if ftype == "url":
        return f"https://example.com/answer/{n}"
    if ftype == "coordinates":
        return "55.75,37.61"
    if ftype == "json":
        return {"value": n}
    return f"answer-{n}"


def _fits(spec: dict[str, Any], value: Any) -> bool:
    if value is None:
        return False
    allowed = spec.get("allowed_values")
    if isinstance(allowed, list) and allowed and value not in allowed:
        return False
    try:
        check = compile_input_spec({"f": {**spec, "required": True}})
    except KeyError:  # a pools-file output spec with a type the emulator does not know: anything goes
        return True
    return check is not None and check["f"].check(value) is None


def _wrong(spec: dict[str, Any], truth: Any, rng: random.Random) -> Any:
    allowed = spec.get("allowed_values")
    if isinstance(allowed, list) and allowed:
        others = [v for v in allowed if v != truth]
        return rng.choice(others) if others else truth
    if isinstance(truth, bool):
        return not truth
    for _ in range(5):
        value = generated(spec, rng)
        if value != truth:
            return value
    return value


def truths(task: dict[str, Any], fields: list[str], truth_field: str) -> dict[str, Any]:
    """The true output values of a task, as far as they are known.

    :param task: the task (``known_solutions``, ``input_values``).
    :param fields: the output fields, in spec order.
    :param truth_field: the input field that holds the truth.
    :return: output field -> true value (empty when unknown).
    """
    known = task.get("known_solutions")
    if isinstance(known, list) and known and isinstance(known[0], dict):
        out = known[0].get("output_values")
        if isinstance(out, dict):
            return out
    values = task.get("input_values")
    if not isinstance(values, dict) or truth_field not in values:
        return {}
    truth = values[truth_field]
    if isinstance(truth, dict):
        return truth
    return {fields[0]: truth} if fields else {}


def answer(
    output_spec: dict[str, Any], task: dict[str, Any], truth_field: str, accuracy: float, rng: random.Random
) -> dict[str, Any]:
    """One worker's ``output_values`` for one task.

    :param output_spec: the project's ``task_spec.output_spec``.
    :param task: the task as issued (``input_values``, maybe ``known_solutions``).
    :param truth_field: the input field that holds the truth.
    :param accuracy: the probability of answering the truth when there is one.
    :param rng: the crowd's random source.
    :return: field -> value, one value for every output field.
    """
    fields = list(output_spec)
    known = truths(task, fields, truth_field)
    out: dict[str, Any] = {}
    for name in fields:
        spec = output_spec[name] if isinstance(output_spec[name], dict) else {}
        truth = known.get(name)
        if truth is not None and _fits(spec, truth):
            out[name] = truth if rng.random() < accuracy else _wrong(spec, truth, rng)
            continue
        out[name] = _any(spec, rng)
    return out


def random_answer(output_spec: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A spammer's ``output_values``: every field uniformly over its ``allowed_values``, else a value of its type
    (a boolean: True or False with even odds), whatever the truth.

    :param output_spec: the project's ``task_spec.output_spec``.
    :param rng: the crowd's random source.
    :return: field -> value, one value for every output field.
    """
    return {name: _any(spec if isinstance(spec, dict) else {}, rng) for name, spec in output_spec.items()}


def _any(spec: dict[str, Any], rng: random.Random) -> Any:
    allowed = spec.get("allowed_values")
    return rng.choice(allowed) if isinstance(allowed, list) and allowed else generated(spec, rng)
