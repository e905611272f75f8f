"""The review screen: a reviewer is given the next pair of a queue, reads the prompt, the chosen
and rejected responses with their diff and the principle the rejected one should break, and
accepts, rejects (with reasons), edits the rejected response and accepts, or skips.

Only the reviewer a review belongs to sees it, its draft included: anyone else gets a 404, so a
review's existence is not revealed. Whether a pair is a gold pair is never shown. Every text
from a user or an LLM is escaped by the templates; the diffs are built by
:func:`weaver_site.textdiff.diff_html`, which escapes them. The page works as plain HTML forms;
``review.js`` adds keyboard shortcuts, draft autosave and the time count.
"""

from __future__ import annotations

import contextlib
import json
import math

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from weaver_site.roles import ADMIN, REVIEWER, RoleRequiredMixin
from weaver_site.textdiff import diff_html

from ..models import Decision, RejectReason, Review, ReviewState
from . import selectors, services

REVIEW_ROLES = (REVIEWER, ADMIN)
#: Keys that toggle the reject reasons, in the order of :class:`RejectReason`.
REASON_KEYS = "123456789"
#: Longest JSON body a draft save takes (the edit and comment limits, with room for JSON).
MAX_DRAFT_BYTES = 4 * (services.MAX_EDIT_CHARS + services.MAX_COMMENT_CHARS) + 4096


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    """A service's ValidationError as ``{field: [messages]}``; ``__all__`` for the rest."""
    if hasattr(exc, "error_dict"):
        return {field: list(msgs) for field, msgs in exc.message_dict.items()}
    return {"__all__": list(exc.messages)}


def _seconds(value) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class ReviewerMixin(RoleRequiredMixin):
    roles = REVIEW_ROLES

    def get_review(self, request, pk):
        """The user's own review, or 404 (someone else's review does not exist for them)."""
        review = selectors.review_for_screen(review_id=pk, reviewer=request.user)
        if review is None:
            raise Http404
        return review


# --- Next pair -----------------------------------------------------------------------------


class NextView(ReviewerMixin, View):
    """Reserve the reviewer's next pair of a queue (or resume their reservation) and open it."""

    def get(self, request, pk):
        return self._next(request, pk)

    def post(self, request, pk):
        return self._next(request, pk)

    def _next(self, request, pk):
        queue = selectors.review_queue_get(user=request.user, pk=pk)
        if queue is None:  # not one of theirs: it does not exist for them
            raise Http404
        closed = None
        try:
            review = services.review_next(queue=queue, reviewer=request.user)
        except ValidationError as exc:
            review, closed = None, " ".join(exc.messages)
        if review is not None:
            return redirect("review:screen", pk=review.pk)
        return render(
            request,
            "pairs/review/done.html",
            {
                "queue": queue,
                "closed": closed,
                "submitted": Review.objects.filter(
                    queue=queue, reviewer=request.user, state=ReviewState.SUBMITTED
                ).count(),
            },
        )


# --- The screen ----------------------------------------------------------------------------


def _values_from_draft(review) -> dict:
    draft = review.draft if isinstance(review.draft, dict) else {}
    return {
        "decision": draft.get("decision") or "",
        "reasons": [r for r in draft.get("reasons") or [] if r in RejectReason.values],
        "comment": draft.get("comment") or "",
        "edited_rejected": draft.get("edited_rejected") or "",
        "active_seconds": _seconds(draft.get("active_seconds")) or 0,
    }


def _remaining(review, reviewer) -> int:
    """Pairs left for the reviewer besides this one (an expired reservation's pair counts
    again in the selector, so it is taken off here), at most ``REMAINING_CAP + 1``."""
    remaining = selectors.reviewer_remaining(
        queue=review.queue, reviewer=reviewer, cap=selectors.REMAINING_CAP
    )
    if review.state == ReviewState.EXPIRED:
        remaining -= 1
    return max(0, remaining)


def _strings() -> dict:
    return {
        "saved": _("Saved"),
        "saving": _("Saving…"),
        "offline": _("Offline — kept on this device"),
        "notSaved": _("Not saved"),
        "restored": _("Restored what you typed on this device"),
    }


def _screen(request, review, *, values=None, errors=None, status=200):
    """The review screen for ``review``: editable while it is reserved (or expired), read-only
    once submitted or skipped. ``values`` and ``errors`` re-show a refused submit."""
    pair, queue = review.pair, review.queue
    version = pair.principle_version
    state = review.state
    editable = state in (ReviewState.RESERVED, ReviewState.EXPIRED)
    expired = state == ReviewState.EXPIRED or (
        state == ReviewState.RESERVED and review.reserved_until <= timezone.now()
    )
    posted = values is not None
    if values is None:
        values = _values_from_draft(review)
    errors = errors or {}
    edited = values["edited_rejected"] or pair.rejected
    labels = dict(RejectReason.choices)
    reasons = [
        {
            "key": REASON_KEYS[i] if i < len(REASON_KEYS) else "",
            "value": value,
            "label": label,
            "checked": value in values["reasons"],
        }
        for i, (value, label) in enumerate(RejectReason.choices)
    ]
    submitted = None
    if state == ReviewState.SUBMITTED:
        revision = getattr(review, "revision", None)
        submitted = {
            "decision": review.get_decision_display(),
            "decision_value": review.decision,
            "reasons": [labels.get(r, r) for r in review.reasons or []],
            "comment": review.comment,
            "edit_diff": diff_html(revision.before, revision.after) if revision else None,
            "edited": revision.after if revision else review.edited_rejected,
        }
    config = {
        "reviewId": review.pk,
        "state": state,
        "editable": editable,
        "posted": posted,
        "draftUrl": reverse("review:draft", args=[review.pk]),
        "diffUrl": reverse("principles:diff-preview"),
        "rejected": pair.rejected,
        "draft": {
            "decision": values["decision"],
            "reasons": values["reasons"],
            "comment": values["comment"],
            "edited_rejected": values["edited_rejected"],
            "active_seconds": values.get("active_seconds") or 0,
        },
        "strings": _strings(),
    }
    ctx = {
        "review": review,
        "queue": queue,
        "pair": pair,
        "version": version,
        "remaining": _remaining(review, request.user),
        "remaining_cap": selectors.REMAINING_CAP,
        "diff": diff_html(pair.chosen, pair.rejected),
        "editable": editable,
        "expired": expired and editable,
        "skipped": state == ReviewState.SKIPPED,
        "submitted": submitted,
        "values": values,
        "edited": edited,
        "edit_diff": diff_html(pair.rejected, edited) if edited != pair.rejected else "",
        "reasons": reasons,
        "errors": errors,
        "non_field_errors": errors.get("__all__", []) + errors.get("decision", []),
        "config": config,
        "decision_accept": Decision.ACCEPT,
        "decision_reject": Decision.REJECT,
        "decision_edit": Decision.EDIT,
    }
    return render(request, "pairs/review/screen.html", ctx, status=status)


class ReviewScreenView(ReviewerMixin, View):
    def get(self, request, pk):
        return _screen(request, self.get_review(request, pk))


class DraftView(ReviewerMixin, View):
    """Autosave: the JSON the screen's script sends. Only the review's own reviewer."""

    def post(self, request, pk):
        review = self.get_review(request, pk)
        if len(request.body) > MAX_DRAFT_BYTES:
            return JsonResponse({"errors": {"draft": [_("The draft is too long.")]}}, status=400)
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return JsonResponse({"errors": {"draft": [_("Expected JSON.")]}}, status=400)
        try:
            review = services.review_draft_save(review=review, reviewer=request.user, draft=data)
        except ValidationError as exc:
            return JsonResponse({"errors": _errors(exc)}, status=400)
        return JsonResponse({"saved": True, "reserved_until": review.reserved_until.isoformat()})


class SubmitView(ReviewerMixin, View):
    def post(self, request, pk):
        review = self.get_review(request, pk)
        post = request.POST
        values = {
            "decision": post.get("decision", ""),
            "reasons": post.getlist("reasons"),
            "comment": post.get("comment", ""),
            "edited_rejected": post.get("edited_rejected", ""),
            "active_seconds": _seconds(post.get("active_seconds")),
        }
        try:
            services.review_submit(
                review=review,
                reviewer=request.user,
                decision=values["decision"],
                reasons=values["reasons"],
                comment=values["comment"],
                edited_rejected=values["edited_rejected"],
                active_seconds=values["active_seconds"],
            )
        except ValidationError as exc:
            errors = _errors(exc)
            if review.state != ReviewState.SUBMITTED:
                _keep_draft(review, request.user, values)
            review.refresh_from_db()
            if review.state == ReviewState.SUBMITTED:
                values = None
            elif values["edited_rejected"] == review.pair.rejected:
                values["edited_rejected"] = ""
            return _screen(request, review, values=values, errors=errors, status=400)
        return redirect("review:next", pk=review.queue_id)


def _keep_draft(review, user, values: dict) -> None:
    """What a refused submit carried becomes the draft, so a reload keeps it too."""
    draft = {
        "decision": values["decision"] if values["decision"] in Decision.values else "",
        "reasons": [r for r in values["reasons"] if r in RejectReason.values],
        "comment": values["comment"][: services.MAX_COMMENT_CHARS],
        "edited_rejected": ""
        if values["edited_rejected"] == review.pair.rejected
        else values["edited_rejected"][: services.MAX_EDIT_CHARS],
    }
    if values["active_seconds"] is not None:
        draft["active_seconds"] = values["active_seconds"]
    with contextlib.suppress(ValidationError):
        services.review_draft_save(review=review, reviewer=user, draft=draft)


class SkipView(ReviewerMixin, View):
    def post(self, request, pk):
        review = self.get_review(request, pk)
        try:
            services.review_skip(review=review, reviewer=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return redirect("review:screen", pk=review.pk)
        return redirect("review:next", pk=review.queue_id)
