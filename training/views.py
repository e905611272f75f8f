"""Training pages, for Engineers and Admins: the runs, a new run, a run's page (live charts,
progress with an ETA, the config, the log, checkpoints and their downloads, cancel and resume)
and the curves of two runs side by side.

Writes go through :mod:`training.services`, reads through :mod:`training.selectors`. The run
page's status, progress, checkpoints and log are a partial that htmx refreshes every 2 s while
the run is active; its charts are drawn by ``training/runs.js``, which polls the metrics JSON.
Every text that came from a user or the engine (names, paths, log, errors) is escaped by the
templates.
"""

from __future__ import annotations

import math

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from pairs.views_preferences import _positive_int
from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, ENGINEER, RoleRequiredMixin

from . import downloads, selectors, services
from .forms import (
    HYPERPARAMETER_LABELS,
    LAYOUT_LABELS,
    LOSS_LABELS,
    PRECISION_LABELS,
    SCHEDULE_LABELS,
    RunForm,
    finished_base_runs,
    kind_learning_rates,
)
from .models import RunCheckpoint, RunKind, RunStatus, TrainingRun

PER_PAGE = 50
COMPARE_CHOICES = 200
#: The charts of a run page: (metric, label, DPO only).
CHARTS = (
    ("loss", gettext_lazy("Loss"), False),
    ("rewards/accuracies", gettext_lazy("Reward accuracy"), True),
    ("rewards/margins", gettext_lazy("Reward margin"), True),
    ("learning_rate", gettext_lazy("Learning rate"), False),
)
SETTING_NAMES = (*services.HYPERPARAMETERS, "layout")
_CHOICE_LABELS = {
    "layout": LAYOUT_LABELS,
    "lr_scheduler": SCHEDULE_LABELS,
    "precision": PRECISION_LABELS,
    "loss_type": LOSS_LABELS,
}


class _TrainingView(RoleRequiredMixin, View):
    roles = (ENGINEER, ADMIN)


def _run(pk: int) -> TrainingRun:
    return get_object_or_404(
        TrainingRun.objects.select_related("snapshot", "base_run", "created_by"), pk=pk
    )


# --- Words and numbers ----------------------------------------------------------------------


def eta_words(seconds: float | None) -> str:
    """``12 min``, ``1 h 5 min``, ``40 s``; empty when unknown."""
    if seconds is None:
        return ""
    total = round(seconds)
    if total < 60:
        return _("%(n)d s") % {"n": total}
    minutes = round(total / 60)
    if minutes < 60:
        return _("%(n)d min") % {"n": minutes}
    return _("%(h)d h %(m)d min") % {"h": minutes // 60, "m": minutes % 60}


def setting_text(name: str, value) -> str:
    """A hyperparameter's value as the pages show it."""
    if value is None:
        return _("the kind's default") if name == "learning_rate" else "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if name in _CHOICE_LABELS:
        return str(_CHOICE_LABELS[name].get(value, value))
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def _finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _clean_series(data: dict, names=None) -> dict:
    """Metric columns safe for JSON (NaN and infinities become null), optionally only
    ``names``."""
    series = data.get("series", {})
    keep = series if names is None else {n: series[n] for n in names if n in series}
    return {
        "steps": data.get("steps", []),
        "series": {n: [_finite(v) for v in values] for n, values in keep.items()},
    }


# --- The list -------------------------------------------------------------------------------


class RunListView(_TrainingView):
    def get(self, request):
        status = request.GET.get("status", "")
        status = status if status in RunStatus.values else ""
        kind = request.GET.get("kind", "")
        kind = kind if kind in RunKind.values else ""
        runs = selectors.runs_filtered(status=status, kind=kind)
        page = Paginator(runs, PER_PAGE).get_page(request.GET.get("page"))
        query = "&".join(f"{k}={v}" for k, v in (("status", status), ("kind", kind)) if v)
        ctx = {
            "page": page,
            "status": status,
            "kind": kind,
            "query": query,
            "statuses": RunStatus.choices,
            "kinds": RunKind.choices,
            "compare_choices": selectors.runs_list()[:COMPARE_CHOICES],
        }
        return render(request, "training/list.html", ctx)


# --- A new run ------------------------------------------------------------------------------


class RunCreateView(_TrainingView):
    template = "training/new.html"

    def _render(self, request, form, *, status=200):
        ctx = {"form": form, "learning_rates": kind_learning_rates()}
        return render(request, self.template, ctx, status=status)

    def get(self, request):
        initial = {}
        base_id = request.GET.get("base_run")
        if base_id:
            base = finished_base_runs().filter(pk=_positive_int(base_id) or 0).first()
            if base is None:
                messages.warning(
                    request,
                    _("Run #%(id)s has not finished with a final model; choose another start.")
                    % {"id": base_id},
                )
            else:
                initial = {"base_run": base.pk, "kind": RunKind.DPO}
        return self._render(request, RunForm(initial=initial))

    def post(self, request):
        form = RunForm(request.POST)
        if form.is_valid():
            try:
                run = services.training_run_create(created_by=request.user, **form.service_kwargs())
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Run #%(id)d “%(name)s” queued: a GPU worker takes it from here.")
                    % {"id": run.pk, "name": run.name},
                )
                return redirect("training:detail", pk=run.pk)
        return self._render(request, form, status=400)


# --- A run ----------------------------------------------------------------------------------


def _charts(kinds) -> list[dict]:
    dpo = RunKind.DPO in kinds
    return [
        {"metric": metric, "label": str(label), "id": "chart-" + metric.replace("/", "-")}
        for metric, label, dpo_only in CHARTS
        if dpo or not dpo_only
    ]


def _chart_run(run: TrainingRun, charts: list[dict], *, colour: int = 0, prefix: str = "") -> dict:
    data = selectors.run_metric_series(run)
    return {
        "id": run.pk,
        "label": f"{prefix}#{run.pk} {run.name}",
        "colour": colour,
        "url": reverse("training:metrics", args=[run.pk]),
        "active": run.is_active,
        "data": _clean_series(data, [c["metric"] for c in charts]),
    }


def _chart_config(runs: list[TrainingRun], *, letters: str = "") -> dict:
    """What ``runs.js`` draws: the charts, and each run's columns and metrics URL (runs
    after the first are drawn in their own colour; ``letters`` name them in the sentences)."""
    charts = _charts({r.kind for r in runs})
    return {
        "charts": charts,
        "runs": [
            _chart_run(r, charts, colour=i, prefix=f"{letters[i]}: " if letters else "")
            for i, r in enumerate(runs)
        ],
        "text": {
            "step": _("Step"),
            "empty": _("No values yet."),
            "last": _("Last value: %(value)s at step %(step)s."),
        },
    }


def _setting_rows(run: TrainingRun) -> list[dict]:
    values = run.hyperparameters or {}
    return [
        {
            "name": name,
            "label": HYPERPARAMETER_LABELS[name],
            "value": setting_text(name, values.get(name)) if name in values else "—",
        }
        for name in SETTING_NAMES
    ]


def _live_context(run: TrainingRun, *, notice: str = "", notice_ok: bool = True) -> dict:
    return {
        "run": run,
        "eta": eta_words(selectors.run_eta_seconds(run)),
        "checkpoints": selectors.run_checkpoints(run),
        "log_tail": selectors.run_log_tail(run),
        "setting_rows": _setting_rows(run),
        "can_cancel": run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
        "can_resume": run.status in (RunStatus.FAILED, RunStatus.CANCELLED),
        "can_derive": run.status == RunStatus.DONE and bool(run.final_dir),
        "notice": notice,
        "notice_ok": notice_ok,
    }


class RunDetailView(_TrainingView):
    def get(self, request, pk):
        run = _run(pk)
        ctx = _live_context(run)
        ctx["chart_config"] = _chart_config([run])
        return render(request, "training/detail.html", ctx)


class RunLiveView(_TrainingView):
    """The run page's live parts (htmx partial: the status block, and the checkpoints, log
    and config swapped out of band). Without ``hx-trigger`` once the run has finished."""

    def get(self, request, pk):
        return render(request, "training/_live.html", _live_context(_run(pk)))


class RunMetricsView(_TrainingView):
    """The run's metric columns after step ``after``, and where it stands (for the charts)."""

    def get(self, request, pk):
        run = get_object_or_404(TrainingRun, pk=pk)
        after = _positive_int(request.GET.get("after")) or 0
        data = _clean_series(selectors.run_metric_series(run, after_step=after))
        data.update(
            status=run.status,
            status_label=run.get_status_display(),
            step=run.step,
            max_steps=run.max_steps,
            active=run.is_active,
        )
        return JsonResponse(data)


class RunLogView(_TrainingView):
    """The whole log as a text file (streamed)."""

    def get(self, request, pk):
        return downloads.run_log_download(get_object_or_404(TrainingRun, pk=pk))


class CheckpointDownloadView(_TrainingView):
    """A checkpoint's folder as a zip, made while it is sent."""

    def get(self, request, pk, ckpt_pk):
        return downloads.checkpoint_download(
            get_object_or_404(RunCheckpoint, pk=ckpt_pk, run_id=pk)
        )


class RunCancelView(_TrainingView):
    """Cancel: at once when queued; a running run is asked to stop (it keeps a checkpoint).
    From htmx, answers with the live partial; otherwise goes back to the run page."""

    def post(self, request, pk):
        run = _run(pk)
        if services.training_run_cancel(run=run, user=request.user):
            ok = True
            if run.status == RunStatus.CANCELLED:
                notice = _("Run cancelled.")
            else:
                notice = _(
                    "Cancel asked: the engine stops at the end of the step under way and keeps "
                    "a checkpoint."
                )
        else:
            ok = False
            notice = _("The run is %(status)s: there is nothing to cancel.") % {
                "status": run.get_status_display()
            }
        if request.headers.get("HX-Request"):
            ctx = _live_context(run, notice=notice, notice_ok=ok)
            return render(request, "training/_live.html", ctx)
        (messages.success if ok else messages.error)(request, notice)
        return redirect("training:detail", pk=run.pk)


class RunResumeView(_TrainingView):
    """Queue a failed or cancelled run again (it continues from its last checkpoint)."""

    def post(self, request, pk):
        run = _run(pk)
        if services.training_run_resume(run=run, user=request.user):
            messages.success(request, _("Run queued again: it resumes from its last checkpoint."))
        else:
            messages.error(
                request,
                _("The run is %(status)s: only a failed or cancelled run can be resumed.")
                % {"status": run.get_status_display()},
            )
        return redirect("training:detail", pk=run.pk)


# --- Two runs -------------------------------------------------------------------------------


def _base_text(run: TrainingRun) -> str:
    if run.base_run_id:
        return f"#{run.base_run_id} {run.base_run.name}"
    return run.base_model


def compare_rows(a: TrainingRun, b: TrainingRun) -> list[dict]:
    """The two runs' settings side by side; ``differs`` where their values are not the same."""
    rows = [
        ("kind", _("Kind"), a.get_kind_display(), b.get_kind_display()),
        ("snapshot", _("Dataset snapshot"), a.snapshot.label, b.snapshot.label),
        ("content_hash", _("Content hash"), a.snapshot.content_hash, b.snapshot.content_hash),
        ("base", _("Base"), _base_text(a), _base_text(b)),
        ("method", _("Method"), a.get_method_display(), b.get_method_display()),
        ("gpus", _("GPUs"), str(a.gpus), str(b.gpus)),
    ]
    rows += [
        (r["name"], r["label"], r["value"], s["value"])
        for r, s in zip(_setting_rows(a), _setting_rows(b), strict=True)
    ]
    return [
        {"name": name, "label": label, "a": va, "b": vb, "differs": va != vb}
        for name, label, va, vb in rows
    ]


def _compare_param(request, key: str) -> tuple[TrainingRun | None, str]:
    """The run named by the query parameter ``key``, or why there is none."""
    raw = request.GET.get(key, "").strip()
    if not raw:
        return None, _("Choose a run for “%(param)s”.") % {"param": key}
    pk = _positive_int(raw)
    if pk is None:
        return None, _("“%(param)s” must be a run number, not “%(value)s”.") % {
            "param": key,
            "value": raw,
        }
    run = (
        TrainingRun.objects.select_related("snapshot", "base_run", "created_by")
        .filter(pk=pk)
        .first()
    )
    if run is None:
        return None, _("“%(param)s”: there is no run #%(id)d.") % {"param": key, "id": pk}
    return run, ""


def _compare_choices(*chosen: TrainingRun | None) -> list[TrainingRun]:
    """The runs the compare form offers: the latest ones, and those chosen."""
    choices = list(selectors.runs_list()[:COMPARE_CHOICES])
    ids = {r.pk for r in choices}
    return choices + [r for r in chosen if r is not None and r.pk not in ids]


class RunCompareView(_TrainingView):
    def get(self, request):
        a, problem_a = _compare_param(request, "a")
        b, problem_b = _compare_param(request, "b")
        problems = [p for p in (problem_a, problem_b) if p]
        ctx = {
            "a": a,
            "b": b,
            "problems": problems,
            "choices": _compare_choices(a, b),
            "chosen_a": a.pk if a else None,
            "chosen_b": b.pk if b else None,
            "rows": [],
        }
        if problems:
            return render(request, "training/compare.html", ctx, status=400)
        ctx.update(
            rows=compare_rows(a, b),
            chart_config=_chart_config([a, b], letters="ab"),
            legend=[("a", a, 0), ("b", b, 1)],
        )
        return render(request, "training/compare.html", ctx)
