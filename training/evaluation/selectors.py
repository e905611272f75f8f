"""Reads of evaluation for the engineers' pages: evaluations and models, an evaluation's
progress, its comparisons turned into ratings (Elo and Bradley-Terry with bootstrap intervals,
overall and per domain, from the model judge or from the human arena), the judge's score table
and the side-by-side view of one instruction.

Queries stay bounded: rows come as ``values()`` with the names they need joined in, and the
per-instruction view makes a fixed number of queries whatever the number of models.

A judge may have graded a response (or compared a pair) more than once, under several prompt
versions; the latest row counts.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from principles.models import Domain
from weaver_site.models import Job, JobStatus

from . import ratings
from .judge_prompts import CRITERIA as GRADE_CRITERIA
from .judge_prompts import PAIRWISE_CRITERIA
from .models import (
    BenchmarkItem,
    Contestant,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    GenerationJob,
    HumanComparison,
    JudgeComparison,
    JudgeGrade,
)
from .ratings import Comparison

__all__ = [
    "COMPARISON_CRITERIA",
    "SCORE_CRITERIA",
    "SOURCES",
    "contestants_list",
    "evaluation_comparisons",
    "evaluation_get",
    "evaluation_item_neighbours",
    "evaluation_item_view",
    "evaluation_items",
    "evaluation_leaderboard",
    "evaluation_progress",
    "evaluation_score_table",
    "evaluations_list",
]

#: Where comparisons come from: the model judge or the evaluators in the arena.
SOURCES = ("judge", "human")
#: What a leaderboard ranks on: the overall outcome or one criterion of the comparisons.
COMPARISON_CRITERIA = ("overall", *PAIRWISE_CRITERIA)
#: The judge's grades, in the order of the paper's table.
SCORE_CRITERIA = tuple(
    c for c in ("style", "relevance", "creativity", "overall") if c in GRADE_CRITERIA
)
ACTIVE = (EvaluationStatus.GENERATING, EvaluationStatus.JUDGING)
RESUMABLE_JOBS = (JobStatus.FAILED, JobStatus.STOPPED_BUDGET, JobStatus.PAUSED)


# --- Lists ------------------------------------------------------------------------------------


def evaluations_list() -> QuerySet[Evaluation]:
    """Every evaluation, newest first, with its benchmark, judge and number of models."""
    return (
        Evaluation.objects.select_related("benchmark", "judge", "created_by")
        .annotate(n_contestants=Count("contestants", distinct=True))
        .order_by("-created_at", "-id")
    )


def evaluation_get(*, pk: int) -> Evaluation | None:
    return (
        Evaluation.objects.select_related("benchmark", "judge", "judge_job", "created_by")
        .filter(pk=pk)
        .first()
    )


def contestants_list() -> QuerySet[Contestant]:
    """Every model to evaluate, by name, with its endpoint, run and checkpoint and the number
    of evaluations and responses it has."""
    return (
        Contestant.objects.select_related("endpoint", "run", "checkpoint", "created_by")
        .annotate(
            n_evaluations=Count("evaluations", distinct=True),
            n_responses=Count("responses", distinct=True),
        )
        .order_by("name")
    )


def _contestant_ids(evaluation: Evaluation) -> list[int]:
    return list(evaluation.contestants.values_list("pk", flat=True))


def _check(source: str, criterion: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    if criterion not in COMPARISON_CRITERIA:
        raise ValueError(f"criterion must be one of {COMPARISON_CRITERIA}, not {criterion!r}")


def _latest(rows: Iterable[dict], key) -> list[dict]:
    """One row per ``key(row)``: the last one (rows come oldest first)."""
    kept: dict = {}
    for row in rows:
        kept[key(row)] = row
    return list(kept.values())


# --- Comparisons and ratings ------------------------------------------------------------------


def _judge_comparison_rows(evaluation: Evaluation, ids: list[int], **filters) -> list[dict]:
    if evaluation.judge_id is None or not ids:
        return []
    rows = (
        JudgeComparison.objects.filter(
            judge_id=evaluation.judge_id,
            item__benchmark_id=evaluation.benchmark_id,
            response_a__contestant_id__in=ids,
            response_b__contestant_id__in=ids,
            **filters,
        )
        .order_by("created_at", "pk")
        .values(
            "pk",
            "response_a_id",
            "response_b_id",
            "outcome",
            "criteria",
            "first",
            "second",
            "prompt_version",
            "item__position",
            "item__domain__slug",
            "response_a__contestant_id",
            "response_b__contestant_id",
            "response_a__contestant__name",
            "response_b__contestant__name",
        )
    )
    kept = _latest(rows, lambda r: (r["response_a_id"], r["response_b_id"]))
    kept.sort(
        key=lambda r: (
            r["item__position"],
            r["response_a__contestant_id"],
            r["response_b__contestant_id"],
        )
    )
    return kept


def _human_comparison_rows(evaluation: Evaluation, **filters) -> list[dict]:
    return list(
        HumanComparison.objects.filter(evaluation=evaluation, **filters)
        .order_by("created_at", "pk")
        .values(
            "pk",
            "outcome",
            "criteria",
            "a_on_left",
            "seconds",
            "created_at",
            "evaluator__username",
            "item__domain__slug",
            "response_a__contestant__name",
            "response_b__contestant__name",
        )
    )


def _outcome(row: dict, criterion: str) -> str | None:
    value = row["outcome"] if criterion == "overall" else (row["criteria"] or {}).get(criterion)
    return value if value in ratings.OUTCOMES else None


def evaluation_comparisons(
    *, evaluation: Evaluation, source: str, criterion: str = "overall"
) -> list[Comparison]:
    """The comparisons of ``evaluation`` as :class:`ratings.Comparison` (names are contestant
    names, ``group`` the instruction's domain slug or ``""``).

    ``source="judge"``: the comparisons of the evaluation's judge on its benchmark's
    instructions between its models, in the benchmark's order; ``source="human"``: the
    evaluators' comparisons in this evaluation, in the order they were made. ``criterion`` is
    ``"overall"`` (the outcome) or one of the pairwise criteria; a row without that criterion
    is left out."""
    _check(source, criterion)
    if source == "judge":
        rows = _judge_comparison_rows(evaluation, _contestant_ids(evaluation))
    else:
        rows = _human_comparison_rows(evaluation)
    out = []
    for row in rows:
        outcome = _outcome(row, criterion)
        a, b = row["response_a__contestant__name"], row["response_b__contestant__name"]
        if outcome is None or a == b:
            continue
        out.append(Comparison(a, b, outcome, row["item__domain__slug"] or ""))
    return out


def _domain_labels(slugs: Iterable[str]) -> dict[str, str]:
    """Each domain's name in the current language, by slug."""
    return {d.slug: d.name for d in Domain.objects.filter(slug__in=[s for s in slugs if s])}


RATINGS_CACHE_SECONDS = 24 * 3600


def _ratings_table(comparisons: list[Comparison], *, rounds: int, seed: int) -> list[dict]:
    """:func:`ratings.ratings_table`, remembered by a hash of its input: the bootstrap is the
    costly part of a leaderboard page, and the same comparisons always give the same table."""
    payload = json.dumps([rounds, seed, [(c.a, c.b, c.outcome) for c in comparisons]])
    key = "eval-ratings:" + hashlib.sha256(payload.encode()).hexdigest()
    rows = cache.get(key)
    if rows is None:
        rows = ratings.ratings_table(comparisons, rounds=rounds, seed=seed)
        cache.set(key, rows, RATINGS_CACHE_SECONDS)
    return rows


def evaluation_leaderboard(
    *,
    evaluation: Evaluation,
    source: str,
    criterion: str = "overall",
    rounds: int = 1000,
    seed: int = 0,
) -> list[dict]:
    """One dict per group: ``""`` (every comparison) first, then each domain by slug.

    Each: ``group``, ``label`` (the domain's name in the current language, "Overall" for
    ``""``), ``rows`` (:func:`ratings.ratings_table` over ``rounds`` resamples from ``seed``),
    ``comparisons`` (how many) and ``components`` (:func:`ratings.connected_components`: more
    than one means some ratings cannot be compared)."""
    comparisons = evaluation_comparisons(evaluation=evaluation, source=source, criterion=criterion)
    groups = ratings.by_group(comparisons)
    labels = _domain_labels(groups)
    out = []
    for group, items in groups.items():
        out.append(
            {
                "group": group,
                "label": _("Overall") if not group else labels.get(group, group),
                "rows": _ratings_table(items, rounds=rounds, seed=seed) if items else [],
                "comparisons": len(items),
                "components": ratings.connected_components(items),
            }
        )
    return out


# --- The judge's scores -----------------------------------------------------------------------


def _score_rows(grades: list[dict], names: dict[int, str], *, everyone: bool) -> list[dict]:
    sums: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SCORE_CRITERIA, 0))
    counts: dict[int, int] = defaultdict(int)
    for g in grades:
        cid = g["response__contestant_id"]
        counts[cid] += 1
        for c in SCORE_CRITERIA:
            sums[cid][c] += g[c]
    ids = list(names) if everyone else list(counts)
    rows = []
    for cid in ids:
        n = counts.get(cid, 0)
        row = {"contestant": names[cid], "contestant_id": cid, "n": n}
        for c in SCORE_CRITERIA:
            row[c] = round(sums[cid][c] / n, 2) if n else None
        rows.append(row)
    rows.sort(
        key=lambda r: (r["overall"] is None, -(r["overall"] or 0), r["contestant"].casefold())
    )
    return rows


def evaluation_score_table(*, evaluation: Evaluation) -> dict:
    """The judge's mean grades per model, like the Weaver paper's table.

    ``criteria``: style, relevance, creativity, overall; ``rows``: one per model of the
    evaluation (``contestant``, ``contestant_id``, ``n`` grades, the mean of each criterion
    rounded to 2 decimals, ``None`` without grades), best overall mean first; ``by_domain``:
    the same per domain slug (models graded there only), domains in the taxonomy's order;
    ``domains``: ``[{"slug", "label"}]`` in that order."""
    names = dict(evaluation.contestants.values_list("pk", "name"))
    grades: list[dict] = []
    if evaluation.judge_id is not None and names:
        rows = (
            JudgeGrade.objects.filter(
                judge_id=evaluation.judge_id,
                response__item__benchmark_id=evaluation.benchmark_id,
                response__contestant_id__in=list(names),
            )
            .order_by("created_at", "pk")
            .values(
                "response_id",
                "response__contestant_id",
                "response__item__domain__slug",
                *SCORE_CRITERIA,
            )
        )
        grades = _latest(rows, lambda r: r["response_id"])
    by_slug: dict[str, list[dict]] = defaultdict(list)
    for g in grades:
        if g["response__item__domain__slug"]:
            by_slug[g["response__item__domain__slug"]].append(g)
    domains = list(Domain.objects.filter(slug__in=list(by_slug)).order_by("position", "slug"))
    return {
        "criteria": SCORE_CRITERIA,
        "rows": _score_rows(grades, names, everyone=True),
        "by_domain": {d.slug: _score_rows(by_slug[d.slug], names, everyone=False) for d in domains},
        "domains": [{"slug": d.slug, "label": d.name} for d in domains],
        "grades": len(grades),
    }


# --- Progress ---------------------------------------------------------------------------------


def _percent(done: int, total: int) -> int:
    return min(100, round(100 * done / total)) if total else 0


def _job_row(job: Job, *, kind: str, label: str) -> dict:
    return {
        "kind": kind,
        "label": label,
        "job": job,
        "job_id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "percent": _percent(job.done + job.failed, job.total),
        "spent_usd": job.spent_usd,
        "budget_usd": job.budget_usd,
        "cache_hits": job.cache_hits,
        "calls": job.calls,
        "error": job.error,
        "active": job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
    }


def evaluation_progress(*, evaluation: Evaluation) -> dict:
    """Where each job of the evaluation stands: ``jobs`` (one row per generation job, by model
    name, then the judge job; ``pending_judge`` when the judge job is still to come), the money
    ``spent_usd`` over all jobs, the evaluation's ``status`` and whether it is ``active`` (the
    page polls while it is), ``can_cancel`` and ``can_resume``."""
    evaluation = (
        Evaluation.objects.select_related("judge_job", "judge").filter(pk=evaluation.pk).first()
        or evaluation
    )
    generation = (
        GenerationJob.objects.filter(evaluation_id=evaluation.pk)
        .select_related("job", "contestant")
        .order_by("contestant__name")
    )
    jobs = [
        {
            **_job_row(
                gj.job,
                kind="generate",
                label=_("Answers of %(model)s") % {"model": gj.contestant.name},
            ),
            "contestant": gj.contestant.name,
            "contestant_id": gj.contestant_id,
        }
        for gj in generation
    ]
    if evaluation.judge_job is not None:
        jobs.append(
            {
                **_job_row(
                    evaluation.judge_job,
                    kind="judge",
                    label=_("Judging by %(judge)s") % {"judge": evaluation.judge.name}
                    if evaluation.judge
                    else _("Judging"),
                ),
                "contestant": "",
                "contestant_id": None,
            }
        )
    pending_judge = (
        evaluation.judge_job_id is None
        and evaluation.judge_id is not None
        and (evaluation.grade or evaluation.pairwise)
        and evaluation.status in ACTIVE
    )
    spent = sum((row["spent_usd"] for row in jobs), Decimal(0))
    done = sum(row["done"] for row in jobs)
    failed = sum(row["failed"] for row in jobs)
    total = sum(row["total"] for row in jobs)
    active = evaluation.status in ACTIVE
    return {
        "evaluation": evaluation,
        "status": evaluation.status,
        "status_label": evaluation.get_status_display(),
        "active": active,
        "jobs": jobs,
        "pending_judge": pending_judge,
        "spent_usd": spent,
        "budget_usd": evaluation.budget_usd,
        "done": done,
        "failed": failed,
        "total": total,
        "percent": _percent(done + failed, total),  # as each job's: the work that is over
        "error": evaluation.error,
        "can_cancel": evaluation.status in (*ACTIVE, EvaluationStatus.FAILED),
        "can_resume": evaluation.status not in (EvaluationStatus.DONE, EvaluationStatus.CANCELLED)
        and (
            evaluation.status == EvaluationStatus.FAILED
            or any(row["status"] in RESUMABLE_JOBS for row in jobs)
        ),
    }


# --- Instructions -----------------------------------------------------------------------------


def evaluation_items(*, evaluation: Evaluation) -> QuerySet[BenchmarkItem]:
    """The benchmark's instructions in order, with ``n_responses`` (from this evaluation's
    models), their domain and task."""
    ids = _contestant_ids(evaluation)
    return (
        BenchmarkItem.objects.filter(benchmark_id=evaluation.benchmark_id)
        .select_related("domain", "task")
        .annotate(
            n_responses=Count("responses", filter=Q(responses__contestant_id__in=ids)),
        )
        .order_by("position")
    )


def evaluation_item_neighbours(*, evaluation: Evaluation, item: BenchmarkItem) -> dict:
    """The instructions before and after ``item`` (``{"pk", "key"}`` or None), and its
    ``number`` and the ``count`` of instructions."""
    items = BenchmarkItem.objects.filter(benchmark_id=evaluation.benchmark_id)
    prev = (
        items.filter(position__lt=item.position).order_by("-position").values("pk", "key").first()
    )
    nxt = items.filter(position__gt=item.position).order_by("position").values("pk", "key").first()
    return {
        "prev": prev,
        "next": nxt,
        "number": items.filter(position__lt=item.position).count() + 1,
        "count": items.count(),
    }


def _winner(outcome: str | None, a: str, b: str) -> str:
    if outcome == "a":
        return a
    if outcome == "b":
        return b
    return ""


def _reason(answer) -> str:
    return answer.get("reason", "") if isinstance(answer, dict) else ""


def evaluation_item_view(*, evaluation: Evaluation, item: BenchmarkItem) -> dict:
    """Everything about one instruction: ``columns`` (one per model of the evaluation, by name:
    ``contestant``, ``response`` (or None when it has not answered) and the judge's ``grade``
    (or None)), ``judge_comparisons`` and ``human_comparisons`` (each with ``a``, ``b``, the
    ``outcome``, the ``winner``'s name ("" for a tie) and ``criteria`` as
    ``[{"name", "outcome", "winner"}]``). Five queries, whatever the number of models."""
    contestants = list(evaluation.contestants.select_related("endpoint").order_by("name"))
    ids = [c.pk for c in contestants]
    responses = {
        r.contestant_id: r
        for r in EvalResponse.objects.filter(item=item, contestant_id__in=ids).order_by("pk")
    }
    grades: dict[int, dict] = {}
    if evaluation.judge_id is not None and responses:
        rows = (
            JudgeGrade.objects.filter(
                judge_id=evaluation.judge_id, response_id__in=[r.pk for r in responses.values()]
            )
            .order_by("created_at", "pk")
            .values("response_id", "reason", "prompt_version", *SCORE_CRITERIA)
        )
        grades = {g["response_id"]: g for g in _latest(rows, lambda r: r["response_id"])}
    columns = []
    for c in contestants:
        response = responses.get(c.pk)
        columns.append(
            {
                "contestant": c,
                "response": response,
                "grade": grades.get(response.pk) if response else None,
            }
        )

    def comparison(row: dict, *, judge: bool) -> dict:
        a, b = row["response_a__contestant__name"], row["response_b__contestant__name"]
        criteria = row["criteria"] or {}
        out = {
            "pk": row["pk"],
            "a": a,
            "b": b,
            "outcome": row["outcome"],
            "winner": _winner(row["outcome"], a, b),
            "criteria": [
                {
                    "name": name,
                    "outcome": criteria.get(name, ""),
                    "winner": _winner(criteria.get(name), a, b),
                }
                for name in PAIRWISE_CRITERIA
            ],
        }
        if judge:
            out["reason_first"] = _reason(row["first"])
            out["reason_second"] = _reason(row["second"])
        else:
            out["evaluator"] = row["evaluator__username"]
            out["seconds"] = row["seconds"]
            out["created_at"] = row["created_at"]
        return out

    judged = _judge_comparison_rows(evaluation, ids, item=item)
    human = _human_comparison_rows(evaluation, item=item)
    return {
        "item": item,
        "columns": columns,
        "criteria": SCORE_CRITERIA,
        "pairwise_criteria": PAIRWISE_CRITERIA,
        "judge_comparisons": [comparison(r, judge=True) for r in judged],
        "human_comparisons": [comparison(r, judge=False) for r in human],
    }
