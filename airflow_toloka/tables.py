"""Row files on any ``ObjectStoragePath``: exported answers and labels written as JSONL, CSV, TSV or Parquet, and
review decisions read back.

Writes are atomic where the store allows it: rows go to a hidden temporary file next to the target, renamed
over it at the end (an atomic rename on local disks; on object stores a rename is copy-and-delete, and readers
see the object whole only once written). A failure leaves the old file, never half a new one.

Cells: JSONL keeps JSON types. CSV and TSV cells follow the one rule :mod:`airflow_toloka.io` reads them by
(RFC 4180 quoting; TSV escapes; an empty cell is a missing value and ``""`` an empty string), so every file
written here reads back exactly, as decisions or as tasks. In CSV and TSV, values that are not strings are
written as JSON (``true``, ``3``, ``["a"]``). Parquet (the ``parquet`` extra: pyarrow) stores ``golden`` as a boolean, ``confidence`` as a double,
``answers`` as an integer and every other column as a string (JSON for non-strings), written in row groups of
10,000 so memory stays flat.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import IO, Any, Literal

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.io import (
    atomic_file,
    csv_cell,
    header_names,
    json_line,
    read_text_lines,
    storage_path,
    table_rows,
    tsv_cell,
)

__all__ = ["WRITE_FORMATS", "read_records", "table_format", "write_rows"]

TableFormat = Literal["jsonl", "csv", "tsv", "parquet"]
WRITE_FORMATS: tuple[TableFormat, ...] = ("jsonl", "csv", "tsv", "parquet")
_TYPED = {"golden": "bool_", "confidence": "float64", "answers": "int64"}  # pyarrow type factories
_ROW_GROUP = 10_000


def table_format(path: Any, file_format: str | None = None) -> TableFormat:
    """The format given, or guessed from the file name.

    :param path: the file.
    :param file_format: ``jsonl``, ``csv``, ``tsv`` or ``parquet``, or None to guess.
    :return: the format.
    :raises TolokaInputError: for an unknown format or a name it cannot be guessed from.
    """
    name = str(path).lower()
    guessed = next((f for f in WRITE_FORMATS if name.endswith(f".{f}")), None)
    fmt = (file_format or guessed or "").lower()
    if fmt not in WRITE_FORMATS:
        raise TolokaInputError(
            f"{path}: file_format must be one of {', '.join(WRITE_FORMATS)}"
            + ("" if file_format else " (it cannot be guessed from the name)")
        )
    return fmt  # type: ignore[return-value]


def _text(value: Any) -> str | None:
    """A value as cell text: strings as they are, None missing, anything else its JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def write_rows(
    path: Any,
    rows: Iterable[Mapping[str, Any]],
    file_format: TableFormat,
    columns: Sequence[str],
    owner: str | None = None,
) -> int:
    """Write rows, streaming, and swap the file in at the end.

    :param path: a local path or any ``ObjectStoragePath``.
    :param rows: the rows; keys outside ``columns`` are kept in JSONL only.
    :param file_format: ``jsonl``, ``csv``, ``tsv`` or ``parquet``.
    :param columns: the columns, in order (the header of CSV/TSV, the schema of Parquet).
    :param owner: the writer, so that a killed earlier try's temporary file is reused
        (:func:`airflow_toloka.io.atomic_file`).
    :return: how many rows were written.
    :raises TolokaInputError: for Parquet without pyarrow installed.
    """
    with atomic_file(path, owner) as partial:
        if file_format == "parquet":
            return _write_parquet(partial, rows, columns)
        with partial.open("w", encoding="utf-8", newline="") as fh:
            return _write_text(fh, rows, file_format, columns)


def _write_text(
    fh: IO[str], rows: Iterable[Mapping[str, Any]], fmt: TableFormat, columns: Sequence[str]
) -> int:
    count = 0
    if fmt == "jsonl":
        for row in rows:
            fh.write(json_line(row))
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
    fmt = table_format(path, file_format)
    if fmt == "parquet":
        raise TolokaInputError(f"{path}: decisions are read from JSONL, CSV or TSV")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise TolokaInputError(f"unknown encoding {encoding!r}") from None
    where = str(path)
    try:
        raw = storage_path(path).open("rb")
    except OSError as exc:
        raise TolokaInputError(f"{where}: cannot be read ({exc})") from None
    with raw:
        lines = read_text_lines(raw, encoding, where)
        if fmt == "jsonl":
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise TolokaInputError(f"{where}, line {number}: not valid JSON ({exc})") from None
                if not isinstance(record, dict):
                    raise TolokaInputError(f"{where}, line {number}: expected a JSON object")
                yield record
            return
        rows = table_rows(lines, fmt, where)
        first = next(rows, None)
        if first is None:
            return
        header = header_names(first[1])
        for _, cells in rows:
            yield {name: cell for name, cell in zip(header, cells, strict=False) if cell is not None}
