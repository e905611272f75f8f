"""Minimality and sanity metrics of a preference pair: how far the rejected response is from
the chosen one.

- ``char_similarity``: 2·M / (len(chosen) + len(rejected)), M the characters the two share
  in order, counted over the same tokens (characters for Chinese, words and whitespace for
  English; difflib's matching blocks after the common prefix and suffix): 1.0 = identical.
- ``edit_ratio``: token edits / tokens of the chosen response. Tokens are words for English
  and characters for Chinese (the tokenizer of :mod:`weaver_site.textdiff`, whitespace left
  out); each run of changed tokens counts as max(tokens removed, tokens inserted), so a word
  replaced by another counts once.
- ``sentences_changed``: the same count over sentences (cut after . ! ? and 。！？；… with any
  closing quotes): sentences removed, added or rewritten.
- ``length_ratio``: len(rejected) / len(chosen), in characters.
- ``identical``: the two are equal once whitespace runs are collapsed.

Thresholds are set per job (:class:`Thresholds`); a pair outside them is flagged with the
names of the metrics that failed, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher

from weaver_site.textdiff import tokenize

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；…])[\"'”’」』)）]*\s*")


def content_tokens(text: str) -> list[str]:
    """Words (English) or characters (Chinese) and punctuation marks, without whitespace."""
    return [t for t in tokenize(text) if not t.isspace()]


def sentences(text: str) -> list[str]:
    parts, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > start:
            parts.append(text[start : match.end()].strip())
            start = match.end()
    if start < len(text):
        parts.append(text[start:].strip())
    return [p for p in parts if p]


def _trim(a, b):
    """The common prefix and suffix of two sequences, and their middles. A minimal edit
    changes a small middle, so the matcher (quadratic at worst) only sees that."""
    n = min(len(a), len(b))
    start = 0
    while start < n and a[start] == b[start]:
        start += 1
    end = 0
    while end < n - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return start + end, a[start : len(a) - end], b[start : len(b) - end]


def _edits(a, b) -> int:
    _same, a, b = _trim(a, b)
    return sum(
        max(i2 - i1, j2 - j1)
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if tag != "equal"
    )


def _char_similarity(a: str, b: str) -> float:
    """2·M / (len(a) + len(b)), M the characters of the tokens the two share in order (the
    tokens of :func:`weaver_site.textdiff.tokenize`, whitespace included: characters for
    Chinese, so this is a character-level ratio there; whole words for English)."""
    if not a and not b:
        return 1.0
    ta, tb = tokenize(a), tokenize(b)
    start = 0
    n = min(len(ta), len(tb))
    while start < n and ta[start] == tb[start]:
        start += 1
    end = 0
    while end < n - start and ta[-1 - end] == tb[-1 - end]:
        end += 1
    matched = sum(len(t) for t in ta[:start]) + sum(len(t) for t in ta[len(ta) - end :])
    a_mid, b_mid = ta[start : len(ta) - end], tb[start : len(tb) - end]
    matcher = SequenceMatcher(None, a_mid, b_mid, autojunk=False)
    for block in matcher.get_matching_blocks():
        matched += sum(len(t) for t in a_mid[block.a : block.a + block.size])
    return 2 * matched / (len(a) + len(b))


def minimality_metrics(chosen: str, rejected: str, *, language: str = "") -> dict:
    """The metrics of a pair (``language`` is informative: the tokenizer handles both)."""
    tokens = content_tokens(chosen)
    return {
        "char_similarity": round(_char_similarity(chosen, rejected), 4),
        "edit_ratio": round(_edits(tokens, content_tokens(rejected)) / max(1, len(tokens)), 4),
        "sentences_changed": _edits(sentences(chosen), sentences(rejected)),
        "length_ratio": round(len(rejected) / max(1, len(chosen)), 4),
        "identical": " ".join(chosen.split()) == " ".join(rejected.split()),
    }


@dataclass(frozen=True)
class Thresholds:
    """What a minimal edit looks like; ``None`` turns a check off."""

    min_char_similarity: float | None = 0.7
    max_edit_ratio: float | None = 0.3
    max_sentences_changed: int | None = 3
    min_length_ratio: float | None = 0.7
    max_length_ratio: float | None = 1.3

    @classmethod
    def from_dict(cls, data: dict | None) -> Thresholds:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def as_dict(self) -> dict:
        return asdict(self)


def metric_flags(metrics: dict, thresholds: Thresholds) -> list[str]:
    """The names of the metrics outside ``thresholds`` (``identical`` always counts)."""
    t = thresholds
    checks = [
        ("identical", metrics["identical"]),
        (
            "char_similarity",
            t.min_char_similarity is not None
            and metrics["char_similarity"] < t.min_char_similarity,
        ),
        ("edit_ratio", t.max_edit_ratio is not None and metrics["edit_ratio"] > t.max_edit_ratio),
        (
            "sentences_changed",
            t.max_sentences_changed is not None
            and metrics["sentences_changed"] > t.max_sentences_changed,
        ),
        (
            "length_ratio",
            (t.min_length_ratio is not None and metrics["length_ratio"] < t.min_length_ratio)
            or (t.max_length_ratio is not None and metrics["length_ratio"] > t.max_length_ratio),
        ),
    ]
    return [name for name, failed in checks if failed]
