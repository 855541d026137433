from __future__ import annotations

from pathlib import Path

import pytest

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.io import read_items, write_results_jsonl


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
