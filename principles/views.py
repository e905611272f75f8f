"""Pages of the principle library. Business rules live in services, selectors and policy."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.http import require_POST

from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, AUTHOR, STUDIO_ROLES, RoleRequiredMixin
from weaver_site.textdiff import diff_html

from . import policy, services, transfer
from .forms import ImportForm, PrincipleForm, SendBackForm
from .models import Language, PrincipleStatus, PrincipleVersion
from .selectors import (
    PrincipleFilters,
    principle_display_version,
    principle_get,
    principle_list,
    principle_versions,
    taxonomy,
)

PAGE_SIZES = (10, 25, 50, 100)
CASE_FIELDS = ("instruction", "text", "rationale")


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _page_size(request) -> int:
    try:
        size = int(request.GET.get("page_size", 25))
    except ValueError:
        return 25
    return size if size in PAGE_SIZES else 25


class PrincipleListView(RoleRequiredMixin, View):
    def get(self, request):
        filters = PrincipleFilters.from_params(request.GET)
        qs = principle_list(user=request.user, filters=filters)
        page = Paginator(qs, _page_size(request)).get_page(request.GET.get("page"))
        for principle in page:
            principle.shown = principle_display_version(user=request.user, principle=principle)
        query = request.GET.copy()
        query.pop("page", None)
        ctx = {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "languages": Language.choices,
            "statuses": PrincipleStatus.choices,
            "page_sizes": PAGE_SIZES,
            "page_size": _page_size(request),
            "can_create": policy.can_create(request.user),
            **taxonomy(),
        }
        template = "principles/_results.html" if _is_htmx(request) else "principles/list.html"
        return render(request, template, ctx)


class _PrincipleMixin(RoleRequiredMixin):
    def get_principle(self, pk):
        principle = principle_get(user=self.request.user, pk=pk)
        if principle is None:
            raise Http404
        return principle


def _case_rows(version):
    return [
        {
            "key": key,
            "following": getattr(version, f"following_{key}"),
            "violating": getattr(version, f"violating_{key}"),
        }
        for key in CASE_FIELDS
    ]


class PrincipleDetailView(_PrincipleMixin, View):
    def get(self, request, pk):
        principle = self.get_principle(pk)
        versions = list(principle_versions(user=request.user, principle=principle))
        number = request.GET.get("version")
        shown = principle_display_version(user=request.user, principle=principle)
        if number:
            shown = next((v for v in versions if str(v.number) == number), None)
            if shown is None:
                raise Http404
        ctx = {
            "principle": principle,
            "version": shown,
            "versions": versions,
            "actions": policy.actions_for(request.user, principle),
            "send_back_form": SendBackForm(),
            "case_diff": diff_html(shown.following_text, shown.violating_text) if shown else "",
        }
        return render(request, "principles/detail.html", ctx)


class PrincipleVersionDiffView(_PrincipleMixin, View):
    """Word-level (Chinese: character-level) diff of every field between two versions."""

    def get(self, request, pk):
        principle = self.get_principle(pk)
        versions = list(principle_versions(user=request.user, principle=principle))
        by_number = {str(v.number): v for v in versions}
        if len(versions) < 2:
            messages.info(request, _("There is only one version."))
            return redirect("principles:detail", pk=pk)
        a = by_number.get(request.GET.get("a", str(versions[1].number)))
        b = by_number.get(request.GET.get("b", str(versions[0].number)))
        if a is None or b is None:
            raise Http404
        rows = [
            {
                "label": PrincipleVersion._meta.get_field(f).verbose_name,
                "html": diff_html(getattr(a, f), getattr(b, f)),
                "changed": getattr(a, f) != getattr(b, f),
            }
            for f in PrincipleVersion.CONTENT_FIELDS
        ]
        ctx = {"principle": principle, "a": a, "b": b, "rows": rows, "versions": versions}
        return render(request, "principles/diff.html", ctx)


class PrincipleCreateView(RoleRequiredMixin, View):
    roles = (AUTHOR, ADMIN)

    def get(self, request):
        language = "zh" if (get_language() or "").startswith("zh") else "en"
        return self._render(request, PrincipleForm(initial={"language": language}))

    def post(self, request):
        form = PrincipleForm(request.POST)
        if form.is_valid():
            try:
                principle = services.principle_create(
                    owner=request.user,
                    domain=form.cleaned_data["domain"],
                    task=form.cleaned_data["task"],
                    language=form.cleaned_data["language"],
                    content=form.content(),
                    change_note=form.cleaned_data["change_note"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Principle created as a draft (version 1)."))
                return redirect("principles:detail", pk=principle.pk)
        return self._render(request, form, status=400)

    def _render(self, request, form, status=200, principle=None):
        return render(
            request,
            "principles/form.html",
            {"form": form, "principle": principle, "case_fields": CASE_FIELDS},
            status=status,
        )


class PrincipleEditView(_PrincipleMixin, View):
    roles = (AUTHOR, ADMIN)

    def _check(self, request, pk):
        principle = self.get_principle(pk)
        if not policy.can_edit(request.user, principle):
            raise PermissionDenied
        return principle

    def get(self, request, pk):
        principle = self._check(request, pk)
        form = PrincipleForm(
            initial=PrincipleForm.initial_from(principle, principle.latest_version)
        )
        return self._render(request, form, principle)

    def post(self, request, pk):
        principle = self._check(request, pk)
        form = PrincipleForm(request.POST)
        if form.is_valid():
            try:
                version = services.principle_version_create(
                    principle=principle,
                    author=request.user,
                    content=form.content(),
                    change_note=form.cleaned_data["change_note"],
                    domain=form.cleaned_data["domain"],
                    task=form.cleaned_data["task"],
                    set_task=True,
                    language=form.cleaned_data["language"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request, _("Saved as draft version %(n)d.") % {"n": version.number}
                )
                return redirect("principles:detail", pk=principle.pk)
        return self._render(request, form, principle, status=400)

    def _render(self, request, form, principle, status=200):
        return render(
            request,
            "principles/form.html",
            {"form": form, "principle": principle, "case_fields": CASE_FIELDS},
            status=status,
        )


@method_decorator(require_POST, name="dispatch")
class PrincipleTransitionView(_PrincipleMixin, View):
    """Submit, approve, send back and retire: POST only, each checked by its service."""

    action = ""

    def post(self, request, pk):
        principle = self.get_principle(pk)
        try:
            if self.action == "submit":
                services.principle_submit(principle=principle, user=request.user)
                messages.success(request, _("Submitted for review."))
            elif self.action == "approve":
                version = services.principle_approve(
                    principle=principle, user=request.user, comment=request.POST.get("comment", "")
                )
                messages.success(request, _("Version %(n)d approved.") % {"n": version.number})
            elif self.action == "send_back":
                form = SendBackForm(request.POST)
                if not form.is_valid():
                    messages.error(request, _("Say what the author should change."))
                    return redirect("principles:detail", pk=pk)
                services.principle_send_back(
                    principle=principle, user=request.user, comment=form.cleaned_data["comment"]
                )
                messages.success(request, _("Sent back to the author."))
            elif self.action == "retire":
                services.principle_retire(principle=principle, user=request.user)
                messages.success(request, _("Principle retired."))
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        return redirect("principles:detail", pk=pk)


class DiffPreviewView(RoleRequiredMixin, View):
    """The live diff between the following and the violating text on the edit form."""

    roles = STUDIO_ROLES

    def post(self, request):
        html = diff_html(
            request.POST.get("following_text", ""), request.POST.get("violating_text", "")
        )
        return render(request, "principles/_diff_preview.html", {"diff": html})


class PrincipleImportView(RoleRequiredMixin, View):
    roles = (AUTHOR, ADMIN)

    def get(self, request):
        return render(request, "principles/import.html", {"form": ImportForm()})

    def post(self, request):
        form = ImportForm(request.POST, request.FILES)
        issues = []
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                created = transfer.principles_import(user=request.user, data=upload.read())
            except transfer.ImportRejected as exc:
                issues = exc.issues
            else:
                messages.success(
                    request,
                    _("Imported %(n)d principles as drafts.") % {"n": len(created)},
                )
                query = urlencode({"owner": request.user.get_username()})
                return redirect(f"{reverse('principles:list')}?{query}")
        return render(
            request,
            "principles/import.html",
            {"form": form, "issues": issues, "filename": request.FILES.get("file")},
            status=400,
        )


class PrincipleExportView(RoleRequiredMixin, View):
    def get(self, request):
        filters = PrincipleFilters.from_params(request.GET)
        qs = principle_list(user=request.user, filters=filters)
        doc = transfer.principles_export(user=request.user, queryset=qs)
        response = HttpResponse(
            json.dumps(doc, ensure_ascii=False, indent=2), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="principles.json"'
        return response
