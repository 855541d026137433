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


# Every value a crowd's input or answer may hold that a careless TSV or CSV would change.
AWKWARD = [
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "windows\r\nline",
    "back\\slash",
    "trailing backslash\\",
    "\\",
    "escape-looking \\t and \\n and \\\\",
    'quotes "inside"',
    '"',
    '""',
    '\\"\\"',
    "comma, here",
    "unicode: São Paulo, 東京, emoji 🐈",
    "line\u2028separator",
    "",
    "  spaces around  ",
    "\\N",
]


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
def test_every_value_round_trips_as_a_record_and_as_a_task(tmp_path: Path, fmt: str) -> None:
    from airflow_toloka.io import read_items

    columns = ["task_id", "INPUT:text", "INPUT:other"]
    rows = [{"task_id": f"t{i}", "INPUT:text": value} for i, value in enumerate(AWKWARD)]
    path = tmp_path / f"answers.{fmt}"
    assert write_rows(path, rows, fmt, columns) == len(AWKWARD)  # type: ignore[arg-type]
    # read back as records: the missing INPUT:other stays missing, the empty string stays an empty string
    assert list(read_records(path)) == rows
    if fmt == "jsonl":
        return  # JSONL task files hold tasks as Toloka shapes them, not flat rows
    # and fed back as a task file, every input comes back exactly
    tasks = list(read_items(path))
    assert [t["input_values"].get("text", "<missing>") for t in tasks] == AWKWARD
    assert all("other" not in t["input_values"] for t in tasks)


def test_csv_is_rfc4180_and_tsv_one_line_per_row(tmp_path: Path) -> None:
    rows = [{"a": value, "b": None} for value in AWKWARD]
    write_rows(tmp_path / "x.csv", rows, "csv", ["a", "b"])
    with (tmp_path / "x.csv").open(newline="") as fh:
        table = list(csv.reader(fh, strict=True))  # the standard library reads it as RFC 4180
    assert [r[0] for r in table[1:]] == AWKWARD and len(table) == len(AWKWARD) + 1
    raw = (tmp_path / "x.csv").read_bytes()
    assert raw.count(b'"carriage\rreturn"') == 1  # a bare carriage return is quoted, not left to split a row
    assert b'\r\n"",\r\n' in raw  # the empty string is quoted, the missing cell after it empty
    write_rows(tmp_path / "x.tsv", rows, "tsv", ["a", "b"])
    lines = (tmp_path / "x.tsv").read_bytes().split(b"\n")
    assert len(lines) == len(AWKWARD) + 2 and b"\r" not in b"".join(lines)


def test_a_killed_write_leaves_one_temporary_file_that_the_next_write_takes_over(tmp_path: Path) -> None:
    import subprocess
    import sys

    target = tmp_path / "answers.csv"
    dying = (
        "import os, signal, sys\n"
        "from airflow_toloka.tables import write_rows\n"
        "def rows():\n"
        "    yield {'a': 'x' * 100_000}\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "write_rows(sys.argv[1], rows(), 'csv', ['a'], owner='task-1')\n"
    )
    for _ in range(2):  # two tries killed half-way
        done = subprocess.run([sys.executable, "-c", dying, str(target)], check=False)
        assert done.returncode == -9
    assert [p.name for p in tmp_path.iterdir()] == [".answers.csv.task-1.partial"]  # one, not one per try
    write_rows(target, [{"a": "y"}], "csv", ["a"], owner="task-1")
    assert [p.name for p in tmp_path.iterdir()] == ["answers.csv"]
    assert target.read_bytes() == b"a\r\ny\r\n"
