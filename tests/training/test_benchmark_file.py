"""Benchmark files: all instructions checked, every problem with its file, line and field,
nothing imported when one line is bad."""

import json

import pytest

from training.evaluation.benchmark_file import BenchmarkFileError, read_benchmark_file


def write(tmp_path, lines, name="bench.jsonl"):
    path = tmp_path / name
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
        + "\n",
        encoding="utf-8",
    )
    return path


def test_a_good_file_reads_every_instruction(tmp_path):
    path = write(
        tmp_path,
        [
            {
                "id": "f-1",
                "instruction": " Write a fable.\r\n",
                "language": "en",
                "domain": "fiction",
            },
            {"instruction": "写一首关于秋天的诗。", "language": "zh", "task": "content_writing"},
            "",
            {"id": 7, "instruction": "Summarise.", "language": "en", "metadata": {"src": "x"}},
        ],
    )
    items = read_benchmark_file(path, domains={"fiction"}, tasks={"content_writing"})
    assert [(i.key, i.language, i.line) for i in items] == [
        ("f-1", "en", 1),
        ("line-2", "zh", 2),
        ("7", "en", 4),
    ]
    assert items[0].instruction == "Write a fable." and items[0].domain == "fiction"
    assert items[2].metadata == {"src": "x"}


def test_every_problem_is_named_and_nothing_is_read(tmp_path):
    path = write(
        tmp_path,
        [
            {"id": "a", "instruction": "Write.", "language": "en"},
            {"id": "a", "instruction": "", "language": "fr", "domian": "fiction"},
            "{not json",
            {"instruction": 5, "language": "en", "task": "nope", "metadata": []},
        ],
    )
    with pytest.raises(BenchmarkFileError) as exc:
        read_benchmark_file(path, tasks={"content_writing"})
    found = {(p.line, p.field) for p in exc.value.problems}
    assert found == {
        (2, "id"),
        (2, "instruction"),
        (2, "language"),
        (2, "domian"),
        (3, ""),
        (4, "instruction"),
        (4, "task"),
        (4, "metadata"),
    }
    assert all(p.file == "bench.jsonl" for p in exc.value.problems)
    assert "bench.jsonl, line 2, id: 'a' is also on line 1" in [str(p) for p in exc.value.problems]


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(BenchmarkFileError, match="no instruction"):
        read_benchmark_file(write(tmp_path, [""]))
