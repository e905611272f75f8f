"""Selections: the best texts per domain and subdomain, by a documented, reproducible rule.

Within each (domain, subdomain) group of candidate texts (active, not filtered out, matching
the filters), every text gets

    combined = w_score * q + sum over signals s of w_s * r_s

where ``q = (llm_score - 1) / 4`` (0 for a text without a score) and ``r_s`` is the text's
percentile rank of signal ``s`` within its group (0 for the lowest, 1 for the highest; a text
without the signal counts as the lowest). Percentile ranks make signals of any scale (reads in
millions, ratings 1-5) comparable and blunt outliers. The top ``top_n`` of each group by
combined score (ties: lower id first) are selected. The parameters are stored with the
selection, and the same parameters over the same texts give the same selection.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ..models import Selection, SelectionItem
from ..selectors import candidate_texts

DEFAULT_WEIGHTS = {"score": 1.0, "signals": {}}


def _percentile_ranks(values: list[float]) -> list[float]:
    """Mid-rank percentiles in [0, 1] (ties share a rank)."""
    if len(values) <= 1:
        return [1.0 for _ in values]
    ordered = sorted(values)
    n = len(values) - 1
    return [((bisect_left(ordered, v) + bisect_right(ordered, v) - 1) / 2) / n for v in values]


def selection_create(
    *,
    name: str,
    top_n: int,
    weights: dict | None = None,
    filters: dict | None = None,
    created_by=None,
) -> Selection:
    """Rank the candidates per domain and subdomain and store the top ``top_n`` of each."""
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    filters = filters or {}
    errors = {}
    if top_n < 1:
        errors["top_n"] = _("Choose at least 1 text per group.")
    if Selection.objects.filter(name=name).exists():
        errors["name"] = _("A selection with this name exists; names identify selections.")
    signal_weights = weights.get("signals") or {}
    if not isinstance(signal_weights, dict) or not all(
        isinstance(v, int | float) for v in signal_weights.values()
    ):
        errors["weights"] = _("Signal weights must map signal names to numbers.")
    if errors:
        raise ValidationError(errors)

    groups: dict[tuple, list[tuple[int, int | None, dict]]] = defaultdict(list)
    known = ("language", "domain", "import_id", "min_score")
    rows = candidate_texts(**{k: v for k, v in filters.items() if k in known}).values_list(
        "pk", "domain_id", "subdomain_id", "llm_score", "signals"
    )
    for pk, domain_id, subdomain_id, score, signals in rows.iterator(chunk_size=5000):
        groups[(domain_id, subdomain_id)].append((pk, score, signals or {}))

    chosen: list[tuple[int, int, float]] = []  # (text id, rank, combined)
    for members in groups.values():
        combined = [
            float(weights["score"]) * ((score - 1) / 4 if score else 0.0) for _, score, _ in members
        ]
        for signal, weight in signal_weights.items():
            values = [
                float(signals[signal]) if signals.get(signal) is not None else float("-inf")
                for _, _, signals in members
            ]
            for i, rank in enumerate(_percentile_ranks(values)):
                combined[i] += float(weight) * rank
        order = sorted(range(len(members)), key=lambda i: (-combined[i], members[i][0]))
        for rank, i in enumerate(order[:top_n], start=1):
            chosen.append((members[i][0], rank, round(combined[i], 6)))

    with transaction.atomic():
        selection = Selection.objects.create(
            name=name,
            created_by=created_by,
            size=len(chosen),
            params={
                "top_n": top_n,
                "weights": weights,
                "filters": filters,
                "rule": "combined = w_score*(score-1)/4 + sum w_s*percentile_rank(s)",
            },
        )
        SelectionItem.objects.bulk_create(
            SelectionItem(selection=selection, text_id=pk, rank=rank, score=score)
            for pk, rank, score in chosen
        )
    return selection
