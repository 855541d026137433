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
    """The format given explicitly, or guessed from the file name."""
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
    """Yield one dict per data row/line, streaming; errors name the file and the row or line."""
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
            columns = [(column_map or {}).get(c.strip(), c.strip()) for c in header]
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if len(row) > len(columns):
                    raise TolokaInputError(
                        f"{path}, line {line}: {len(row)} cells but {len(columns)} columns"
                    )
                yield _row_to_task(columns, row, f"{path}, line {line}")


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TolokaInputError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise TolokaInputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _row_to_task(columns: list[str], row: list[str], where: str) -> dict[str, Any]:
    task: dict[str, Any] = {"input_values": {}}
    for column, cell in zip(columns, row, strict=False):  # short rows: missing cells are empty
        if cell == "":
            continue
        prefix, sep, name = column.partition(":")
        kind = prefix.lower() if sep else ""
        if kind == "input":
            task["input_values"][name] = cell
        elif kind in ("known_solution", "golden"):
            solutions = task.setdefault("known_solutions", [{"output_values": {}}])
            solutions[0]["output_values"][name] = cell
        elif kind == "hint" or column == "message_on_unknown_solution":
            task["message_on_unknown_solution"] = cell
        elif column in _INT_FIELDS:
            try:
                task[column] = int(cell)
            except ValueError:
                raise TolokaInputError(
                    f"{where}, column '{column}': expected an integer, got {cell!r}"
                ) from None
        elif column in _BOOL_FIELDS:
            value = cell.strip().lower()
            if value not in ("true", "false", "1", "0", "yes", "no"):
                raise TolokaInputError(f"{where}, column '{column}': expected true or false, got {cell!r}")
            task[column] = value in ("true", "1", "yes")
        elif column in _LIST_FIELDS:
            task[column] = [v.strip() for v in cell.split(",") if v.strip()]
        elif column in _TOP_LEVEL:
            task[column] = cell
        else:
            task["input_values"][column] = cell
    return task


def write_results_jsonl(path: Any, rows: Iterator[dict[str, Any]]) -> str:
    """Write one JSON object per input item; returns the path as a string for XCom."""
    target = _storage_path(path)
    if target.protocol in ("file", "local"):
        target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
    return str(path)
