"""Review management pages: queues (list, new, detail, edit, gold pairs), agreement,
adjudication of conflicts and the feedback to principle authors.

Who sees what:

- queues: Engineers and Admins manage every queue; Reviewers see the queues assigned to them
  (read-only) and get 404 for the others;
- agreement: managers and the queue's reviewers;
- conflicts and adjudication: Admins only;
- feedback: Authors their own principles, Engineers and Admins every principle.

Every text that came from a user or an LLM is escaped by the templates; diffs are built by
:func:`weaver_site.textdiff.diff_html`, which escapes them.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views import View

from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, AUTHOR, ENGINEER, REVIEWER, RoleRequiredMixin, has_role
from weaver_site.textdiff import diff_html

from ..filter_words import preference_rows
from ..models import (
    Decision,
    ItemStatus,
    PreferencePair,
    RejectReason,
    ReviewItem,
    ReviewQueue,
    ReviewState,
)
from ..views_preferences import _is_htmx, _percent, _positive_int
from . import selectors, services
from .filters import QueueFilters
from .forms import (
    SERVICE_FIELD_NAMES,
    AdjudicateForm,
    GoldForm,
    QueueCreateForm,
    QueueEditForm,
)

MANAGER_ROLES = (ENGINEER, ADMIN)
QUEUE_ROLES = (REVIEWER, ENGINEER, ADMIN)
FEEDBACK_ROLES = (AUTHOR, ENGINEER, ADMIN)
CONFLICTS_PER_PAGE = 50
REASON_LABELS = dict(RejectReason.choices)
DECISION_LABELS = dict(Decision.choices)


def _fixed(value) -> str:
    """A coefficient with two decimals, or "—" where it is undefined."""
    return "—" if value is None else f"{value:.2f}"


# --- Queues with their counts ---------------------------------------------------------------


def _may_review(user) -> bool:
    return has_role(user, REVIEWER, ADMIN)


class QueueListView(RoleRequiredMixin, View):
    roles = QUEUE_ROLES

    def get(self, request):
        user = request.user
        queues = list(
            selectors.queues_with_counts(
                selectors.review_queues_for(user=user), user=user
            ).select_related("created_by")
        )
        may_review = _may_review(user)
        for q in queues:
            q.can_start = may_review and q.assigned and q.is_active
        return render(
            request,
            "pairs/review/queues.html",
            {
                "queues": queues,
                "can_manage": services.can_manage_queues(user),
                "remaining_cap": selectors.REMAINING_CAP,
            },
        )


# --- Filters in words -----------------------------------------------------------------------


def describe_filters(filters: dict) -> list[tuple[str, str]]:
    """A queue's filters as (what, which) rows; filters left open are not listed."""
    try:
        f = QueueFilters.from_dict(filters)
    except ValidationError:
        return [(_("Filters"), _("Unreadable: %(f)s") % {"f": filters})]
    return [(label, value) for label, value in preference_rows(f) if value]


# --- Creating and changing queues -----------------------------------------------------------


class _ManagerView(RoleRequiredMixin, View):
    roles = MANAGER_ROLES


class QueueCreateView(_ManagerView):
    template = "pairs/review/queue_form.html"

    def _render(self, request, form, status=200):
        return render(
            request,
            self.template,
            {"form": form, "is_new": True, "metric_rows": form.metric_rows()},
            status=status,
        )

    def get(self, request):
        if _is_htmx(request) and request.GET:
            return self._preview(request)
        return self._render(request, QueueCreateForm())

    def _preview(self, request):
        """How many pairs the filters typed so far match (htmx)."""
        form = QueueCreateForm(request.GET)
        form.is_valid()  # the settings may be incomplete; only the filters matter here
        count, error = None, ""
        filter_errors = [
            e for name in form.errors if name not in form.SETTINGS_FIELDS for e in form.errors[name]
        ]
        if filter_errors:
            error = " ".join(filter_errors)
        else:
            try:
                count = (
                    QueueFilters.from_dict(form.filters())
                    .apply(PreferencePair.objects.all())
                    .count()
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
        return render(request, "pairs/review/_m_preview.html", {"count": count, "error": error})

    def post(self, request):
        form = QueueCreateForm(request.POST)
        if form.is_valid():
            try:
                queue = services.review_queue_create(
                    created_by=request.user,
                    filters=form.filters(),
                    reviewers=list(form.cleaned_data["reviewers"]),
                    **form.settings(),
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc, rename=SERVICE_FIELD_NAMES)
            else:
                if queue.refreshed_at is None:
                    messages.success(
                        request, _("Queue created; a worker is putting its pairs in it.")
                    )
                else:
                    messages.success(
                        request,
                        _("Queue created with %(n)d pairs.")
                        % {"n": queue.items.filter(is_gold=False).count()},
                    )
                return redirect("review:queue", pk=queue.pk)
        return self._render(request, form, status=400)


class QueueEditView(_ManagerView):
    template = "pairs/review/queue_form.html"

    def _render(self, request, queue, form, status=200):
        ctx = {
            "form": form,
            "is_new": False,
            "queue": queue,
            "filter_rows": describe_filters(queue.filters),
        }
        return render(request, self.template, ctx, status=status)

    def get(self, request, pk):
        queue = get_object_or_404(ReviewQueue, pk=pk)
        initial = {
            "name": queue.name,
            "description": queue.description,
            "reviewers": list(queue.reviewers.all()),
            "reviews_required": queue.reviews_required,
            "rule": queue.rule,
            "reservation_minutes": queue.reservation_minutes,
            "gold_rate": queue.gold_rate,
            "is_active": queue.is_active,
        }
        return self._render(request, queue, QueueEditForm(initial=initial))

    def post(self, request, pk):
        queue = get_object_or_404(ReviewQueue, pk=pk)
        form = QueueEditForm(request.POST)
        if form.is_valid():
            # The service sets the fields before checking them: give it its own copy, so the
            # page keeps the stored name if it refuses.
            target = ReviewQueue.objects.get(pk=queue.pk)
            try:
                services.review_queue_update(
                    queue=target,
                    user=request.user,
                    reviewers=list(form.cleaned_data["reviewers"]),
                    is_active=form.cleaned_data["is_active"],
                    **form.settings(),
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Queue saved."))
                return redirect("review:queue", pk=queue.pk)
        return self._render(request, queue, form, status=400)


# --- A queue --------------------------------------------------------------------------------


def _queue_for(request, pk) -> ReviewQueue:
    """The queue if the user may see it (managers: any; reviewers: their own), else 404."""
    queue = selectors.review_queue_get(user=request.user, pk=pk)
    if queue is None:
        raise Http404
    return queue


class QueueDetailView(RoleRequiredMixin, View):
    roles = QUEUE_ROLES

    def get(self, request, pk):
        user = request.user
        queue = _queue_for(request, pk)
        can_manage = services.can_manage_queues(user)
        reviewers = list(queue.reviewers.order_by("username"))
        assigned = any(r.pk == user.pk for r in reviewers)
        # Per-reviewer counts leave gold pairs out, so they would tell a reviewer which pair
        # was gold: managers only.
        stats = {s["name"]: s for s in selectors.reviewer_stats(queue=queue)} if can_manage else {}
        ctx = {
            "queue": queue,
            "progress": selectors.queue_progress(queue=queue),
            "filter_rows": describe_filters(queue.filters),
            "reviewers": [{"user": r, "stats": stats.get(r.get_username())} for r in reviewers],
            "can_manage": can_manage,
            "is_admin": has_role(user, ADMIN),
            "assigned": assigned,
            "can_start": assigned and queue.is_active and _may_review(user),
            "remaining": selectors.reviewer_remaining(
                queue=queue, reviewer=user, cap=selectors.REMAINING_CAP
            )
            if assigned
            else None,
            "remaining_cap": selectors.REMAINING_CAP,
        }
        return render(request, "pairs/review/queue_detail.html", ctx)

    def post(self, request, pk):
        if not services.can_manage_queues(request.user):
            raise PermissionDenied
        queue = get_object_or_404(ReviewQueue, pk=pk)
        action = request.POST.get("action")
        if action == "refresh":
            added = services.review_queue_fill(queue=queue)
            messages.success(
                request, _("%(n)d new matching pairs added to the queue.") % {"n": added}
            )
        elif action in ("close", "reopen"):
            services.review_queue_update(
                queue=queue, user=request.user, is_active=action == "reopen"
            )
            messages.success(
                request, _("Queue reopened.") if action == "reopen" else _("Queue closed.")
            )
        else:
            messages.error(request, _("Unknown action."))
        return redirect("review:queue", pk=queue.pk)


# --- Gold pairs -----------------------------------------------------------------------------


def _gold_items(queue: ReviewQueue):
    submitted = Q(reviews__state=ReviewState.SUBMITTED)
    right = submitted & (
        Q(gold_decision=Decision.REJECT, reviews__decision=Decision.REJECT)
        | Q(
            gold_decision=Decision.ACCEPT,
            reviews__decision__in=(Decision.ACCEPT, Decision.EDIT),
        )
    )
    return (
        ReviewItem.objects.filter(queue=queue, is_gold=True)
        .select_related("pair__principle_version")
        .annotate(
            n_answers=Count("reviews", filter=submitted), n_right=Count("reviews", filter=right)
        )
        .order_by("id")
    )


class QueueGoldView(_ManagerView):
    template = "pairs/review/gold.html"

    def _render(self, request, queue, form, status=200):
        items = list(_gold_items(queue))
        for item in items:
            item.accuracy = _percent(item.n_right / item.n_answers if item.n_answers else None)
        reviewers = [
            {**s, "accuracy": _percent(s["gold_accuracy"])}
            for s in selectors.reviewer_stats(queue=queue)
            if s["gold_total"]
        ]
        ctx = {"queue": queue, "items": items, "reviewers": reviewers, "form": form}
        return render(request, self.template, ctx, status=status)

    def get(self, request, pk):
        queue = get_object_or_404(ReviewQueue, pk=pk)
        return self._render(request, queue, GoldForm())

    def post(self, request, pk):
        queue = get_object_or_404(ReviewQueue, pk=pk)
        form = GoldForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.review_gold_add(
                    queue=queue,
                    user=request.user,
                    pair=d["pair"],
                    decision=d["decision"],
                    note=d["note"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request, _("Pair %(n)d is a gold pair of this queue.") % {"n": d["pair"].pk}
                )
                return redirect("review:queue-gold", pk=queue.pk)
        return self._render(request, queue, form, status=400)


# --- Agreement ------------------------------------------------------------------------------


class AgreementView(RoleRequiredMixin, View):
    roles = QUEUE_ROLES

    def get(self, request, pk):
        queue = _queue_for(request, pk)
        data = selectors.queue_agreement(queue=queue)
        overall = data["queue"]
        ctx = {
            "queue": queue,
            "overall": {
                "items": overall["items"],
                "percent": _fixed(overall["percent"]),
                "alpha": _fixed(overall["alpha"]),
            },
            "pairs": [
                {**p, "percent": _fixed(p["percent"]), "kappa": _fixed(p["kappa"])}
                for p in data["pairs"]
            ],
            "principles": [
                {**p, "percent": _fixed(p["percent"]), "alpha": _fixed(p["alpha"])}
                for p in data["principles"]
            ],
            "reviewers": [
                {
                    **s,
                    "accept_rate": _percent(s["accept_rate"]),
                    "median_seconds": "—"
                    if s["median_seconds"] is None
                    else f"{s['median_seconds']:.0f}",
                    "per_hour": "—" if s["per_hour"] is None else f"{s['per_hour']:.1f}",
                    "gold_accuracy": _percent(s["gold_accuracy"]),
                }
                for s in data["reviewers"]
            ],
            "can_manage": services.can_manage_queues(request.user),
        }
        return render(request, "pairs/review/agreement.html", ctx)


# --- Conflicts and adjudication -------------------------------------------------------------


class _AdminView(RoleRequiredMixin, View):
    roles = (ADMIN,)


def _conflicts(queue_id: int | None):
    queue = ReviewQueue.objects.filter(pk=queue_id).first() if queue_id else None
    return queue, selectors.conflicts(queue=queue)


class ConflictListView(_AdminView):
    def get(self, request):
        queue_id = _positive_int(request.GET.get("queue"))
        queue, qs = _conflicts(queue_id)
        if queue_id and queue is None:
            raise Http404
        submitted = Q(reviews__state=ReviewState.SUBMITTED, reviews__is_gold=False)
        qs = qs.annotate(
            n_accept=Count(
                "reviews",
                filter=submitted & Q(reviews__decision__in=(Decision.ACCEPT, Decision.EDIT)),
            ),
            n_reject=Count("reviews", filter=submitted & Q(reviews__decision=Decision.REJECT)),
        )
        page = Paginator(qs, CONFLICTS_PER_PAGE).get_page(request.GET.get("page"))
        queues = ReviewQueue.objects.filter(
            Exists(ReviewItem.objects.filter(queue=OuterRef("pk"), status=ItemStatus.CONFLICT))
        ).order_by("name", "id")
        ctx = {
            "page": page,
            "queue": queue,
            "queues": queues,
            "query": urlencode({"queue": queue.pk}) if queue else "",
        }
        return render(request, "pairs/review/conflicts.html", ctx)


class AdjudicateView(_AdminView):
    template = "pairs/review/adjudicate.html"

    def _item(self, pk) -> ReviewItem:
        item = (
            ReviewItem.objects.select_related(
                "queue",
                "adjudicated_by",
                "pair__principle_version",
                "pair__task",
                "pair__domain",
                "pair__subdomain",
            )
            .filter(pk=pk, is_gold=False)
            .first()
        )
        if item is None:
            raise Http404
        return item

    def _render(self, request, item, reviews, form, status=200):
        pair = item.pair
        rows = []
        for r in reviews:
            revision = getattr(r, "revision", None)
            rows.append(
                {
                    "review": r,
                    "decision": DECISION_LABELS.get(r.decision, r.decision),
                    "reasons": [REASON_LABELS.get(code, code) for code in r.reasons or []],
                    "revision": revision,
                    "diff": diff_html(revision.before, revision.after) if revision else "",
                }
            )
        ctx = {
            "item": item,
            "pair": pair,
            "version": pair.principle_version,
            "diff": diff_html(pair.chosen, pair.rejected),
            "rows": rows,
            "form": form,
            "query": self._query(request),
        }
        return render(request, self.template, ctx, status=status)

    @staticmethod
    def _query(request) -> str:
        queue_id = _positive_int(request.GET.get("queue"))
        return urlencode({"queue": queue_id}) if queue_id else ""

    @staticmethod
    def _revisions(reviews):
        return [r.revision for r in reviews if getattr(r, "revision", None) is not None]

    def get(self, request, pk):
        item = self._item(pk)
        reviews = selectors.item_reviews(item=item)
        form = AdjudicateForm(revisions=self._revisions(reviews))
        return self._render(request, item, reviews, form)

    def post(self, request, pk):
        item = self._item(pk)
        reviews = selectors.item_reviews(item=item)
        form = AdjudicateForm(request.POST, revisions=self._revisions(reviews))
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.review_item_adjudicate(
                    item=item,
                    user=request.user,
                    decision=d["decision"],
                    note=d["note"],
                    revision_id=d["revision"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Pair %(n)d decided: %(decision)s.")
                    % {"n": item.pair_id, "decision": DECISION_LABELS[d["decision"]]},
                )
                queue_id = _positive_int(request.GET.get("queue"))
                _queue, qs = _conflicts(queue_id)
                following = qs.exclude(pk=item.pk).values_list("pk", flat=True).first()
                query = self._query(request)
                suffix = f"?{query}" if query else ""
                if following is not None:
                    return redirect(reverse("review:adjudicate", args=[following]) + suffix)
                return redirect(reverse("review:conflicts") + suffix)
        return self._render(request, item, reviews, form, status=400)


# --- Feedback to authors --------------------------------------------------------------------


class FeedbackView(RoleRequiredMixin, View):
    roles = FEEDBACK_ROLES

    def get(self, request):
        user = request.user
        sees_all = has_role(user, ENGINEER, ADMIN)
        owner_name = (request.GET.get("owner") or "").strip()[:150] if sees_all else ""
        unknown_owner = False
        if not sees_all:
            rows = selectors.principle_feedback(owner=user)
        elif owner_name:
            owner = get_user_model().objects.filter(username=owner_name).first()
            unknown_owner = owner is None
            rows = [] if owner is None else selectors.principle_feedback(owner=owner)
        else:
            rows = selectors.principle_feedback()
        rows = _feedback_rows(rows)
        rate, min_pairs = services.flag_threshold()
        ctx = {
            "rows": rows,
            "sees_all": sees_all,
            "owner": owner_name,
            "unknown_owner": unknown_owner,
            "flag_rate": _percent(rate),
            "flag_min": min_pairs,
        }
        return render(request, "pairs/review/feedback.html", ctx)


def _feedback_rows(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["share_percent"] = _percent(row["share"])
        row["top_reasons"] = row["reasons"][:3]
    return rows


def flagged_feedback(*, owner) -> list[dict]:
    """The author's flagged principles, for their home page."""
    return _feedback_rows([r for r in selectors.principle_feedback(owner=owner) if r["flagged"]])
