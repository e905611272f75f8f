"""Instruction pair pages: the browser, a pair beside its source span, and manual marks.

Engineers, reviewers and admins. The filters of the browser travel in the query string to the
pair page, so its previous/next links (and the keyboard) walk the same list.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from weaver_site.roles import ADMIN, ENGINEER, REVIEWER, RoleRequiredMixin

from . import selectors, services
from .models import InstructionPair, PairStatus

PAIR_ROLES = (ENGINEER, REVIEWER, ADMIN)
PAIRS_PER_PAGE = 50


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


class PairRoleMixin(RoleRequiredMixin):
    roles = PAIR_ROLES


def _get_pair(pk) -> InstructionPair:
    pair = selectors.instruction_pair_get(pk=pk)
    if pair is None:
        raise Http404
    return pair


class InstructionPairBrowserView(PairRoleMixin, View):
    def get(self, request):
        filters = selectors.InstructionPairFilters.from_params(request.GET)
        page = Paginator(selectors.instruction_pair_list(filters=filters), PAIRS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        ctx = {"page": page, "filters": filters, "query": _query_without_page(request)}
        if _is_htmx(request):
            return render(request, "pairs/instructions/_results.html", ctx)
        return render(
            request,
            "pairs/instructions/browser.html",
            {**ctx, **selectors.instruction_pair_choices()},
        )


def _source_parts(pair: InstructionPair) -> dict | None:
    """The source text cut into before / span / after (plain strings: the template escapes
    them), or None for a pair with no source."""
    span = pair.span
    text = span.text if span is not None else pair.source_text
    if text is None:
        return None
    body = text.text or ""
    if span is None:
        return {"text": text, "before": body, "span": "", "after": "", "has_span": False}
    start = max(0, min(span.start, len(body)))
    end = max(start, min(span.end, len(body)))
    return {
        "text": text,
        "before": body[:start],
        "span": body[start:end],
        "after": body[end:],
        "has_span": True,
    }


def _mark_context(pair: InstructionPair, query: str, error: str = "") -> dict:
    return {"pair": pair, "query": query, "mark_error": error}


class InstructionPairDetailView(PairRoleMixin, View):
    def get(self, request, pk):
        pair = _get_pair(pk)
        query = _query_without_page(request)
        filters = selectors.InstructionPairFilters.from_params(request.GET)
        previous_id, next_id = selectors.instruction_pair_neighbours(pair=pair, filters=filters)
        ctx = {
            **_mark_context(pair, query),
            "source": _source_parts(pair),
            "fewshot": selectors.instruction_pair_fewshot_cases(pair=pair),
            "curation_details": sorted((pair.curation_details or {}).items())
            if isinstance(pair.curation_details, dict)
            else [],
            "metadata": sorted(pair.metadata.items()) if isinstance(pair.metadata, dict) else [],
            "is_failed": pair.status == PairStatus.FAILED,
            "previous_id": previous_id,
            "next_id": next_id,
            "browser_url": reverse("instructions:browser") + (f"?{query}" if query else ""),
        }
        return render(request, "pairs/instructions/detail.html", ctx)


class InstructionPairMarkView(PairRoleMixin, View):
    """POST ``mark`` (good, bad or empty). With htmx, answer the mark fragment; without,
    go back to the pair's page (keeping the browser's filters)."""

    def post(self, request, pk):
        pair = _get_pair(pk)
        query = _query_without_page(request)
        error = ""
        try:
            pair = services.instruction_pair_mark(
                pair=pair, user=request.user, mark=request.POST.get("mark", "")
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        if _is_htmx(request):
            return render(
                request,
                "pairs/instructions/_mark.html",
                _mark_context(pair, query, error),
                status=400 if error else 200,
            )
        if error:
            messages.error(request, error)
        url = reverse("instructions:detail", args=[pair.pk])
        return redirect(f"{url}?{query}" if query else url)
