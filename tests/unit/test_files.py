"""Files both ways: task files read as items, row files written atomically and read back, one cell rule."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.files import (
    MAX_CELL_CHARS,
    WRITE_FORMATS,
    format_of,
    read_items,
    read_records,
    write_results_jsonl,
    write_rows,
)


def test_tsv_columns_map_to_task_fields(tmp_path: Path) -> None:
    path = tmp_path / "golden.tsv"
    path.write_text(
        "INPUT:image\tGOLDEN:result\tHINT:text\tinfinite_overlap\toverlap\tcomment\n"
        "https://e.com/1.jpg\tcat\tA cat\ttrue\t\tnice\n"
        "https://e.com/2.jpg\t\t\t\t3\t\n"
    )
    assert list(read_items(path)) == [
        {
            "input_values": {"image": "https://e.com/1.jpg", "comment": "nice"},
            "known_solutions": [{"output_values": {"result": "cat"}}],
            "message_on_unknown_solution": "A cat",
            "infinite_overlap": True,
        },
        {"input_values": {"image": "https://e.com/2.jpg"}, "overlap": 3},
    ]


def test_csv_with_column_map_and_pool(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('url,label,pool_id,reserved_for\n"https://e.com/a,b.jpg",dog,7,"u1, u2"\n')
    (item,) = read_items(path, column_map={"url": "input:image", "label": "known_solution:result"})
    assert item == {
        "input_values": {"image": "https://e.com/a,b.jpg"},
        "known_solutions": [{"output_values": {"result": "dog"}}],
        "pool_id": "7",
        "reserved_for": ["u1", "u2"],
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"input_values": {}}\nnot json\n', r"a.jsonl, line 2: not valid JSON"),
        ("b.jsonl", "[1, 2]\n", r"b.jsonl, line 1: expected a JSON object"),
        ("c.json", '{"a": 1}', r"must hold an array"),
        ("d.tsv", "INPUT:x\toverlap\nv\tmany\n", r"d.tsv, line 2, column 'overlap': expected an integer"),
        ("e.tsv", "INPUT:x\tinfinite_overlap\nv\tmaybe\n", r"expected true or false"),
        ("f.tsv", "INPUT:x\nv\textra\n", r"f.tsv, line 2: 2 cells but 1 columns"),
        ("g.txt", "", r"cannot tell the format"),
        # JSON Toloka would not take
        (
            "n.jsonl",
            '{"input_values": {"a": 1}}\n{"input_values": {"a": NaN}}\n',
            r"n\.jsonl, line 2: NaN is not",
        ),
        ("i.jsonl", '{"input_values": {"a": -Infinity}}\n', r"i\.jsonl, line 1: -Infinity is not"),
        ("n.json", '[{"input_values": {"a": Infinity}}]', r"n\.json: Infinity is not"),
        ("deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n", r"deep\.jsonl, line 1: JSON nested too deeply"),
        ("bad.json", '[\n{"a": 1},\n{oops}\n]', r"bad\.json, line 3: not valid JSON"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TolokaInputError, match=message):
        list(read_items(path))


def test_jsonl_streams_and_results_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "s.jsonl"
    src.write_text(
        '{"pool_id": "1", "tasks": [{"input_values": {"a": 1}}]}\n\n{"pool_id": "2", "tasks": []}\n'
    )
    assert [item["pool_id"] for item in read_items(src)] == ["1", "2"]
    out = write_results_jsonl(tmp_path / "deep" / "r.jsonl", iter([{"index": 0, "id": "x"}]))
    assert Path(out).read_text() == '{"index":0,"id":"x"}\n'


def test_tsv_cells_are_literal_and_every_line_is_a_row(tmp_path: Path) -> None:
    # TSV has no quoting: a cell starting with a quote must not swallow the lines after it.
    rows = ["review one", '"Great" product, would buy', "plain", '"bad quote start', "after", 'ends with "']
    path = tmp_path / "reviews.tsv"
    path.write_text("INPUT:text\n" + "\n".join(rows) + "\n")
    assert [item["input_values"]["text"] for item in read_items(path)] == rows


def test_csv_keeps_rfc4180_quoting_and_refuses_a_broken_quote(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('INPUT:text,INPUT:n\n"two\nlines, ""quoted""",1\nplain,2\n')
    assert [item["input_values"] for item in read_items(path)] == [
        {"text": 'two\nlines, "quoted"', "n": "1"},
        {"text": "plain", "n": "2"},
    ]
    path.write_text('INPUT:text,INPUT:n\nok,1\n"broken"quote,2\n')
    with pytest.raises(TolokaInputError, match=r"q\.csv, line 3: not valid CSV"):
        list(read_items(path))


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffINPUT:image,overlap\nhttps://e.com/1.jpg,2\n".encode())
    assert list(read_items(path)) == [{"input_values": {"image": "https://e.com/1.jpg"}, "overlap": 2}]


def test_other_encodings_need_saying_and_the_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.tsv"
    path.write_bytes("INPUT:city\nParis\nSão Paulo\n".encode("latin-1"))
    with pytest.raises(TolokaInputError, match=r"latin\.tsv, line 3: not valid utf-8-sig text .*encoding="):
        list(read_items(path))
    assert [i["input_values"]["city"] for i in read_items(path, encoding="latin-1")] == ["Paris", "São Paulo"]
    wide = tmp_path / "wide.tsv"
    wide.write_bytes("INPUT:city\nZürich\n".encode("utf-16"))
    assert [i["input_values"]["city"] for i in read_items(wide, encoding="utf-16")] == ["Zürich"]
    with pytest.raises(TolokaInputError, match="unknown encoding 'klingon'"):
        list(read_items(path, encoding="klingon"))


def test_big_cells_up_to_tolokas_limit_are_read(tmp_path: Path) -> None:
    path = tmp_path / "big.tsv"
    big = "x" * 300_000  # more than the csv module's default field limit (128 KiB)
    path.write_text(f"INPUT:text\tINPUT:n\n{big}\t1\n")
    (item,) = read_items(path)
    assert item["input_values"] == {"text": big, "n": "1"}
    path.write_text(f"INPUT:text\nsmall\n{'y' * (MAX_CELL_CHARS + 1)}\n")
    with pytest.raises(
        TolokaInputError, match=r"big\.tsv, line 3: a cell is longer than 1,048,576 characters"
    ):
        list(read_items(path))


def test_only_newlines_end_a_row(tmp_path: Path) -> None:
    path = tmp_path / "seps.tsv"
    path.write_text("INPUT:text\na\u2028b\x0cc\r\nnext\n", newline="")
    assert [i["input_values"]["text"] for i in read_items(path)] == ["a\u2028b\x0cc", "next"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("INPUT:url\turl", "columns 'INPUT:url' and 'url' both fill input_values.url"),
        (
            "GOLDEN:label\tknown_solution:label",
            "columns 'GOLDEN:label' and 'known_solution:label' both fill known_solutions\\[0\\].output_values.label",
        ),
        ("overlap\toverlap", "columns 'overlap' and 'overlap' both fill overlap"),
    ],
)
def test_two_columns_filling_one_field_are_refused(tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "dup.tsv"
    path.write_text(f"{header}\na\tb\n")
    with pytest.raises(TolokaInputError, match=rf"dup\.tsv, line 1: {message}"):
        list(read_items(path))


def test_results_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "results.jsonl"
    write_results_jsonl(target, iter([{"index": 0, "id": "old"}]))

    def rows() -> Iterator[dict[str, Any]]:
        yield {"index": 0, "id": "new"}
        raise RuntimeError("the worker died half-way")

    with pytest.raises(RuntimeError):
        write_results_jsonl(target, rows())
    assert target.read_text() == '{"index":0,"id":"old"}\n'  # readers never see half a file
    assert [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]  # and no leftover


@pytest.mark.parametrize("sep", ["\t", ","])
def test_every_column_kind_in_tsv_and_csv(tmp_path: Path, sep: str) -> None:
    header = ["INPUT:x", "infinite_overlap", "overlap", "reserved_for", "pool_id", "GOLDEN:label", "HINT:h"]
    rows = [
        ["a", "false", "2", "u1", "7", "cat", "look"],
        ["b", "0", "", "", "", "", ""],
        ["c", "no", "", "", "", "", ""],
        ["d", "TRUE", "", "", "", "", ""],
        ["e", "1", "", "", "", "", ""],
        ["f", "yes", "", "", "", "", ""],
    ]
    path = tmp_path / ("t.tsv" if sep == "\t" else "t.csv")
    path.write_text("\n".join(sep.join(r) for r in [header, *rows]) + "\n")
    got = list(read_items(path))
    assert [item["infinite_overlap"] for item in got] == [False, False, False, True, True, True]
    assert got[0] == {
        "input_values": {"x": "a"},
        "infinite_overlap": False,
        "overlap": 2,
        "reserved_for": ["u1"],
        "pool_id": "7",
        "known_solutions": [{"output_values": {"label": "cat"}}],
        "message_on_unknown_solution": "look",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("INPUT:a,INPUT:b\nok,1\nbare\rreturn,2\n", r"line 3: not valid CSV"),
        (
            'INPUT:a,INPUT:b\nok,1\n"never closed,2\nmore\n',
            r"line 3: not valid CSV \(a quote is never closed",
        ),
        ('INPUT:a\n5" screen\n', r"line 2: not valid CSV"),
    ],
)
def test_csv_outside_rfc4180_names_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content.encode())
    with pytest.raises(TolokaInputError, match=rf"bad\.csv, {message}"):
        list(read_items(path))


@pytest.mark.parametrize("sep", ["\t", ","])
def test_an_empty_cell_is_missing_and_quotes_make_an_empty_string(tmp_path: Path, sep: str) -> None:
    path = tmp_path / ("e.tsv" if sep == "\t" else "e.csv")
    path.write_text(
        sep.join(["INPUT:a", "INPUT:b", "GOLDEN:label"]) + "\n" + sep.join(["x", '""', ""]) + "\n"
    )
    assert list(read_items(path)) == [{"input_values": {"a": "x", "b": ""}}]


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
    assert format_of("/x/labels.TSV", None, WRITE_FORMATS) == "tsv"
    assert format_of("/x/out", "parquet", WRITE_FORMATS) == "parquet"
    with pytest.raises(TolokaInputError, match=r"labels\.txt: cannot tell the format from the name"):
        format_of("/x/labels.txt", None, WRITE_FORMATS)
    with pytest.raises(
        TolokaInputError, match=r"file_format must be one of tsv, csv, json, jsonl; got 'parquet'"
    ):
        format_of("/x/tasks.parquet", "parquet")


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
        "from airflow_toloka.files import write_rows\n"
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


def test_a_backslash_before_a_quote_stays_in_tsv(tmp_path: Path) -> None:
    # JSON in a hand-written TSV cell keeps its escaped quotes; only the whole cell \"\" means two quotes.
    path = tmp_path / "json.tsv"
    path.write_text('INPUT:meta\tINPUT:q\n{"q": "say \\"hi\\""}\t\\"\\"\n')
    (item,) = read_items(path)
    assert item["input_values"] == {"meta": '{"q": "say \\"hi\\""}', "q": '""'}
