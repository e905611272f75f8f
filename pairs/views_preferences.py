"""Preference pair pages: the list, a pair with its chosen -> rejected diff and the principle it
breaks, and statistics per principle.

Engineers, reviewers and admins. Every text that came from a user or an LLM is escaped by the
templates; the diff is built by :func:`weaver_site.textdiff.diff_html`, which escapes it.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from weaver_site.roles import ADMIN, AUTHOR, ENGINEER, REVIEWER, RoleRequiredMixin, has_role
from weaver_site.textdiff import diff_html

from . import charts, selectors
from .models import NegativeMode, PreferencePair, PreferenceStatus

PREFERENCE_ROLES = (ENGINEER, REVIEWER, ADMIN)
PAIRS_PER_PAGE = 50

METRIC_LABELS = {
    "char_similarity": gettext_lazy("Character similarity"),
    "edit_ratio": gettext_lazy("Edit ratio"),
    "sentences_changed": gettext_lazy("Sentences changed"),
    "length_ratio": gettext_lazy("Length ratio"),
    "identical": gettext_lazy("Identical"),
}
METRIC_HELP = {
    "char_similarity": gettext_lazy("Share of characters the two responses have in common."),
    "edit_ratio": gettext_lazy(
        "Words changed per word of the chosen response (characters for Chinese)."
    ),
    "sentences_changed": gettext_lazy("Sentences removed, added or rewritten."),
    "length_ratio": gettext_lazy("Length of the rejected response over the chosen one."),
    "identical": gettext_lazy("The two responses are the same once spaces are collapsed."),
}


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


class PreferenceRoleMixin(RoleRequiredMixin):
    roles = PREFERENCE_ROLES


class PreferencePairListView(PreferenceRoleMixin, View):
    def get(self, request):
        filters = selectors.PreferencePairFilters.from_params(request.GET)
        page = Paginator(selectors.preference_pair_list(filters=filters), PAIRS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        ctx = {"page": page, "filters": filters, "query": _query_without_page(request)}
        if _is_htmx(request):
            return render(request, "pairs/preferences/_results.html", ctx)
        return render(
            request,
            "pairs/preferences/list.html",
            {**ctx, **selectors.preference_pair_choices()},
        )


def _source(pair: PreferencePair):
    """The corpus text the positive was made from, or None (an imported positive)."""
    positive = pair.positive
    if positive.span_id is not None:
        return positive.span.text
    return positive.source_text


def _metric_rows(pair: PreferencePair) -> list[dict]:
    metrics = pair.metrics if isinstance(pair.metrics, dict) else {}
    flags = {str(f) for f in pair.flags} if isinstance(pair.flags, list) else set()
    names = list(selectors.PREFERENCE_METRIC_NAMES)
    names += sorted(str(k) for k in metrics if k not in names)
    names += sorted(f for f in flags if f not in names)
    return [
        {
            "name": name,
            "label": METRIC_LABELS.get(name, name),
            "help": METRIC_HELP.get(name, ""),
            "value": metrics.get(name),
            "present": name in metrics,
            "is_bool": isinstance(metrics.get(name), bool),
            "flagged": name in flags,
        }
        for name in names
    ]


def _items(value) -> list:
    return sorted(value.items()) if isinstance(value, dict) else []


class PreferencePairDetailView(PreferenceRoleMixin, View):
    """Engineers, reviewers and admins see every pair; an author sees the pairs that break one
    of their own principles (the examples their review feedback links to)."""

    roles = (*PREFERENCE_ROLES, AUTHOR)

    def get(self, request, pk):
        pair = selectors.preference_pair_get(pk=pk)
        if pair is None:
            raise Http404
        if not has_role(request.user, *PREFERENCE_ROLES) and (
            pair.principle_version is None
            or pair.principle_version.principle.owner_id != request.user.pk
        ):
            raise Http404
        query = _query_without_page(request)
        ctx = {
            "pair": pair,
            "version": pair.principle_version,
            "diff": diff_html(pair.chosen, pair.rejected),
            "offered": selectors.preference_pair_offered_versions(pair=pair)
            if pair.mode == NegativeMode.EXPLAIN
            else [],
            "is_explain": pair.mode == NegativeMode.EXPLAIN,
            "metric_rows": _metric_rows(pair),
            "source": _source(pair),
            "params": _items(pair.params),
            "request_hashes": _items(pair.request_hashes),
            "call_ids": _items(pair.call_ids),
            "is_failed": pair.status == PreferenceStatus.FAILED,
            "list_url": reverse("preferences:list") + (f"?{query}" if query else ""),
        }
        return render(request, "pairs/preferences/detail.html", ctx)


def _positive_int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


class PrincipleStatsView(PreferenceRoleMixin, View):
    """Per principle: how many pairs, how many flagged, the judge's pass rate and how minimal
    the edits are (histograms of character similarity and edit ratio)."""

    def get(self, request):
        params = request.GET
        filters = {
            "domain": (params.get("domain") or "").strip()[:64],
            "task": (params.get("task") or "").strip()[:64],
            "language": (params.get("language") or "").strip()[:8],
            "job": _positive_int(params.get("job")),
        }
        rows = selectors.principle_preference_stats(**filters)
        for i, row in enumerate(rows):
            title = row["title"] or f"#{row['principle_id']}"
            row["flagged_percent"] = _percent(row["flagged_share"])
            row["pass_percent"] = _percent(row["judge_pass_rate"])
            row["status_counts"] = [
                (label, row["per_status"].get(value, 0))
                for value, label in PreferenceStatus.choices
                if row["per_status"].get(value)
            ]
            row["charts"] = []
            for name, chart_id in (("char_similarity", "sim"), ("edit_ratio", "edit")):
                hist = selectors.preference_metric_histogram(name, row["values"][name])
                percent = hist.pop("scale") == 100
                row["charts"].append(
                    {
                        "name": name,
                        "label": METRIC_LABELS[name],
                        "percent": percent,
                        "summary": row["metrics"][name],
                        "svg": charts.histogram_svg(
                            hist.pop("values"),
                            title=_("%(metric)s of the pairs of “%(principle)s”")
                            % {"metric": METRIC_LABELS[name], "principle": title},
                            description=_("Number of pairs per range of the metric, in percent."),
                            chart_id=f"{chart_id}-{i}",
                            **hist,
                        ),
                    }
                )
        choices = selectors.preference_pair_choices()
        ctx = {
            "rows": rows,
            "filters": filters,
            "domains": choices["domains"],
            "tasks": choices["tasks"],
            "languages": choices["languages"],
        }
        return render(request, "pairs/preferences/principle_stats.html", ctx)
