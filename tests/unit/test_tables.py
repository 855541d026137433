"""Row files: every format round-trips awkward cells, the write is atomic, decisions read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.tables import read_records, table_format, write_rows

COLUMNS = ["task_id", "INPUT:text", "OUTPUT:label", "golden", "confidence", "answers"]
ROWS = [
    {
        "task_id": "t1",
        "INPUT:text": 'tab\there, "quotes", line\nbreak \\ slash',
        "OUTPUT:label": "pos",
        "golden": False,
    },
    {
        "task_id": "t2",
        "INPUT:text": None,
        "OUTPUT:label": ["a", 1],
        "golden": True,
        "confidence": 0.5,
        "answers": 3,
    },
]


def test_jsonl_keeps_json_types(tmp_path: Path) -> None:
    path = tmp_path / "out" / "labels.jsonl"
    assert write_rows(path, iter(ROWS), "jsonl", COLUMNS) == 2
    assert [json.loads(line) for line in path.read_text().splitlines()] == ROWS


def test_csv_quotes_and_tsv_escapes(tmp_path: Path) -> None:
    write_rows(tmp_path / "a.csv", ROWS, "csv", COLUMNS)
    with (tmp_path / "a.csv").open(newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == COLUMNS and table[1][1] == ROWS[0]["INPUT:text"] and table[2][2] == '["a", 1]'
    assert table[2][1] == "" and table[1][3] == "false"
    write_rows(tmp_path / "a.tsv", ROWS, "tsv", COLUMNS)
    lines = (tmp_path / "a.tsv").read_text().split("\n")
    assert len(lines) == 4 and lines[3] == ""  # header, two rows, final newline: no cell broke a line
    assert lines[1].split("\t")[1] == 'tab\\there, "quotes", line\\nbreak \\\\ slash'


def test_parquet_has_typed_counts(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    write_rows(tmp_path / "a.parquet", ROWS, "parquet", COLUMNS)
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.column("golden").to_pylist() == [False, True]
    assert table.column("answers").to_pylist() == [None, 3]
    assert table.column("OUTPUT:label").to_pylist() == ["pos", '["a", 1]']


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text("old\n")

    def broken() -> object:
        yield ROWS[0]
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError):
        write_rows(path, broken(), "jsonl", COLUMNS)  # type: ignore[arg-type]
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["labels.jsonl"]


def test_formats_are_guessed_or_refused() -> None:
    assert table_format("/x/labels.TSV") == "tsv" and table_format("/x/out", "parquet") == "parquet"
    with pytest.raises(TolokaInputError, match="cannot be guessed"):
        table_format("/x/labels.txt")


def test_decisions_read_from_every_text_format(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text(
        '\ufeffassignment_id,verdict,public_comment\na1,ACCEPTED,\na2,REJECTED,"bad, sorry"\n'
    )
    (tmp_path / "d.tsv").write_text("assignment_id\tverdict\na1\tACCEPTED\n")
    (tmp_path / "d.jsonl").write_text('{"assignment_id": "a1", "verdict": "ACCEPTED"}\n\n')
    assert list(read_records(tmp_path / "d.csv"))[1] == {
        "assignment_id": "a2",
        "verdict": "REJECTED",
        "public_comment": "bad, sorry",
    }
    assert list(read_records(tmp_path / "d.tsv")) == [{"assignment_id": "a1", "verdict": "ACCEPTED"}]
    assert list(read_records(tmp_path / "d.jsonl")) == [{"assignment_id": "a1", "verdict": "ACCEPTED"}]
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n[1]\n')
    with pytest.raises(TolokaInputError, match=r"bad\.jsonl, line 2: expected a JSON object"):
        list(read_records(tmp_path / "bad.jsonl"))


def test_decision_files_keep_what_their_writers_put_in(tmp_path: Path) -> None:
    rows = [{"assignment_id": "a1", "verdict": "REJECTED", "public_comment": "line one\nline\ttwo \\ end"}]
    for fmt in ("csv", "tsv", "jsonl"):
        path = tmp_path / f"d.{fmt}"
        write_rows(path, rows, fmt, ["assignment_id", "verdict", "public_comment"])  # type: ignore[arg-type]
        assert list(read_records(path)) == rows, fmt
    (tmp_path / "sep.jsonl").write_text('{"assignment_id": "a1", "public_comment": "a\u2028b"}\n')
    (record,) = read_records(tmp_path / "sep.jsonl")
    assert record["public_comment"] == "a\u2028b"
