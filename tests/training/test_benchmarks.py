"""Benchmark services: drafts, items, JSONL import (all or nothing, every problem with its file,
line and field), freezing (content hash, frozen benchmarks refuse changes), new versions,
deletion, and export that round-trips through import."""

import hashlib
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from training.evaluation import benchmarks as svc
from training.evaluation.benchmark_file import BenchmarkFileError
from training.models import Benchmark, BenchmarkItem, BenchmarkStatus

from .eval_factories import make_benchmark, make_evaluation_with_responses

pytestmark = pytest.mark.django_db


def jsonl(rows) -> str:
    return "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
    )


def write(tmp_path, rows, name="bench.jsonl"):
    path = tmp_path / name
    path.write_text(jsonl(rows), encoding="utf-8")
    return path


GOOD = [
    {
        "id": "fic-1",
        "instruction": "Write a fable about a fox and a well.",
        "language": "en",
        "domain": "fiction",
        "task": "content_writing",
        "reference": "Once, a fox…",
        "metadata": {"source": "workshop", "b": [1, {"z": 1, "a": 2}]},
    },
    {
        "id": "mkt-1",
        "instruction": "写一段咖啡店的广告语。",
        "language": "zh",
        "domain": "marketing",
    },
    {"instruction": "Summarise the memo below in two lines.", "language": "en"},
]


def keys(benchmark):
    return list(benchmark.items.order_by("position").values_list("key", flat=True))


# --- Creating and editing -------------------------------------------------------------------


def test_create_makes_a_draft_v1_and_refuses_a_name_in_use(engineer):
    b = svc.benchmark_create(name="  WriteBench ", description="d", created_by=engineer)
    assert (b.name, b.version, b.status, b.created_by) == ("WriteBench", 1, "draft", engineer)
    with pytest.raises(ValidationError) as exc:
        svc.benchmark_create(name="WriteBench")
    assert "name" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        svc.benchmark_create(name="   ")
    assert "name" in exc.value.message_dict
    assert Benchmark.objects.count() == 1


def test_update_renames_drafts_only(engineer):
    b = svc.benchmark_create(name="a")
    svc.benchmark_create(name="taken")
    with pytest.raises(ValidationError) as exc:
        svc.benchmark_update(benchmark=b, name="taken")
    assert "name" in exc.value.message_dict
    b = svc.benchmark_update(benchmark=b, name="b", description="new words")
    assert (b.name, b.description) == ("b", "new words")
    svc.benchmark_item_save(benchmark=b, key="k", instruction="Write.", language="en")
    svc.benchmark_freeze(benchmark=b, user=engineer)
    with pytest.raises(ValidationError) as exc:
        svc.benchmark_update(benchmark=b, name="c")
    assert "name" in exc.value.message_dict
    b = svc.benchmark_update(benchmark=b, description="still editable")
    b.refresh_from_db()
    assert (b.name, b.description) == ("b", "still editable")


def test_item_save_checks_every_field_and_appends(engineer):
    b = svc.benchmark_create(name="items")
    first = svc.benchmark_item_save(
        benchmark=b,
        key="a",
        instruction=" Write a haiku.\r\nAbout rain. ",
        language="en",
        domain="fiction",
        task="content_writing",
        metadata={"x": 1},
    )
    assert first.instruction == "Write a haiku.\nAbout rain."
    assert (first.position, first.domain.slug, first.task.slug) == (0, "fiction", "content_writing")
    second = svc.benchmark_item_save(benchmark=b, key="b", instruction="写诗。", language="zh")
    assert second.position == 1 and second.domain is None
    with pytest.raises(ValidationError) as exc:
        svc.benchmark_item_save(
            benchmark=b,
            key="a",
            instruction="  ",
            language="fr",
            domain="nope",
            task="nada",
            metadata=[1],
        )
    assert set(exc.value.message_dict) == {
        "key",
        "instruction",
        "language",
        "domain",
        "task",
        "metadata",
    }
    # Editing keeps its own key and position.
    edited = svc.benchmark_item_save(
        benchmark=b, item=first, key="a", instruction="Write a tanka.", language="en"
    )
    assert (edited.pk, edited.position, edited.domain) == (first.pk, 0, None)
    assert b.items.count() == 2
    svc.benchmark_item_delete(item=second)
    assert keys(b) == ["a"]


# --- Import ---------------------------------------------------------------------------------


def test_import_reads_a_file_into_the_draft(tmp_path):
    b = svc.benchmark_create(name="imp")
    svc.benchmark_item_save(benchmark=b, key="old", instruction="Write.", language="en")
    n = svc.benchmark_import(benchmark=b, file=write(tmp_path, GOOD), file_name="bench.jsonl")
    assert n == 3
    assert keys(b) == ["old", "fic-1", "mkt-1", "line-3"]
    item = b.items.get(key="fic-1")
    assert (item.domain.slug, item.task.slug, item.reference) == (
        "fiction",
        "content_writing",
        "Once, a fox…",
    )
    assert item.metadata["source"] == "workshop"
    assert b.items.get(key="mkt-1").language == "zh"


def test_import_from_an_upload_with_replace(tmp_path):
    b = svc.benchmark_create(name="upl")
    svc.benchmark_item_save(benchmark=b, key="fic-1", instruction="Old.", language="en")
    upload = SimpleUploadedFile("mine.jsonl", jsonl(GOOD).encode(), "application/x-ndjson")
    assert svc.benchmark_import(benchmark=b, file=upload, file_name="mine.jsonl", replace=True)
    assert keys(b) == ["fic-1", "mkt-1", "line-3"]
    assert b.items.get(key="fic-1").instruction.startswith("Write a fable")
    assert list(b.items.order_by("position").values_list("position", flat=True)) == [0, 1, 2]


def test_a_bad_file_imports_nothing_and_names_every_problem(tmp_path):
    b = svc.benchmark_create(name="bad")
    svc.benchmark_item_save(benchmark=b, key="fic-1", instruction="Kept.", language="en")
    rows = [
        GOOD[1],
        {"id": "x", "instruction": "Ok", "language": "de", "domain": "astrology"},
        "{not json",
        {"id": "y", "instruction": "Ok", "language": "en", "task": "flying", "colour": "red"},
    ]
    with pytest.raises(BenchmarkFileError) as exc:
        svc.benchmark_import(benchmark=b, file=write(tmp_path, rows), file_name="up.jsonl")
    found = {(p.file, p.line, p.field) for p in exc.value.problems}
    assert {
        ("up.jsonl", 2, "language"),
        ("up.jsonl", 2, "domain"),
        ("up.jsonl", 3, ""),
        ("up.jsonl", 4, "task"),
        ("up.jsonl", 4, "colour"),
    } <= found
    assert keys(b) == ["fic-1"]


def test_an_id_already_in_the_draft_is_a_problem_unless_replacing(tmp_path):
    b = svc.benchmark_create(name="dup")
    svc.benchmark_item_save(benchmark=b, key="mkt-1", instruction="Kept.", language="en")
    path = write(tmp_path, GOOD)
    with pytest.raises(BenchmarkFileError) as exc:
        svc.benchmark_import(benchmark=b, file=path, file_name="b.jsonl")
    assert [(p.file, p.line, p.field) for p in exc.value.problems] == [("b.jsonl", 2, "id")]
    assert "mkt-1" in str(exc.value)
    assert keys(b) == ["mkt-1"]
    svc.benchmark_import(benchmark=b, file=path, file_name="b.jsonl", replace=True)
    assert keys(b) == ["fic-1", "mkt-1", "line-3"]


def test_a_frozen_benchmark_refuses_every_change(engineer, tmp_path):
    b = make_benchmark(3)
    item = b.items.first()
    path = write(tmp_path, GOOD)
    attempts = [
        lambda: svc.benchmark_import(benchmark=b, file=path, file_name="b.jsonl"),
        lambda: svc.benchmark_import(benchmark=b, file=path, file_name="b.jsonl", replace=True),
        lambda: svc.benchmark_item_save(benchmark=b, key="new", instruction="W", language="en"),
        lambda: svc.benchmark_item_save(
            benchmark=b, item=item, key=item.key, instruction="Changed", language="en"
        ),
        lambda: svc.benchmark_item_delete(item=item),
        lambda: svc.benchmark_freeze(benchmark=b, user=engineer),
    ]
    before = list(b.items.values_list("key", "instruction"))
    for attempt in attempts:
        with pytest.raises(ValidationError, match="frozen"):
            attempt()
    assert list(b.items.values_list("key", "instruction")) == before


# --- Freezing, versions, deletion -----------------------------------------------------------


def test_freeze_needs_an_item_and_records_the_hash(engineer, tmp_path):
    b = svc.benchmark_create(name="fz")
    with pytest.raises(ValidationError, match="at least one"):
        svc.benchmark_freeze(benchmark=b, user=engineer)
    svc.benchmark_import(benchmark=b, file=write(tmp_path, GOOD), file_name="g.jsonl")
    expected = svc.benchmark_content_hash(benchmark=b)
    b = svc.benchmark_freeze(benchmark=b, user=engineer)
    b.refresh_from_db()
    assert b.status == BenchmarkStatus.FROZEN and b.frozen
    assert (b.frozen_by, b.frozen_at is not None) == (engineer, True)
    assert b.content_hash == expected and len(expected) == 64
    export = "".join(svc.benchmark_jsonl(benchmark=b))
    assert hashlib.sha256(export.encode()).hexdigest() == b.content_hash
    # The hash covers every field: another benchmark differing in one reference differs.
    other = svc.benchmark_create(name="fz2")
    rows = [dict(GOOD[0], reference="Another ending."), *GOOD[1:]]
    svc.benchmark_import(benchmark=other, file=write(tmp_path, rows), file_name="o.jsonl")
    assert svc.benchmark_content_hash(benchmark=other) != b.content_hash
    same = svc.benchmark_create(name="fz3")
    svc.benchmark_import(benchmark=same, file=write(tmp_path, GOOD), file_name="s.jsonl")
    assert svc.benchmark_content_hash(benchmark=same) == b.content_hash


def test_new_version_copies_items_into_a_draft(engineer):
    v1 = make_benchmark(4, name="wb")
    v2 = svc.benchmark_new_version(benchmark=v1, created_by=engineer)
    assert (v2.name, v2.version, v2.status, v2.parent, v2.created_by) == (
        "wb",
        2,
        "draft",
        v1,
        engineer,
    )
    assert list(v2.items.values_list("key", "instruction", "position", "domain", "task")) == list(
        v1.items.values_list("key", "instruction", "position", "domain", "task")
    )
    # From an older version too: always the name's highest + 1.
    v3 = svc.benchmark_new_version(benchmark=v1)
    assert (v3.version, v3.parent) == (3, v1)
    svc.benchmark_item_save(benchmark=v2, key="extra", instruction="Write.", language="en")
    assert v1.items.count() == 4 and v2.items.count() == 5


def test_delete_is_refused_while_an_evaluation_uses_the_benchmark():
    evaluation = make_evaluation_with_responses(n=2)
    with pytest.raises(ValidationError, match="evaluation"):
        svc.benchmark_delete(benchmark=evaluation.benchmark)
    assert Benchmark.objects.filter(pk=evaluation.benchmark_id).exists()
    unused = make_benchmark(2, name="unused")
    svc.benchmark_delete(benchmark=unused)
    assert not Benchmark.objects.filter(pk=unused.pk).exists()
    assert not BenchmarkItem.objects.filter(benchmark_id=unused.pk).exists()


# --- Export ---------------------------------------------------------------------------------


def test_export_then_import_round_trips(tmp_path, engineer):
    source = svc.benchmark_create(name="src")
    svc.benchmark_import(benchmark=source, file=write(tmp_path, GOOD), file_name="g.jsonl")
    svc.benchmark_item_save(
        benchmark=source,
        key="quote",
        instruction='He said "<b>no</b>" — 不。\nTwice.',
        language="en",
        reference="",
    )
    lines = list(svc.benchmark_jsonl(benchmark=source))
    assert len(lines) == 4 and all(line.endswith("\n") for line in lines)
    first = json.loads(lines[0])
    assert list(first) == [
        "id",
        "instruction",
        "language",
        "domain",
        "task",
        "reference",
        "metadata",
    ]
    assert first["metadata"] == {"b": [1, {"a": 2, "z": 1}], "source": "workshop"}
    exported = tmp_path / "export.jsonl"
    exported.write_text("".join(lines), encoding="utf-8")
    copy = svc.benchmark_create(name="copy")
    assert svc.benchmark_import(benchmark=copy, file=exported, file_name="export.jsonl") == 4

    def content(b):
        return list(
            b.items.order_by("position").values_list(
                "key", "instruction", "language", "domain", "task", "reference", "metadata"
            )
        )

    assert content(copy) == content(source)
    assert svc.benchmark_content_hash(benchmark=copy) == svc.benchmark_content_hash(
        benchmark=source
    )


def test_list_and_counts():
    b = make_benchmark(6, name="counted", language="zh")
    svc.benchmark_item_save(
        benchmark=make_benchmark(1, name="d", frozen=False), key="x", instruction="W", language="en"
    )
    row = svc.benchmarks_list().get(pk=b.pk)
    assert (row.n_items, row.n_zh, row.n_en) == (6, 6, 0)
    counts = svc.benchmark_counts(benchmark_ids=[b.pk])[b.pk]
    assert counts["language"] == [("zh", 6)]
    assert dict(counts["domain"]) == {
        "fiction": 2,
        "creative_nonfiction": 2,
        "marketing": 1,
        "technical_writing": 1,
    }
