"""Cutting long texts into spans of about a target length, keeping offsets into the original.

Spans are what later steps (backtranslation, scoring) read one at a time, so each one should
read as a unit: a span is a run of whole paragraphs packed greedily up to ``target_chars``.
A paragraph longer than ``max_chars`` is cut at sentence ends (for Chinese at ``。！？；……``
and the closing quotes that follow them; for English at ``. ! ?`` followed by whitespace),
and only a single sentence longer than ``max_chars`` is cut hard (at the last space or comma
inside the limit when there is one).

Offsets always index the *original* string, so ``text[start:end]`` is the span; spans are
trimmed of surrounding whitespace, never overlap and come in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.db import transaction

# A newline, or a blank line, separates paragraphs (the corpus uses "\n\n" in English and
# "\n" in Chinese; verse lines are "\n" in both).
_PARAGRAPH_BREAK = re.compile(r"\s*\n\s*")

# Chinese sentence ends: 。！？； (and their ASCII forms), an ellipsis ……/…, then any closing
# quotes or brackets that belong to the sentence.
_ZH_SENTENCE_END = re.compile(r"(?:[。！？；!?;]|…+)+[”’」』）)〉》\]\"']*")
# English sentence ends: . ! ? (possibly repeated), closing quotes or brackets, then whitespace.
_EN_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
# Words whose trailing period does not end a sentence.
_EN_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr mme mlle messrs prof rev gen col capt lt sgt hon vs etc e.g i.e "  # noqa: SIM905
    "no vol ch p pp fig".split()
)
# Where a hard cut may fall when one sentence is longer than the limit.
_SOFT_BREAK = re.compile(r"[\s,，、：:]")


def is_chinese(language: str) -> bool:
    """Whether ``language`` (a code such as ``zh``, ``zh-hans``, ``zh_TW``) is Chinese."""
    return language.lower().replace("_", "-").split("-")[0] == "zh"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _pieces(text: str, start: int, end: int, pattern: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """The trimmed, non-empty pieces of ``text[start:end]`` between matches of ``pattern``."""
    position = start
    for match in pattern.finditer(text, start, end):
        piece = _trim(text, position, match.start())
        if piece[0] < piece[1]:
            yield piece
        position = match.end()
    piece = _trim(text, position, end)
    if piece[0] < piece[1]:
        yield piece


def _sentence_cuts(text: str, start: int, end: int, chinese: bool) -> list[int]:
    """Offsets just after each sentence end inside ``text[start:end]``."""
    cuts = []
    pattern = _ZH_SENTENCE_END if chinese else _EN_SENTENCE_END
    for match in pattern.finditer(text, start, end):
        if not chinese and text[match.start()] == ".":
            word_start = match.start()
            while word_start > start and (
                text[word_start - 1].isalpha() or text[word_start - 1] == "."
            ):
                word_start -= 1
            word = text[word_start : match.start()]
            # "Mr." or an initial such as "J." does not end the sentence.
            if word.lower() in _EN_ABBREVIATIONS or (len(word) == 1 and word.isupper()):
                continue
        if match.end() < end:
            cuts.append(match.end())
    return cuts


def _sentences(text: str, start: int, end: int, chinese: bool) -> Iterator[tuple[int, int]]:
    position = start
    for cut in _sentence_cuts(text, start, end, chinese):
        piece = _trim(text, position, cut)
        if piece[0] < piece[1]:
            yield piece
        position = cut
    piece = _trim(text, position, end)
    if piece[0] < piece[1]:
        yield piece


def _hard_cuts(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut one over-long sentence into pieces of at most ``max_chars``."""
    while end - start > max_chars:
        limit = start + max_chars
        cut = limit
        # Prefer the last space or comma in the second half of the window.
        for index in range(limit - 1, start + max_chars // 2, -1):
            if _SOFT_BREAK.match(text[index]):
                cut = index + 1
                break
        piece = _trim(text, start, cut)
        if piece[0] < piece[1]:
            yield piece
        start, end = _trim(text, cut, end)
    if start < end:
        yield start, end


def _units(
    text: str, start: int, end: int, *, chinese: bool, max_chars: int
) -> Iterator[tuple[int, int]]:
    """One paragraph as pieces no longer than ``max_chars``: the whole paragraph when it fits,
    else its sentences, and a sentence that is still too long in hard cuts."""
    if end - start <= max_chars:
        yield start, end
        return
    for sentence_start, sentence_end in _sentences(text, start, end, chinese):
        if sentence_end - sentence_start <= max_chars:
            yield sentence_start, sentence_end
        else:
            yield from _hard_cuts(text, sentence_start, sentence_end, max_chars)


def split_spans(
    text: str, *, language: str, target_chars: int = 800, max_chars: int | None = None
) -> list[tuple[int, int]]:
    """Cut ``text`` into ``(start, end)`` spans of about ``target_chars`` characters.

    Paragraphs (separated by a newline or a blank line) are packed greedily while the span,
    from its first to its last character, stays within ``target_chars``. A paragraph longer
    than ``max_chars`` (default twice the target) is cut at sentence ends and its sentences are
    packed the same way; a single sentence longer than ``max_chars`` is cut hard. So a span is
    longer than the target only when it is one paragraph (or sentence), and never longer than
    ``max_chars``.
    """
    if target_chars < 1:
        raise ValueError("target_chars must be positive")
    max_chars = 2 * target_chars if max_chars is None else max_chars
    if max_chars < target_chars:
        raise ValueError("max_chars must be at least target_chars")
    chinese = is_chinese(language)
    spans: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for paragraph_start, paragraph_end in _pieces(text, 0, len(text), _PARAGRAPH_BREAK):
        for unit_start, unit_end in _units(
            text, paragraph_start, paragraph_end, chinese=chinese, max_chars=max_chars
        ):
            if current is not None and unit_end - current[0] <= target_chars:
                current = (current[0], unit_end)
                continue
            if current is not None:
                spans.append(current)
            current = (unit_start, unit_end)
    if current is not None:
        spans.append(current)
    return spans


def text_spans_build(*, text, target_chars: int = 800) -> int:
    """Replace the :class:`~pairs.models.TextSpan` rows of ``text`` (a ``CorpusText``) with a
    fresh split; running it again gives the same rows. Returns the number of spans."""
    from pairs.models import CorpusText

    return corpus_spans_build(
        queryset=CorpusText.objects.filter(pk=text.pk), target_chars=target_chars
    )


def corpus_spans_build(*, queryset, target_chars: int = 800, batch_size: int = 500) -> int:
    """Rebuild the spans of every text in ``queryset``, a batch per transaction (texts are
    read in id order, so a long run holds no lock for long). Returns the number of spans."""
    from pairs.models import TextSpan

    total, last = 0, 0
    base = queryset.order_by("pk").only("pk", "text", "language")
    while True:
        texts = list(base.filter(pk__gt=last)[:batch_size])
        if not texts:
            return total
        rows = [
            TextSpan(text=text, ordinal=ordinal, start=start, end=end)
            for text in texts
            for ordinal, (start, end) in enumerate(
                split_spans(text.text, language=text.language, target_chars=target_chars)
            )
        ]
        with transaction.atomic():
            TextSpan.objects.filter(text__in=texts).delete()
            TextSpan.objects.bulk_create(rows, batch_size=2000)
        total += len(rows)
        last = texts[-1].pk
