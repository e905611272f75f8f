"""Benchmark contamination: benchmark instructions found in a training snapshot's prompts.

A benchmark must stay apart from the data a model trained on. For each benchmark instruction
this finds the snapshot rows whose prompt is

- an **exact** copy: equal once normalised (NFKC, case-folded, whitespace collapsed: the same
  normalisation that keeps a prompt on one side of a snapshot's split), or
- a **near** copy: at least ``threshold`` (default 0.7) of the instruction's character 4-grams
  occur in the prompt (containment), so a lightly edited instruction, or one with a text to work
  on appended to it, is found too. Prompts made from one template (which differ in a word or
  a number) are near copies of each other by this measure, and are reported as such.

Shingles are character 4-grams over letters and digits only (spaces and punctuation dropped),
which suits short instructions in any language, Chinese included. The benchmark's shingles are
indexed once (an inverted index of shingle to instruction); the snapshot's rows are streamed
and each prompt's shingles looked up, so the cost grows with the snapshot's size and the
benchmark may have thousands of instructions. Containment and Jaccard similarity are exact
(no sampling).
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pairs.datasets.rows import normalise_prompt

SHINGLE = 4
THRESHOLD = 0.7
#: An instruction of fewer shingles (about a dozen letters) is only matched exactly: its few
#: 4-grams occur in too many unrelated prompts.
MIN_NEAR_SHINGLES = 8
EXCERPT = 200


def shingles(text: str) -> set[str]:
    """Character 4-grams of the text's letters and digits (case-folded, NFKC); a shorter
    text is its own only shingle."""
    chars = "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())
    if len(chars) <= SHINGLE:
        return {chars} if chars else set()
    return {chars[i : i + SHINGLE] for i in range(len(chars) - SHINGLE + 1)}


@dataclass(frozen=True)
class Match:
    instruction: str  # the benchmark instruction's key (its id)
    kind: str  # "exact" or "near"
    containment: float  # share of the instruction's shingles found in the prompt
    jaccard: float
    position: int  # the row's position in the snapshot
    split: str
    pair_id: int | None
    prompt: str  # the start of the matching prompt

    def as_dict(self) -> dict:
        return {
            "instruction": self.instruction,
            "kind": self.kind,
            "containment": round(self.containment, 4),
            "jaccard": round(self.jaccard, 4),
            "position": self.position,
            "split": self.split,
            "pair_id": self.pair_id,
            "prompt": self.prompt,
        }


class BenchmarkIndex:
    """The instructions of a benchmark, ready to be looked for in prompts."""

    def __init__(self, instructions: Iterable[tuple[str, str]], *, threshold: float = THRESHOLD):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold: expected a number above 0 and at most 1, got {threshold}")
        self.threshold = threshold
        self.exact: dict[str, list[str]] = defaultdict(list)
        self.sizes: dict[str, int] = {}
        self.postings: dict[str, list[str]] = defaultdict(list)
        for key, text in instructions:
            self.exact[normalise_prompt(text)].append(key)
            grams = shingles(text)
            self.sizes[key] = len(grams)
            for gram in grams:
                self.postings[gram].append(key)

    def matches(self, prompt: str) -> list[tuple[str, str, float, float]]:
        """(instruction key, kind, containment, Jaccard) of the instructions found in
        ``prompt``."""
        exact = set(self.exact.get(normalise_prompt(prompt), ()))
        grams = shingles(prompt)
        shared: dict[str, int] = defaultdict(int)
        for gram in grams:
            for key in self.postings.get(gram, ()):
                shared[key] += 1
        found = []
        for key in exact:
            found.append((key, "exact", 1.0, 1.0))
        for key, n in shared.items():
            if key in exact or self.sizes[key] < MIN_NEAR_SHINGLES:
                continue
            containment = n / self.sizes[key]
            if containment >= self.threshold:
                jaccard = n / (self.sizes[key] + len(grams) - n)
                found.append((key, "near", containment, jaccard))
        return found


def find_in_rows(index: BenchmarkIndex, rows: Iterable[tuple[int, str, str]]) -> list[Match]:
    """Look for the benchmark in ``rows``: (position, split, canonical row JSON) as a snapshot
    stores them."""
    found = []
    for position, split, data in rows:
        row = json.loads(data)
        prompt = row.get("prompt") or ""
        for key, kind, containment, jaccard in index.matches(prompt):
            found.append(
                Match(
                    instruction=key,
                    kind=kind,
                    containment=containment,
                    jaccard=jaccard,
                    position=position,
                    split=split,
                    pair_id=row.get("pair_id"),
                    prompt=prompt[:EXCERPT],
                )
            )
    return found


def snapshot_contamination(
    *, instructions: Iterable[tuple[str, str]], snapshot_id: int, threshold: float = THRESHOLD
) -> list[Match]:
    """The benchmark instructions (key, text) found in the snapshot's prompts, in row order."""
    from pairs.models import DatasetRow

    index = BenchmarkIndex(instructions, threshold=threshold)
    rows = (
        DatasetRow.objects.filter(snapshot_id=snapshot_id)
        .order_by("position")
        .values_list("position", "split", "data")
        .iterator(chunk_size=2000)
    )
    return find_in_rows(index, rows)
