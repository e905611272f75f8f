"""Benchmark contamination: exact and near copies of benchmark instructions in a snapshot."""

import pytest

from training.evaluation.contamination import (
    BenchmarkIndex,
    shingles,
    snapshot_contamination,
)

from ..factories import dpo_snapshot


def test_an_instruction_copied_into_a_snapshot_is_reported(engineer, author, admin_user):
    snapshot = dpo_snapshot(engineer, author, admin_user, n=12)  # "Write scene {k} on a river …"
    benchmark = [
        ("copied", "  WRITE scene 3 on a river   at night. "),  # case and spaces differ
        ("edited", "Write scene 7 on a river at midnight."),
        ("unrelated", "Compose a sonnet about a lighthouse keeper and the winter sea."),
        ("short", "river"),
    ]
    found = snapshot_contamination(instructions=benchmark, snapshot_id=snapshot.pk)
    by_key = {}
    for match in found:
        by_key.setdefault(match.instruction, []).append(match)
    # The snapshot's prompts come from one template, so each is also a near copy of the
    # others; the exact copy is the one that matches it once normalised.
    assert set(by_key) == {"copied", "edited"}  # nothing unrelated; "river" is too short
    (copied,) = [m for m in by_key["copied"] if m.kind == "exact"]
    assert copied.prompt == "Write scene 3 on a river at night."
    assert copied.pair_id is not None and copied.split == "train"
    assert all(m.kind == "near" and m.containment >= 0.7 for m in by_key["edited"])
    assert any(m.prompt.startswith("Write scene 7 ") for m in by_key["edited"])


def test_near_copies_with_appended_text_and_in_chinese():
    index = BenchmarkIndex(
        [
            ("zh", "写一个关于灯塔看守人在瓶子里发现一封信的短篇故事。"),
            ("en", "Summarise the following paragraph in one sentence."),
        ]
    )
    appended = "Summarise the following paragraph in one sentence.\n\nThe rain stopped at noon."
    assert [m[:2] for m in index.matches(appended)] == [("en", "near")]
    assert [m[:2] for m in index.matches("写一个关于灯塔看守人在瓶中发现一封信的短篇故事")] == [
        ("zh", "near")
    ]
    assert index.matches("请为下面这段文字写一个简短的摘要。") == []
    assert [m[:2] for m in index.matches("summarise the following paragraph in ONE sentence.")] == [
        ("en", "exact")
    ]


def test_shingles_and_threshold_checks():
    assert shingles("Ab, c!") == {"abc"}
    assert shingles("") == set()
    assert len(shingles("abcdef")) == 3
    with pytest.raises(ValueError, match="threshold"):
        BenchmarkIndex([], threshold=0)
