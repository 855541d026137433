"""Reading task files and writing per-item results, streaming, on any ``ObjectStoragePath``.

Text is read as UTF-8 by default, a byte-order mark (what Excel writes) skipped; pass ``encoding=`` for others.
TSV has no quoting: every line is one row and every cell is taken literally, quotes included. CSV follows
RFC 4180 (quoted cells may hold commas, quotes and line breaks) and is strict: a malformed quote is an error.
Every problem with a file is a :class:`~airflow_toloka.exceptions.TolokaInputError` naming the file and the
1-based line.

Column mapping for TSV/CSV (case-insensitive prefixes, the convention of Toloka's own TSV upload):

- ``input:<field>`` (or ``INPUT:<field>``) → ``input_values[field]``
- ``known_solution:<field>`` / ``golden:<field>`` → ``known_solutions[0].output_values[field]``
- ``hint:<any>`` / ``message_on_unknown_solution`` → ``message_on_unknown_solution``
- ``pool_id``, ``overlap``, ``infinite_overlap``, ``reserved_for``, ``unavailable_for`` … → the task field
  (list fields take comma-separated values)
- any other column → ``input_values[column]``

Two columns that land in the same field (``INPUT:url`` and ``url``) are an error, not a silent merge.
``column_map`` renames columns first, e.g. ``{"url": "input:image", "label": "known_solution:result"}``.
Empty cells are left out, so one file can mix control rows (with a known solution) and general rows.
JSON files hold an array of objects; JSONL files one object per line. Both take task/suite dicts as is.
"""

from __future__ import annotations

import codecs
import csv
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Literal

from airflow_toloka.exceptions import TolokaInputError

FileFormat = Literal["tsv", "csv", "json", "jsonl"]

_LIST_FIELDS = {"reserved_for", "unavailable_for", "traits_all_of", "traits_any_of", "traits_none_of_any"}
_INT_FIELDS = {"overlap"}
_BOOL_FIELDS = {"infinite_overlap"}
_TOP_LEVEL = {"pool_id"} | _LIST_FIELDS | _INT_FIELDS | _BOOL_FIELDS
# The largest cell worth reading: Toloka takes at most 1 MiB of input data per request (see batching.py).
MAX_CELL_CHARS = 1_048_576
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


def storage_path(path: Any) -> Any:
    """A path as an ``ObjectStoragePath`` (a plain local path gets ``file://``).

    :param path: a local path, a URL or an ``ObjectStoragePath``.
    :return: the ``ObjectStoragePath``.
    """
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
    encoding: str = "utf-8-sig",
) -> Iterator[dict[str, Any]]:
    """Yield one dict per data row/line, streaming; errors name the file and the 1-based line.

    :param path: a local path or any ``ObjectStoragePath``.
    :param file_format: the format, guessed from the name when omitted.
    :param column_map: renames of file columns before they are mapped to task fields.
    :param encoding: the text encoding; the default reads UTF-8 with or without a byte-order mark.
    :return: the items.
    :raises TolokaInputError: for a file, row or line that cannot be read.
    """
    fmt = detect_format(str(path), file_format)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise TolokaInputError(f"unknown encoding {encoding!r}") from None
    where = str(path)
    with storage_path(path).open("rb") as raw:
        lines = _text_lines(raw, encoding, where)
        if fmt == "jsonl":
            for line_no, line in enumerate(lines, 1):
                if line.strip():
                    yield _json_object(line, f"{where}, line {line_no}")
        elif fmt == "json":
            yield from _json_array("".join(lines), where)
        else:
            yield from _table_rows(lines, fmt, column_map or {}, where)


def _text_lines(raw: IO[bytes], encoding: str, where: str) -> Iterator[str]:
    """The file's lines as text, each ending in ``\n`` but the last; a decoding error names its line.

    Lines are split on ``\n`` only: other line separators (``\u2028``, form feeds) are cell content.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    pending = ""
    done = 0
    for piece in _chunks(raw):
        try:
            pending += decoder.decode(piece, final=not piece)
        except UnicodeDecodeError as exc:
            bad_line = done + pending.count("\n") + exc.object[: exc.start].count(b"\n") + 1
            raise TolokaInputError(
                f"{where}, line {bad_line}: not valid {encoding} text ({exc.reason}); pass encoding= for "
                "files in another encoding"
            ) from None
        *complete, pending = pending.split("\n")
        for line in complete:
            done += 1
            yield line + "\n"
    if pending:
        yield pending


def _chunks(raw: IO[bytes]) -> Iterator[bytes]:
    while chunk := raw.read(1 << 16):
        yield chunk
    yield b""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number Toloka accepts")


def _loads(text: str, where: str, *, whole_file: bool = False) -> Any:
    """JSON as Toloka takes it; every problem is a :class:`TolokaInputError` naming where it is."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        line = f", line {exc.lineno}" if whole_file else ""
        raise TolokaInputError(f"{where}{line}: not valid JSON ({exc.msg})") from None
    except ValueError as exc:  # NaN or Infinity
        raise TolokaInputError(f"{where}: {exc}") from None
    except RecursionError:
        raise TolokaInputError(f"{where}: JSON nested too deeply") from None


def _json_object(line: str, where: str) -> dict[str, Any]:
    obj = _loads(line, where)
    if not isinstance(obj, dict):
        raise TolokaInputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _json_array(text: str, where: str) -> Iterator[dict[str, Any]]:
    data = _loads(text, where, whole_file=True)
    if not isinstance(data, list):
        raise TolokaInputError(f"{where}: a JSON file must hold an array of objects")
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise TolokaInputError(f"{where}, element {i}: expected an object, got {type(obj).__name__}")
        yield obj


def _table_rows(
    lines: Iterable[str], fmt: FileFormat, column_map: Mapping[str, str], where: str
) -> Iterator[dict[str, Any]]:
    if csv.field_size_limit() < MAX_CELL_CHARS:
        # Process-wide, and only ever raised: a cell Toloka would take must not fail to parse.
        csv.field_size_limit(MAX_CELL_CHARS)
    if fmt == "tsv":
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(lines, delimiter=",", strict=True)
    try:
        header = next(reader, None)
        if not header:
            return
        plan = _column_plan([column_map.get(c.strip(), c.strip()) for c in header], where)
        for row in reader:
            if not "".join(row).strip():
                continue
            if len(row) > len(plan):
                raise TolokaInputError(
                    f"{where}, line {reader.line_num}: {len(row)} cells but {len(plan)} columns"
                )
            yield _row_to_task(plan, row, where, reader.line_num)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            reason = (
                f"a cell is longer than {MAX_CELL_CHARS:,} characters, more than Toloka takes in one request"
            )
        else:
            reason = f"not valid {fmt.upper()} ({exc})"
        raise TolokaInputError(f"{where}, line {reader.line_num}: {reason}") from None


# How a column's cells land in the task, worked out once per header rather than once per cell.
_INPUT, _SOLUTION, _HINT, _INT, _BOOL, _LIST, _TOP = range(7)


def _column_plan(columns: list[str], where: str) -> list[tuple[int, str, str]]:
    """(kind, target field, column name as written) per column; two columns may not fill one field."""
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
    seen: dict[str, str] = {}
    for column_kind, name, column in plan:
        target = _TARGETS.get(column_kind, "{}").format(name)
        if target in seen:
            raise TolokaInputError(
                f"{where}, line 1: columns {seen[target]!r} and {column!r} both fill {target}; rename or drop one"
            )
        seen[target] = column
    return plan


_TARGETS = {_INPUT: "input_values.{}", _SOLUTION: "known_solutions[0].output_values.{}"}


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
    """Write one JSON object per input item, atomically: readers see the old file or the whole new one.

    :param path: a local path or any ``ObjectStoragePath``.
    :param rows: the objects.
    :return: the path as a string, for XCom.
    """
    target = storage_path(path)
    if target.protocol in ("file", "local"):
        target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{uuid.uuid4().hex}.partial"
    try:
        with partial.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
                fh.write("\n")
        partial.rename(target)
    except BaseException:
        if partial.exists():
            partial.unlink()
        raise
    return str(path)


def read_json_object(path: Any) -> dict[str, Any]:
    """Read a whole JSON file holding one object (a project or pool spec).

    :param path: a local path or any ``ObjectStoragePath``.
    :return: the object.
    :raises TolokaInputError: naming the file (and line) when it cannot be read or is not one JSON object.
    """
    where = str(path)
    try:
        text = storage_path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TolokaInputError(f"{where}: cannot be read ({exc})") from None
    obj = _loads(text, where, whole_file=True)
    if not isinstance(obj, dict):
        raise TolokaInputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj
