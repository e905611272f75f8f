"""Dataset pages, for Engineers and Admins: the snapshots, a new snapshot (with a live count of
the pairs its filters match), a snapshot's statistics, rows and versions, its exports (made by
a worker, polled while they run) and their files, and what changed between two snapshots.

Writes go through :mod:`pairs.datasets.services`, reads through
:mod:`pairs.datasets.selectors`. Every text that came from a user or an LLM (names,
descriptions, prompts, responses, errors) is escaped by the templates.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from principles.models import Domain, Task
from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, ENGINEER, RoleRequiredMixin

from .. import charts
from ..filter_words import job_names, labels_of, preference_rows, range_words, taxonomy_rows
from ..models import (
    DatasetExport,
    DatasetKind,
    DatasetSnapshot,
    ExportStatus,
    PairOrigin,
    SnapshotStatus,
)
from ..review.forms import LANGUAGE_NAMES, METRIC_LABELS
from ..views_preferences import _positive_int
from . import selectors, services
from .export import base_name, export_file
from .filters import filters_for
from .forms import (
    INSTRUCTION_STATUS_LABELS,
    MARK_CHOICES,
    ExportForm,
    SnapshotForm,
    initial_from,
)

PER_PAGE = 50
PREVIEW_ROWS = 10
ACTIVE_EXPORT = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class _DatasetView(RoleRequiredMixin, View):
    roles = (ENGINEER, ADMIN)


# --- The list -------------------------------------------------------------------------------


class SnapshotListView(_DatasetView):
    def get(self, request):
        page = Paginator(selectors.snapshots_grouped(), PER_PAGE).get_page(request.GET.get("page"))
        return render(request, "pairs/datasets/list.html", {"page": page})


# --- A new snapshot -------------------------------------------------------------------------


def _count(form: SnapshotForm) -> tuple[int | None, str]:
    """How many pairs the form's filters match now, or why they can't be counted."""
    errors = form.filter_errors()
    if errors:
        return None, " ".join(errors)
    try:
        return services.dataset_count(kind=form.chosen_kind(), filters=form.filters()), ""
    except ValidationError as exc:
        return None, " ".join(exc.messages)


class SnapshotCreateView(_DatasetView):
    template = "pairs/datasets/new.html"

    def _render(self, request, form, *, count, error="", source=None, status=200):
        ctx = {
            "form": form,
            "metric_rows": form.metric_rows(),
            "kind": form.chosen_kind(),
            "kinds": DatasetKind,
            "source": source,
            "count": count,
            "count_error": error,
        }
        return render(request, self.template, ctx, status=status)

    def get(self, request):
        source = None
        source_id = _positive_int(request.GET.get("from"))
        if source_id:
            source = get_object_or_404(DatasetSnapshot, pk=source_id)
        form = SnapshotForm(initial=initial_from(source) if source else None)
        kind, filters = (source.kind, source.filters) if source else (DatasetKind.DPO, {})
        try:
            count, error = services.dataset_count(kind=kind, filters=filters), ""
        except ValidationError as exc:
            count, error = None, " ".join(exc.messages)
        return self._render(request, form, count=count, error=error, source=source)

    def post(self, request):
        form = SnapshotForm(request.POST)
        if form.is_valid():
            kind = form.chosen_kind()
            try:
                snapshot = services.dataset_snapshot_create(
                    created_by=request.user, filters=form.filters(), **form.settings()
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc, rename=SnapshotForm.service_field_names(kind))
            else:
                _created_message(request, snapshot)
                return redirect("datasets:detail", pk=snapshot.pk)
        count, error = _count(form)
        return self._render(request, form, count=count, error=error, status=400)


def _created_message(request, snapshot: DatasetSnapshot) -> None:
    if snapshot.status == SnapshotStatus.READY:
        messages.success(
            request,
            _("“%(label)s” frozen: %(n)d rows.")
            % {"label": snapshot.label, "n": snapshot.row_count},
        )
    elif snapshot.status == SnapshotStatus.BUILDING:
        messages.success(
            request, _("“%(label)s” is being frozen by a worker.") % {"label": snapshot.label}
        )
    else:
        messages.error(
            request,
            _("“%(label)s” could not be frozen: %(error)s")
            % {"label": snapshot.label, "error": snapshot.error},
        )


class SnapshotCountView(_DatasetView):
    """How many pairs the filters typed so far match (htmx partial)."""

    def get(self, request):
        form = SnapshotForm(request.GET)
        form.is_valid()  # the settings may be incomplete; only the filters matter here
        count, error = _count(form)
        return render(request, "pairs/datasets/_count.html", {"count": count, "count_error": error})


# --- Filters in words -----------------------------------------------------------------------


def describe_filters(snapshot: DatasetSnapshot) -> list[tuple[str, str]]:
    """A snapshot's filters as (what, which) rows; filters left open are not listed."""
    try:
        f = filters_for(snapshot.kind, snapshot.filters)
    except ValidationError:
        return [(_("Filters"), _("Unreadable: %(f)s") % {"f": json.dumps(snapshot.filters)})]
    if snapshot.kind == DatasetKind.DPO:
        rows = preference_rows(f) + [
            (_("Minimum submitted reviews"), str(f.min_reviews or "")),
            (_("Minimum agreement"), "" if f.min_agreement is None else str(f.min_agreement)),
        ]
    else:
        rows = taxonomy_rows(f) + [
            (_("Pair statuses"), labels_of(f.statuses, INSTRUCTION_STATUS_LABELS)),
            (_("Origins"), labels_of(f.origins, dict(PairOrigin.choices))),
            (_("Backtranslation jobs"), job_names(f.jobs)),
            (_("Reviewer marks"), labels_of(f.marks, dict(MARK_CHOICES))),
            (_("Curation score"), range_words(*f.curation_score) if f.curation_score else ""),
        ]
    return [(label, value) for label, value in rows if value]


# --- A snapshot -----------------------------------------------------------------------------

COUNT_TABLES = (
    ("split", _("Split")),
    ("domain", _("Domain")),
    ("task", _("Task")),
    ("language", _("Language")),
    ("principle", _("Principle")),
    ("licence", _("Licence")),
)
CHARTS = ("edit_ratio", "char_similarity", "curation_score", "prompt_length")


def _chart_label(name: str) -> str:
    if name in METRIC_LABELS:
        return str(METRIC_LABELS[name])
    return {
        "curation_score": _("Curation score"),
        "prompt_length": _("Prompt length (characters)"),
    }.get(name, name)


def _count_tables(snapshot: DatasetSnapshot) -> list[dict]:
    counts = (snapshot.stats or {}).get("counts") or {}
    names = {
        "domain": dict(Domain.objects.values_list("slug", "name_en")),
        "task": dict(Task.objects.values_list("slug", "name_en")),
        "language": {k: str(v) for k, v in LANGUAGE_NAMES.items()},
    }
    total = snapshot.row_count or 1
    tables = []
    for key, label in COUNT_TABLES:
        values = counts.get(key) or {}
        if not values:
            continue
        rows = [
            {
                "value": value,
                "name": names.get(key, {}).get(value, ""),
                "n": n,
                "percent": f"{100 * n / total:.1f}",
            }
            for value, n in values.items()
        ]
        tables.append({"key": key, "label": label, "rows": rows})
    return tables


def _domain_by_split(snapshot: DatasetSnapshot) -> list[dict]:
    by_split = (snapshot.stats or {}).get("domain_by_split") or {}
    train, test = by_split.get("train") or {}, by_split.get("test") or {}
    domains = sorted(set(train) | set(test), key=lambda d: (-(train.get(d, 0) + test.get(d, 0)), d))
    return [{"domain": d, "train": train.get(d, 0), "test": test.get(d, 0)} for d in domains]


def _score_order(label: str):
    try:
        return (0, float(label))
    except ValueError:
        return (1, 0.0)


def _charts(snapshot: DatasetSnapshot) -> list[dict]:
    """The snapshot's histograms (stored already binned) as SVG, with their bins as rows."""
    hists = (snapshot.stats or {}).get("histograms") or {}
    out = []
    for name in CHARTS:
        hist = hists.get(name)
        if not isinstance(hist, dict):
            continue
        label = _chart_label(name)
        title = _("%(what)s of the rows of “%(label)s”") % {"what": label, "label": snapshot.label}
        counts = list(hist.get("counts") or [])
        if "labels" in hist:
            pairs = sorted(
                zip(hist["labels"], counts, strict=False), key=lambda p: _score_order(p[0])
            )
            labels = [str(p[0]) for p in pairs]
            counts = [p[1] for p in pairs]
            rows = list(zip(labels, counts, strict=True))
            svg = charts.binned_histogram_svg(
                counts,
                labels=labels,
                title=title,
                description=_("Number of rows per value (“-”: none)."),
                chart_id=f"chart-{name}",
            )
        else:
            edges = list(hist.get("edges") or [])
            open_end = name == "prompt_length"
            rows = []
            for i, n in enumerate(counts[: max(len(edges) - 1, 0)]):
                last = i == len(edges) - 2
                span = f"≥ {edges[i]}" if last and open_end else f"{edges[i]}–{edges[i + 1]}"
                rows.append((span, n))
            svg = charts.binned_histogram_svg(
                counts,
                edges=edges,
                open_end=open_end,
                title=title,
                description=_("Number of rows per range."),
                chart_id=f"chart-{name}",
            )
        out.append({"name": name, "label": label, "svg": svg, "rows": rows})
    return out


def _hub() -> bool:
    return bool(settings.WEAVER_HF_TOKEN)


def _exports_context(snapshot: DatasetSnapshot) -> dict:
    exports = list(selectors.snapshot_exports(snapshot))
    return {
        "snapshot": snapshot,
        "exports": exports,
        "exports_active": any(e.status in ACTIVE_EXPORT for e in exports),
    }


def _render_detail(request, snapshot: DatasetSnapshot, *, export_form=None, status=200):
    snapshot.refresh_from_db()
    versions = list(selectors.snapshot_versions(snapshot))
    ready = snapshot.status == SnapshotStatus.READY
    ctx = {
        "snapshot": snapshot,
        "is_dpo": snapshot.kind == DatasetKind.DPO,
        "building": snapshot.status == SnapshotStatus.BUILDING,
        "ready": ready,
        "versions": versions,
        "previous": selectors.snapshot_previous(snapshot),
        "filter_rows": describe_filters(snapshot),
        "filters_json": json.dumps(snapshot.filters, ensure_ascii=False, indent=2, sort_keys=True),
        "count_tables": _count_tables(snapshot) if ready else [],
        "domain_by_split": _domain_by_split(snapshot) if ready else [],
        "prompts": (snapshot.stats or {}).get("prompts") or {},
        "charts": _charts(snapshot) if ready else [],
        "preview": selectors.snapshot_rows(snapshot, limit=PREVIEW_ROWS) if ready else [],
        "export_form": export_form or ExportForm(hub=_hub()),
        "hub": _hub(),
        **_exports_context(snapshot),
    }
    return render(request, "pairs/datasets/detail.html", ctx, status=status)


class SnapshotDetailView(_DatasetView):
    def get(self, request, pk):
        snapshot = get_object_or_404(DatasetSnapshot.objects.select_related("created_by"), pk=pk)
        return _render_detail(request, snapshot)

    def post(self, request, pk):
        snapshot = get_object_or_404(DatasetSnapshot, pk=pk)
        if request.POST.get("action") != "new_version":
            messages.error(request, _("Unknown action."))
            return redirect("datasets:detail", pk=snapshot.pk)
        try:
            new = services.dataset_snapshot_new_version(snapshot=snapshot, created_by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("datasets:detail", pk=snapshot.pk)
        _created_message(request, new)
        return redirect("datasets:detail", pk=new.pk)


# --- Exports --------------------------------------------------------------------------------


class ExportCreateView(_DatasetView):
    def post(self, request, pk):
        snapshot = get_object_or_404(DatasetSnapshot.objects.select_related("created_by"), pk=pk)
        form = ExportForm(request.POST, hub=_hub())
        if form.is_valid():
            try:
                export = services.dataset_export_create(
                    snapshot=snapshot, created_by=request.user, **form.export_settings()
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Export #%(n)d queued: a worker writes its files.") % {"n": export.pk},
                )
                return redirect(reverse("datasets:detail", args=[snapshot.pk]) + "#exports")
        return _render_detail(request, snapshot, export_form=form, status=400)


class ExportListView(_DatasetView):
    """The snapshot's exports table (htmx partial, polled while an export is queued or runs)."""

    def get(self, request, pk):
        snapshot = get_object_or_404(DatasetSnapshot, pk=pk)
        return render(request, "pairs/datasets/_exports.html", _exports_context(snapshot))


class ExportFileView(_DatasetView):
    def get(self, request, pk, name):
        export = get_object_or_404(DatasetExport.objects.select_related("snapshot"), pk=pk)
        path = export_file(export, name)
        if path is None:
            raise Http404
        prefix = base_name(export)
        filename = path.name if path.name.startswith(prefix) else f"{prefix}-{path.name}"
        return FileResponse(path.open("rb"), as_attachment=True, filename=filename)


# --- Comparing two snapshots ----------------------------------------------------------------


class SnapshotCompareView(_DatasetView):
    def get(self, request, pk):
        snapshot = get_object_or_404(DatasetSnapshot, pk=pk)
        other_id = _positive_int(request.GET.get("with"))
        if request.GET.get("with") and other_id is None:
            raise Http404
        if other_id:
            other = get_object_or_404(DatasetSnapshot, pk=other_id)
        else:
            other = selectors.snapshot_previous(snapshot)
        problem, result = "", None
        if other is None:
            problem = _(
                "This is the first version of this dataset: choose a snapshot to compare it with."
            )
        else:
            problem = selectors.snapshot_compare_problem(snapshot, other)[1]
        if other is not None and not problem:
            result = selectors.snapshot_compare(old=other, new=snapshot)
        ctx = {
            "snapshot": snapshot,
            "other": other,
            "choices": selectors.snapshot_compare_choices(snapshot),
            "problem": problem,
            "result": result,
        }
        return render(request, "pairs/datasets/compare.html", ctx)
