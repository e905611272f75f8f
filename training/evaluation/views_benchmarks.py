"""Benchmark pages (``/evaluation/benchmarks/``), for Engineers and Admins (Admin alone
deletes): the list (versions grouped by name), a new benchmark, a benchmark's page (a draft's
editor: its instructions with add, edit (htmx, in the table) and delete, a JSONL import (all or
nothing, every problem listed with file, line and field), freeze, new version, export; a frozen
version is read only with its content hash and who froze it when), and the contamination
report of a benchmark in a dataset snapshot.

Writes go through :mod:`training.evaluation.benchmarks`. Every text that came from a user or a
file (names, instructions, references, prompts) is escaped by the templates.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from pairs.corpus.uploads import LimitedUploadHandler
from pairs.models import DatasetSnapshot, SnapshotStatus
from principles.models import Domain, Task
from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, ENGINEER, RoleRequiredMixin, is_admin

from . import benchmarks as services
from .benchmark_file import ID_CHARS, BenchmarkFileError
from .contamination import THRESHOLD
from .models import Benchmark, BenchmarkItem, BenchmarkStatus

PER_PAGE = 50
UPLOAD_OVERHEAD_BYTES = 64 * 1024
EXAMPLE_LINE = (
    '{"id": "fiction-001", "instruction": "Write a short story about a lighthouse keeper who '
    'finds a letter in a bottle.", "language": "en", "domain": "fiction", '
    '"task": "content_writing", "reference": "", "metadata": {"source": "workshop"}}'
)
LANGUAGE_CHOICES = BenchmarkItem._meta.get_field("language").choices


# --- Forms ----------------------------------------------------------------------------------


class BenchmarkForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=services.NAME_CHARS)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ItemForm(forms.Form):
    key = forms.CharField(
        label=gettext_lazy("Id"),
        max_length=ID_CHARS,
        help_text=gettext_lazy("Unique within the benchmark, e.g. fiction-001."),
    )
    instruction = forms.CharField(
        label=gettext_lazy("Instruction"), widget=forms.Textarea(attrs={"rows": 3})
    )
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=LANGUAGE_CHOICES)
    domain = forms.ChoiceField(label=gettext_lazy("Domain"), required=False)
    task = forms.ChoiceField(label=gettext_lazy("Task"), required=False)
    reference = forms.CharField(
        label=gettext_lazy("Reference answer"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Optional; never shown to the judge."),
    )
    metadata = forms.CharField(
        label=gettext_lazy("Metadata (JSON object)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 1}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        none = [("", _("— none —"))]
        self.fields["domain"].choices = none + [
            (d.slug, d.name) for d in Domain.objects.order_by("position", "slug")
        ]
        self.fields["task"].choices = none + [
            (t.slug, t.name) for t in Task.objects.order_by("position", "slug")
        ]

    def clean_metadata(self):
        raw = self.cleaned_data["metadata"].strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from None
        if not isinstance(value, dict):
            raise ValidationError(_('Expected a JSON object, like {"source": "workshop"}.'))
        return value

    @classmethod
    def initial_for(cls, item: BenchmarkItem) -> dict:
        return {
            "key": item.key,
            "instruction": item.instruction,
            "language": item.language,
            "domain": item.domain.slug if item.domain_id else "",
            "task": item.task.slug if item.task_id else "",
            "reference": item.reference,
            "metadata": json.dumps(item.metadata, ensure_ascii=False) if item.metadata else "",
        }


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("JSONL file"),
        help_text=gettext_lazy(
            "One JSON object per line: instruction and language (zh or en) required; id, "
            "domain and task (slugs), reference and metadata (an object) optional."
        ),
    )
    replace = forms.BooleanField(
        label=gettext_lazy("Replace the draft's instructions"),
        required=False,
        help_text=gettext_lazy("Otherwise they are added after the ones there."),
    )


class _SnapshotChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _("%(label)s · %(kind)s · %(n)d rows") % {
            "label": obj.label,
            "kind": obj.kind.upper(),
            "n": obj.row_count,
        }


class ContaminationForm(forms.Form):
    snapshot = _SnapshotChoice(
        label=gettext_lazy("Dataset snapshot"),
        queryset=DatasetSnapshot.objects.none(),
        empty_label=gettext_lazy("— choose a snapshot —"),
    )
    threshold = forms.FloatField(
        label=gettext_lazy("Near-duplicate threshold"),
        initial=THRESHOLD,
        min_value=0.05,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.05", "class": "num"}),
        help_text=gettext_lazy(
            "The share of an instruction's character 4-grams that a prompt must contain."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["snapshot"].queryset = DatasetSnapshot.objects.filter(
            status=SnapshotStatus.READY
        ).order_by("name", "-version")


# --- Helpers --------------------------------------------------------------------------------


class _BenchmarkView(RoleRequiredMixin, View):
    roles = (ENGINEER, ADMIN)


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _benchmark(pk: int) -> Benchmark:
    return get_object_or_404(
        Benchmark.objects.select_related("created_by", "frozen_by", "parent"), pk=pk
    )


def _item(benchmark: Benchmark, item_pk: int) -> BenchmarkItem:
    return get_object_or_404(
        BenchmarkItem.objects.select_related("domain", "task"), pk=item_pk, benchmark=benchmark
    )


def _item_kwargs(form: ItemForm) -> dict:
    d = form.cleaned_data
    return {k: d[k] for k in ("key", "instruction", "language", "domain", "task", "reference")} | {
        "metadata": d["metadata"]
    }


def _detail_context(
    request,
    benchmark: Benchmark,
    *,
    item_form: ItemForm | None = None,
    import_form: ImportForm | None = None,
    edit_form: BenchmarkForm | None = None,
    problems=None,
    more: int = 0,
) -> dict:
    items = benchmark.items.select_related("domain", "task").order_by("position", "id")
    paginator = Paginator(items, PER_PAGE)
    number = request.GET.get("page")
    page = paginator.get_page(paginator.num_pages if number == "last" else number)
    draft = benchmark.status == BenchmarkStatus.DRAFT
    return {
        "benchmark": benchmark,
        "draft": draft,
        "page": page,
        "counts": services.benchmark_counts(benchmark_ids=[benchmark.pk])[benchmark.pk],
        "versions": Benchmark.objects.filter(name=benchmark.name).order_by("-version"),
        "n_evaluations": benchmark.evaluations.count(),
        "item_form": item_form or ItemForm(initial={"language": "en"}),
        "import_form": import_form or ImportForm(),
        "edit_form": edit_form
        or BenchmarkForm(initial={"name": benchmark.name, "description": benchmark.description}),
        "problems": problems or [],
        "more_problems": more,
        "example": EXAMPLE_LINE,
        "max_bytes": services.upload_max_bytes(),
        "can_delete": is_admin(request.user),
    }


def _render_detail(request, benchmark, *, status=200, **kwargs):
    ctx = _detail_context(request, benchmark, **kwargs)
    return render(request, "evaluation/benchmark_detail.html", ctx, status=status)


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- The list and a new benchmark -----------------------------------------------------------


class BenchmarkListView(_BenchmarkView):
    def get(self, request):
        page = Paginator(services.benchmarks_list(), PER_PAGE).get_page(request.GET.get("page"))
        counts = services.benchmark_counts(benchmark_ids=[b.pk for b in page.object_list])
        for b in page.object_list:
            b.domain_counts = counts[b.pk]["domain"]
        return render(request, "evaluation/benchmark_list.html", {"page": page})


class BenchmarkCreateView(_BenchmarkView):
    template = "evaluation/benchmark_new.html"

    def get(self, request):
        return render(request, self.template, {"form": BenchmarkForm()})

    def post(self, request):
        form = BenchmarkForm(request.POST)
        if form.is_valid():
            try:
                benchmark = services.benchmark_create(
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    created_by=request.user,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Benchmark “%(name)s” created: add its instructions.")
                    % {"name": benchmark.name},
                )
                return redirect("evaluation:benchmark-detail", pk=benchmark.pk)
        return render(request, self.template, {"form": form}, status=400)


# --- A benchmark ----------------------------------------------------------------------------


class BenchmarkDetailView(_BenchmarkView):
    def get(self, request, pk):
        return _render_detail(request, _benchmark(pk))


class BenchmarkEditView(_BenchmarkView):
    """Name and description (POST)."""

    def post(self, request, pk):
        benchmark = _benchmark(pk)
        form = BenchmarkForm(request.POST)
        if form.is_valid():
            try:
                services.benchmark_update(
                    benchmark=benchmark,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Benchmark saved."))
                return redirect("evaluation:benchmark-detail", pk=benchmark.pk)
        return _render_detail(request, benchmark, edit_form=form, status=400)


@method_decorator(csrf_exempt, name="dispatch")
class BenchmarkImportView(_BenchmarkView):
    """Import a JSONL file into a draft (POST). The size limit is enforced while the upload
    streams in (the limiting handler goes first); a refused body carries no CSRF token and
    changes nothing, every accepted upload passes the CSRF check before it is imported."""

    def post(self, request, pk):
        limit = services.upload_max_bytes()
        request.upload_handlers.insert(
            0, LimitedUploadHandler(request, limit=limit + UPLOAD_OVERHEAD_BYTES)
        )
        request.POST  # noqa: B018 - parse the body now, through the handlers above
        if getattr(request, "upload_over_limit", None):
            benchmark = _benchmark(pk)
            form = ImportForm(request.POST, {})
            form.is_valid()
            form.errors.pop("file", None)
            form.add_error(
                "file",
                _("The file is larger than the limit of %(limit)s bytes.") % {"limit": limit},
            )
            return _render_detail(request, benchmark, import_form=form, status=400)
        return self._post(request, pk)

    @method_decorator(csrf_protect)
    def _post(self, request, pk):
        benchmark = _benchmark(pk)
        form = ImportForm(request.POST, request.FILES)
        problems, more = [], 0
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                n = services.benchmark_import(
                    benchmark=benchmark,
                    file=upload,
                    file_name=upload.name,
                    replace=form.cleaned_data["replace"],
                )
            except BenchmarkFileError as exc:
                problems, more = exc.problems, exc.more
                form.add_error(
                    "file",
                    _("Nothing was imported: fix the problems listed below and upload again."),
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("%(n)d instructions imported.") % {"n": n})
                return redirect("evaluation:benchmark-detail", pk=benchmark.pk)
        return _render_detail(
            request, benchmark, import_form=form, problems=problems, more=more, status=400
        )


class ItemCreateView(_BenchmarkView):
    """Add an instruction (POST, from the form on the benchmark's page)."""

    def post(self, request, pk):
        benchmark = _benchmark(pk)
        form = ItemForm(request.POST)
        if form.is_valid():
            try:
                item = services.benchmark_item_save(benchmark=benchmark, **_item_kwargs(form))
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Instruction “%(key)s” added.") % {"key": item.key})
                url = reverse("evaluation:benchmark-detail", args=[benchmark.pk])
                return redirect(f"{url}?page=last#item-{item.pk}")
        return _render_detail(request, benchmark, item_form=form, status=400)


class ItemEditView(_BenchmarkView):
    """An instruction's form: a page of its own, or (htmx) a row of the items table that
    replaces the instruction's row; a successful save answers with the row itself."""

    def _form_response(self, request, benchmark, item, form, *, status=200):
        ctx = {"benchmark": benchmark, "item": item, "form": form}
        if _is_htmx(request):
            # htmx swaps 2xx answers only, so the form with its errors comes back as 200.
            return render(request, "evaluation/_benchmark_item_form.html", ctx)
        return render(request, "evaluation/benchmark_item_edit.html", ctx, status=status)

    def get(self, request, pk, item_pk):
        benchmark = _benchmark(pk)
        item = _item(benchmark, item_pk)
        if _is_htmx(request) and request.GET.get("cancel"):
            return render(
                request,
                "evaluation/_benchmark_item_row.html",
                {"benchmark": benchmark, "item": item, "draft": not benchmark.frozen},
            )
        if benchmark.frozen:
            messages.error(request, _("A frozen benchmark is read only."))
            return redirect("evaluation:benchmark-detail", pk=benchmark.pk)
        form = ItemForm(initial=ItemForm.initial_for(item), auto_id=f"id_item{item.pk}_%s")
        return self._form_response(request, benchmark, item, form)

    def post(self, request, pk, item_pk):
        benchmark = _benchmark(pk)
        item = _item(benchmark, item_pk)
        form = ItemForm(request.POST, auto_id=f"id_item{item.pk}_%s")
        if form.is_valid():
            try:
                item = services.benchmark_item_save(
                    benchmark=benchmark, item=item, **_item_kwargs(form)
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                if _is_htmx(request):
                    return render(
                        request,
                        "evaluation/_benchmark_item_row.html",
                        {"benchmark": benchmark, "item": item, "draft": True},
                    )
                messages.success(request, _("Instruction “%(key)s” saved.") % {"key": item.key})
                url = reverse("evaluation:benchmark-detail", args=[benchmark.pk])
                return redirect(f"{url}#item-{item.pk}")
        return self._form_response(request, benchmark, item, form, status=400)


class ItemDeleteView(_BenchmarkView):
    """Remove an instruction (POST). htmx: an empty answer (the row goes)."""

    def post(self, request, pk, item_pk):
        benchmark = _benchmark(pk)
        item = _item(benchmark, item_pk)
        key = item.key
        try:
            services.benchmark_item_delete(item=item)
        except ValidationError as exc:
            if _is_htmx(request):
                return HttpResponse(_error_text(exc), status=400)
            messages.error(request, _error_text(exc))
        else:
            if _is_htmx(request):
                return HttpResponse("")
            messages.success(request, _("Instruction “%(key)s” removed.") % {"key": key})
        return redirect("evaluation:benchmark-detail", pk=benchmark.pk)


class BenchmarkFreezeView(_BenchmarkView):
    def post(self, request, pk):
        benchmark = _benchmark(pk)
        try:
            benchmark = services.benchmark_freeze(benchmark=benchmark, user=request.user)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(
                request,
                _("%(benchmark)s frozen: it can now be evaluated.") % {"benchmark": benchmark},
            )
        return redirect("evaluation:benchmark-detail", pk=benchmark.pk)


class BenchmarkNewVersionView(_BenchmarkView):
    def post(self, request, pk):
        benchmark = _benchmark(pk)
        try:
            copy = services.benchmark_new_version(benchmark=benchmark, created_by=request.user)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("evaluation:benchmark-detail", pk=benchmark.pk)
        messages.success(
            request,
            _("%(copy)s made from %(source)s: a draft to edit.")
            % {"copy": copy, "source": benchmark},
        )
        return redirect("evaluation:benchmark-detail", pk=copy.pk)


class BenchmarkExportView(_BenchmarkView):
    """The benchmark as a JSONL file, in the import format (streamed)."""

    def get(self, request, pk):
        benchmark = _benchmark(pk)
        name = slugify(benchmark.name) or "benchmark"
        response = StreamingHttpResponse(
            services.benchmark_jsonl(benchmark=benchmark),
            content_type="application/x-ndjson; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{name}-v{benchmark.version}.jsonl"'
        )
        return response


class BenchmarkDeleteView(_BenchmarkView):
    """Delete a benchmark (POST, Admin only; refused while an evaluation uses it)."""

    def post(self, request, pk):
        if not is_admin(request.user):
            raise PermissionDenied
        benchmark = _benchmark(pk)
        label = str(benchmark)
        try:
            services.benchmark_delete(benchmark=benchmark)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("evaluation:benchmark-detail", pk=benchmark.pk)
        messages.success(request, _("%(benchmark)s deleted.") % {"benchmark": label})
        return redirect("evaluation:benchmark-list")


# --- Contamination --------------------------------------------------------------------------


class ContaminationView(_BenchmarkView):
    """Choose a dataset snapshot (GET ``snapshot`` and ``threshold``), then see the report:
    each benchmark instruction found in the snapshot's prompts, exact or near."""

    def get(self, request, pk):
        benchmark = _benchmark(pk)
        report = None
        status = 200
        if "snapshot" in request.GET:
            form = ContaminationForm(request.GET)
            if form.is_valid():
                try:
                    report = services.contamination_report_get(
                        benchmark=benchmark,
                        snapshot=form.cleaned_data["snapshot"],
                        threshold=form.cleaned_data["threshold"],
                    )
                except ValidationError as exc:
                    form_add_service_errors(form, exc)
                    status = 400
            else:
                status = 400
        else:
            form = ContaminationForm(initial={"threshold": THRESHOLD})
        ctx = {"benchmark": benchmark, "form": form, "report": report}
        return render(request, "evaluation/benchmark_contamination.html", ctx, status=status)


urlpatterns = [
    path("benchmarks/", BenchmarkListView.as_view(), name="benchmark-list"),
    path("benchmarks/new/", BenchmarkCreateView.as_view(), name="benchmark-new"),
    path("benchmarks/<int:pk>/", BenchmarkDetailView.as_view(), name="benchmark-detail"),
    path("benchmarks/<int:pk>/edit/", BenchmarkEditView.as_view(), name="benchmark-edit"),
    path("benchmarks/<int:pk>/import/", BenchmarkImportView.as_view(), name="benchmark-import"),
    path("benchmarks/<int:pk>/freeze/", BenchmarkFreezeView.as_view(), name="benchmark-freeze"),
    path(
        "benchmarks/<int:pk>/new-version/",
        BenchmarkNewVersionView.as_view(),
        name="benchmark-new-version",
    ),
    path("benchmarks/<int:pk>/export/", BenchmarkExportView.as_view(), name="benchmark-export"),
    path("benchmarks/<int:pk>/delete/", BenchmarkDeleteView.as_view(), name="benchmark-delete"),
    path(
        "benchmarks/<int:pk>/contamination/",
        ContaminationView.as_view(),
        name="benchmark-contamination",
    ),
    path("benchmarks/<int:pk>/items/new/", ItemCreateView.as_view(), name="benchmark-item-new"),
    path(
        "benchmarks/<int:pk>/items/<int:item_pk>/edit/",
        ItemEditView.as_view(),
        name="benchmark-item-edit",
    ),
    path(
        "benchmarks/<int:pk>/items/<int:item_pk>/delete/",
        ItemDeleteView.as_view(),
        name="benchmark-item-delete",
    ),
]
