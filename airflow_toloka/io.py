"""Reading task files and writing per-item results, streaming, on any ``ObjectStoragePath``.

Column mapping for TSV/CSV (case-insensitive prefixes, the convention of Toloka's own TSV upload):

- ``input:<field>`` (or ``INPUT:<field>``) → ``input_values[field]``
- ``known_solution:<field>`` / ``golden:<field>`` → ``known_solutions[0].output_values[field]``
- ``hint:<any>`` / ``message_on_unknown_solution`` → ``message_on_unknown_solution``
- ``pool_id``, ``overlap``, ``infinite_overlap``, ``reserved_for``, ``unavailable_for`` … → the task field
  (list fields take comma-separated values)
- any other column → ``input_values[column]``

``column_map`` renames columns first, e.g. ``{"url": "input:image", "label": "known_solution:result"}``.
Empty cells are left out, so one file can mix control rows (with a known solution) and general rows.
JSON files hold an array of objects; JSONL files one object per line. Both take task/suite dicts as is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from airflow_toloka.exceptions import TolokaInputError

FileFormat = Literal["tsv", "csv", "json", "jsonl"]

_LIST_FIELDS = {"reserved_for", "unavailable_for", "traits_all_of", "traits_any_of", "traits_none_of_any"}
_INT_FIELDS = {"overlap"}
_BOOL_FIELDS = {"infinite_overlap"}
_TOP_LEVEL = {"pool_id"} | _LIST_FIELDS | _INT_FIELDS | _BOOL_FIELDS
_SUFFIXES: dict[str, FileFormat] = {
    ".tsv": "tsv",
    ".tab": "tsv",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def detect_format(path: str, file_format: str | None = None) -> FileFormat:
    """The format given explicitly, or guessed from the file name.

    :param path: the file.
    :param file_format: ``tsv``, ``csv``, ``json`` or ``jsonl``, or None to guess.
    :return: the format.
    :raises TolokaInputError: for an unknown format, or a name it cannot be guessed from.
    """
    if file_format:
        fmt = file_format.lower().lstrip(".")
        if fmt not in ("tsv", "csv", "json", "jsonl"):
            raise TolokaInputError(f"file_format must be one of tsv, csv, json, jsonl; got {file_format!r}")
        return fmt  # type: ignore[return-value]
    name = str(path).lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise TolokaInputError(f"cannot tell the format of {path!r} from its name; pass file_format=")


def _storage_path(path: Any) -> Any:
    from airflow.sdk import ObjectStoragePath

    if isinstance(path, ObjectStoragePath):
        return path
    text = str(path)
    return ObjectStoragePath(text if "://" in text else f"file://{text}")


def read_items(
    path: Any,
    *,
    file_format: str | None = None,
    column_map: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one dict per data row/line, streaming; errors name the file and the row or line.

    :param path: a local path or any ``ObjectStoragePath``.
    :param file_format: the format, guessed from the name when omitted.
    :param column_map: renames of file columns before they are mapped to task fields.
    :return: the items.
    :raises TolokaInputError: for a row or line that cannot be read.
    """
    fmt = detect_format(str(path), file_format)
    with _storage_path(path).open("r", encoding="utf-8", newline="" if fmt in ("tsv", "csv") else None) as fh:
        if fmt == "jsonl":
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    yield _json_object(line, f"{path}, line {line_no}")
        elif fmt == "json":
            try:
                data = json.load(fh)
            except ValueError as exc:
                raise TolokaInputError(f"{path}: not valid JSON ({exc})") from None
            if not isinstance(data, list):
                raise TolokaInputError(f"{path}: a JSON file must hold an array of objects")
            for i, obj in enumerate(data):
                if not isinstance(obj, dict):
                    raise TolokaInputError(
                        f"{path}, element {i}: expected an object, got {type(obj).__name__}"
                    )
                yield obj
        else:
            reader = csv.reader(fh, delimiter="\t" if fmt == "tsv" else ",")
            header = next(reader, None)
            if not header:
                return
            plan = _column_plan([(column_map or {}).get(c.strip(), c.strip()) for c in header])
            where = str(path)
            for row in reader:
                if not "".join(row).strip():
                    continue
                if len(row) > len(plan):
                    raise TolokaInputError(
                        f"{where}, line {reader.line_num}: {len(row)} cells but {len(plan)} columns"
                    )
                yield _row_to_task(plan, row, where, reader.line_num)


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TolokaInputError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise TolokaInputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


# How a column's cells land in the task, worked out once per header rather than once per cell.
_INPUT, _SOLUTION, _HINT, _INT, _BOOL, _LIST, _TOP = range(7)


def _column_plan(columns: list[str]) -> list[tuple[int, str, str]]:
    """(kind, target field, column name as written) per column."""
    plan = []
    for column in columns:
        prefix, sep, name = column.partition(":")
        kind = prefix.lower() if sep else ""
        if kind == "input":
            plan.append((_INPUT, name, column))
        elif kind in ("known_solution", "golden"):
            plan.append((_SOLUTION, name, column))
        elif kind == "hint" or column == "message_on_unknown_solution":
            plan.append((_HINT, "message_on_unknown_solution", column))
        elif column in _INT_FIELDS:
            plan.append((_INT, column, column))
        elif column in _BOOL_FIELDS:
            plan.append((_BOOL, column, column))
        elif column in _LIST_FIELDS:
            plan.append((_LIST, column, column))
        elif column in _TOP_LEVEL:
            plan.append((_TOP, column, column))
        else:
            plan.append((_INPUT, column, column))
    return plan


def _row_to_task(plan: list[tuple[int, str, str]], row: list[str], path: str, line: int) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    task: dict[str, Any] = {"input_values": inputs}
    for (kind, name, column), cell in zip(plan, row, strict=False):  # short rows: missing cells are empty
        if cell == "":
            continue
        if kind == _INPUT:
            inputs[name] = cell
        elif kind == _SOLUTION:
            solutions = task.setdefault("known_solutions", [{"output_values": {}}])
            solutions[0]["output_values"][name] = cell
        elif kind == _INT:
            try:
                task[name] = int(cell)
            except ValueError:
                raise TolokaInputError(
                    f"{path}, line {line}, column '{column}': expected an integer, got {cell!r}"
                ) from None
        elif kind == _BOOL:
            value = cell.strip().lower()
            if value not in ("true", "false", "1", "0", "yes", "no"):
                raise TolokaInputError(
                    f"{path}, line {line}, column '{column}': expected true or false, got {cell!r}"
                )
            task[name] = value in ("true", "1", "yes")
        elif kind == _LIST:
            task[name] = [v.strip() for v in cell.split(",") if v.strip()]
        else:  # _HINT, _TOP
            task[name] = cell
    return task


def write_results_jsonl(path: Any, rows: Iterator[dict[str, Any]]) -> str:
    """Write one JSON object per input item.

    :param path: a local path or any ``ObjectStoragePath``.
    :param rows: the objects.
    :return: the path as a string, for XCom.
    """
    target = _storage_path(path)
    if target.protocol in ("file", "local"):
        target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
    return str(path)
