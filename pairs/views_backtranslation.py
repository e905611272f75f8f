"""Pages that start backtranslation and curation jobs, and keep the best pairs."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from principles.models import Domain, Task
from weaver_site.forms import form_add_service_errors
from weaver_site.llm.models import Endpoint

from .generation import backtranslation, curation
from .models import PairOrigin, Selection
from .views_jobs import LANGUAGES, _EngineerView


class BacktranslationForm(forms.Form):
    selection = forms.ModelChoiceField(queryset=Selection.objects.all(), label=_("Selection"))
    tasks = forms.ModelMultipleChoiceField(
        queryset=Task.objects.all(),
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
        label=_("Tasks"),
    )
    endpoint = forms.ModelChoiceField(
        queryset=Endpoint.objects.filter(is_active=True), label=_("Endpoint")
    )
    samples = forms.IntegerField(
        label=_("Pairs per span and task"),
        min_value=1,
        max_value=backtranslation.MAX_SAMPLES,
        initial=1,
    )
    spans_per_text = forms.IntegerField(
        label=_("Spans per text"),
        min_value=1,
        required=False,
        help_text=_("The first N spans of each selected text. Empty: every span."),
    )
    temperature = forms.FloatField(label=_("Temperature"), min_value=0, max_value=2, initial=0.7)
    budget_usd = forms.DecimalField(
        label=_("Budget (USD)"),
        required=False,
        min_value=0,
        decimal_places=4,
        help_text=_("The job stops before the call that would pass it. Empty: no limit."),
    )


class BacktranslationStartView(_EngineerView):
    template = "pairs/instructions/backtranslate_form.html"

    def get(self, request):
        initial = {}
        if request.GET.get("selection"):
            initial["selection"] = request.GET["selection"]
        return render(request, self.template, {"form": BacktranslationForm(initial=initial)})

    def post(self, request):
        form = BacktranslationForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = backtranslation.backtranslation_create(
                    selection=data["selection"],
                    tasks=list(data["tasks"]),
                    endpoint=data["endpoint"],
                    samples=data["samples"],
                    spans_per_text=data["spans_per_text"],
                    budget_usd=data["budget_usd"],
                    params={"temperature": data["temperature"]},
                    created_by=request.user,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                return redirect("pairs:job", pk=job.pk)
        return render(request, self.template, {"form": form}, status=400)


class CurationForm(forms.Form):
    endpoint = forms.ModelChoiceField(
        queryset=Endpoint.objects.filter(is_active=True), label=_("Endpoint")
    )
    job_id = forms.IntegerField(
        label=_("Pairs of job"), required=False, min_value=1, help_text=_("Empty: every job.")
    )
    task = forms.ModelChoiceField(
        queryset=Task.objects.all(), to_field_name="slug", required=False, label=_("Task")
    )
    domain = forms.ModelChoiceField(
        queryset=Domain.objects.all(), to_field_name="slug", required=False, label=_("Domain")
    )
    language = forms.ChoiceField(choices=LANGUAGES, required=False, label=_("Language"))
    origin = forms.ChoiceField(
        choices=[("", _("All")), *PairOrigin.choices], required=False, label=_("Origin")
    )
    budget_usd = forms.DecimalField(
        label=_("Budget (USD)"), required=False, min_value=0, decimal_places=4
    )

    def scope(self) -> dict:
        data = self.cleaned_data
        return {
            "job_id": data["job_id"],
            "task": data["task"].slug if data["task"] else "",
            "domain": data["domain"].slug if data["domain"] else "",
            "language": data["language"],
            "origin": data["origin"],
        }


class CurationStartView(_EngineerView):
    template = "pairs/instructions/curate_form.html"

    def get(self, request):
        form = CurationForm(initial={"job_id": request.GET.get("job") or None})
        return render(request, self.template, {"form": form})

    def post(self, request):
        form = CurationForm(request.POST)
        if form.is_valid():
            try:
                job = curation.curation_create(
                    endpoint=form.cleaned_data["endpoint"],
                    budget_usd=form.cleaned_data["budget_usd"],
                    created_by=request.user,
                    **form.scope(),
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                return redirect("pairs:job", pk=job.pk)
        return render(request, self.template, {"form": form}, status=400)


class KeepForm(CurationForm):
    threshold = forms.IntegerField(
        label=_("Keep scores of at least"), min_value=1, max_value=5, initial=4, required=False
    )
    quota = forms.IntegerField(
        label=_("Keep at most, per subdomain and task"), min_value=1, required=False
    )
    dedup_threshold = forms.FloatField(
        label=_("Near-duplicate instructions from similarity"),
        min_value=0.3,
        max_value=1.0,
        initial=0.7,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["endpoint"]
        del self.fields["budget_usd"]


class KeepView(_EngineerView):
    template = "pairs/instructions/keep_form.html"

    def get(self, request):
        form = KeepForm(initial={"job_id": request.GET.get("job") or None})
        return render(request, self.template, {"form": form})

    def post(self, request):
        form = KeepForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                counts = curation.instruction_pairs_keep(
                    threshold=data["threshold"],
                    quota=data["quota"],
                    dedup_threshold=data["dedup_threshold"],
                    **form.scope(),
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _(
                        "%(kept)d kept, %(dropped)d dropped, %(duplicate)d near-duplicates "
                        "collapsed, %(unscored)d not scored yet."
                    )
                    % counts,
                )
                return redirect("instructions:keep")
        return render(request, self.template, {"form": form}, status=400)
