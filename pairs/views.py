"""Corpus pages: imports (upload, mapping, live progress, error report), the corpus browser,
a text's page and the statistics. Engineers and admins only; rules live in the services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, ENGINEER, RoleRequiredMixin

from . import charts, selectors
from .corpus import importer, readers
from .forms import DEFAULT_TARGETS, MAPPING_TARGETS, MappingForm, UploadForm
from .models import CorpusImport, ImportStatus

CORPUS_ROLES = (ENGINEER, ADMIN)
ACTIVE_STATUSES = (ImportStatus.QUEUED, ImportStatus.RUNNING)
TEXTS_PER_PAGE = 50
ISSUES_PER_PAGE = 50


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


class CorpusRoleMixin(RoleRequiredMixin):
    roles = CORPUS_ROLES


class _ImportMixin(CorpusRoleMixin):
    def get_import(self, pk) -> CorpusImport:
        corpus_import = selectors.import_get(pk=pk)
        if corpus_import is None:
            raise Http404
        return corpus_import


class ImportListView(CorpusRoleMixin, View):
    def get(self, request):
        page = Paginator(selectors.import_list(), 25).get_page(request.GET.get("page"))
        return render(
            request,
            "pairs/import_list.html",
            {"page": page, "query": _query_without_page(request), "active": ACTIVE_STATUSES},
        )


@method_decorator(csrf_exempt, name="dispatch")
class ImportCreateView(CorpusRoleMixin, View):
    """Upload a file. The size limit is enforced while the upload streams in, so the upload
    handler goes in before anything reads ``request.POST``; the CSRF check runs after it."""

    def get(self, request):
        return render(request, "pairs/import_new.html", {"form": UploadForm()})

    def post(self, request):
        request.upload_handlers.insert(0, importer.LimitedUploadHandler(request))
        return self._post(request)

    @method_decorator(csrf_protect)
    def _post(self, request):
        form = UploadForm(request.POST, request.FILES)
        if getattr(request, "upload_over_limit", None):
            form = UploadForm(request.POST, {})
            form.is_valid()
            form.errors.pop("file", None)
            form.add_error("file", _too_large(request.upload_over_limit))
        elif form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                corpus_import = importer.corpus_import_create(
                    uploaded_file=upload,
                    format=form.cleaned_data["format"],
                    name=form.cleaned_data["name"] or upload.name,
                    created_by=request.user,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc, rename={"uploaded_file": "file"})
            else:
                messages.success(request, _("File uploaded. Now map its fields."))
                return redirect("pairs:import-mapping", pk=corpus_import.pk)
        return render(request, "pairs/import_new.html", {"form": form}, status=400)


def _too_large(limit: int) -> str:
    return _("The file is larger than the upload limit of %(mib).1f MiB.") % {
        "mib": limit / 1024**2
    }


class ImportMappingView(_ImportMixin, View):
    """The preview of the file and the field mapping; saving it starts the import."""

    def _preview(self, corpus_import):
        try:
            fields, rows = readers.preview(corpus_import.path, corpus_import.format, n=5)
        except (readers.ReaderError, ValidationError, ValueError, OSError) as exc:
            messages_ = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            return [], [], messages_
        return list(fields), list(rows), []

    def _render(self, request, corpus_import, form, fields, rows, problems, status=200):
        table = [[row.get(f, "") for f in fields] for row in rows]
        ctx = {
            "corpus_import": corpus_import,
            "form": form,
            "fields": fields,
            "table": table,
            "problems": problems,
            "map_fields": [form[f"map_{key}"] for key, _label in MAPPING_TARGETS],
            "default_fields": [form[f"default_{key}"] for key in DEFAULT_TARGETS],
        }
        return render(request, "pairs/import_mapping.html", ctx, status=status)

    def get(self, request, pk):
        corpus_import = self.get_import(pk)
        if corpus_import.status != ImportStatus.UPLOADED:
            return redirect("pairs:import-detail", pk=pk)
        fields, rows, problems = self._preview(corpus_import)
        form = MappingForm(fields=fields, initial=MappingForm.initial_from(corpus_import, fields))
        return self._render(request, corpus_import, form, fields, rows, problems)

    def post(self, request, pk):
        corpus_import = self.get_import(pk)
        if corpus_import.status != ImportStatus.UPLOADED:
            messages.error(request, _("This import has already started."))
            return redirect("pairs:import-detail", pk=pk)
        fields, rows, problems = self._preview(corpus_import)
        form = MappingForm(request.POST, fields=fields)
        if form.is_valid():
            try:
                corpus_import = importer.corpus_import_configure(
                    corpus_import=corpus_import, mapping=form.mapping(), defaults=form.defaults()
                )
                importer.corpus_import_start(corpus_import=corpus_import)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    form.add_service_errors(exc.message_dict)
                else:
                    form.add_error(None, exc.messages)
            else:
                messages.success(request, _("Import started."))
                return redirect("pairs:import-detail", pk=pk)
        return self._render(request, corpus_import, form, fields, rows, problems, status=400)


def _progress_context(corpus_import) -> dict:
    progress = corpus_import.progress
    if corpus_import.status == ImportStatus.DONE:
        progress = 1.0
    return {
        "corpus_import": corpus_import,
        "is_active": corpus_import.status in ACTIVE_STATUSES,
        "percent": None if progress is None else round(progress * 100, 1),
        "can_cancel": corpus_import.status
        in (ImportStatus.UPLOADED, ImportStatus.QUEUED, ImportStatus.RUNNING),
        "can_resume": corpus_import.status in (ImportStatus.CANCELLED, ImportStatus.FAILED)
        and bool((corpus_import.mapping or {}).get("text")),
    }


class ImportDetailView(_ImportMixin, View):
    def get(self, request, pk):
        corpus_import = self.get_import(pk)
        issues = Paginator(
            selectors.import_issues(corpus_import=corpus_import), ISSUES_PER_PAGE
        ).get_page(request.GET.get("page"))
        ctx = {**_progress_context(corpus_import), "issues": issues}
        return render(request, "pairs/import_detail.html", ctx)


class ImportProgressView(_ImportMixin, View):
    """The polled partial. When an import the page watched has finished, reload the page so
    the error report appears."""

    def get(self, request, pk):
        corpus_import = self.get_import(pk)
        ctx = _progress_context(corpus_import)
        response = render(request, "pairs/_import_progress.html", ctx)
        if request.GET.get("watching") and not ctx["is_active"] and _is_htmx(request):
            response["HX-Refresh"] = "true"
        return response


class ImportStartView(_ImportMixin, View):
    """Start again (resume) a cancelled or failed import from its last committed batch."""

    def post(self, request, pk):
        corpus_import = self.get_import(pk)
        try:
            importer.corpus_import_start(corpus_import=corpus_import)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Import resumed."))
        return redirect("pairs:import-detail", pk=pk)


class ImportCancelView(_ImportMixin, View):
    def post(self, request, pk):
        corpus_import = self.get_import(pk)
        try:
            importer.corpus_import_cancel(corpus_import=corpus_import)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Cancellation requested."))
        return redirect("pairs:import-detail", pk=pk)


class CorpusBrowserView(CorpusRoleMixin, View):
    def get(self, request):
        filters = selectors.TextFilters.from_params(request.GET)
        page = Paginator(selectors.text_list(filters=filters), TEXTS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        ctx = {"page": page, "filters": filters, "query": _query_without_page(request)}
        if _is_htmx(request):
            return render(request, "pairs/_text_results.html", ctx)
        return render(request, "pairs/browser.html", {**ctx, **selectors.browser_choices()})


def _reason_rows(reasons) -> list[dict]:
    """Verdict reasons as rows, whatever shape the filters gave them."""
    rows = []
    for reason in reasons or []:
        if isinstance(reason, dict):
            name = next(
                (str(reason[k]) for k in ("filter", "rule", "name", "code") if reason.get(k)), ""
            )
            detail = "; ".join(
                f"{k}: {v}"
                for k, v in reason.items()
                if k not in ("filter", "rule", "name", "code")
            )
            rows.append({"name": name, "detail": detail})
        else:
            rows.append({"name": str(reason), "detail": ""})
    return rows


class TextDetailView(CorpusRoleMixin, View):
    def get(self, request, pk):
        text = selectors.text_get(pk=pk)
        if text is None:
            raise Http404
        spans = [
            {
                "ordinal": s.ordinal,
                "start": s.start,
                "end": s.end,
                "content": text.text[s.start : s.end],
            }
            for s in text.spans.all()
        ]
        ctx = {
            "text": text,
            "spans": spans,
            "reasons": _reason_rows(text.verdict_reasons),
            "members": selectors.text_cluster_members(text=text),
            "selections": selectors.text_selections(text=text),
        }
        return render(request, "pairs/text_detail.html", ctx)


class StatsView(CorpusRoleMixin, View):
    def get(self, request):
        sections = []
        for i, row in enumerate(selectors.corpus_values_per_domain()):
            name = row["domain"].name if row["domain"] else _("No domain")
            sections.append(
                {
                    "name": name,
                    "n": len(row["lengths"]),
                    "length_chart": charts.histogram_svg(
                        row["lengths"],
                        title=_("Length of the texts in %(domain)s") % {"domain": name},
                        description=_("Number of texts per length range, in characters."),
                        chart_id=f"len-{i}",
                    ),
                    "score_chart": charts.histogram_svg(
                        row["scores"],
                        title=_("LLM scores of the texts in %(domain)s") % {"domain": name},
                        description=_("Number of scored texts per score."),
                        bins=max([5, *row["scores"]]),
                        low=1,
                        high=max([5, *row["scores"]]) + 1,
                        chart_id=f"score-{i}",
                    ),
                    "scored": len(row["scores"]),
                }
            )
        ctx = {"sections": sections, **selectors.corpus_counts()}
        return render(request, "pairs/stats.html", ctx)
