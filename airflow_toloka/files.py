r"""Files on any ``ObjectStoragePath``, both ways: task files read as items, row files (exports, labels, per-item
results) written atomically, decision files read back; one format registry, one cell rule, one atomic writer.

Formats (:data:`FORMATS`, guessed from the name or given as ``file_format``): TSV, CSV, JSON (an array of
objects) and JSONL (one object per line) are read as tasks or suites; JSONL, CSV, TSV and Parquet (the ``parquet``
extra: pyarrow) are written; JSONL, CSV and TSV are read back as records (review decisions). Text is read as UTF-8
by default, a byte-order mark (what Excel writes) skipped; pass ``encoding=`` for others. Every problem with a file
is a :class:`~airflow_toloka.exceptions.TolokaInputError` naming the file and the 1-based line.

Cells follow one rule, whoever wrote the file, so that a file this provider writes reads back exactly, as records
or as tasks (:func:`tsv_cell`, :func:`csv_cell`, :func:`table_rows`):

- TSV has no quoting: every line is one row. A backslash, tab, line feed or carriage return inside a cell is
  written ``\\``, ``\t``, ``\n``, ``\r`` (the escapes of PostgreSQL's text format) and read back; any other
  backslash is kept as it is, and quotes are literal.
- CSV follows RFC 4180: a cell holding a comma, quote, line feed or carriage return is quoted, quotes doubled;
  a malformed quote, or a carriage return outside quotes, is an error. Records are written with CRLF.
- An empty cell is a missing field (so control and general rows can share one file); an empty string is the
  cell ``""`` (in CSV, RFC 4180's quoted empty cell; in TSV the same two characters, and a value that really is
  two quotes is written ``\"\"``). Values that are not strings are written as JSON (``true``, ``3``, ``["a"]``).

Column mapping of task files in TSV/CSV (case-insensitive prefixes, the convention of Toloka's own TSV upload):

- ``input:<field>`` (or ``INPUT:<field>``) → ``input_values[field]``
- ``known_solution:<field>`` / ``golden:<field>`` → ``known_solutions[0].output_values[field]``
- ``hint:<any>`` / ``message_on_unknown_solution`` → ``message_on_unknown_solution``
- ``pool_id``, ``overlap``, ``infinite_overlap``, ``reserved_for``, ``unavailable_for`` … → the task field
  (list fields take comma-separated values)
- any other column → ``input_values[column]``

Two columns that land in the same field (``INPUT:url`` and ``url``) are an error, not a silent merge.
``column_map`` renames columns first, e.g. ``{"url": "input:image", "label": "known_solution:result"}``.
JSON and JSONL task files take task/suite dicts as they are.

Writes are atomic where the store allows it (:func:`atomic_file`): readers see the old file or the whole new one.
Parquet stores ``golden`` as a boolean, ``confidence`` as a double, ``answers`` as an integer and every other column
as a string (JSON for non-strings), written in row groups of 10,000 so memory stays flat.
"""

from __future__ import annotations

import codecs
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import IO, Any, Literal

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.models import compact_json

__all__ = [
    "FORMATS",
    "MAX_CELL_CHARS",
    "RECORD_FORMATS",
    "TASK_FORMATS",
    "WRITE_FORMATS",
    "atomic_file",
    "csv_cell",
    "format_of",
    "read_items",
    "read_json_object",
    "read_records",
    "storage_path",
    "table_rows",
    "tsv_cell",
    "write_results_jsonl",
    "write_rows",
]

FileFormat = Literal["tsv", "csv", "json", "jsonl", "parquet"]
FORMATS: dict[str, FileFormat] = {
    ".tsv": "tsv",
    ".tab": "tsv",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
"""File name endings and the format each means."""
TASK_FORMATS: tuple[FileFormat, ...] = ("tsv", "csv", "json", "jsonl")
WRITE_FORMATS: tuple[FileFormat, ...] = ("jsonl", "csv", "tsv", "parquet")
RECORD_FORMATS: tuple[FileFormat, ...] = ("jsonl", "csv", "tsv")

_LIST_FIELDS = {"reserved_for", "unavailable_for", "traits_all_of", "traits_any_of", "traits_none_of_any"}
_INT_FIELDS = {"overlap"}
_BOOL_FIELDS = {"infinite_overlap"}
_TOP_LEVEL = {"pool_id"} | _LIST_FIELDS | _INT_FIELDS | _BOOL_FIELDS
# The largest cell worth reading: Toloka takes at most 1 MiB of input data per request (see batching.py).
MAX_CELL_CHARS = 1_048_576
_TYPED = {"golden": "bool_", "confidence": "float64", "answers": "int64"}  # pyarrow type factories
_ROW_GROUP = 10_000


def format_of(
    path: Any, given: str | None = None, allowed: Sequence[FileFormat] = TASK_FORMATS
) -> FileFormat:
    """The format given, or guessed from the file name, among those a use allows.

    :param path: the file.
    :param given: ``tsv``, ``csv``, ``json``, ``jsonl`` or ``parquet``, or None to guess from the name.
    :param allowed: the formats this use reads or writes.
    :return: the format.
    :raises TolokaInputError: naming the file, for a format not allowed or a name it cannot be guessed from.
    """
    if given:
        fmt = given.lower().lstrip(".")
        if fmt not in allowed:
            raise TolokaInputError(f"{path}: file_format must be one of {', '.join(allowed)}; got {given!r}")
        return fmt  # type: ignore[return-value]
    name = str(path).lower()
    guessed = next((f for suffix, f in FORMATS.items() if name.endswith(suffix)), None)
    if guessed not in allowed:
        raise TolokaInputError(
            f"{path}: cannot tell the format from the name; pass file_format= (one of {', '.join(allowed)})"
        )
    return guessed  # type: ignore[return-value]


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
    fmt = format_of(path, file_format)
    _check_encoding(encoding)
    where = str(path)
    with storage_path(path).open("rb") as raw:
        lines = read_text_lines(raw, encoding, where)
        if fmt == "jsonl":
            yield from _jsonl_objects(lines, where)
        elif fmt == "json":
            yield from _json_array("".join(lines), where)
        else:
            yield from _table_rows(lines, fmt, column_map or {}, where)


def read_text_lines(raw: IO[bytes], encoding: str, where: str) -> Iterator[str]:
    r"""A file's lines as text, streaming, each ending in ``\n`` but the last.

    Lines are split on ``\n`` only: other line separators (``\u2028``, form feeds) are cell content.

    :param raw: the file, opened in binary mode.
    :param encoding: the text encoding.
    :param where: the file, for messages.
    :return: the lines.
    :raises TolokaInputError: naming the line that is not valid text in ``encoding``.
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


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise TolokaInputError(f"unknown encoding {encoding!r}") from None


def _jsonl_objects(lines: Iterable[str], where: str) -> Iterator[dict[str, Any]]:
    """One JSON object per non-blank line; a problem names the file and the 1-based line."""
    for line_no, line in enumerate(lines, 1):
        if line.strip():
            yield _json_object(line, f"{where}, line {line_no}")


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
    rows = table_rows(lines, fmt, where)
    first = next(rows, None)
    if first is None:
        return
    plan = _column_plan([column_map.get(c, c) for c in header_names(first[1])], where)
    for line_no, row in rows:
        if len(row) > len(plan):
            raise TolokaInputError(f"{where}, line {line_no}: {len(row)} cells but {len(plan)} columns")
        yield _row_to_task(plan, row, where, line_no)


def header_names(cells: list[str | None]) -> list[str]:
    """A header row's column names, surrounding spaces dropped.

    :param cells: the first row of :func:`table_rows`.
    :return: the names.
    """
    return [(c or "").strip() for c in cells]


# ---------------------------------------------------------------------- cells: one rule, both ways

EMPTY_STRING_CELL = '""'
"""How TSV and CSV hold an empty string, since an empty cell means a missing field."""
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_TSV_UNESCAPE = re.compile(r"\\(.)", re.S)
_TSV_UNESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
_TWO_QUOTES_CELL = '\\"\\"'  # a value that is two quotes, told apart from the empty string's ""
_CSV_SPECIAL = re.compile(r'[,"\r\n]')
_CSV_CELL = re.compile(r'"((?:[^"]|"")*)"(?=,|\Z)|([^",\r]*)(?=,|\Z)', re.S)


def tsv_cell(value: str | None) -> str:
    """A value as a TSV cell: None is the empty cell, an empty string ``""``, special characters escaped.

    :param value: the text, or None for a missing value.
    :return: the cell, without tab or line break.
    """
    if value is None:
        return ""
    if value == "" or value == EMPTY_STRING_CELL:
        return _TWO_QUOTES_CELL if value else EMPTY_STRING_CELL
    return value.translate(_TSV_ESCAPES)


def _tsv_value(cell: str) -> str | None:
    if cell == "":
        return None
    if cell == EMPTY_STRING_CELL:
        return ""
    if cell == _TWO_QUOTES_CELL:
        return EMPTY_STRING_CELL
    if "\\" not in cell:
        return cell
    return _TSV_UNESCAPE.sub(lambda m: _TSV_UNESCAPES.get(m.group(1), m.group(0)), cell)


def csv_cell(value: str | None) -> str:
    """A value as an RFC 4180 cell: None is the empty cell, an empty string ``""``, special cells quoted.

    :param value: the text, or None for a missing value.
    :return: the cell.
    """
    if value is None:
        return ""
    if value == "" or _CSV_SPECIAL.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_values(record: str, where: str, line_no: int) -> list[str | None]:
    """The cells of one CSV record (its line breaks inside quotes included, its terminator not)."""
    if '"' not in record and "\r" not in record:
        return [c or None for c in record.split(",")]
    cells: list[str | None] = []
    pos = 0
    while True:
        match = _CSV_CELL.match(record, pos)
        if match is None:
            raise TolokaInputError(
                f"{where}, line {line_no}: not valid CSV (a quote or carriage return out of place; RFC 4180 "
                "quotes a whole cell and doubles the quotes inside it)"
            )
        quoted, bare = match.groups()
        cells.append(quoted.replace('""', '"') if quoted is not None else (bare or None))
        pos = match.end()
        if pos == len(record):
            return cells
        pos += 1  # the comma
        if pos == len(record):
            cells.append(None)
            return cells


def table_rows(lines: Iterable[str], fmt: str, where: str) -> Iterator[tuple[int, list[str | None]]]:
    """The rows of a TSV or CSV text, header first, as values: None for an empty cell, else the text.

    Blank rows are skipped. Every line but the last ends in ``\\n``; a ``\\r`` before it is part of the line
    ending, not of the last cell.

    :param lines: the text, split after each ``\\n``.
    :param fmt: ``tsv`` or ``csv``.
    :param where: the file, for messages.
    :return: ``(1-based line the row starts on, values)`` per row.
    :raises TolokaInputError: naming the line of a malformed row or a cell over :data:`MAX_CELL_CHARS`.
    """
    line_no = 0
    pending: list[str] = []
    for line in lines:
        line_no += 1
        pending.append(line)
        if fmt == "csv" and sum(p.count('"') for p in pending) % 2:
            continue  # inside a quoted cell: its line breaks are content
        start = line_no - len(pending) + 1
        record = "".join(pending)
        pending.clear()
        if record.endswith("\n"):
            record = record[:-1]
        if record.endswith("\r"):
            record = record[:-1]
        if len(record) > MAX_CELL_CHARS:
            _check_cell_sizes(record, "\t" if fmt == "tsv" else ",", where, start)
        if not record.strip():
            continue
        if fmt == "tsv":
            cells = [_tsv_value(c) for c in record.split("\t")]
        else:
            cells = _csv_values(record, where, start)
        if any(c is not None for c in cells):
            yield start, cells
    if pending:
        start = line_no - len(pending) + 1
        raise TolokaInputError(
            f"{where}, line {start}: not valid CSV (a quote is never closed, or stands inside an unquoted "
            "cell: RFC 4180 quotes the whole cell and doubles the quotes inside it)"
        )


def _check_cell_sizes(record: str, sep: str, where: str, line_no: int) -> None:
    if any(len(cell) > MAX_CELL_CHARS for cell in record.split(sep)):
        raise TolokaInputError(
            f"{where}, line {line_no}: a cell is longer than {MAX_CELL_CHARS:,} characters, more than Toloka "
            "takes in one request"
        )


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


def _row_to_task(
    plan: list[tuple[int, str, str]], row: list[str | None], path: str, line: int
) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    task: dict[str, Any] = {"input_values": inputs}
    for (kind, name, column), cell in zip(plan, row, strict=False):  # short rows: missing cells are empty
        if cell is None:
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


def read_records(
    path: Any, file_format: str | None = None, encoding: str = "utf-8-sig"
) -> Iterator[dict[str, Any]]:
    """Read a small table of records (review decisions): JSONL, CSV or TSV with a header row, streaming.

    :param path: a local path or any ``ObjectStoragePath``.
    :param file_format: ``jsonl``, ``csv`` or ``tsv``, or None to guess from the name.
    :param encoding: the text encoding.
    :return: one dict per record, in file order; in CSV and TSV an empty cell is a missing key.
    :raises TolokaInputError: naming the file and line of anything unreadable.
    """
    fmt = format_of(path, file_format, RECORD_FORMATS)
    _check_encoding(encoding)
    where = str(path)
    try:
        raw = storage_path(path).open("rb")
    except OSError as exc:
        raise TolokaInputError(f"{where}: cannot be read ({exc})") from None
    with raw:
        lines = read_text_lines(raw, encoding, where)
        if fmt == "jsonl":
            yield from _jsonl_objects(lines, where)
            return
        rows = table_rows(lines, fmt, where)
        first = next(rows, None)
        if first is None:
            return
        header = header_names(first[1])
        for _, cells in rows:
            yield {name: cell for name, cell in zip(header, cells, strict=False) if cell is not None}


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


# ---------------------------------------------------------------------- writing


@contextmanager
def atomic_file(path: Any, owner: str | None = None) -> Iterator[Any]:
    """A temporary file next to ``path``, swapped in when the block ends and removed when it raises.

    Readers see the old file or the whole new one (an atomic rename on local disks; on object stores a rename is
    copy-and-delete, and the object appears only once written). The temporary file is named after ``owner``, so
    what a killed earlier try of the same writer left behind is overwritten and swapped in by the next, not
    piled up beside the target; writers that may run at once need different owners.

    :param path: the target, a local path or any ``ObjectStoragePath``.
    :param owner: the writer (e.g. one task instance: :func:`~airflow_toloka.operators.base.write_owner`); None
        for a name no other write uses.
    :return: a context manager giving the temporary ``ObjectStoragePath`` to write.
    """
    target = storage_path(path)
    if target.protocol in ("file", "local"):
        target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{owner or uuid.uuid4().hex}.partial"
    try:
        yield partial
        partial.rename(target)
    except BaseException:
        if partial.exists():
            partial.unlink()
        raise


def write_results_jsonl(path: Any, rows: Iterator[dict[str, Any]], owner: str | None = None) -> str:
    """Write one JSON object per input item, atomically: readers see the old file or the whole new one.

    :param path: a local path or any ``ObjectStoragePath``.
    :param rows: the objects.
    :param owner: the writer, see :func:`atomic_file`.
    :return: the path as a string, for XCom.
    """
    with atomic_file(path, owner) as partial, partial.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(compact_json(row))
            fh.write("\n")
    return str(path)


def _text(value: Any) -> str | None:
    """A value as cell text: strings as they are, None missing, anything else its JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def write_rows(
    path: Any,
    rows: Iterable[Mapping[str, Any]],
    file_format: FileFormat,
    columns: Sequence[str],
    owner: str | None = None,
) -> int:
    """Write rows, streaming, and swap the file in at the end.

    :param path: a local path or any ``ObjectStoragePath``.
    :param rows: the rows; keys outside ``columns`` are kept in JSONL only.
    :param file_format: ``jsonl``, ``csv``, ``tsv`` or ``parquet``.
    :param columns: the columns, in order (the header of CSV/TSV, the schema of Parquet).
    :param owner: the writer, so that a killed earlier try's temporary file is reused
        (:func:`atomic_file`).
    :return: how many rows were written.
    :raises TolokaInputError: for Parquet without pyarrow installed.
    """
    with atomic_file(path, owner) as partial:
        if file_format == "parquet":
            return _write_parquet(partial, rows, columns)
        with partial.open("w", encoding="utf-8", newline="") as fh:
            return _write_text(fh, rows, file_format, columns)


def _write_text(
    fh: IO[str], rows: Iterable[Mapping[str, Any]], fmt: FileFormat, columns: Sequence[str]
) -> int:
    count = 0
    if fmt == "jsonl":
        for row in rows:
            fh.write(compact_json(row))
            fh.write("\n")
            count += 1
        return count
    # RFC 4180 ends CSV records with CRLF; TSV lines end with LF alone.
    cell, sep, end = (csv_cell, ",", "\r\n") if fmt == "csv" else (tsv_cell, "\t", "\n")
    fh.write(sep.join(cell(c) for c in columns) + end)
    for row in rows:
        fh.write(sep.join(cell(_text(row.get(c))) for c in columns) + end)
        count += 1
    return count


def _write_parquet(partial: Any, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise TolokaInputError(
            "writing Parquet needs pyarrow: pip install 'airflow-toloka[parquet]'"
        ) from None
    schema = pa.schema([(c, getattr(pa, _TYPED.get(c, "string"))()) for c in columns])
    source = iter(rows)
    count = 0
    with partial.open("wb") as fh, pq.ParquetWriter(fh, schema) as writer:
        while chunk := list(islice(source, _ROW_GROUP)):
            data = {c: [row.get(c) if c in _TYPED else _text(row.get(c)) for row in chunk] for c in columns}
            writer.write_table(pa.Table.from_pydict(data, schema=schema))
            count += len(chunk)
    return count
