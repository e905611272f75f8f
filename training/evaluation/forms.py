"""The forms of the evaluation pages: a new evaluation and a new model to evaluate.

The forms only type what was posted; every rule (a frozen benchmark, exactly one of endpoint
and checkpoint, the ranges of the decoding parameters, ...) belongs to
:mod:`training.evaluation.services`, whose ``ValidationError`` is shown on the fields by
:func:`weaver_site.forms.form_add_service_errors` (with :data:`SERVICE_FIELD_NAMES`).
"""

from __future__ import annotations

from django import forms
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from weaver_site.llm.models import Endpoint

from ..models import RunCheckpoint, RunStatus
from .models import Benchmark, BenchmarkStatus, Contestant

#: The decoding parameters, each a field of its own.
DECODING_FIELDS = ("temperature", "top_p", "max_tokens", "seed")
#: Service error keys -> form fields.
SERVICE_FIELD_NAMES = {f"decoding.{name}": name for name in DECODING_FIELDS} | {
    "decoding": "temperature"
}
SOURCE_CHECKPOINT = "checkpoint"
SOURCE_ENDPOINT = "endpoint"


class _BenchmarkChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _("%(name)s v%(version)d · %(n)d instructions") % {
            "name": obj.name,
            "version": obj.version,
            "n": obj.n_items,
        }


class _ContestantChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.get_kind_display()})"


class _EndpointChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} · {obj.model}"


class _CheckpointChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _("Run #%(run)d %(name)s · %(checkpoint)s") % {
            "run": obj.run_id,
            "name": obj.run.name,
            "checkpoint": obj.name,
        }


def frozen_benchmarks():
    return (
        Benchmark.objects.filter(status=BenchmarkStatus.FROZEN)
        .annotate(n_items=Count("items"))
        .order_by("name", "-version")
    )


def active_endpoints():
    return Endpoint.objects.filter(is_active=True).order_by("name")


def done_checkpoints():
    """Checkpoints of finished runs, newest run first, final model first."""
    return (
        RunCheckpoint.objects.filter(run__status=RunStatus.DONE)
        .select_related("run")
        .order_by("-run_id", "-final", "-step")
    )


class EvaluationForm(forms.Form):
    """A new evaluation: models on a frozen benchmark, judged and/or open to the arena."""

    name = forms.CharField(label=_("Name"), max_length=200)
    benchmark = _BenchmarkChoice(
        label=_("Benchmark"),
        queryset=Benchmark.objects.none(),
        help_text=_("Only frozen versions can be evaluated."),
    )
    contestants = _ContestantChoice(
        label=_("Models"),
        queryset=Contestant.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Each model answers every instruction."),
    )
    judge = _EndpointChoice(
        label=_("Judge endpoint"),
        queryset=Endpoint.objects.none(),
        required=False,
        empty_label=_("— no model judge —"),
        help_text=_("Grades each response and compares them pairwise; empty: humans only."),
    )
    grade = forms.BooleanField(
        label=_("Grade each response (1-10 on style, relevance, creativity, overall)"),
        required=False,
        initial=True,
    )
    pairwise = forms.BooleanField(
        label=_("Compare the responses pairwise, in both orders"),
        required=False,
        initial=True,
    )
    arena_open = forms.BooleanField(
        label=_("Open to evaluators in the arena"),
        required=False,
        initial=True,
    )
    budget_usd = forms.DecimalField(
        label=_("Budget per job (USD)"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=4,
        widget=forms.NumberInput(attrs={"step": "any", "class": "num"}),
        help_text=_("Empty: no limit."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["benchmark"].queryset = frozen_benchmarks()
        self.fields["contestants"].queryset = Contestant.objects.select_related(
            "endpoint"
        ).order_by("name")
        self.fields["judge"].queryset = active_endpoints()

    def service_kwargs(self) -> dict:
        """The arguments of :func:`training.evaluation.services.evaluation_create`."""
        d = self.cleaned_data
        return {
            "name": d["name"],
            "benchmark": d["benchmark"],
            "contestants": list(d["contestants"]),
            "judge": d["judge"],
            "grade": d["grade"],
            "pairwise": d["pairwise"],
            "arena_open": d["arena_open"],
            "budget_usd": d["budget_usd"],
        }


class ContestantForm(forms.Form):
    """A new model to evaluate: a finished run's checkpoint or an LLM endpoint, with its
    decoding parameters."""

    name = forms.CharField(
        label=_("Name"),
        max_length=120,
        help_text=_("Shown on leaderboards, never to evaluators."),
    )
    source = forms.ChoiceField(
        label=_("The model"),
        choices=(
            (SOURCE_CHECKPOINT, _("A training run's checkpoint")),
            (SOURCE_ENDPOINT, _("An LLM endpoint")),
        ),
        initial=SOURCE_ENDPOINT,
        widget=forms.RadioSelect,
    )
    checkpoint = _CheckpointChoice(
        label=_("Checkpoint"),
        queryset=RunCheckpoint.objects.none(),
        required=False,
        empty_label=_("— choose a checkpoint —"),
        help_text=_("Of a finished run; generated by the transformers backend on a worker."),
    )
    endpoint = _EndpointChoice(
        label=_("Endpoint"),
        queryset=Endpoint.objects.none(),
        required=False,
        empty_label=_("— choose an endpoint —"),
    )
    temperature = forms.FloatField(
        label=_("Temperature"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "any", "class": "num"}),
        help_text=_("0 or more; empty: the endpoint's default."),
    )
    top_p = forms.FloatField(
        label=_("Top p"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "any", "class": "num"}),
        help_text=_("Above 0 and at most 1."),
    )
    max_tokens = forms.IntegerField(
        label=_("Maximum tokens"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "1", "class": "num"}),
    )
    seed = forms.IntegerField(
        label=_("Seed"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "1", "class": "num"}),
    )
    system_prompt = forms.CharField(
        label=_("System prompt"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["checkpoint"].queryset = done_checkpoints()
        self.fields["endpoint"].queryset = active_endpoints()

    def clean(self):
        d = super().clean()
        source = d.get("source")
        if source == SOURCE_CHECKPOINT and not d.get("checkpoint"):
            self.add_error("checkpoint", _("Choose a checkpoint."))
        elif source == SOURCE_ENDPOINT and not d.get("endpoint"):
            self.add_error("endpoint", _("Choose an endpoint."))
        return d

    def decoding(self) -> dict:
        d = self.cleaned_data
        return {name: d[name] for name in DECODING_FIELDS if d.get(name) is not None}

    def service_kwargs(self) -> dict:
        """The arguments of :func:`training.evaluation.services.contestant_create` (only the
        chosen source's model is passed)."""
        d = self.cleaned_data
        checkpoint = d["source"] == SOURCE_CHECKPOINT
        return {
            "name": d["name"],
            "checkpoint": d["checkpoint"] if checkpoint else None,
            "endpoint": None if checkpoint else d["endpoint"],
            "decoding": self.decoding(),
            "system_prompt": d["system_prompt"],
        }
