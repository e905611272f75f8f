"""Curation of instruction pairs, in the Humpback manner.

An LLM scores each pair 1-5 (instruction clarity, response relevance, overall quality) with its
reasoning first (:data:`recipes.CURATION_SCHEMA`). Then :func:`instruction_pairs_keep` keeps the
best pairs of each subdomain x task (x language): near-duplicate instructions are collapsed
onto the best-scored one, and the rest are kept by a score threshold, a quota, or both.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from weaver_site.jobs import Chunk, chunked_job_run
from weaver_site.llm.gateway import LLMRequest
from weaver_site.llm.models import Endpoint
from weaver_site.models import Job

from ..corpus.neardup import similar_groups
from ..models import InstructionPair, PairMark, PairStatus
from . import kinds
from .recipes import CURATION_PROMPT_VERSION, CURATION_SCHEMA, curation_messages

KIND = kinds.CURATION
CHUNK_ITEMS = 200
CURATED = (PairStatus.GENERATED, PairStatus.KEPT, PairStatus.DROPPED, PairStatus.DUPLICATE)
DEFAULT_PARAMS = {"temperature": 0, "max_tokens": 600}


def curation_scope(
    *,
    job_id: int | None = None,
    task: str = "",
    domain: str = "",
    language: str = "",
    origin: str = "",
) -> QuerySet[InstructionPair]:
    """The pairs (not failed) that match; every argument is optional."""
    qs = InstructionPair.objects.filter(status__in=CURATED)
    if job_id:
        qs = qs.filter(job_id=job_id)
    if task:
        qs = qs.filter(task__slug=task)
    if domain:
        qs = qs.filter(domain__slug=domain)
    if language:
        qs = qs.filter(language=language)
    if origin:
        qs = qs.filter(origin=origin)
    return qs


def _scope_of(job: Job) -> QuerySet[InstructionPair]:
    p = job.params
    return curation_scope(
        job_id=p.get("job_id"),
        task=p.get("task", ""),
        domain=p.get("domain", ""),
        language=p.get("language", ""),
        origin=p.get("origin", ""),
    ).order_by("pk")


def curation_create(
    *,
    endpoint: Endpoint,
    created_by=None,
    budget_usd: Decimal | None = None,
    job_id: int | None = None,
    task: str = "",
    domain: str = "",
    language: str = "",
    origin: str = "",
) -> Job:
    """A job that scores the matching pairs (those scored with this prompt version by this
    endpoint before are skipped); queued on commit."""
    from .tasks import run_curation

    if not endpoint.is_active:
        raise ValidationError({"endpoint": _("This endpoint is not active.")})
    params = {
        "endpoint_id": endpoint.pk,
        "prompt_version": CURATION_PROMPT_VERSION,
        "job_id": job_id,
        "task": task,
        "domain": domain,
        "language": language,
        "origin": origin,
        "params": DEFAULT_PARAMS,
    }
    with transaction.atomic():
        job = Job.objects.create(
            kind=KIND,
            name=_("Curate with %(endpoint)s") % {"endpoint": endpoint.name},
            created_by=created_by,
            budget_usd=budget_usd,
            params=params,
        )
        job.total = _scope_of(job).count()
        job.save(update_fields=["total"])
        transaction.on_commit(lambda: run_curation.delay(job.pk))
    return job


class CurationSource:
    def __init__(self, job: Job):
        self.endpoint = Endpoint.objects.get(pk=job.params["endpoint_id"])
        self.params = job.params.get("params") or DEFAULT_PARAMS
        self.scope = _scope_of(job)

    def chunk(self, job: Job, after: int) -> Chunk | None:
        pairs = list(self.scope.filter(pk__gt=after).select_related("task")[:CHUNK_ITEMS])
        if not pairs:
            return None
        chunk = Chunk(cursor=pairs[-1].pk, items={})
        for pair in pairs:
            if (
                pair.curation_score is not None
                and pair.curation_prompt_version == CURATION_PROMPT_VERSION
                and pair.curation_endpoint_id == self.endpoint.pk
            ):
                chunk.already_done += 1
                continue
            chunk.items[pair.pk] = pair
            chunk.requests.append(
                LLMRequest(
                    messages=curation_messages(
                        language=pair.language,
                        task=pair.task.name_zh if pair.language == "zh" else pair.task.name_en,
                        instruction=pair.instruction,
                        context=pair.context,
                        response=pair.response,
                    ),
                    params=self.params,
                    schema=CURATION_SCHEMA,
                    key=pair.pk,
                )
            )
        return chunk

    def store(self, job: Job, chunk: Chunk, results: list) -> tuple[int, int]:
        scored = []
        for result in results:
            if not result.ok:
                continue
            pair = chunk.items[result.request.key]
            data = result.data
            pair.curation_score = int(data["score"])
            pair.curation_reason = str(data["reasoning"])[:4000]
            pair.curation_details = {
                k: int(data[k])
                for k in ("instruction_clarity", "response_relevance", "overall_quality")
            }
            pair.curation_prompt_version = CURATION_PROMPT_VERSION
            pair.curation_endpoint = self.endpoint
            scored.append(pair)
        InstructionPair.objects.bulk_update(
            scored,
            [
                "curation_score",
                "curation_reason",
                "curation_details",
                "curation_prompt_version",
                "curation_endpoint",
            ],
        )
        return len(scored), len(results) - len(scored)


def curation_run(*, job: Job, worker: str) -> None:
    source = CurationSource(job)
    chunked_job_run(job=job, worker=worker, source=source, endpoint_for=lambda j: source.endpoint)


def instruction_pairs_keep(
    *,
    threshold: int | None = 4,
    quota: int | None = None,
    dedup_threshold: float = 0.7,
    job_id: int | None = None,
    task: str = "",
    domain: str = "",
    language: str = "",
    origin: str = "",
) -> dict[str, int]:
    """Decide which scored pairs are kept, per subdomain x task x language.

    Within a group, near-duplicate instructions (MinHash, Jaccard >= ``dedup_threshold``) are
    collapsed onto the best-scored member (the others become ``duplicate``). The rest, best
    first, are kept while their score is at least ``threshold`` and fewer than ``quota`` are
    kept (either may be None); the others are ``dropped``. A person's mark wins: a pair marked
    bad is dropped, one marked good is kept. Unscored pairs are left alone.
    """
    if threshold is None and quota is None:
        raise ValidationError(_("Give a score threshold, a quota, or both."))
    if threshold is not None and not 1 <= threshold <= 5:
        raise ValidationError({"threshold": _("The threshold is a score from 1 to 5.")})
    if quota is not None and quota < 1:
        raise ValidationError({"quota": _("The quota is at least 1.")})
    scope = curation_scope(
        job_id=job_id, task=task, domain=domain, language=language, origin=origin
    ).filter(curation_score__isnull=False)
    rows = list(
        scope.order_by("subdomain_id", "task_id", "language", "-curation_score", "pk").values_list(
            "pk", "subdomain_id", "task_id", "language", "curation_score", "mark", "instruction"
        )
    )
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault(row[1:4], []).append(row)
    changed: list[InstructionPair] = []
    counts = {"kept": 0, "dropped": 0, "duplicate": 0, "unscored": 0}
    for (_sub, _task, lang), members in groups.items():
        duplicate_of: dict[int, int] = {}
        for group in similar_groups(
            [m[6] for m in members], language=lang, threshold=dedup_threshold
        ):
            keeper = members[group[0]][0]  # members are sorted best first
            for i in group[1:]:
                duplicate_of[members[i][0]] = keeper
        kept = 0
        for pk, _s, _t, _l, score, mark, _instruction in members:
            if pk in duplicate_of:
                status, dup = PairStatus.DUPLICATE, duplicate_of[pk]
            elif mark == PairMark.BAD:
                status, dup = PairStatus.DROPPED, None
            elif mark == PairMark.GOOD or (
                (threshold is None or score >= threshold) and (quota is None or kept < quota)
            ):
                status, dup = PairStatus.KEPT, None
                kept += 1
            else:
                status, dup = PairStatus.DROPPED, None
            counts[status.value] += 1
            changed.append(InstructionPair(pk=pk, status=status, duplicate_of_id=dup))
    with transaction.atomic():
        InstructionPair.objects.bulk_update(changed, ["status", "duplicate_of"], batch_size=1000)
    counts["unscored"] = (
        curation_scope(job_id=job_id, task=task, domain=domain, language=language, origin=origin)
        .filter(curation_score__isnull=True)
        .count()
    )
    return counts
