"""The page that starts a constitutional-negatives job."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from principles.models import Domain, Principle, PrincipleStatus, Subdomain, Task
from weaver_site.forms import form_add_service_errors
from weaver_site.llm.models import Endpoint

from .generation import negatives
from .generation.metrics import Thresholds
from .models import NegativeMode
from .views_jobs import LANGUAGES, _EngineerView


class _SubdomainChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.domain.name} / {obj.name}"


class _PrincipleChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        title = obj.approved_version.title if obj.approved_version_id else ""
        return f"#{obj.pk} {title} ({obj.domain.name}, {obj.get_language_display()})"


class NegativesForm(forms.Form):
    # Which positives.
    domain = forms.ModelChoiceField(
        queryset=Domain.objects.all(), to_field_name="slug", required=False, label=_("Domain")
    )
    subdomain = _SubdomainChoice(
        queryset=Subdomain.objects.select_related("domain"), required=False, label=_("Subdomain")
    )
    task = forms.ModelChoiceField(
        queryset=Task.objects.all(), to_field_name="slug", required=False, label=_("Task")
    )
    language = forms.ChoiceField(choices=LANGUAGES, required=False, label=_("Language"))
    min_score = forms.IntegerField(
        label=_("Minimum curation score"), min_value=1, max_value=5, required=False
    )
    kept_only = forms.BooleanField(
        label=_("Only pairs kept by curation"), required=False, initial=True
    )
    top_n = forms.IntegerField(
        label=_("At most, per subdomain (best scored first)"), min_value=1, required=False
    )
    job_id = forms.IntegerField(label=_("Pairs of job"), min_value=1, required=False)
    # How.
    mode = forms.ChoiceField(
        choices=NegativeMode.choices,
        initial=NegativeMode.EXPLAIN,
        widget=forms.RadioSelect,
        label=_("Mode"),
    )
    principles = _PrincipleChoice(
        queryset=Principle.objects.filter(approved_version__isnull=False)
        .exclude(status=PrincipleStatus.RETIRED)
        .select_related("approved_version", "domain"),
        required=False,
        label=_("Principles"),
        help_text=_(
            "Empty: every approved principle that matches each pair's domain, task and language."
        ),
    )
    endpoint = forms.ModelChoiceField(
        queryset=Endpoint.objects.filter(is_active=True), label=_("Endpoint")
    )
    samples = forms.IntegerField(
        label=_("Negatives per positive (and principle)"),
        min_value=1,
        max_value=negatives.MAX_SAMPLES,
        initial=1,
    )
    temperature = forms.FloatField(label=_("Temperature"), min_value=0, max_value=2, initial=0.7)
    judge_endpoint = forms.ModelChoiceField(
        queryset=Endpoint.objects.filter(is_active=True),
        required=False,
        label=_("Judge endpoint"),
        help_text=_(
            "Optional: a model that checks each negative breaks its principle and is "
            "otherwise as good."
        ),
    )
    # Minimality thresholds: pairs outside them are flagged, never dropped.
    min_char_similarity = forms.FloatField(
        label=_("Lowest character similarity"), min_value=0, max_value=1, required=False
    )
    max_edit_ratio = forms.FloatField(
        label=_("Highest edit ratio (words; characters for Chinese)"),
        min_value=0,
        required=False,
    )
    max_sentences_changed = forms.IntegerField(
        label=_("Most sentences changed"), min_value=0, required=False
    )
    min_length_ratio = forms.FloatField(label=_("Lowest length ratio"), min_value=0, required=False)
    max_length_ratio = forms.FloatField(
        label=_("Highest length ratio"), min_value=0, required=False
    )
    budget_usd = forms.DecimalField(
        label=_("Budget (USD)"),
        required=False,
        min_value=0,
        decimal_places=4,
        help_text=_("The job stops before the call that would pass it. Empty: no limit."),
    )

    THRESHOLDS = (
        "min_char_similarity",
        "max_edit_ratio",
        "max_sentences_changed",
        "min_length_ratio",
        "max_length_ratio",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).update(Thresholds().as_dict())
        super().__init__(*args, **kwargs)

    def positives(self) -> dict:
        d = self.cleaned_data
        return {
            "domain": d["domain"].slug if d["domain"] else "",
            "subdomain": d["subdomain"].slug if d["subdomain"] else "",
            "task": d["task"].slug if d["task"] else "",
            "language": d["language"],
            "min_score": d["min_score"],
            "kept_only": d["kept_only"],
            "top_n": d["top_n"],
            "job_id": d["job_id"],
        }

    def thresholds(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.THRESHOLDS}


class NegativeJobStartView(_EngineerView):
    template = "pairs/preferences/new.html"

    def get(self, request):
        return render(request, self.template, {"form": NegativesForm()})

    def post(self, request):
        form = NegativesForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                job = negatives.negatives_create(
                    endpoint=d["endpoint"],
                    mode=d["mode"],
                    samples=d["samples"],
                    positives=form.positives(),
                    principle_ids=[p.pk for p in d["principles"]],
                    judge_endpoint=d["judge_endpoint"],
                    thresholds=form.thresholds(),
                    budget_usd=d["budget_usd"],
                    params={"temperature": d["temperature"]},
                    created_by=request.user,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                return redirect("pairs:job", pk=job.pk)
        return render(request, self.template, {"form": form}, status=400)
