"""Reads from the principle library, always through the viewer's visibility."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from weaver_site.roles import AUTHOR, has_role

from . import policy
from .models import Domain, Principle, PrincipleStatus, PrincipleVersion, Task

SEARCH_FIELDS = PrincipleVersion.CONTENT_FIELDS


# Everything a list row or an API record reads, joined in one query.
RELATED = (
    "domain",
    "task",
    "owner",
    "latest_version__author",
    "latest_version__reviewed_by",
    "approved_version__author",
    "approved_version__reviewed_by",
)


def principles_visible(*, user) -> QuerySet[Principle]:
    qs = Principle.objects.all()
    if policy.can_read_all(user):
        return qs
    if has_role(user, AUTHOR):
        return qs.filter(Q(owner=user) | Q(approved_version__isnull=False))
    return qs.none()


def _search_q(prefix: str, text: str) -> Q:
    q = Q()
    for name in SEARCH_FIELDS:
        q |= Q(**{f"{prefix}__{name}__icontains": text})
    return q


@dataclass
class PrincipleFilters:
    """The filters of the list page and the API, parsed from query parameters."""

    domain: str = ""
    task: str = ""
    language: str = ""
    status: str = ""
    owner: str = ""
    q: str = ""
    in_use: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params) -> PrincipleFilters:
        get = lambda name: (params.get(name) or "").strip()  # noqa: E731
        return cls(
            domain=get("domain"),
            task=get("task"),
            language=get("language"),
            status=get("status"),
            owner=get("owner"),
            q=get("q")[:200],
            in_use=get("in_use") in ("1", "true", "on", "yes"),
        )


def principle_list(*, user, filters: PrincipleFilters | None = None) -> QuerySet[Principle]:
    """Visible principles with everything the list shows joined in (no per-row queries)."""
    filters = filters or PrincipleFilters()
    qs = principles_visible(user=user).select_related(*RELATED)
    if filters.domain:
        qs = qs.filter(domain__slug=filters.domain)
    if filters.task == "all":
        qs = qs.filter(task__isnull=True)
    elif filters.task:
        # A principle for all tasks of its domain applies to every task.
        qs = qs.filter(Q(task__slug=filters.task) | Q(task__isnull=True))
    if filters.language:
        qs = qs.filter(language=filters.language)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.owner:
        qs = qs.filter(owner__username=filters.owner)
    if filters.in_use:
        qs = qs.filter(approved_version__isnull=False).exclude(status=PrincipleStatus.RETIRED)
    if filters.q:
        if policy.can_read_all(user):
            qs = qs.filter(_search_q("latest_version", filters.q))
        else:
            qs = qs.filter(
                (Q(owner=user) & _search_q("latest_version", filters.q))
                | _search_q("approved_version", filters.q)
            )
    return qs.order_by("-updated_at", "-id")


def principle_get(*, user, pk: int) -> Principle | None:
    return principles_visible(user=user).select_related(*RELATED).filter(pk=pk).first()


def principle_versions(*, user, principle: Principle) -> QuerySet[PrincipleVersion]:
    """The versions the user may read: all for the owner and privileged roles, else approved."""
    qs = principle.versions.select_related("author", "reviewed_by").order_by("-number")
    if policy.sees_drafts(user, principle):
        return qs
    return qs.filter(approved_at__isnull=False)


def principle_display_version(*, user, principle: Principle) -> PrincipleVersion | None:
    """The version a viewer sees first: the latest, or the approved one for other authors."""
    if policy.sees_drafts(user, principle):
        return principle.latest_version
    return principle.approved_version


def principle_dashboard_counts(*, user) -> dict[str, int]:
    qs = principles_visible(user=user)
    counts = dict(qs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "total": sum(counts.values()),
        "mine": qs.filter(owner=user).count() if user.is_authenticated else 0,
        **{s: counts.get(s, 0) for s in PrincipleStatus.values},
    }


def taxonomy() -> dict:
    return {
        "domains": list(Domain.objects.prefetch_related("subdomains")),
        "tasks": list(Task.objects.all()),
    }


FEWSHOT_PER_PROMPT = 5


def fewshot_examples(
    *, subdomain_id: int | None, domain_id: int | None, task_id: int, language: str
) -> list:
    """The few-shot case versions a backtranslation prompt shows: the latest versions of active
    cases of this subdomain x task x language, filled up from the domain's other subdomains
    when the subdomain has fewer than :data:`FEWSHOT_PER_PROMPT`; oldest cases first."""
    from .models import FewShotCase

    base = FewShotCase.objects.filter(
        task_id=task_id, language=language, is_active=True, latest_version__isnull=False
    ).select_related("latest_version")
    cases = []
    if subdomain_id is not None:
        cases = list(base.filter(subdomain_id=subdomain_id).order_by("pk")[:FEWSHOT_PER_PROMPT])
    if len(cases) < FEWSHOT_PER_PROMPT and domain_id is not None:
        cases += list(
            base.filter(subdomain__domain_id=domain_id)
            .exclude(pk__in=[c.pk for c in cases])
            .order_by("pk")[: FEWSHOT_PER_PROMPT - len(cases)]
        )
    return [c.latest_version for c in cases]


# --- Few-shot cases: the editor's reads (the generator uses fewshot_examples above) --------

FEWSHOT_RELATED = ("subdomain__domain", "task", "owner", "latest_version__author")
FEWSHOT_STATES = ("active", "retired")


@dataclass
class FewShotFilters:
    """The filters of the few-shot list page and the API, parsed from query parameters.

    ``subdomain`` is a subdomain id, or a slug (slugs repeat across domains, so pair it with
    ``domain``); ``state`` is ``active``, ``retired`` or empty for both; ``owner`` is ``mine``
    or a username.
    """

    domain: str = ""
    subdomain: str = ""
    task: str = ""
    language: str = ""
    state: str = ""
    owner: str = ""
    q: str = ""

    @classmethod
    def from_params(cls, params) -> FewShotFilters:
        get = lambda name: (params.get(name) or "").strip()  # noqa: E731
        state = get("state")
        return cls(
            domain=get("domain"),
            subdomain=get("subdomain"),
            task=get("task"),
            language=get("language"),
            state=state if state in FEWSHOT_STATES else "",
            owner=get("owner"),
            q=get("q")[:200],
        )


def fewshot_cases_visible(*, user) -> QuerySet:
    from .models import FewShotCase

    if policy.can_read_fewshot(user):
        return FewShotCase.objects.all()
    return FewShotCase.objects.none()


def fewshot_case_list(*, user, filters: FewShotFilters | None = None) -> QuerySet:
    """Visible few-shot cases, filtered, with what a list row shows joined in."""
    from .models import FewShotCaseVersion

    filters = filters or FewShotFilters()
    qs = fewshot_cases_visible(user=user).select_related(*FEWSHOT_RELATED)
    if filters.domain:
        qs = qs.filter(subdomain__domain__slug=filters.domain)
    if filters.subdomain.isdigit():
        qs = qs.filter(subdomain_id=int(filters.subdomain))
    elif filters.subdomain:
        qs = qs.filter(subdomain__slug=filters.subdomain)
    if filters.task:
        qs = qs.filter(task__slug=filters.task)
    if filters.language:
        qs = qs.filter(language=filters.language)
    if filters.state == "active":
        qs = qs.filter(is_active=True)
    elif filters.state == "retired":
        qs = qs.filter(is_active=False)
    if filters.owner == "mine":
        qs = qs.filter(owner=user) if user.is_authenticated else qs.none()
    elif filters.owner:
        qs = qs.filter(owner__username=filters.owner)
    if filters.q:
        q = Q()
        for name in FewShotCaseVersion.CONTENT_FIELDS:
            q |= Q(**{f"latest_version__{name}__icontains": filters.q})
        qs = qs.filter(q)
    return qs.order_by(
        "subdomain__domain__position",
        "subdomain__position",
        "task__position",
        "language",
        "id",
    )


def fewshot_case_get(*, user, pk: int):
    return fewshot_cases_visible(user=user).select_related(*FEWSHOT_RELATED).filter(pk=pk).first()


def fewshot_case_versions(*, case) -> QuerySet:
    return case.versions.select_related("author").order_by("-number")
