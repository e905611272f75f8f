"""Celery tasks that clean the corpus: quality filters, spans, near-duplicates."""

from __future__ import annotations

from typing import Any

from celery import shared_task

__all__ = ["run_dedup", "run_filter", "run_prepare", "run_spans"]


@shared_task(name="corpus.filter")
def run_filter(import_id: int | None = None, config: dict[str, Any] | None = None) -> dict:
    """Run the quality filter on the texts of one import (all of them, so a re-run with new
    thresholds re-judges them), or on every text still pending. ``config`` overrides
    :class:`~pairs.corpus.quality.QualityConfig` defaults by name."""
    from pairs.corpus.quality import QualityConfig, corpus_filter_run
    from pairs.models import CorpusText, Verdict

    if import_id is not None:
        texts = CorpusText.objects.filter(corpus_import_id=import_id)
    else:
        texts = CorpusText.objects.filter(verdict=Verdict.PENDING)
    return corpus_filter_run(queryset_or_ids=texts, config=QualityConfig.from_dict(config))


@shared_task(name="corpus.dedup")
def run_dedup() -> dict:
    """Find near-duplicates across the whole corpus and rebuild the clusters."""
    from pairs.corpus.neardup import near_duplicates_find

    return near_duplicates_find()


@shared_task(name="corpus.spans")
def run_spans(import_id: int | None = None, target_chars: int = 800) -> int:
    """Cut the texts of one import (or every text without spans) into spans."""
    from pairs.corpus.spans import corpus_spans_build
    from pairs.models import CorpusText

    texts = CorpusText.objects.all()
    if import_id is not None:
        texts = texts.filter(corpus_import_id=import_id)
    else:
        texts = texts.filter(spans__isnull=True)
    return corpus_spans_build(queryset=texts, target_chars=target_chars)


@shared_task(name="corpus.prepare")
def run_prepare(import_id: int) -> dict:
    """After an import: filter its texts, cut them into spans, then find near-duplicates
    across the corpus. Each step is idempotent, so a second delivery does no harm."""
    return {
        "filter": run_filter(import_id),
        "spans": run_spans(import_id),
        "dedup": run_dedup(),
    }
