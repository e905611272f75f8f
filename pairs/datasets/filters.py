"""A snapshot's filters: which instruction pairs (SFT) or preference pairs (DPO) it freezes.

Recorded as JSON on the snapshot. ``from_dict`` checks every field and raises a
``ValidationError`` naming it, so a bad form or API payload is refused whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Count, F, FloatField, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce, Greatest
from django.utils.translation import gettext as _

from ..models import (
    DatasetKind,
    InstructionPair,
    PairMark,
    PairOrigin,
    PairStatus,
    PreferencePair,
    PreferenceStatus,
    Review,
    ReviewState,
)
from ..review.filters import QueueFilters, _ids, filters_object


def _number(name: str, value, *, low: float, high: float, integer: bool = False):
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValidationError({name: _("Expected a number.")})
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ValidationError({name: _("Expected a number.")}) from None
    if not low <= number <= high:
        raise ValidationError(
            {name: _("Expected a number from %(low)s to %(high)s.") % {"low": low, "high": high}}
        )
    return number


@dataclass(frozen=True)
class PreferenceFilters(QueueFilters):
    """A review queue's filters over preference pairs, plus review outcome: accepted pairs by
    default, and optionally a minimum number of submitted reviews and a minimum agreement
    (the share of a pair's submitted reviews that agree with its majority, 0.5 to 1)."""

    ALLOWED_STATUSES = (
        PreferenceStatus.GENERATED,
        PreferenceStatus.IN_REVIEW,
        PreferenceStatus.ACCEPTED,
        PreferenceStatus.REJECTED,
    )
    DEFAULT_STATUSES = (PreferenceStatus.ACCEPTED,)

    min_reviews: int | None = None
    min_agreement: float | None = None

    @classmethod
    def _more(cls, data: dict) -> dict:
        return {
            "min_reviews": _number(
                "min_reviews", data.get("min_reviews"), low=0, high=100, integer=True
            ),
            "min_agreement": _number("min_agreement", data.get("min_agreement"), low=0, high=1),
        }

    def apply(self, qs: QuerySet[PreferencePair]) -> QuerySet[PreferencePair]:
        qs = super().apply(qs)
        if not self.min_reviews and self.min_agreement is None:
            return qs
        submitted = Review.objects.filter(pair=OuterRef("pk"), state=ReviewState.SUBMITTED)

        def count(extra: Q | None = None):
            rows = submitted.filter(extra) if extra is not None else submitted
            return Coalesce(
                Subquery(
                    rows.order_by().values("pair").annotate(n=Count("pk")).values("n"),
                    output_field=IntegerField(),
                ),
                0,
            )

        qs = qs.annotate(_reviews=count(), _accepts=count(Q(decision__in=("accept", "edit"))))
        if self.min_reviews:
            qs = qs.filter(_reviews__gte=self.min_reviews)
        if self.min_agreement is not None:
            qs = qs.annotate(
                _agreement=Cast(
                    Greatest(F("_accepts"), F("_reviews") - F("_accepts")), FloatField()
                )
                / Greatest(F("_reviews"), 1)
            ).filter(_reviews__gt=0, _agreement__gte=self.min_agreement)
        return qs


SFT_STATUSES = (PairStatus.KEPT, PairStatus.GENERATED)


@dataclass(frozen=True)
class InstructionFilters:
    """Which instruction pairs an SFT snapshot holds: kept pairs by default."""

    statuses: list[str] = field(default_factory=lambda: [PairStatus.KEPT])
    origins: list[str] = field(default_factory=list)
    domains: list[int] = field(default_factory=list)
    subdomains: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    curation_score: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, data) -> InstructionFilters:
        data = filters_object(data, cls.__dataclass_fields__)
        kwargs: dict = {n: _ids(n, data.get(n)) for n in ("domains", "subdomains", "tasks", "jobs")}
        for name, allowed, default in (
            ("statuses", SFT_STATUSES, [PairStatus.KEPT]),
            ("origins", PairOrigin.values, []),
            ("marks", [m or "none" for m in PairMark.values], []),
            ("languages", None, []),
        ):
            values = data.get(name) or default
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list) or not all(
                isinstance(v, str) and 0 < len(v) <= 16 for v in values
            ):
                raise ValidationError({name: _("Expected a list of names.")})
            bad = [v for v in values if allowed is not None and v not in allowed]
            if bad:
                raise ValidationError(
                    {name: _("Not allowed here: %(values)s.") % {"values": ", ".join(bad)}}
                )
            kwargs[name] = sorted({str(v) for v in values})
        score = data.get("curation_score") or []
        if not isinstance(score, list | tuple) or len(score) not in (0, 2):
            raise ValidationError(
                {"curation_score": _("Expected [min, max]; null leaves a side open.")}
            )
        bounds = [_number("curation_score", v, low=0, high=10, integer=True) for v in score] or [
            None,
            None,
        ]
        if None not in bounds and bounds[0] > bounds[1]:
            raise ValidationError({"curation_score": _("The minimum is above the maximum.")})
        kwargs["curation_score"] = [] if bounds == [None, None] else bounds
        return cls(**kwargs)

    def as_dict(self) -> dict:
        return asdict(self)

    def apply(self, qs: QuerySet[InstructionPair]) -> QuerySet[InstructionPair]:
        qs = qs.filter(status__in=self.statuses).exclude(response="").exclude(instruction="")
        for name, lookup in (
            ("origins", "origin__in"),
            ("domains", "domain_id__in"),
            ("subdomains", "subdomain_id__in"),
            ("tasks", "task_id__in"),
            ("jobs", "job_id__in"),
            ("languages", "language__in"),
        ):
            values = getattr(self, name)
            if values:
                qs = qs.filter(**{lookup: values})
        if self.marks:
            qs = qs.filter(mark__in=["" if m == "none" else m for m in self.marks])
        if self.curation_score:
            low, high = self.curation_score
            if low is not None:
                qs = qs.filter(curation_score__gte=low)
            if high is not None:
                qs = qs.filter(curation_score__lte=high)
        return qs


def filters_for(kind: str, data) -> PreferenceFilters | InstructionFilters:
    """The checked filters of a snapshot of ``kind`` (raises ValidationError naming the field)."""
    if kind == DatasetKind.DPO:
        return PreferenceFilters.from_dict(data)
    if kind == DatasetKind.SFT:
        return InstructionFilters.from_dict(data)
    raise ValidationError({"kind": _("Expected sft or dpo.")})


def matching_pairs(kind: str, filters) -> QuerySet:
    """The pairs that ``filters`` (already checked) choose, in id order."""
    model = PreferencePair if kind == DatasetKind.DPO else InstructionPair
    return filters.apply(model.objects.all()).order_by("pk")
