"""Reads of the corpus (imports and their issues, texts with filters, statistics, selections),
of instruction pairs (filters, neighbours, few-shot versions) and of preference pairs (filters,
statistics per principle).

Every list is bounded by the caller's paginator; every query that walks relations names them in
``select_related``/``prefetch_related`` so a page costs a fixed number of queries.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from principles.models import (
    Domain,
    FewShotCaseVersion,
    Principle,
    PrincipleVersion,
    Subdomain,
    Task,
)

from .charts import bins_for
from .models import (
    CorpusImport,
    CorpusText,
    ImportIssue,
    InstructionPair,
    JudgeVerdict,
    PairMark,
    PairOrigin,
    PairStatus,
    PreferencePair,
    PreferenceStatus,
    Selection,
    SelectionItem,
    TextSpan,
    Verdict,
)

#: Columns the text lists need; the text body is read too (for search), never the MinHash.
TEXT_LIST_DEFER = ("minhash", "llm_reason", "verdict_reasons")


def import_list() -> QuerySet[CorpusImport]:
    return CorpusImport.objects.select_related("created_by").order_by("-created_at", "-id")


def import_get(*, pk) -> CorpusImport | None:
    return import_list().filter(pk=pk).first()


def import_issues(*, corpus_import: CorpusImport) -> QuerySet[ImportIssue]:
    return corpus_import.issues.order_by("file", "line")


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class TextFilters:
    """The corpus browser's filters, read from query parameters (page and API alike)."""

    q: str = ""
    language: str = ""
    domain: str = ""
    subdomain: str = ""
    verdict: str = ""
    score_min: int | None = None
    score_max: int | None = None
    selection: int | None = None
    corpus_import: int | None = None
    active: bool = False

    @classmethod
    def from_params(cls, params) -> TextFilters:
        verdict = params.get("verdict", "")
        return cls(
            q=(params.get("q") or "").strip()[:200],
            language=(params.get("language") or "").strip()[:8],
            domain=(params.get("domain") or "").strip()[:64],
            subdomain=(params.get("subdomain") or "").strip()[:64],
            verdict=verdict if verdict in Verdict.values else "",
            score_min=_int(params.get("score_min")),
            score_max=_int(params.get("score_max")),
            selection=_int(params.get("selection")),
            corpus_import=_int(params.get("import")),
            active=(params.get("active") or "") in ("1", "true", "on"),
        )

    @property
    def any(self) -> bool:
        return any(
            (
                self.q,
                self.language,
                self.domain,
                self.subdomain,
                self.verdict,
                self.score_min is not None,
                self.score_max is not None,
                self.selection,
                self.corpus_import,
                self.active,
            )
        )


def text_list(*, filters: TextFilters) -> QuerySet[CorpusText]:
    qs = CorpusText.objects.select_related("domain", "subdomain", "corpus_import").defer(
        *TEXT_LIST_DEFER
    )
    if filters.q:
        qs = qs.filter(Q(title__icontains=filters.q) | Q(text__icontains=filters.q))
    if filters.language:
        qs = qs.filter(language=filters.language)
    if filters.domain:
        qs = qs.filter(domain__slug=filters.domain)
    if filters.subdomain:
        qs = qs.filter(subdomain__slug=filters.subdomain)
    if filters.verdict:
        qs = qs.filter(verdict=filters.verdict)
    if filters.score_min is not None:
        qs = qs.filter(llm_score__gte=filters.score_min)
    if filters.score_max is not None:
        qs = qs.filter(llm_score__lte=filters.score_max)
    if filters.selection:
        qs = qs.filter(
            pk__in=SelectionItem.objects.filter(selection_id=filters.selection).values("text_id")
        )
    if filters.corpus_import:
        qs = qs.filter(corpus_import_id=filters.corpus_import)
    if filters.active:
        qs = qs.filter(is_active=True)
    return qs.order_by("id")


def text_get(*, pk) -> CorpusText | None:
    return (
        CorpusText.objects.select_related(
            "domain", "subdomain", "corpus_import", "cluster", "llm_endpoint"
        )
        .prefetch_related(Prefetch("spans", queryset=TextSpan.objects.order_by("ordinal")))
        .filter(pk=pk)
        .first()
    )


def text_cluster_members(*, text: CorpusText) -> list[CorpusText]:
    if text.cluster_id is None:
        return []
    return list(
        CorpusText.objects.filter(cluster_id=text.cluster_id)
        .only("id", "title", "text", "is_active", "language", "length", "cluster_id")
        .order_by("-is_active", "id")[:200]
    )


def text_selections(*, text: CorpusText) -> list[SelectionItem]:
    return list(
        SelectionItem.objects.filter(text=text).select_related("selection").order_by("-id")[:50]
    )


def browser_choices() -> dict:
    """Options of the browser's filters."""
    return {
        "domains": list(Domain.objects.all()),
        "subdomains": list(Subdomain.objects.select_related("domain")),
        "languages": list(
            CorpusText.objects.order_by("language").values_list("language", flat=True).distinct()
        ),
        "verdicts": Verdict.choices,
        "selections": list(Selection.objects.only("id", "name").order_by("name")[:500]),
        "imports": list(CorpusImport.objects.only("id", "name").order_by("-id")[:500]),
    }


def corpus_counts() -> dict:
    """Text counts per domain, language and verdict."""

    def by(field):
        return list(CorpusText.objects.values(field).annotate(n=Count("id")).order_by(field))

    domains = {d.pk: d for d in Domain.objects.all()}
    per_domain = [{"domain": domains.get(row["domain"]), "n": row["n"]} for row in by("domain")]
    labels = dict(Verdict.choices)
    per_verdict = [
        {
            "verdict": row["verdict"],
            "label": labels.get(row["verdict"], row["verdict"]),
            "n": row["n"],
        }
        for row in by("verdict")
    ]
    return {
        "total": CorpusText.objects.count(),
        "per_domain": per_domain,
        "per_language": by("language"),
        "per_verdict": per_verdict,
    }


def corpus_values_per_domain() -> dict:
    """Lengths and LLM scores of the active texts, grouped by domain.

    Two narrow columns per row; a corpus of a few hundred thousand texts fits in memory.
    """
    lengths: dict = defaultdict(list)
    scores: dict = defaultdict(list)
    rows = CorpusText.objects.filter(is_active=True).values_list("domain_id", "length", "llm_score")
    for domain_id, length, score in rows.iterator(chunk_size=5000):
        lengths[domain_id].append(length)
        if score is not None:
            scores[domain_id].append(score)
    domains = {d.pk: d for d in Domain.objects.all()}
    keys = sorted(set(lengths) | set(scores), key=lambda k: (k is None, str(domains.get(k, ""))))
    return [{"domain": domains.get(k), "lengths": lengths[k], "scores": scores[k]} for k in keys]


def selection_list() -> QuerySet[Selection]:
    return Selection.objects.select_related("created_by").order_by("-created_at", "-id")


def selection_get(*, pk) -> Selection | None:
    items = SelectionItem.objects.select_related(
        "text", "text__domain", "text__subdomain"
    ).order_by("rank", "id")
    return (
        selection_list().prefetch_related(Prefetch("items", queryset=items)).filter(pk=pk).first()
    )


def candidate_texts(
    *,
    language: str = "",
    domain: str = "",
    subdomain: str = "",
    import_id: int | None = None,
    text_ids: list[int] | None = None,
    min_score: int | None = None,
) -> QuerySet[CorpusText]:
    """The texts later steps work on (scoring, selections): active, not filtered out, and
    matching whichever filters are given."""
    qs = CorpusText.objects.filter(is_active=True).exclude(verdict=Verdict.DROP)
    if language:
        qs = qs.filter(language=language)
    if domain:
        qs = qs.filter(domain__slug=domain)
    if subdomain:
        qs = qs.filter(subdomain__slug=subdomain)
    if import_id:
        qs = qs.filter(corpus_import_id=import_id)
    if text_ids:
        qs = qs.filter(pk__in=text_ids)
    if min_score:
        qs = qs.filter(llm_score__gte=int(min_score))
    return qs


# --- instruction pairs ------------------------------------------------------------------------

#: The browser's status choice meaning every pair, failed ones included ("" hides failed ones).
STATUS_ALL = "all"
#: The mark choice meaning pairs nobody has marked.
MARK_NONE = "none"
#: Long columns the pair lists never show.
PAIR_LIST_DEFER = (
    "reasoning",
    "raw_text",
    "error",
    "curation_reason",
    "curation_details",
    "metadata",
    "context",
)


@dataclass(frozen=True)
class InstructionPairFilters:
    """The instruction pair browser's filters, read from query parameters (page and API).

    ``status`` empty means every status but ``failed``; ``all`` means every status.
    ``mark`` is ``good``, ``bad``, ``none`` (not marked) or empty (any).
    """

    q: str = ""
    task: str = ""
    domain: str = ""
    subdomain: str = ""
    language: str = ""
    status: str = ""
    origin: str = ""
    mark: str = ""
    job: int | None = None
    min_score: int | None = None
    max_score: int | None = None

    @classmethod
    def from_params(cls, params) -> InstructionPairFilters:
        status = (params.get("status") or "").strip()
        origin = (params.get("origin") or "").strip()
        mark = (params.get("mark") or "").strip()
        return cls(
            q=(params.get("q") or "").strip()[:200],
            task=(params.get("task") or "").strip()[:64],
            domain=(params.get("domain") or "").strip()[:64],
            subdomain=(params.get("subdomain") or "").strip()[:64],
            language=(params.get("language") or "").strip()[:8],
            status=status if status in (*PairStatus.values, STATUS_ALL) else "",
            origin=origin if origin in PairOrigin.values else "",
            mark=mark if mark in (PairMark.GOOD, PairMark.BAD, MARK_NONE) else "",
            job=_int(params.get("job")),
            min_score=_int(params.get("min_score")),
            max_score=_int(params.get("max_score")),
        )

    @property
    def any(self) -> bool:
        return any(
            (
                self.q,
                self.task,
                self.domain,
                self.subdomain,
                self.language,
                self.status,
                self.origin,
                self.mark,
                self.job,
                self.min_score is not None,
                self.max_score is not None,
            )
        )


def instruction_pair_list(*, filters: InstructionPairFilters) -> QuerySet[InstructionPair]:
    """Pairs matching ``filters``, newest first, with what the lists show joined in."""
    qs = InstructionPair.objects.select_related(
        "task", "domain", "subdomain", "endpoint", "marked_by"
    ).defer(*PAIR_LIST_DEFER)
    if filters.q:
        qs = qs.filter(Q(instruction__icontains=filters.q) | Q(response__icontains=filters.q))
    if filters.task:
        qs = qs.filter(task__slug=filters.task)
    if filters.domain:
        qs = qs.filter(domain__slug=filters.domain)
    if filters.subdomain:
        qs = qs.filter(subdomain__slug=filters.subdomain)
    if filters.language:
        qs = qs.filter(language=filters.language)
    if filters.status == STATUS_ALL:
        pass
    elif filters.status:
        qs = qs.filter(status=filters.status)
    else:
        qs = qs.exclude(status=PairStatus.FAILED)
    if filters.origin:
        qs = qs.filter(origin=filters.origin)
    if filters.mark == MARK_NONE:
        qs = qs.filter(mark=PairMark.NONE)
    elif filters.mark:
        qs = qs.filter(mark=filters.mark)
    if filters.job:
        qs = qs.filter(job_id=filters.job)
    if filters.min_score is not None:
        qs = qs.filter(curation_score__gte=filters.min_score)
    if filters.max_score is not None:
        qs = qs.filter(curation_score__lte=filters.max_score)
    return qs.order_by("-id")


def instruction_pair_get(*, pk) -> InstructionPair | None:
    return (
        InstructionPair.objects.select_related(
            "span__text",
            "source_text",
            "domain",
            "subdomain",
            "task",
            "endpoint",
            "curation_endpoint",
            "job",
            "call",
            "duplicate_of",
            "marked_by",
            "pair_import",
        )
        .filter(pk=pk)
        .first()
    )


def instruction_pair_neighbours(
    *, pair: InstructionPair, filters: InstructionPairFilters
) -> tuple[int | None, int | None]:
    """Ids of the pairs before and after ``pair`` in the browser's order (newest first)."""
    ids = instruction_pair_list(filters=filters).values_list("id", flat=True)
    previous = ids.filter(id__gt=pair.pk).order_by("id").first()
    following = ids.filter(id__lt=pair.pk).order_by("-id").first()
    return previous, following


def instruction_pair_fewshot_cases(*, pair: InstructionPair) -> list[dict]:
    """The few-shot case versions a pair was made with: version id, case id (None when the
    version is gone) and version number, in the order the pair lists them."""
    ids = [_int(v) for v in (pair.fewshot_versions or []) if not isinstance(v, bool)]
    ids = [v for v in ids if v is not None]
    found = {
        row["id"]: row
        for row in FewShotCaseVersion.objects.filter(pk__in=ids).values("id", "case_id", "number")
    }
    return [
        {
            "id": v,
            "case_id": found.get(v, {}).get("case_id"),
            "number": found.get(v, {}).get("number"),
        }
        for v in ids
    ]


def instruction_pair_choices() -> dict:
    """Options of the instruction pair browser's filters."""
    return {
        "tasks": list(Task.objects.all()),
        "domains": list(Domain.objects.all()),
        "subdomains": list(Subdomain.objects.select_related("domain")),
        "languages": list(
            InstructionPair.objects.order_by("language")
            .values_list("language", flat=True)
            .distinct()
        ),
        "statuses": PairStatus.choices,
        "origins": PairOrigin.choices,
        "marks": [(PairMark.GOOD, PairMark.GOOD.label), (PairMark.BAD, PairMark.BAD.label)],
        "status_all": STATUS_ALL,
        "mark_none": MARK_NONE,
    }


# --- preference pairs -------------------------------------------------------------------------

#: Filter values of the preference pair list: flagged or not, and pairs nobody judged.
FLAGGED_YES = "yes"
FLAGGED_NO = "no"
JUDGE_NONE = "none"
#: The numeric minimality metrics (see :mod:`pairs.generation.metrics`), in display order.
PREFERENCE_METRICS = ("char_similarity", "edit_ratio", "sentences_changed", "length_ratio")
#: Every metric a pair stores, ``identical`` (a boolean) included.
PREFERENCE_METRIC_NAMES = (*PREFERENCE_METRICS, "identical")
#: Long columns the preference pair list never shows.
PREFERENCE_LIST_DEFER = (
    "context",
    "chosen",
    "rejected",
    "selection_reason",
    "rewrite_rationale",
    "raw_text",
    "error",
    "params",
    "request_hashes",
    "call_ids",
    "judge_reason",
)


@dataclass(frozen=True)
class PreferencePairFilters:
    """The preference pair list's filters, read from query parameters (page and API).

    ``status`` empty means every status but ``failed``; ``all`` means every status.
    ``flagged`` is ``yes``, ``no`` or empty (any); ``judge`` is ``pass``, ``fail``, ``none``
    (not judged) or empty (any).
    """

    q: str = ""
    principle: int | None = None
    principle_version: int | None = None
    status: str = ""
    flagged: str = ""
    judge: str = ""
    domain: str = ""
    task: str = ""
    language: str = ""
    job: int | None = None

    @classmethod
    def from_params(cls, params) -> PreferencePairFilters:
        status = (params.get("status") or "").strip()
        flagged = (params.get("flagged") or "").strip()
        judge = (params.get("judge") or "").strip()
        return cls(
            q=(params.get("q") or "").strip()[:200],
            principle=_int(params.get("principle")),
            principle_version=_int(params.get("principle_version")),
            status=status if status in (*PreferenceStatus.values, STATUS_ALL) else "",
            flagged=flagged if flagged in (FLAGGED_YES, FLAGGED_NO) else "",
            judge=judge if judge in (JudgeVerdict.PASS, JudgeVerdict.FAIL, JUDGE_NONE) else "",
            domain=(params.get("domain") or "").strip()[:64],
            task=(params.get("task") or "").strip()[:64],
            language=(params.get("language") or "").strip()[:8],
            job=_int(params.get("job")),
        )

    @property
    def any(self) -> bool:
        return any(
            (
                self.q,
                self.principle,
                self.principle_version,
                self.status,
                self.flagged,
                self.judge,
                self.domain,
                self.task,
                self.language,
                self.job,
            )
        )


def preference_pair_list(*, filters: PreferencePairFilters) -> QuerySet[PreferencePair]:
    """Preference pairs matching ``filters``, newest first, with what the list shows joined in
    (the long texts are deferred; ``.defer(None)`` loads them back)."""
    qs = PreferencePair.objects.select_related(
        "principle_version", "task", "domain", "subdomain", "endpoint"
    ).defer(*PREFERENCE_LIST_DEFER)
    if filters.q:
        qs = qs.filter(
            Q(instruction__icontains=filters.q)
            | Q(chosen__icontains=filters.q)
            | Q(rejected__icontains=filters.q)
        )
    if filters.principle:
        qs = qs.filter(principle_version__principle_id=filters.principle)
    if filters.principle_version:
        qs = qs.filter(principle_version_id=filters.principle_version)
    if filters.status == STATUS_ALL:
        pass
    elif filters.status:
        qs = qs.filter(status=filters.status)
    else:
        qs = qs.exclude(status=PreferenceStatus.FAILED)
    if filters.flagged == FLAGGED_YES:
        qs = qs.filter(flagged=True)
    elif filters.flagged == FLAGGED_NO:
        qs = qs.filter(flagged=False)
    if filters.judge == JUDGE_NONE:
        qs = qs.filter(judge_verdict=JudgeVerdict.NONE)
    elif filters.judge:
        qs = qs.filter(judge_verdict=filters.judge)
    if filters.domain:
        qs = qs.filter(domain__slug=filters.domain)
    if filters.task:
        qs = qs.filter(task__slug=filters.task)
    if filters.language:
        qs = qs.filter(language=filters.language)
    if filters.job:
        qs = qs.filter(job_id=filters.job)
    return qs.order_by("-id")


def preference_pair_get(*, pk) -> PreferencePair | None:
    return (
        PreferencePair.objects.select_related(
            "principle_version__principle",
            "positive__span__text",
            "positive__source_text",
            "domain",
            "subdomain",
            "task",
            "job",
            "endpoint",
            "judge_endpoint",
            "reviewed_by",
        )
        .filter(pk=pk)
        .first()
    )


def preference_pair_offered_versions(*, pair: PreferencePair) -> list[dict]:
    """The principle versions step 1 was shown, in the order the pair lists them: id, title,
    number and principle id (None when the version is gone), and whether it was the one chosen."""
    ids = [_int(v) for v in (pair.offered_versions or []) if not isinstance(v, bool)]
    ids = [v for v in ids if v is not None]
    found = {
        row["id"]: row
        for row in PrincipleVersion.objects.filter(pk__in=ids).values(
            "id", "title", "number", "principle_id"
        )
    }
    return [
        {
            "id": v,
            "title": found.get(v, {}).get("title", ""),
            "number": found.get(v, {}).get("number"),
            "principle_id": found.get(v, {}).get("principle_id"),
            "chosen": v == pair.principle_version_id,
        }
        for v in ids
    ]


def preference_pair_choices() -> dict:
    """Options of the preference pair list's filters."""
    return {
        "principles": list(
            Principle.objects.filter(
                pk__in=PreferencePair.objects.filter(principle_version__isnull=False).values(
                    "principle_version__principle_id"
                )
            )
            .select_related("latest_version")
            .order_by("id")
        ),
        "tasks": list(Task.objects.all()),
        "domains": list(Domain.objects.all()),
        "languages": list(
            PreferencePair.objects.order_by("language")
            .values_list("language", flat=True)
            .distinct()
        ),
        "statuses": PreferenceStatus.choices,
        "status_all": STATUS_ALL,
        "flagged_choices": [(FLAGGED_YES, FLAGGED_YES), (FLAGGED_NO, FLAGGED_NO)],
        "judges": [
            (JudgeVerdict.PASS, JudgeVerdict.PASS.label),
            (JudgeVerdict.FAIL, JudgeVerdict.FAIL.label),
        ],
        "judge_none": JUDGE_NONE,
    }


#: Metrics whose histograms are drawn in percent: integer bin edges keep a value that sits on
#: an edge (0.5, 0.8) in the bin it opens, which float edges (0.1 steps) do not.
_PERCENT_METRICS = ("char_similarity", "edit_ratio", "length_ratio")


def preference_metric_histogram(name: str, values: list[float]) -> dict:
    """Arguments of :func:`pairs.charts.bins_for` / ``histogram_svg`` for a metric: fixed
    ranges so principles compare at a glance (similarity and edit ratio over 0-100 %, length
    ratio over 0-200 %, values beyond the range in the last bin; sentences changed in whole
    numbers from 0). ``scale`` turns the metric into the histogram's unit."""
    if name == "sentences_changed":
        high = max([5, *[int(v) + 1 for v in values]])
        return {"values": list(values), "bins": min(high, 20), "low": 0, "high": high, "scale": 1}
    high = 200 if name == "length_ratio" else 100
    scaled = [round(v * 100, 6) for v in values]
    return {"values": scaled, "bins": 10, "low": 0, "high": high, "scale": 100}


def _metric_summary(name: str, values: list[float]) -> dict:
    """Count, mean, median, min, max and histogram bins (edges in the metric's own unit)."""
    hist = preference_metric_histogram(name, values)
    scale = hist.pop("scale")
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 4) if values else None,
        "median": round(statistics.median(values), 4) if values else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "bins": [
            {"low": round(b.low / scale, 4), "high": round(b.high / scale, 4), "count": b.count}
            for b in bins_for(hist.pop("values"), **hist)
        ],
    }


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def principle_preference_stats(
    *, domain: str = "", task: str = "", language: str = "", job: int | None = None
) -> list[dict]:
    """Per principle (across its versions) the preference pairs made with it: counts per
    status, flagged pairs, the judge's pass rate and a summary of each minimality metric.

    Filters apply to the pairs (their domain and task slugs, language, job). Pairs without a
    principle (step 1 failed) are left out. Reads narrow columns only; the metrics JSON is
    summarised in Python, fine for tens of thousands of pairs. Each row also carries
    ``values`` (metric name -> the raw values) for the charts; the API leaves it out.
    """
    qs = PreferencePair.objects.filter(principle_version__isnull=False)
    if domain:
        qs = qs.filter(domain__slug=domain)
    if task:
        qs = qs.filter(task__slug=task)
    if language:
        qs = qs.filter(language=language)
    if job:
        qs = qs.filter(job_id=job)
    rows = qs.order_by().values_list(
        "principle_version__principle_id",
        "principle_version_id",
        "status",
        "flagged",
        "judge_verdict",
        "metrics",
    )
    acc: dict = {}
    for principle_id, version_id, status, flagged, verdict, metrics in rows.iterator(
        chunk_size=5000
    ):
        row = acc.get(principle_id)
        if row is None:
            row = acc[principle_id] = {
                "statuses": Counter(),
                "versions": Counter(),
                "flagged": 0,
                "verdicts": Counter(),
                "values": {name: [] for name in PREFERENCE_METRICS},
            }
        row["statuses"][status] += 1
        row["versions"][version_id] += 1
        row["flagged"] += bool(flagged)
        row["verdicts"][verdict] += 1
        if isinstance(metrics, dict):
            for name in PREFERENCE_METRICS:
                value = _number(metrics.get(name))
                if value is not None:
                    row["values"][name].append(value)
    if not acc:
        return []
    principles = Principle.objects.select_related("domain", "task").in_bulk(list(acc))
    version_ids = {v for row in acc.values() for v in row["versions"]}
    versions = PrincipleVersion.objects.only("id", "number", "title", "principle_id").in_bulk(
        list(version_ids)
    )
    result = []
    for principle_id, row in acc.items():
        used = sorted(
            (versions[v] for v in row["versions"] if v in versions),
            key=lambda v: v.number,
            reverse=True,
        )
        total = sum(row["statuses"].values())
        failed = row["statuses"][PreferenceStatus.FAILED]
        made = total - failed
        passed = row["verdicts"][JudgeVerdict.PASS]
        judged = passed + row["verdicts"][JudgeVerdict.FAIL]
        principle = principles.get(principle_id)
        result.append(
            {
                "principle": principle,
                "principle_id": principle_id,
                "title": used[0].title if used else "",
                "domain": principle.domain.slug if principle else "",
                "task": principle.task.slug if principle and principle.task_id else "",
                "language": principle.language if principle else "",
                "versions": [
                    {
                        "id": v.pk,
                        "number": v.number,
                        "title": v.title,
                        "pairs": row["versions"][v.pk],
                    }
                    for v in used
                ],
                "total": total,
                "per_status": {value: row["statuses"][value] for value in PreferenceStatus.values},
                "flagged": row["flagged"],
                "flagged_share": round(row["flagged"] / made, 4) if made else None,
                "judged": judged,
                "judge_pass": passed,
                "judge_fail": judged - passed,
                "judge_pass_rate": round(passed / judged, 4) if judged else None,
                "metrics": {
                    name: _metric_summary(name, values) for name, values in row["values"].items()
                },
                "values": row["values"],
            }
        )
    result.sort(key=lambda r: (-r["total"], r["title"].casefold(), r["principle_id"]))
    return result
