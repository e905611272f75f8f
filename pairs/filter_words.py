"""Saved filters in words, for the pages that show them (review queues, dataset snapshots):
(what, which) rows; a filter left open gives an empty value, which callers drop."""

from __future__ import annotations

from django.utils.translation import gettext as _

from principles.models import Domain, Principle, PrincipleVersion, Subdomain, Task
from weaver_site.models import Job

from .review.filters import RANGE_METRICS
from .review.forms import FLAGGED_CHOICES, JUDGE_CHOICES, LANGUAGE_NAMES, METRIC_LABELS
from .review.forms import STATUS_LABELS as PREFERENCE_STATUS_LABELS


def names_of(qs, ids, label=str) -> str:
    """The objects of ``qs`` with these ids, labelled, in the ids' order (``#id`` if gone)."""
    if not ids:
        return ""
    objs = {o.pk: o for o in qs.filter(pk__in=ids)}
    return ", ".join(label(objs[i]) if i in objs else f"#{i}" for i in ids)


def range_words(low, high) -> str:
    if low is not None and high is not None:
        return _("from %(low)s to %(high)s") % {"low": low, "high": high}
    if low is not None:
        return _("at least %(low)s") % {"low": low}
    return _("at most %(high)s") % {"high": high}


def labels_of(values, labels: dict) -> str:
    return ", ".join(str(labels.get(v, v)) for v in values)


def job_names(ids) -> str:
    return names_of(Job.objects, ids, lambda j: f"#{j.pk} {j.name}".strip())


def taxonomy_rows(f) -> list[tuple[str, str]]:
    """Domains, subdomains, tasks and languages: filters every kind of pair has."""
    return [
        (_("Domains"), names_of(Domain.objects, f.domains)),
        (
            _("Subdomains"),
            names_of(
                Subdomain.objects.select_related("domain"),
                f.subdomains,
                lambda s: f"{s.domain.name} / {s.name}",
            ),
        ),
        (_("Tasks"), names_of(Task.objects, f.tasks)),
        (_("Languages"), labels_of(f.languages, LANGUAGE_NAMES)),
    ]


def preference_rows(f) -> list[tuple[str, str]]:
    """The rows of preference-pair filters (a review queue's, or a DPO snapshot's)."""
    rows = taxonomy_rows(f) + [
        (
            _("Principles"),
            names_of(
                Principle.objects.select_related("latest_version"),
                f.principles,
                lambda p: f"#{p.pk} {p.latest_version.title if p.latest_version_id else ''}",
            ),
        ),
        (
            _("Principle versions"),
            names_of(
                PrincipleVersion.objects,
                f.principle_versions,
                lambda v: f"#{v.principle_id} v{v.number} {v.title}",
            ),
        ),
        (_("Negatives jobs"), job_names(f.jobs)),
        (_("Pair statuses"), labels_of(f.statuses, PREFERENCE_STATUS_LABELS)),
        (
            _("Flagged"),
            "" if f.flagged is None else str(dict(FLAGGED_CHOICES)["yes" if f.flagged else "no"]),
        ),
        (_("Judge verdicts"), labels_of(f.judge, dict(JUDGE_CHOICES))),
    ]
    for metric in RANGE_METRICS:
        if metric in f.metric_ranges:
            rows.append((str(METRIC_LABELS[metric]), range_words(*f.metric_ranges[metric])))
    return rows
