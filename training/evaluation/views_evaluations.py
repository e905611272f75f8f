"""The evaluation pages for Engineers and Admins (under ``/evaluation/``, namespace
``evaluation``); the benchmark pages and the arena live beside them.

- ``home``: the evaluations, with links to the benchmarks and the models.
- ``evaluation-new``: a new evaluation (models on a frozen benchmark, judge, budget).
- ``contestant-list`` / ``contestant-new``: the models to evaluate; a new one from a finished
  run's checkpoint or from an LLM endpoint, with its decoding parameters.
- ``evaluation-detail``: an evaluation's jobs and their progress (a partial,
  ``evaluation-progress``, that htmx refreshes every 2 s while it runs), money spent, cancel
  and resume, and a contamination warning for checkpoints trained on a snapshot holding the
  benchmark's instructions.
- ``leaderboard``: Elo and Bradley-Terry ratings with 95% bootstrap intervals, from the judge's
  or the evaluators' comparisons, on a criterion, overall and per domain, with a chart of the
  intervals (SVG drawn here, no script), and the judge's score table.
- ``item-list`` / ``item-detail``: the instructions, and one instruction's responses side by
  side with the judge's grades and the comparisons made on it.

Writes go through :mod:`training.evaluation.services` (imported where used), reads through
:mod:`training.evaluation.selectors`. Every text from a user or a model is escaped by the
templates.
"""

from __future__ import annotations

import math

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, ENGINEER, RoleRequiredMixin

from . import selectors
from .forms import SERVICE_FIELD_NAMES, ContestantForm, EvaluationForm
from .models import BenchmarkItem, ContestantKind, Evaluation

PER_PAGE = 50
ITEMS_PER_PAGE = 100
#: Bootstrap rounds of a leaderboard, and their seed (the page is reproducible).
ROUNDS = 1000
SEED = 0
SOURCE_LABELS = {
    "judge": gettext_lazy("Model judge"),
    "human": gettext_lazy("Human evaluators"),
}
CRITERION_LABELS = {
    "overall": gettext_lazy("Overall"),
    "creativity": gettext_lazy("Creativity"),
    "style": gettext_lazy("Style"),
    "relevance": gettext_lazy("Relevance"),
    "fluency": gettext_lazy("Fluency"),
}
OUTCOME_LABELS = {"a": "A", "b": "B", "tie": gettext_lazy("Tie")}

# The interval chart (SVG user units).
CHART_WIDTH = 640
CHART_LABEL_W = 170
CHART_PAD_RIGHT = 20
CHART_ROW_H = 30
CHART_TOP = 10
CHART_AXIS_H = 30


class _EvaluationView(RoleRequiredMixin, View):
    roles = (ENGINEER, ADMIN)


def _evaluation(pk: int) -> Evaluation:
    evaluation = selectors.evaluation_get(pk=pk)
    if evaluation is None:
        raise Http404(_("No such evaluation."))
    return evaluation


def benchmarks_url() -> str:
    """The benchmark list (the literal path while its page is not there yet)."""
    try:
        return reverse("evaluation:benchmark-list")
    except NoReverseMatch:
        return "/evaluation/benchmarks/"


def benchmark_url(benchmark_id: int) -> str:
    try:
        return reverse("evaluation:benchmark-detail", args=[benchmark_id])
    except NoReverseMatch:
        return f"/evaluation/benchmarks/{benchmark_id}/"


# --- The list -------------------------------------------------------------------------------


class EvaluationListView(_EvaluationView):
    def get(self, request):
        page = Paginator(selectors.evaluations_list(), PER_PAGE).get_page(request.GET.get("page"))
        ctx = {"page": page, "query": "", "benchmarks_url": benchmarks_url()}
        return render(request, "evaluation/evaluation_list.html", ctx)


# --- New evaluation -------------------------------------------------------------------------


class EvaluationCreateView(_EvaluationView):
    template = "evaluation/evaluation_new.html"

    def _render(self, request, form, *, status=200):
        ctx = {"form": form, "benchmarks_url": benchmarks_url()}
        return render(request, self.template, ctx, status=status)

    def get(self, request):
        return self._render(request, EvaluationForm())

    def post(self, request):
        from .services import evaluation_create

        form = EvaluationForm(request.POST)
        if form.is_valid():
            try:
                evaluation = evaluation_create(created_by=request.user, **form.service_kwargs())
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Evaluation “%(name)s” started: the models answer first.")
                    % {"name": evaluation.name},
                )
                return redirect("evaluation:evaluation-detail", pk=evaluation.pk)
        return self._render(request, form, status=400)


# --- Models ---------------------------------------------------------------------------------


class ContestantListView(_EvaluationView):
    def get(self, request):
        page = Paginator(selectors.contestants_list(), PER_PAGE).get_page(request.GET.get("page"))
        return render(request, "evaluation/contestant_list.html", {"page": page, "query": ""})


class ContestantCreateView(_EvaluationView):
    template = "evaluation/contestant_new.html"

    def _render(self, request, form, *, status=200):
        return render(request, self.template, {"form": form}, status=status)

    def get(self, request):
        return self._render(request, ContestantForm())

    def post(self, request):
        from .services import contestant_create

        form = ContestantForm(request.POST)
        if form.is_valid():
            try:
                contestant = contestant_create(created_by=request.user, **form.service_kwargs())
            except ValidationError as exc:
                form_add_service_errors(form, exc, rename=SERVICE_FIELD_NAMES)
            else:
                messages.success(request, _("Model “%(name)s” added.") % {"name": contestant.name})
                return redirect("evaluation:contestant-list")
        return self._render(request, form, status=400)


# --- An evaluation --------------------------------------------------------------------------


def _contamination(evaluation: Evaluation) -> list[dict]:
    """Checkpoint models whose run trained on a snapshot holding benchmark instructions."""
    try:
        from .benchmarks import contamination_report_get
    except ImportError:  # the benchmark module is not there yet
        return []
    warnings = []
    checked: dict[int, object] = {}
    contestants = evaluation.contestants.filter(kind=ContestantKind.CHECKPOINT).select_related(
        "run__snapshot"
    )
    for c in contestants:
        run = c.run
        if run is None or run.snapshot_id is None:
            continue
        if run.snapshot_id not in checked:
            try:
                checked[run.snapshot_id] = contamination_report_get(
                    benchmark=evaluation.benchmark, snapshot=run.snapshot
                )
            except ValidationError:
                checked[run.snapshot_id] = None
        report = checked[run.snapshot_id]
        if report is not None and report.instructions:
            warnings.append(
                {
                    "contestant": c,
                    "run": run,
                    "snapshot": run.snapshot,
                    "instructions": report.instructions,
                    "exact": report.exact,
                    "near": report.near,
                }
            )
    return warnings


def _progress_context(evaluation: Evaluation, *, notice: str = "", notice_ok: bool = True):
    return {
        "evaluation": evaluation,
        "progress": selectors.evaluation_progress(evaluation=evaluation),
        "notice": notice,
        "notice_ok": notice_ok,
    }


class EvaluationDetailView(_EvaluationView):
    def get(self, request, pk):
        evaluation = _evaluation(pk)
        ctx = _progress_context(evaluation)
        ctx.update(
            contestants=list(
                evaluation.contestants.select_related("endpoint", "run", "checkpoint").order_by(
                    "name"
                )
            ),
            contamination=_contamination(evaluation),
            n_items=evaluation.benchmark.items.count(),
            benchmark_url=benchmark_url(evaluation.benchmark_id),
        )
        return render(request, "evaluation/evaluation_detail.html", ctx)


class EvaluationProgressView(_EvaluationView):
    """The progress partial (htmx); without ``hx-trigger`` once the evaluation has stopped."""

    def get(self, request, pk):
        ctx = _progress_context(_evaluation(pk))
        return render(request, "evaluation/evaluation_progress.html", ctx)


class _EvaluationActionView(_EvaluationView):
    def act(self, evaluation) -> tuple[bool, str]:
        raise NotImplementedError

    def post(self, request, pk):
        evaluation = _evaluation(pk)
        ok, notice = self.act(evaluation)
        evaluation.refresh_from_db()
        if request.headers.get("HX-Request"):
            ctx = _progress_context(evaluation, notice=notice, notice_ok=ok)
            return render(request, "evaluation/evaluation_progress.html", ctx)
        (messages.success if ok else messages.error)(request, notice)
        return redirect("evaluation:evaluation-detail", pk=evaluation.pk)


class EvaluationCancelView(_EvaluationActionView):
    def act(self, evaluation):
        from .services import evaluation_cancel

        if evaluation_cancel(evaluation=evaluation):
            return True, _("Evaluation cancelled: its jobs stop.")
        return False, _("The evaluation is %(status)s: there is nothing to cancel.") % {
            "status": evaluation.get_status_display()
        }


class EvaluationResumeView(_EvaluationActionView):
    def act(self, evaluation):
        from .services import evaluation_resume

        if evaluation_resume(evaluation=evaluation):
            return True, _("Evaluation resumed: its stopped jobs are queued again.")
        return False, _("The evaluation is %(status)s: there is nothing to resume.") % {
            "status": evaluation.get_status_display()
        }


# --- Leaderboard ----------------------------------------------------------------------------


def _finite(value):
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def interval_chart(rows: list[dict], *, chart_id: str) -> dict | None:
    """Where the leaderboard chart draws each model: a dot at its rating and a whisker over its
    95% interval, for Bradley-Terry and Elo, on one axis."""
    values = []
    for r in rows:
        for key in ("bt", "bt_low", "bt_high", "elo", "elo_low", "elo_high"):
            if _finite(r.get(key)) is not None:
                values.append(r[key])
    if not rows or not values:
        return None
    low, high = min(values), max(values)
    span = high - low
    pad = max(span * 0.05, 5.0)
    low, high = low - pad, high + pad
    plot_left = CHART_LABEL_W
    plot_w = CHART_WIDTH - CHART_LABEL_W - CHART_PAD_RIGHT

    def x(value):
        # Strings, so that no locale formats the coordinates.
        value = _finite(value)
        return None if value is None else f"{plot_left + plot_w * (value - low) / (high - low):.1f}"

    step = _nice_step((high - low) / 5)
    first = math.ceil(low / step) * step
    ticks = []
    tick = first
    while tick <= high:
        ticks.append({"x": x(tick), "label": f"{tick:.0f}"})
        tick += step
    models = []
    for i, r in enumerate(rows):
        y = CHART_TOP + i * CHART_ROW_H + CHART_ROW_H / 2
        models.append(
            {
                "model": r["model"],
                "y": f"{y:.1f}",
                "text_y": f"{y + 4:.1f}",
                "bt_y": f"{y - 5:.1f}",
                "elo_y": f"{y + 5:.1f}",
                "bt": x(r["bt"]),
                "bt_low": x(r["bt_low"]),
                "bt_high": x(r["bt_high"]),
                "elo": x(r["elo"]),
                "elo_low": x(r["elo_low"]),
                "elo_high": x(r["elo_high"]),
                "row": r,
            }
        )
    plot_bottom = CHART_TOP + len(rows) * CHART_ROW_H
    return {
        "id": chart_id,
        "width": CHART_WIDTH,
        "height": plot_bottom + CHART_AXIS_H,
        "plot_left": plot_left,
        "plot_right": plot_left + plot_w,
        "plot_bottom": plot_bottom,
        "label_x": plot_left - 8,
        "tick_y": plot_bottom + 16,
        "ticks": ticks,
        "models": models,
    }


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


class LeaderboardView(_EvaluationView):
    def get(self, request, pk):
        evaluation = _evaluation(pk)
        source = request.GET.get("source", "judge")
        source = source if source in selectors.SOURCES else "judge"
        criterion = request.GET.get("criterion", "overall")
        criterion = criterion if criterion in selectors.COMPARISON_CRITERIA else "overall"
        groups = selectors.evaluation_leaderboard(
            evaluation=evaluation, source=source, criterion=criterion, rounds=ROUNDS, seed=SEED
        )
        for g in groups:
            g["chart"] = interval_chart(g["rows"], chart_id=f"chart-{g['group'] or 'overall'}")
            g["connected"] = len(g["components"]) <= 1
            g["anchor"] = g["group"] or "overall"
        scores = selectors.evaluation_score_table(evaluation=evaluation)
        score_groups = [{"slug": "", "label": _("Overall"), "rows": scores["rows"]}] + [
            {"slug": d["slug"], "label": d["label"], "rows": scores["by_domain"][d["slug"]]}
            for d in scores["domains"]
        ]
        ctx = {
            "evaluation": evaluation,
            "source": source,
            "criterion": criterion,
            "sources": [(s, SOURCE_LABELS[s]) for s in selectors.SOURCES],
            "criteria": [(c, CRITERION_LABELS[c]) for c in selectors.COMPARISON_CRITERIA],
            "criterion_label": CRITERION_LABELS[criterion],
            "source_label": SOURCE_LABELS[source],
            "groups": groups,
            "overall": groups[0],
            "scores": scores,
            "score_groups": score_groups,
            "score_labels": [CRITERION_LABELS[c] for c in scores["criteria"]],
            "rounds": ROUNDS,
        }
        return render(request, "evaluation/leaderboard.html", ctx)


# --- Instructions ---------------------------------------------------------------------------


class ItemListView(_EvaluationView):
    def get(self, request, pk):
        evaluation = _evaluation(pk)
        items = selectors.evaluation_items(evaluation=evaluation)
        page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
        ctx = {
            "evaluation": evaluation,
            "page": page,
            "query": "",
            "n_contestants": evaluation.contestants.count(),
        }
        return render(request, "evaluation/item_list.html", ctx)


class ItemDetailView(_EvaluationView):
    def get(self, request, pk, item_pk):
        evaluation = _evaluation(pk)
        item = get_object_or_404(
            BenchmarkItem.objects.select_related("domain", "task"),
            pk=item_pk,
            benchmark_id=evaluation.benchmark_id,
        )
        view = selectors.evaluation_item_view(evaluation=evaluation, item=item)
        for comparisons in (view["judge_comparisons"], view["human_comparisons"]):
            for c in comparisons:
                c["outcome_label"] = OUTCOME_LABELS.get(c["outcome"], c["outcome"])
                for crit in c["criteria"]:
                    crit["label"] = CRITERION_LABELS.get(crit["name"], crit["name"])
        ctx = {
            "evaluation": evaluation,
            **view,
            **selectors.evaluation_item_neighbours(evaluation=evaluation, item=item),
            "score_labels": [(c, CRITERION_LABELS[c]) for c in view["criteria"]],
            "pairwise_labels": [CRITERION_LABELS[c] for c in view["pairwise_criteria"]],
        }
        return render(request, "evaluation/item_detail.html", ctx)


urlpatterns = [
    path("", EvaluationListView.as_view(), name="home"),
    path("new/", EvaluationCreateView.as_view(), name="evaluation-new"),
    path("models/", ContestantListView.as_view(), name="contestant-list"),
    path("models/new/", ContestantCreateView.as_view(), name="contestant-new"),
    path("<int:pk>/", EvaluationDetailView.as_view(), name="evaluation-detail"),
    path("<int:pk>/progress/", EvaluationProgressView.as_view(), name="evaluation-progress"),
    path("<int:pk>/cancel/", EvaluationCancelView.as_view(), name="evaluation-cancel"),
    path("<int:pk>/resume/", EvaluationResumeView.as_view(), name="evaluation-resume"),
    path("<int:pk>/leaderboard/", LeaderboardView.as_view(), name="leaderboard"),
    path("<int:pk>/items/", ItemListView.as_view(), name="item-list"),
    path("<int:pk>/items/<int:item_pk>/", ItemDetailView.as_view(), name="item-detail"),
]
