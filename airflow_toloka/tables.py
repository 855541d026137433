"""Row files on any ``ObjectStoragePath``: exported answers and labels written as JSONL, CSV, TSV or Parquet, and
review decisions read back.

Writes are atomic where the store allows it: rows go to a hidden temporary file next to the target, renamed
over it at the end (an atomic rename on local disks; on object stores a rename is copy-and-delete, and readers
see the object whole only once written). A failure leaves the old file, never half a new one.

Cells: JSONL keeps JSON types. CSV follows RFC 4180. TSV has no quoting, so a tab, line break or backslash in a
cell is written as ``\\t``, ``\\n``, ``\\r`` or ``\\\\`` (the escaping of PostgreSQL's text format). In CSV and TSV,
values that are not strings are written as JSON (``true``, ``3``, ``["a"]``) and a missing value as an empty
cell. Parquet (the ``parquet`` extra: pyarrow) stores ``golden`` as a boolean, ``confidence`` as a double,
``answers`` as an integer and every other column as a string (JSON for non-strings), written in row groups of
10,000 so memory stays flat.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import IO, Any, Literal

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.io import storage_path

__all__ = ["WRITE_FORMATS", "read_records", "table_format", "write_rows"]

TableFormat = Literal["jsonl", "csv", "tsv", "parquet"]
WRITE_FORMATS: tuple[TableFormat, ...] = ("jsonl", "csv", "tsv", "parquet")
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def write_rows(
    path: Any, rows: Iterable[Mapping[str, Any]], file_format: TableFormat, columns: Sequence[str]
) -> int:
    """Write rows, streaming, and swap the file in at the end.

    :param path: a local path or any ``ObjectStoragePath``.
    :param rows: the rows; keys outside ``columns`` are kept in JSONL only.
    :param file_format: ``jsonl``, ``csv``, ``tsv`` or ``parquet``.
    :param columns: the columns, in order (the header of CSV/TSV, the schema of Parquet).
    :return: how many rows were written.
    :raises TolokaInputError: for Parquet without pyarrow installed.
    """
    target = storage_path(path)
    if target.protocol in ("file", "local"):
        target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{uuid.uuid4().hex}.partial"
    try:
        if file_format == "parquet":
            count = _write_parquet(partial, rows, columns)
        else:
            with partial.open("w", encoding="utf-8", newline="") as fh:
                count = _write_text(fh, rows, file_format, columns)
        partial.rename(target)
    except BaseException:
        if partial.exists():
            partial.unlink()
        raise
    return count


def _write_text(
    fh: IO[str], rows: Iterable[Mapping[str, Any]], fmt: TableFormat, columns: Sequence[str]
) -> int:
    count = 0
    if fmt == "jsonl":
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
            count += 1
        return count
    if fmt == "csv":
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
            count += 1
        return count
    fh.write("\t".join(c.translate(_TSV_ESCAPES) for c in columns) + "\n")
    for row in rows:
        fh.write("\t".join(_cell(row.get(c)).translate(_TSV_ESCAPES) for c in columns) + "\n")
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
            data = {
                c: [
                    row.get(c) if c in _TYPED else (None if row.get(c) is None else _cell(row.get(c)))
                    for row in chunk
                ]
                for c in columns
            }
            writer.write_table(pa.Table.from_pydict(data, schema=schema))
            count += len(chunk)
    return count


def read_records(
    path: Any, file_format: str | None = None, encoding: str = "utf-8-sig"
) -> Iterator[dict[str, Any]]:
    """Read a small table of records (review decisions): JSONL, CSV or TSV with a header row.

    :param path: a local path or any ``ObjectStoragePath``.
    :param file_format: ``jsonl``, ``csv`` or ``tsv``, or None to guess from the name.
    :param encoding: the text encoding.
    :return: one dict per record, in file order.
    :raises TolokaInputError: naming the file and line of anything unreadable.
    """
    fmt = table_format(path, file_format)
    if fmt == "parquet":
        raise TolokaInputError(f"{path}: decisions are read from JSONL, CSV or TSV")
    try:
        text = storage_path(path).read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise TolokaInputError(f"{path}: cannot be read ({exc})") from None
    if fmt == "jsonl":
        # only "\n" ends a JSON line: splitlines() would also cut at U+2028 inside a string
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise TolokaInputError(f"{path}, line {number}: not valid JSON ({exc})") from None
            if not isinstance(record, dict):
                raise TolokaInputError(f"{path}, line {number}: expected a JSON object")
            yield record
        return
    if fmt == "csv":
        yield from (dict(row) for row in csv.DictReader(io.StringIO(text, newline="")))
        return
    lines = text.split("\n")
    header = [_unescape(c) for c in lines[0].rstrip("\r").split("\t")]
    for line in lines[1:]:
        if line.strip():
            cells = (_unescape(c) for c in line.rstrip("\r").split("\t"))
            yield dict(zip(header, cells, strict=False))


_UNESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def _unescape(cell: str) -> str:
    """A TSV cell as :func:`write_rows` escapes it, back to its text (an unknown escape stays as it is)."""
    if "\\" not in cell:
        return cell
    out: list[str] = []
    chars = iter(cell)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_UNESCAPES.get(nxt, "\\" + nxt))
        else:
            out.append(ch)
    return "".join(out)
