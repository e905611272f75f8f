"""Pages of the few-shot case editor. Business rules live in services, selectors and policy."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.http import require_POST

from weaver_site.forms import form_add_service_errors
from weaver_site.roles import ADMIN, AUTHOR, RoleRequiredMixin

from . import policy, services
from .forms import FEWSHOT_TASK_GUIDE, FewShotCaseForm
from .models import Language, Subdomain, Task
from .selectors import (
    FewShotFilters,
    fewshot_case_get,
    fewshot_case_list,
    fewshot_case_versions,
    taxonomy,
)
from .views import PAGE_SIZES, _is_htmx, _page_size


class FewShotListView(RoleRequiredMixin, View):
    def get(self, request):
        filters = FewShotFilters.from_params(request.GET)
        qs = fewshot_case_list(user=request.user, filters=filters)
        page = Paginator(qs, _page_size(request)).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        ctx = {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "languages": Language.choices,
            "subdomains": Subdomain.objects.select_related("domain"),
            "page_sizes": PAGE_SIZES,
            "page_size": _page_size(request),
            "can_create": policy.can_create_fewshot(request.user),
            **taxonomy(),
        }
        template = (
            "principles/fewshot/_results.html"
            if _is_htmx(request)
            else "principles/fewshot/list.html"
        )
        return render(request, template, ctx)


class _FewShotMixin(RoleRequiredMixin):
    def get_case(self, pk):
        case = fewshot_case_get(user=self.request.user, pk=pk)
        if case is None:
            raise Http404
        return case


def _task_guide() -> list[dict]:
    names = {t.slug: t.name for t in Task.objects.all()}
    return [
        {"slug": slug, "name": names.get(slug, slug), "context": context, "output": output}
        for slug, (context, output) in FEWSHOT_TASK_GUIDE.items()
    ]


def _render_form(request, form, case=None, status=200):
    return render(
        request,
        "principles/fewshot/form.html",
        {"form": form, "case": case, "task_guide": _task_guide()},
        status=status,
    )


class FewShotDetailView(_FewShotMixin, View):
    def get(self, request, pk):
        case = self.get_case(pk)
        versions = list(fewshot_case_versions(case=case))
        shown = case.latest_version
        number = request.GET.get("version")
        if number:
            shown = next((v for v in versions if str(v.number) == number), None)
            if shown is None:
                raise Http404
        ctx = {
            "case": case,
            "version": shown,
            "versions": versions,
            "actions": policy.fewshot_actions_for(request.user, case),
        }
        return render(request, "principles/fewshot/detail.html", ctx)


class FewShotCreateView(RoleRequiredMixin, View):
    roles = (AUTHOR, ADMIN)

    def get(self, request):
        language = "zh" if (get_language() or "").startswith("zh") else "en"
        initial = {"language": language}
        for name in ("subdomain", "task"):
            if request.GET.get(name):
                initial[name] = request.GET[name]
        return _render_form(request, FewShotCaseForm(initial=initial))

    def post(self, request):
        form = FewShotCaseForm(request.POST)
        if form.is_valid():
            try:
                case = services.fewshot_case_create(
                    owner=request.user,
                    subdomain=form.cleaned_data["subdomain"],
                    task=form.cleaned_data["task"],
                    language=form.cleaned_data["language"],
                    content=form.content(),
                    change_note=form.cleaned_data["change_note"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Few-shot case created (version 1)."))
                return redirect("principles:fewshot-detail", pk=case.pk)
        return _render_form(request, form, status=400)


class FewShotEditView(_FewShotMixin, View):
    roles = (AUTHOR, ADMIN)

    def _check(self, request, pk):
        case = self.get_case(pk)
        if not policy.can_edit_fewshot(request.user, case):
            raise PermissionDenied
        return case

    def get(self, request, pk):
        case = self._check(request, pk)
        form = FewShotCaseForm(initial=FewShotCaseForm.initial_from(case, case.latest_version))
        return _render_form(request, form, case)

    def post(self, request, pk):
        case = self._check(request, pk)
        form = FewShotCaseForm(request.POST)
        if form.is_valid():
            try:
                version = services.fewshot_case_version_create(
                    case=case,
                    author=request.user,
                    content=form.content(),
                    change_note=form.cleaned_data["change_note"],
                    subdomain=form.cleaned_data["subdomain"],
                    task=form.cleaned_data["task"],
                    language=form.cleaned_data["language"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Saved as version %(n)d.") % {"n": version.number})
                return redirect("principles:fewshot-detail", pk=case.pk)
        return _render_form(request, form, case, status=400)


@method_decorator(require_POST, name="dispatch")
class FewShotRetireView(_FewShotMixin, View):
    """POST ``action=retire`` or ``action=restore``; the service checks the rights."""

    roles = (AUTHOR, ADMIN)

    def post(self, request, pk):
        case = self.get_case(pk)
        action = request.POST.get("action", "retire")
        try:
            if action == "retire":
                services.fewshot_case_retire(case=case, user=request.user)
                messages.success(request, _("Few-shot case retired."))
            elif action == "restore":
                services.fewshot_case_restore(case=case, user=request.user)
                messages.success(request, _("Few-shot case restored."))
            else:
                messages.error(request, _("Unknown action."))
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        return redirect("principles:fewshot-detail", pk=pk)
