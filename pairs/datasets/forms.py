"""Forms of the dataset pages: a new snapshot (its settings and the filters of its kind) and a
new export.

The forms only type what was posted; every rule (a filter's bounds, the test fraction, a name
already used by the other kind) is the services', whose ``ValidationError`` is shown on the
fields by :func:`weaver_site.forms.form_add_service_errors` with :meth:`service_field_names`.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from principles.models import Domain, Principle, PrincipleVersion, Subdomain, Task
from weaver_site.models import Job

from ..models import (
    DatasetKind,
    DatasetSnapshot,
    ExportFormat,
    ExportLayout,
    InstructionPair,
    PairOrigin,
    PairStatus,
    PreferencePair,
    PreferenceStatus,
)
from ..review.filters import RANGE_METRICS
from ..review.forms import (
    FLAGGED_CHOICES,
    JUDGE_CHOICES,
    LANGUAGE_NAMES,
    METRIC_LABELS,
    JobChoices,
    PrincipleChoices,
    SubdomainChoices,
    jobs_of,
    principles_with_pairs,
)
from .filters import SFT_STATUSES, PreferenceFilters

PREFERENCE_STATUS_LABELS = dict(PreferenceStatus.choices)
INSTRUCTION_STATUS_LABELS = dict(PairStatus.choices)
MARK_CHOICES = [("good", _("Good")), ("bad", _("Bad")), ("none", _("Not marked"))]

#: Filter fields both kinds have, under the filter's own name.
COMMON_FILTERS = ("domains", "subdomains", "tasks", "languages")
#: The form fields of each kind's own filters.
DPO_FIELDS = (
    "dpo_statuses",
    "principles",
    "principle_versions",
    "dpo_jobs",
    "flagged",
    "judge",
    *(f"{m}_{side}" for m in RANGE_METRICS for side in ("min", "max")),
    "min_reviews",
    "min_agreement",
)
SFT_FIELDS = (
    "sft_statuses",
    "origins",
    "sft_jobs",
    "marks",
    "curation_min",
    "curation_max",
)
SETTINGS_FIELDS = ("name", "kind", "description", "test_fraction", "stratify", "split_seed")


class _VersionChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"#{obj.principle_id} v{obj.number} {obj.title}"


def _bound(label, *, integer=False, step="any"):
    field = forms.IntegerField if integer else forms.FloatField
    return field(
        label=label, required=False, widget=forms.NumberInput(attrs={"step": step, "class": "num"})
    )


class SnapshotForm(forms.Form):
    """A new snapshot: its name, kind and split, and the filters of its kind."""

    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        help_text=_("A name already used gets its next version."),
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=DatasetKind.choices,
        initial=DatasetKind.DPO,
        widget=forms.RadioSelect,
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the dataset is for; it goes into the dataset card."),
    )
    test_fraction = forms.FloatField(
        label=_("Test fraction"),
        initial=0.1,
        widget=forms.NumberInput(attrs={"step": "any", "class": "num"}),
        help_text=_("Share of the prompts that go to the test split (0 up to 1)."),
    )
    stratify = forms.BooleanField(
        label=_("Stratify by domain"),
        required=False,
        help_text=_("Give every domain the same share of test prompts."),
    )
    split_seed = forms.CharField(
        label=_("Split seed"),
        max_length=64,
        required=False,
        help_text=_("Mixed into the prompt hash; the same seed gives the same split."),
    )

    # Filters of both kinds.
    domains = forms.ModelMultipleChoiceField(
        queryset=Domain.objects.all(), required=False, label=_("Domains")
    )
    subdomains = SubdomainChoices(
        queryset=Subdomain.objects.select_related("domain"), required=False, label=_("Subdomains")
    )
    tasks = forms.ModelMultipleChoiceField(
        queryset=Task.objects.all(), required=False, label=_("Tasks")
    )
    languages = forms.MultipleChoiceField(choices=(), required=False, label=_("Languages"))

    # Preference pairs (DPO).
    dpo_statuses = forms.MultipleChoiceField(
        choices=[(s, PREFERENCE_STATUS_LABELS[s]) for s in PreferenceFilters.ALLOWED_STATUSES],
        initial=list(PreferenceFilters.DEFAULT_STATUSES),
        required=False,
        label=_("Pair statuses"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: accepted."),
    )
    principles = PrincipleChoices(
        queryset=Principle.objects.none(), required=False, label=_("Principles")
    )
    principle_versions = _VersionChoices(
        queryset=PrincipleVersion.objects.none(), required=False, label=_("Principle versions")
    )
    dpo_jobs = JobChoices(queryset=Job.objects.none(), required=False, label=_("Negatives jobs"))
    flagged = forms.ChoiceField(
        choices=FLAGGED_CHOICES, required=False, label=_("Flagged by the minimality checks")
    )
    judge = forms.MultipleChoiceField(
        choices=JUDGE_CHOICES,
        required=False,
        label=_("Judge verdicts"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: any verdict."),
    )
    min_reviews = _bound(_("Minimum submitted reviews"), integer=True, step="1")
    min_agreement = _bound(_("Minimum agreement (0.5 to 1)"))

    # Instruction pairs (SFT).
    sft_statuses = forms.MultipleChoiceField(
        choices=[(s, INSTRUCTION_STATUS_LABELS[s]) for s in SFT_STATUSES],
        initial=[PairStatus.KEPT],
        required=False,
        label=_("Pair statuses"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: kept."),
    )
    origins = forms.MultipleChoiceField(
        choices=PairOrigin.choices,
        required=False,
        label=_("Origins"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: any origin."),
    )
    sft_jobs = JobChoices(
        queryset=Job.objects.none(), required=False, label=_("Backtranslation jobs")
    )
    marks = forms.MultipleChoiceField(
        choices=MARK_CHOICES,
        required=False,
        label=_("Reviewer marks"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: any mark."),
    )
    curation_min = _bound(_("Curation score, minimum"), integer=True, step="1")
    curation_max = _bound(_("Curation score, maximum"), integer=True, step="1")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        prefs = PreferencePair.objects.order_by()
        instructions = InstructionPair.objects.order_by()
        self.fields["principles"].queryset = principles_with_pairs()
        self.fields["principle_versions"].queryset = PrincipleVersion.objects.filter(
            pk__in=prefs.filter(principle_version__isnull=False).values("principle_version_id")
        ).order_by("principle_id", "number")
        self.fields["dpo_jobs"].queryset = jobs_of(prefs)
        self.fields["sft_jobs"].queryset = jobs_of(instructions)
        codes = (
            set(prefs.values_list("language", flat=True).distinct())
            | set(instructions.values_list("language", flat=True).distinct())
            | set(LANGUAGE_NAMES)
        )
        self.fields["languages"].choices = [
            (code, LANGUAGE_NAMES.get(code, code)) for code in sorted(c for c in codes if c)
        ]
        for metric in RANGE_METRICS:
            step = "1" if metric == "sentences_changed" else "any"
            for side, side_label in (("min", _("minimum")), ("max", _("maximum"))):
                self.fields[f"{metric}_{side}"] = _bound(
                    f"{METRIC_LABELS[metric]}, {side_label}", step=step
                )

    # --- Which kind -------------------------------------------------------------------------

    def chosen_kind(self) -> str:
        """The kind posted (or the initial one); its filters are the ones that count."""
        if self.is_bound:
            value = self.data.get("kind")
        else:
            value = self.initial.get("kind", self.fields["kind"].initial)
        return value if value in DatasetKind.values else DatasetKind.DPO

    def filter_fields(self, kind: str | None = None) -> tuple[str, ...]:
        kind = kind or self.chosen_kind()
        return COMMON_FILTERS + (DPO_FIELDS if kind == DatasetKind.DPO else SFT_FIELDS)

    def full_clean(self):
        super().full_clean()
        if not self.is_bound:
            return
        # The other kind's filters are not used: what was typed there is no error.
        other = SFT_FIELDS if self.chosen_kind() == DatasetKind.DPO else DPO_FIELDS
        for name in other:
            self._errors.pop(name, None)

    def filter_errors(self) -> list[str]:
        return [str(e) for name in self.filter_fields() for e in self.errors.get(name, [])]

    @staticmethod
    def service_field_names(kind: str) -> dict[str, str]:
        """The service's error keys that are not this form's field names."""
        if kind == DatasetKind.DPO:
            return {
                "statuses": "dpo_statuses",
                "jobs": "dpo_jobs",
                **{f"metric_ranges.{m}": f"{m}_min" for m in RANGE_METRICS},
            }
        return {"statuses": "sft_statuses", "jobs": "sft_jobs", "curation_score": "curation_min"}

    # --- What the services take --------------------------------------------------------------

    def filters(self) -> dict:
        """The filters of the chosen kind, as the services read them (after ``is_valid``)."""
        d = self.cleaned_data
        out = {
            "domains": [o.pk for o in d.get("domains") or []],
            "subdomains": [o.pk for o in d.get("subdomains") or []],
            "tasks": [o.pk for o in d.get("tasks") or []],
            "languages": list(d.get("languages") or []),
        }
        if self.chosen_kind() == DatasetKind.DPO:
            ranges = {}
            for metric in RANGE_METRICS:
                low, high = d.get(f"{metric}_min"), d.get(f"{metric}_max")
                if low is not None or high is not None:
                    ranges[metric] = [low, high]
            out.update(
                statuses=list(d.get("dpo_statuses") or PreferenceFilters.DEFAULT_STATUSES),
                principles=[o.pk for o in d.get("principles") or []],
                principle_versions=[o.pk for o in d.get("principle_versions") or []],
                jobs=[o.pk for o in d.get("dpo_jobs") or []],
                flagged={"yes": True, "no": False}.get(d.get("flagged") or ""),
                judge=list(d.get("judge") or []),
                metric_ranges=ranges,
                min_reviews=d.get("min_reviews"),
                min_agreement=d.get("min_agreement"),
            )
        else:
            low, high = d.get("curation_min"), d.get("curation_max")
            out.update(
                statuses=list(d.get("sft_statuses") or [PairStatus.KEPT]),
                origins=list(d.get("origins") or []),
                jobs=[o.pk for o in d.get("sft_jobs") or []],
                marks=list(d.get("marks") or []),
                curation_score=[] if low is None and high is None else [low, high],
            )
        return out

    def settings(self) -> dict:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "kind": d["kind"],
            "description": d["description"],
            "test_fraction": d["test_fraction"],
            "stratify": d["stratify"],
            "split_seed": d["split_seed"],
        }

    def metric_rows(self) -> list[dict]:
        """The min and max fields of each metric, for the template."""
        return [
            {
                "name": m,
                "label": METRIC_LABELS[m],
                "min": self[f"{m}_min"],
                "max": self[f"{m}_max"],
                "errors": self[f"{m}_min"].errors + self[f"{m}_max"].errors,
            }
            for m in RANGE_METRICS
        ]


def initial_from(snapshot: DatasetSnapshot) -> dict:
    """The form's initial values that make ``snapshot`` again (a new version to change)."""
    f = snapshot.filters or {}
    initial = {
        "name": snapshot.name,
        "kind": snapshot.kind,
        "description": snapshot.description,
        "test_fraction": snapshot.test_fraction,
        "stratify": snapshot.stratify,
        "split_seed": snapshot.split_seed,
        **{name: f.get(name) or [] for name in COMMON_FILTERS},
    }
    if snapshot.kind == DatasetKind.DPO:
        initial.update(
            dpo_statuses=f.get("statuses") or list(PreferenceFilters.DEFAULT_STATUSES),
            principles=f.get("principles") or [],
            principle_versions=f.get("principle_versions") or [],
            dpo_jobs=f.get("jobs") or [],
            flagged={True: "yes", False: "no"}.get(f.get("flagged"), ""),
            judge=f.get("judge") or [],
            min_reviews=f.get("min_reviews"),
            min_agreement=f.get("min_agreement"),
        )
        for metric, bounds in (f.get("metric_ranges") or {}).items():
            if isinstance(bounds, list | tuple) and len(bounds) == 2:
                initial[f"{metric}_min"], initial[f"{metric}_max"] = bounds
    else:
        score = f.get("curation_score") or [None, None]
        initial.update(
            sft_statuses=f.get("statuses") or [PairStatus.KEPT],
            origins=f.get("origins") or [],
            sft_jobs=f.get("jobs") or [],
            marks=f.get("marks") or [],
            curation_min=score[0] if len(score) == 2 else None,
            curation_max=score[1] if len(score) == 2 else None,
        )
    return initial


class ExportForm(forms.Form):
    """A new export of a ready snapshot; the Hub fields only when a token is configured."""

    format = forms.ChoiceField(
        label=_("Format"),
        choices=ExportFormat.choices,
        initial=ExportFormat.JSONL,
        widget=forms.RadioSelect,
    )
    layout = forms.ChoiceField(
        label=_("Layout"),
        choices=ExportLayout.choices,
        initial=ExportLayout.STANDARD,
        widget=forms.RadioSelect,
    )
    include_metadata = forms.BooleanField(
        label=_("Metadata columns"),
        required=False,
        initial=True,
        help_text=_("Principle, domain, task, language, generator, metrics, review, source."),
    )
    hub_repo = forms.CharField(
        label=_("Push to a Hugging Face Hub dataset repository"),
        max_length=200,
        required=False,
        help_text=_("Such as “team/writing-dpo”; empty: no push. Parquet or Hugging Face only."),
    )
    hub_private = forms.BooleanField(label=_("Private on the Hub"), required=False, initial=True)

    def __init__(self, *args, hub: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not hub:
            del self.fields["hub_repo"]
            del self.fields["hub_private"]

    def export_settings(self) -> dict:
        d = self.cleaned_data
        out = {
            "format": d["format"],
            "layout": d["layout"],
            "include_metadata": d["include_metadata"],
        }
        if "hub_repo" in self.fields:
            out.update(hub_repo=d["hub_repo"], hub_private=d["hub_private"])
        return out
