"""A review queue's filters: which preference pairs it holds.

Stored as JSON on the queue; :meth:`QueueFilters.from_dict` checks every field and raises a
``ValidationError`` that names the field, so a bad API payload or form is refused whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from ..models import PreferencePair, PreferenceStatus

#: The numeric metrics a queue can be limited by (``identical`` is a flag, not a range).
RANGE_METRICS = ("char_similarity", "edit_ratio", "sentences_changed", "length_ratio")
#: Statuses a queue may hold; failed pairs have no rejected text to review.
REVIEWABLE_STATUSES = (
    PreferenceStatus.GENERATED,
    PreferenceStatus.IN_REVIEW,
    PreferenceStatus.ACCEPTED,
    PreferenceStatus.REJECTED,
)
DEFAULT_STATUSES = (PreferenceStatus.GENERATED, PreferenceStatus.IN_REVIEW)

_ID_LISTS = ("domains", "subdomains", "tasks", "principles", "principle_versions", "jobs")


def _ids(name: str, value) -> list[int]:
    if value in (None, "", []):
        return []
    if not isinstance(value, list):
        value = [value]
    out = []
    for v in value:
        if isinstance(v, bool):
            raise ValidationError({name: _("Expected a list of ids.")})
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            raise ValidationError({name: _("“%(value)s” is not an id.") % {"value": v}}) from None
    return sorted(set(out))


def filters_object(data, known) -> dict:
    """``data`` as a dict of filters (empty for None or ""), refused whole when it is not an
    object or names a filter not in ``known``."""
    if data in (None, ""):
        return {}
    if not isinstance(data, dict):
        raise ValidationError({"filters": _("Expected an object.")})
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValidationError(
            {"filters": _("Unknown filter: %(names)s.") % {"names": ", ".join(unknown)}}
        )
    return data


@dataclass(frozen=True)
class QueueFilters:
    """Which preference pairs a review queue holds. Dataset snapshots extend it
    (:class:`pairs.datasets.filters.PreferenceFilters`) with their own statuses and fields."""

    ALLOWED_STATUSES = REVIEWABLE_STATUSES
    DEFAULT_STATUSES = DEFAULT_STATUSES

    domains: list[int] = field(default_factory=list)
    subdomains: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    principles: list[int] = field(default_factory=list)
    principle_versions: list[int] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=lambda: list(DEFAULT_STATUSES))
    flagged: bool | None = None
    judge: list[str] = field(default_factory=list)
    metric_ranges: dict[str, list] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data) -> QueueFilters:
        data = filters_object(data, cls.__dataclass_fields__)
        kwargs: dict = {name: _ids(name, data.get(name)) for name in _ID_LISTS}
        languages = data.get("languages") or []
        if isinstance(languages, str):
            languages = [languages]
        if not isinstance(languages, list) or not all(
            isinstance(x, str) and 0 < len(x) <= 8 for x in languages
        ):
            raise ValidationError({"languages": _("Expected a list of language codes.")})
        kwargs["languages"] = sorted(set(languages))
        statuses = data.get("statuses") or list(cls.DEFAULT_STATUSES)
        if isinstance(statuses, str):
            statuses = [statuses]
        bad = [s for s in statuses if s not in cls.ALLOWED_STATUSES]
        if bad or not isinstance(statuses, list):
            raise ValidationError(
                {
                    "statuses": _("Not a status allowed here: %(s)s.")
                    % {"s": ", ".join(map(str, bad))}
                }
            )
        kwargs["statuses"] = sorted(set(statuses))
        flagged = data.get("flagged")
        if flagged not in (None, True, False):
            raise ValidationError({"flagged": _("Expected true, false or null.")})
        kwargs["flagged"] = flagged
        judge = data.get("judge") or []
        if isinstance(judge, str):
            judge = [judge]
        if any(j not in ("pass", "fail", "none") for j in judge):
            raise ValidationError({"judge": _("Expected pass, fail or none.")})
        kwargs["judge"] = sorted(set(judge))
        kwargs["metric_ranges"] = _ranges(data.get("metric_ranges") or {})
        kwargs.update(cls._more(data))
        return cls(**kwargs)

    @classmethod
    def _more(cls, data: dict) -> dict:
        """Fields a subclass adds, checked; none here."""
        return {}

    def as_dict(self) -> dict:
        return asdict(self)

    def apply(self, qs: QuerySet[PreferencePair]) -> QuerySet[PreferencePair]:
        qs = qs.filter(status__in=self.statuses).exclude(rejected="")
        for name, lookup in (
            ("domains", "domain_id__in"),
            ("subdomains", "subdomain_id__in"),
            ("tasks", "task_id__in"),
            ("principles", "principle_version__principle_id__in"),
            ("principle_versions", "principle_version_id__in"),
            ("jobs", "job_id__in"),
            ("languages", "language__in"),
        ):
            values = getattr(self, name)
            if values:
                qs = qs.filter(**{lookup: values})
        if self.flagged is not None:
            qs = qs.filter(flagged=self.flagged)
        if self.judge:
            qs = qs.filter(judge_verdict__in=["" if j == "none" else j for j in self.judge])
        for name, (low, high) in self.metric_ranges.items():
            if low is not None:
                qs = qs.filter(**{f"metrics__{name}__gte": low})
            if high is not None:
                qs = qs.filter(**{f"metrics__{name}__lte": high})
        return qs


def _ranges(value) -> dict[str, list]:
    if not isinstance(value, dict):
        raise ValidationError({"metric_ranges": _("Expected an object of [min, max] pairs.")})
    out = {}
    for name, bounds in value.items():
        where = f"metric_ranges.{name}"
        if name not in RANGE_METRICS:
            raise ValidationError({where: _("Unknown metric.")})
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise ValidationError({where: _("Expected [min, max]; null leaves a side open.")})
        low, high = (None if b in (None, "") else b for b in bounds)
        try:
            low = None if low is None else float(low)
            high = None if high is None else float(high)
        except (TypeError, ValueError):
            raise ValidationError({where: _("Bounds must be numbers.")}) from None
        if low is not None and high is not None and low > high:
            raise ValidationError({where: _("The minimum is above the maximum.")})
        if low is not None or high is not None:
            out[name] = [low, high]
    return out
