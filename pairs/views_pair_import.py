"""Pages that import ready-made instruction pairs (JSONL) and show each import's report.

Engineers and admins only; the import itself is ``pairs.generation.pair_import``.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, ENGINEER, RoleRequiredMixin

from .corpus.uploads import LimitedUploadHandler
from .generation import pair_import as service
from .models import PairImport

IMPORTS_PER_PAGE = 25
ISSUES_PER_PAGE = 50
EXAMPLE_LINE = (
    '{"instruction": "Write a short poem about the first snow.", '
    '"response": "Soft and slow, the first snow…", "task": "content_writing", '
    '"language": "en", "domain": "fiction", "subdomain": "poetry", '
    '"metadata": {"source": "workshop"}}'
)


class PairImportForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=PairImport._meta.get_field("name").max_length,
        required=False,
        help_text=gettext_lazy("Shown in the list of imports; the file name when left empty."),
    )
    file = forms.FileField(
        label=gettext_lazy("JSONL file"),
        help_text=gettext_lazy(
            "One JSON object per line. Required: instruction, response, task (a task slug) "
            "and language (zh or en). Optional: context, domain and subdomain (slugs; a "
            "subdomain needs its domain) and metadata (an object); other keys are kept in "
            "the metadata."
        ),
    )
    keep = forms.BooleanField(
        label=gettext_lazy("Mark imported pairs as kept"),
        required=False,
        help_text=gettext_lazy("Otherwise they wait for curation like generated pairs."),
    )


class _PairImportRoleMixin(RoleRequiredMixin):
    roles = (ENGINEER, ADMIN)


@method_decorator(csrf_exempt, name="dispatch")
class PairImportView(_PairImportRoleMixin, View):
    """The upload form and the earlier imports.

    The size limit is enforced while the upload streams in, so the limiting upload handler
    goes in before anything reads the body. A refused body carries no form data (and so no
    CSRF token): that answer changes nothing and is given before the CSRF check, which every
    accepted upload then passes before it is imported.
    """

    def get(self, request):
        return self._render(request, PairImportForm())

    def post(self, request):
        limit = service.upload_max_bytes()
        request.upload_handlers.insert(
            0, LimitedUploadHandler(request, limit=limit + service.UPLOAD_OVERHEAD_BYTES)
        )
        request.POST  # noqa: B018 - parse the body now, through the handlers above
        if getattr(request, "upload_over_limit", None):
            form = PairImportForm(request.POST, {})
            form.is_valid()
            form.errors.pop("file", None)
            form.add_error("file", service.too_large_message(limit))
            return self._render(request, form, status=400)
        return self._post(request)

    @method_decorator(csrf_protect)
    def _post(self, request):
        form = PairImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                pair_import = service.instruction_pairs_import_upload(
                    uploaded_file=upload,
                    name=form.cleaned_data["name"],
                    created_by=request.user,
                    keep=form.cleaned_data["keep"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _(
                        "%(imported)d pairs imported, %(duplicates)d duplicates skipped, "
                        "%(errors)d rows refused."
                    )
                    % {
                        "imported": pair_import.imported,
                        "duplicates": pair_import.duplicates,
                        "errors": pair_import.errors,
                    },
                )
                return redirect("instructions:import-detail", pk=pair_import.pk)
        return self._render(request, form, status=400)

    def _render(self, request, form, status=200):
        page = Paginator(service.pair_import_list(), IMPORTS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        ctx = {
            "form": form,
            "page": page,
            "example": EXAMPLE_LINE,
            "max_bytes": service.upload_max_bytes(),
        }
        return render(request, "pairs/instructions/import.html", ctx, status=status)


class PairImportDetailView(_PairImportRoleMixin, View):
    def get(self, request, pk):
        pair_import = service.pair_import_get(pk=pk)
        if pair_import is None:
            raise Http404
        issues = Paginator(
            service.pair_import_issues(pair_import=pair_import), ISSUES_PER_PAGE
        ).get_page(request.GET.get("page"))
        ctx = {"pair_import": pair_import, "issues": issues, "max_issues": service.MAX_ISSUES}
        return render(request, "pairs/instructions/import_detail.html", ctx)
