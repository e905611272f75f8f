"""Reads for review: queues a user may see, progress, agreement, reviewer statistics, and the
feedback that goes back to principle authors."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from principles.models import Principle
from weaver_site.roles import ADMIN, ENGINEER, has_role

from ..models import (
    Decision,
    ItemStatus,
    PairRevision,
    PreferencePair,
    RejectReason,
    Review,
    ReviewItem,
    ReviewQueue,
    ReviewState,
)
from . import agreement
from .services import flag_threshold, not_seen_by, verdict

#: Pair columns the review screen never shows; not loaded for the hot paths.
PAIR_UNUSED = (
    "raw_text",
    "params",
    "request_hashes",
    "call_ids",
    "error",
    "judge_reason",
    "offered_versions",
    "flags",
)

#: How many example pairs the author feedback shows per flagged principle.
FEEDBACK_EXAMPLES = 3


def review_queues_for(*, user) -> QuerySet[ReviewQueue]:
    """Engineers and admins see every queue; reviewers only the queues assigned to them."""
    qs = ReviewQueue.objects.all()
    if not has_role(user, ENGINEER, ADMIN):
        qs = qs.filter(reviewers=user)
    return qs.order_by("-created_at", "-id")


def review_queue_get(*, user, pk) -> ReviewQueue | None:
    return review_queues_for(user=user).filter(pk=pk).first()


def queue_progress(*, queue: ReviewQueue) -> dict:
    """Counts of the queue's items by status, and reviews submitted and in progress."""
    items = dict(
        ReviewItem.objects.filter(queue=queue, is_gold=False)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    decided = dict(
        ReviewItem.objects.filter(queue=queue, is_gold=False, status=ItemStatus.DECIDED)
        .values_list("final_decision")
        .annotate(n=Count("id"))
        .values_list("final_decision", "n")
    )
    reviews = dict(
        Review.objects.filter(queue=queue)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    total = sum(items.values())
    done = items.get(ItemStatus.DECIDED, 0)
    return {
        "total": total,
        "open": items.get(ItemStatus.OPEN, 0),
        "conflict": items.get(ItemStatus.CONFLICT, 0),
        "decided": done,
        "accepted": decided.get(Decision.ACCEPT, 0),
        "rejected": decided.get(Decision.REJECT, 0),
        "percent": round(100 * done / total) if total else 0,
        "gold": ReviewItem.objects.filter(queue=queue, is_gold=True).count(),
        "reviews_submitted": reviews.get(ReviewState.SUBMITTED, 0),
        "reviews_reserved": reviews.get(ReviewState.RESERVED, 0),
        "reviews_skipped": reviews.get(ReviewState.SKIPPED, 0),
    }


def reviewer_remaining(*, queue: ReviewQueue, reviewer, cap: int | None = None) -> int:
    """Open pairs this reviewer has not reserved, reviewed or skipped, gold pairs included (so
    the count drops by one for every pair given out, and a gold pair cannot be told by it).
    With ``cap``, counting stops at ``cap + 1``: cheap on a queue of millions."""
    qs = ReviewItem.objects.filter(queue=queue, status=ItemStatus.OPEN).filter(
        not_seen_by(reviewer)
    )
    if cap is not None:
        return qs.order_by()[: cap + 1].count()
    return qs.count()


#: Counts of what is left for a reviewer stop here ("more than 999"): cheap on huge queues.
REMAINING_CAP = 999


def queues_with_counts(qs, *, user, totals: bool = True):
    """``qs`` annotated, in one query whatever the number of queues, with whether ``user``
    reviews it (``assigned``), the open pairs left for them (``n_remaining``, at most
    ``REMAINING_CAP + 1``) and, with ``totals``, its pair counts (``n_total``, ``n_decided``,
    ``n_conflict``)."""
    left = (
        ReviewItem.objects.filter(queue=OuterRef(OuterRef("pk")), status=ItemStatus.OPEN)
        .filter(not_seen_by(user))
        .order_by()
        .values("pk")[: REMAINING_CAP + 1]
    )
    remaining = (
        ReviewItem.objects.filter(pk__in=left)
        .order_by()
        .annotate(one=Value(1))
        .values("one")
        .annotate(n=Count("pk"))
        .values("n")
    )
    assigned = ReviewQueue.reviewers.through.objects.filter(
        reviewqueue_id=OuterRef("pk"), user_id=user.pk
    )
    qs = qs.annotate(
        assigned=Exists(assigned),
        n_remaining=Coalesce(Subquery(remaining, output_field=IntegerField()), Value(0)),
    )
    if totals:
        items = Q(items__is_gold=False)
        qs = qs.annotate(
            n_total=Count("items", filter=items),
            n_decided=Count("items", filter=items & Q(items__status=ItemStatus.DECIDED)),
            n_conflict=Count("items", filter=items & Q(items__status=ItemStatus.CONFLICT)),
        )
    return qs


def review_for_screen(*, review_id, reviewer) -> Review | None:
    """One of the reviewer's own reviews, with everything the review screen shows."""
    return (
        Review.objects.select_related(
            "queue",
            "item",
            "revision",
            "pair__principle_version__principle",
            "pair__task",
            "pair__domain",
            "pair__subdomain",
        )
        .filter(pk=review_id, reviewer=reviewer)
        .first()
    )


def _units(reviews) -> dict:
    """{item id: {reviewer id: accept|reject}} from (item, reviewer, decision) rows."""
    units: dict = defaultdict(dict)
    for item_id, reviewer_id, decision in reviews:
        units[item_id][reviewer_id] = verdict(decision)
    return units


def _coefficients(units: dict) -> dict:
    pairable = agreement.pairable(units)
    return {
        "items": len(pairable),
        "percent": agreement.percent_agreement(pairable),
        "alpha": agreement.krippendorff_alpha_nominal(pairable),
    }


def queue_agreement(*, queue: ReviewQueue) -> dict:
    """Agreement over accept/reject (an edit counts as accept): for the queue, for every two
    reviewers who share pairs (with Cohen's kappa), and per principle; plus reviewer
    throughput, acceptance rates and accuracy on gold pairs."""
    rows = list(
        Review.objects.filter(queue=queue, state=ReviewState.SUBMITTED, is_gold=False).values_list(
            "item_id", "reviewer_id", "decision", "pair__principle_version__principle_id"
        )
    )
    units = _units((i, r, d) for i, r, d, _p in rows)
    users = {
        u.pk: u.get_username()
        for u in get_user_model().objects.filter(pk__in={r for _i, r, _d, _p in rows})
    }
    pairs = []
    for a, b in agreement.reviewer_pairs(agreement.pairable(units)):
        kappa, n = agreement.cohen_kappa_units(units, a, b)
        shared = {u: {a: v[a], b: v[b]} for u, v in units.items() if a in v and b in v}
        pairs.append(
            {
                "a": users.get(a, a),
                "b": users.get(b, b),
                "items": n,
                "percent": agreement.percent_agreement(shared),
                "kappa": kappa,
            }
        )
    by_principle: dict = defaultdict(list)
    for item_id, reviewer_id, decision, principle_id in rows:
        by_principle[principle_id].append((item_id, reviewer_id, decision))
    titles = dict(
        Principle.objects.filter(pk__in=[p for p in by_principle if p])
        .select_related("latest_version")
        .values_list("pk", "latest_version__title")
    )
    principles = [
        {"id": pid, "title": titles.get(pid, "—"), **_coefficients(_units(rs))}
        for pid, rs in sorted(by_principle.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    ]
    return {
        "queue": _coefficients(units),
        "pairs": pairs,
        "principles": principles,
        "reviewers": reviewer_stats(queue=queue),
    }


def reviewer_stats(*, queue: ReviewQueue) -> list[dict]:
    """Per reviewer: reviews, accept rate, median seconds, reviews per hour, skips and gold
    accuracy."""
    rows = list(
        Review.objects.filter(queue=queue, state__in=(ReviewState.SUBMITTED, ReviewState.SKIPPED))
        .values_list(
            "reviewer_id",
            "reviewer__username",
            "state",
            "decision",
            "seconds_spent",
            "is_gold",
            "item__gold_decision",
        )
        .order_by("reviewer__username")
    )
    stats: dict = {}
    for reviewer_id, name, state, decision, seconds, is_gold, gold in rows:
        s = stats.setdefault(
            reviewer_id,
            {"name": name, "reviews": 0, "accepts": 0, "skips": 0, "seconds": [], "gold": [0, 0]},
        )
        if state == ReviewState.SKIPPED:
            s["skips"] += 1
            continue
        if is_gold:
            s["gold"][1] += 1
            s["gold"][0] += verdict(decision) == gold
            continue
        s["reviews"] += 1
        s["accepts"] += verdict(decision) == Decision.ACCEPT
        if seconds is not None:
            s["seconds"].append(seconds)
    out = []
    for s in stats.values():
        seconds = s.pop("seconds")
        right, total = s.pop("gold")
        total_seconds = sum(seconds)
        out.append(
            {
                **s,
                "accept_rate": s["accepts"] / s["reviews"] if s["reviews"] else None,
                "median_seconds": statistics.median(seconds) if seconds else None,
                "per_hour": 3600 * len(seconds) / total_seconds if total_seconds else None,
                "gold_total": total,
                "gold_accuracy": right / total if total else None,
            }
        )
    return out


def conflicts(*, queue: ReviewQueue | None = None) -> QuerySet[ReviewItem]:
    qs = ReviewItem.objects.filter(status=ItemStatus.CONFLICT, is_gold=False).select_related(
        "queue", "pair__principle_version"
    )
    if queue is not None:
        qs = qs.filter(queue=queue)
    return qs.order_by("id")


def item_reviews(*, item: ReviewItem) -> list[Review]:
    """The submitted reviews of an item (never drafts), with their edits."""
    return list(
        Review.objects.filter(item=item, state=ReviewState.SUBMITTED)
        .select_related("reviewer", "revision")
        .order_by("submitted_at", "id")
    )


def pair_revisions(*, pair: PreferencePair) -> list[PairRevision]:
    return list(PairRevision.objects.filter(pair=pair).select_related("author").order_by("id"))


REASON_LABELS = dict(RejectReason.choices)


def principle_feedback(*, owner=None, principle_ids=None) -> list[dict]:
    """Per principle, over every decided pair in every queue: pairs decided, the share
    rejected, why reviewers rejected them, whether that is over the flag threshold, and a few
    rejected pairs as examples. Limited to one author's principles with ``owner``."""
    rate_limit, min_pairs = flag_threshold()
    items = ReviewItem.objects.filter(status=ItemStatus.DECIDED, is_gold=False).exclude(
        pair__principle_version__isnull=True
    )
    if owner is not None:
        items = items.filter(pair__principle_version__principle__owner=owner)
    if principle_ids is not None:
        items = items.filter(pair__principle_version__principle_id__in=principle_ids)
    counts = (
        items.values("pair__principle_version__principle_id")
        .annotate(
            decided=Count("id"),
            rejected=Count("id", filter=Q(final_decision=Decision.REJECT)),
        )
        .order_by()
    )
    by_principle = {
        row["pair__principle_version__principle_id"]: row for row in counts if row["decided"]
    }
    if not by_principle:
        return []
    reasons: dict = defaultdict(Counter)
    # Why reviewers rejected the pairs that ended up rejected.
    for principle_id, reason_list in Review.objects.filter(
        state=ReviewState.SUBMITTED,
        is_gold=False,
        decision=Decision.REJECT,
        item__in=items.filter(final_decision=Decision.REJECT),
        pair__principle_version__principle_id__in=list(by_principle),
    ).values_list("pair__principle_version__principle_id", "reasons"):
        for reason in reason_list or []:
            reasons[principle_id][reason] += 1
    principles = {
        p.pk: p
        for p in Principle.objects.filter(pk__in=list(by_principle)).select_related(
            "latest_version", "owner"
        )
    }
    out = []
    for pid, row in by_principle.items():
        share = row["rejected"] / row["decided"]
        flagged = row["decided"] >= min_pairs and share >= rate_limit
        examples = []
        if flagged:
            examples = list(
                PreferencePair.objects.filter(
                    review_items__in=items.filter(
                        pair__principle_version__principle_id=pid,
                        final_decision=Decision.REJECT,
                    )
                )
                .distinct()
                .order_by("-id")
                .only("id", "instruction", "principle_version_id")[:FEEDBACK_EXAMPLES]
            )
        out.append(
            {
                "principle": principles.get(pid),
                "decided": row["decided"],
                "rejected": row["rejected"],
                "share": share,
                "reasons": [
                    {"code": code, "label": REASON_LABELS.get(code, code), "count": n}
                    for code, n in reasons[pid].most_common()
                ],
                "flagged": flagged,
                "examples": examples,
            }
        )
    out.sort(key=lambda r: (not r["flagged"], -r["share"], -r["decided"]))
    return out
