"""Forms of the queue management pages: a queue's settings and filters, gold pairs and
adjudication.

The forms only type what was posted; every rule (a filter's bounds, N, who may review) is the
services', whose ``ValidationError`` is shown on the fields by
:func:`weaver_site.forms.form_add_service_errors`.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from principles.models import Domain, Principle, Subdomain, Task
from weaver_site.models import Job
from weaver_site.roles import ADMIN, REVIEWER

from ..models import AggregationRule, Decision, PreferencePair, PreferenceStatus
from .filters import DEFAULT_STATUSES, RANGE_METRICS, REVIEWABLE_STATUSES

METRIC_LABELS = {
    "char_similarity": _("Character similarity"),
    "edit_ratio": _("Edit ratio"),
    "sentences_changed": _("Sentences changed"),
    "length_ratio": _("Length ratio"),
}
FLAGGED_CHOICES = [("", _("Any")), ("yes", _("Flagged only")), ("no", _("Not flagged only"))]
JUDGE_CHOICES = [("pass", _("Pass")), ("fail", _("Fail")), ("none", _("Not judged"))]
LANGUAGE_NAMES = {"en": _("English"), "zh": _("Chinese")}
STATUS_LABELS = dict(PreferenceStatus.choices)
#: The service's error keys that are not the form's field names.
SERVICE_FIELD_NAMES = {f"metric_ranges.{m}": f"{m}_min" for m in RANGE_METRICS}


def reviewer_candidates():
    """Active users who may be given pairs: the Reviewer or Admin role, or superusers."""
    return (
        get_user_model()
        .objects.filter(
            Q(groups__name__in=[REVIEWER, ADMIN]) | Q(is_superuser=True), is_active=True
        )
        .distinct()
        .order_by("username")
    )


class _UserChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        full = obj.get_full_name()
        return f"{obj.get_username()} ({full})" if full else obj.get_username()


def principles_with_pairs():
    """Principles that some preference pair breaks (the choices of a principle filter)."""
    return (
        Principle.objects.filter(
            pk__in=PreferencePair.objects.order_by()
            .filter(principle_version__isnull=False)
            .values("principle_version__principle_id")
        )
        .select_related("latest_version")
        .order_by("id")
    )


def jobs_of(pairs):
    """The jobs that made some of ``pairs``, newest first (the choices of a job filter)."""
    return Job.objects.filter(pk__in=pairs.filter(job__isnull=False).values("job_id")).order_by(
        "-id"
    )


class SubdomainChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.domain.name} / {obj.name}"


class PrincipleChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        title = obj.latest_version.title if obj.latest_version_id else ""
        return f"#{obj.pk} {title}"


class JobChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"#{obj.pk} {obj.name}".strip()


class QueueSettingsForm(forms.Form):
    """What can be changed on a queue after it is made."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What reviewers should know about these pairs."),
    )
    reviewers = _UserChoices(
        queryset=reviewer_candidates(),
        required=False,
        label=_("Reviewers"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Users with the Reviewer or Admin role. Only they are given its pairs."),
    )
    reviews_required = forms.IntegerField(
        label=_("Reviews per pair (N)"), min_value=1, max_value=10, initial=2
    )
    rule = forms.ChoiceField(
        label=_("Aggregation rule"),
        choices=AggregationRule.choices,
        initial=AggregationRule.UNANIMOUS,
        widget=forms.RadioSelect,
    )
    reservation_minutes = forms.IntegerField(
        label=_("Reservation (minutes)"),
        min_value=1,
        max_value=24 * 60,
        initial=20,
        help_text=_("How long a pair stays reserved for a reviewer who has opened it."),
    )
    gold_rate = forms.FloatField(
        label=_("Gold share"),
        min_value=0,
        max_value=1,
        initial=0,
        help_text=_("Share of the pairs a reviewer is given that are gold pairs (0 to 1)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A fresh queryset per form: users given a role since the module was imported.
        self.fields["reviewers"].queryset = reviewer_candidates()

    def settings(self) -> dict:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "description": d["description"],
            "reviews_required": d["reviews_required"],
            "rule": d["rule"],
            "reservation_minutes": d["reservation_minutes"],
            "gold_rate": d["gold_rate"],
        }


class QueueEditForm(QueueSettingsForm):
    is_active = forms.BooleanField(
        label=_("Open"),
        required=False,
        help_text=_("Reviewers are given pairs only from open queues."),
    )


class QueueCreateForm(QueueSettingsForm):
    """Settings plus the filters: which pairs the queue holds."""

    domains = forms.ModelMultipleChoiceField(
        queryset=Domain.objects.all(), required=False, label=_("Domains")
    )
    subdomains = SubdomainChoices(
        queryset=Subdomain.objects.select_related("domain"),
        required=False,
        label=_("Subdomains"),
    )
    tasks = forms.ModelMultipleChoiceField(
        queryset=Task.objects.all(), required=False, label=_("Tasks")
    )
    languages = forms.MultipleChoiceField(choices=(), required=False, label=_("Languages"))
    principles = PrincipleChoices(
        queryset=Principle.objects.none(), required=False, label=_("Principles")
    )
    jobs = JobChoices(queryset=Job.objects.none(), required=False, label=_("Negatives jobs"))
    statuses = forms.MultipleChoiceField(
        choices=[(s, STATUS_LABELS[s]) for s in REVIEWABLE_STATUSES],
        initial=list(DEFAULT_STATUSES),
        required=False,
        label=_("Pair statuses"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: generated and in review."),
    )
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

    FILTER_FIELDS = (
        "domains",
        "subdomains",
        "tasks",
        "languages",
        "principles",
        "jobs",
        "statuses",
        "flagged",
        "judge",
    )
    SETTINGS_FIELDS = (
        "name",
        "description",
        "reviewers",
        "reviews_required",
        "rule",
        "reservation_minutes",
        "gold_rate",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with_pairs = PreferencePair.objects.order_by()
        self.fields["principles"].queryset = principles_with_pairs()
        self.fields["jobs"].queryset = jobs_of(with_pairs)
        codes = set(with_pairs.values_list("language", flat=True).distinct()) | set(LANGUAGE_NAMES)
        self.fields["languages"].choices = [
            (code, LANGUAGE_NAMES.get(code, code)) for code in sorted(codes)
        ]
        for metric in RANGE_METRICS:
            step = "1" if metric == "sentences_changed" else "any"
            for side, side_label in (("min", _("minimum")), ("max", _("maximum"))):
                self.fields[f"{metric}_{side}"] = forms.FloatField(
                    label=f"{METRIC_LABELS[metric]}, {side_label}",
                    required=False,
                    widget=forms.NumberInput(attrs={"step": step, "class": "num"}),
                )

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

    def filters(self) -> dict:
        """The queue's filters as :class:`~pairs.review.filters.QueueFilters` reads them."""
        d = self.cleaned_data
        flagged = {"yes": True, "no": False}.get(d.get("flagged") or "")
        ranges = {}
        for metric in RANGE_METRICS:
            low, high = d.get(f"{metric}_min"), d.get(f"{metric}_max")
            if low is not None or high is not None:
                ranges[metric] = [low, high]
        return {
            "domains": [o.pk for o in d["domains"]],
            "subdomains": [o.pk for o in d["subdomains"]],
            "tasks": [o.pk for o in d["tasks"]],
            "languages": list(d["languages"]),
            "principles": [o.pk for o in d["principles"]],
            "jobs": [o.pk for o in d["jobs"]],
            "statuses": list(d["statuses"]) or list(DEFAULT_STATUSES),
            "flagged": flagged,
            "judge": list(d["judge"]),
            "metric_ranges": ranges,
        }


class GoldForm(forms.Form):
    pair = forms.IntegerField(
        label=_("Preference pair id"), min_value=1, widget=forms.NumberInput(attrs={"class": "num"})
    )
    decision = forms.ChoiceField(
        label=_("Right answer"),
        choices=[(Decision.ACCEPT, _("Accept")), (Decision.REJECT, _("Reject"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why this is the right answer (reviewers do not see it)."),
    )

    def clean_pair(self):
        pk = self.cleaned_data["pair"]
        pair = PreferencePair.objects.filter(pk=pk).first()
        if pair is None:
            raise forms.ValidationError(_("No preference pair has this id."))
        return pair


class AdjudicateForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(Decision.ACCEPT, _("Accept")), (Decision.REJECT, _("Reject"))],
        widget=forms.RadioSelect,
    )
    revision = forms.TypedChoiceField(
        label=_("Apply an edit"),
        choices=(),
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
        help_text=_("Only when accepting: the pair's rejected text becomes this reviewer's edit."),
    )
    note = forms.CharField(
        label=_("Note"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, revisions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["revision"].choices = [("", _("None: keep the rejected text"))] + [
            (r.pk, _("Edit by %(name)s") % {"name": r.author.get_username() if r.author else "—"})
            for r in revisions
        ]
