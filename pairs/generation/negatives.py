"""Constitutional negatives: for each expert-quality positive, a minimally edited copy that
breaks exactly one approved principle.

Per positive, in the ``explain`` mode: step 1, the model is shown the approved principles that
match the positive's domain, task and language and names the one that best explains why the
response is good (the schema only admits the labels offered: an answer naming another is sent
back once by the gateway's repair step, then recorded as failed); step 2, it rewrites the
response to violate that principle with minimal change, given the principle version's own
following and violating cases as the worked example. The ``each`` mode skips step 1 and makes
one negative per matching principle. An optional judge (possibly another endpoint) checks that
the rejected response breaks the principle and is otherwise as good. Every pair gets the
minimality metrics of :mod:`.metrics`, flagged against the job's thresholds.

Jobs run on the ``llm`` queue through :func:`weaver_site.jobs.chunked_job_run`: a chunk's
steps are rounds of concurrent requests, and its pairs, counters and cursor commit together.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from principles.models import Principle, PrincipleStatus, PrincipleVersion
from weaver_site.jobs import Chunk, chunked_job_run
from weaver_site.llm.gateway import LLMRequest
from weaver_site.llm.models import CallStatus, Endpoint
from weaver_site.models import Job

from ..models import (
    InstructionPair,
    JudgeVerdict,
    NegativeMode,
    PairStatus,
    PreferencePair,
    PreferenceStatus,
)
from . import kinds
from . import negative_prompts as prompts
from .metrics import Thresholds, metric_flags, minimality_metrics

KIND = kinds.NEGATIVES
REQUESTS_PER_SLOT = 32  # a chunk keeps every slot busy for about 32 answers per step
MAX_SAMPLES = 4
DEFAULT_PARAMS = {"temperature": 0.7, "max_tokens": 4096}
POSITIVE_STATUSES = (PairStatus.GENERATED, PairStatus.KEPT)


def matching_principles(
    *, domain_id, task_id, language: str, principle_ids: list[int] | None = None
) -> list[PrincipleVersion]:
    """The approved versions in use of the principles (not retired) for a domain, task (or
    every task of the domain) and language; only those of ``principle_ids`` when given. A
    principle with a newer draft keeps its approved version in use."""
    qs = (
        Principle.objects.filter(
            approved_version__isnull=False, domain_id=domain_id, language=language
        )
        .exclude(status=PrincipleStatus.RETIRED)
        .filter(Q(task_id=task_id) | Q(task__isnull=True))
    )
    if principle_ids:
        qs = qs.filter(pk__in=principle_ids)
    return [p.approved_version for p in qs.select_related("approved_version").order_by("pk")]


def negative_positives(
    *,
    domain: str = "",
    subdomain: str = "",
    task: str = "",
    language: str = "",
    min_score: int | None = None,
    kept_only: bool = True,
    top_n: int | None = None,
    job_id: int | None = None,
) -> list[InstructionPair]:
    """The positives that match, best curation score first within each subdomain (ties by
    id), at most ``top_n`` per subdomain when given."""
    statuses = (PairStatus.KEPT,) if kept_only else POSITIVE_STATUSES
    qs = InstructionPair.objects.filter(status__in=statuses)
    if domain:
        qs = qs.filter(domain__slug=domain)
    if subdomain:
        qs = qs.filter(subdomain__slug=subdomain)
    if task:
        qs = qs.filter(task__slug=task)
    if language:
        qs = qs.filter(language=language)
    if min_score is not None:
        qs = qs.filter(curation_score__gte=min_score)
    if job_id:
        qs = qs.filter(job_id=job_id)
    rows = list(qs.only("pk", "domain_id", "subdomain_id", "task_id", "language", "curation_score"))
    rows.sort(key=lambda p: (p.subdomain_id or 0, -(p.curation_score or 0), p.pk))
    if top_n:
        taken: dict = defaultdict(int)
        kept = []
        for pair in rows:
            if taken[pair.subdomain_id] < top_n:
                taken[pair.subdomain_id] += 1
                kept.append(pair)
        rows = kept
    return rows


def negatives_create(
    *,
    endpoint: Endpoint,
    mode: str = NegativeMode.EXPLAIN,
    samples: int = 1,
    positives: dict | None = None,
    principle_ids: list[int] | None = None,
    judge_endpoint: Endpoint | None = None,
    thresholds: dict | None = None,
    budget_usd: Decimal | None = None,
    params: dict | None = None,
    created_by=None,
) -> Job:
    """A negative-synthesis job over the positives that match ``positives`` (the keyword
    arguments of :func:`negative_positives`) and have at least one matching principle."""
    from .tasks import run_negatives

    errors = {}
    if mode not in NegativeMode.values:
        errors["mode"] = _("Choose a mode.")
    if not 1 <= samples <= MAX_SAMPLES:
        errors["samples"] = _("Negatives per positive must be between 1 and %(max)d.") % {
            "max": MAX_SAMPLES
        }
    for name, ep in (("endpoint", endpoint), ("judge_endpoint", judge_endpoint)):
        if ep is not None and not ep.is_active:
            errors[name] = _("This endpoint is not active.")
    if errors:
        raise ValidationError(errors)
    chosen = negative_positives(**(positives or {}))
    groups: dict[tuple, int] = {}
    ids, requests = [], 0
    for pair in chosen:
        key = (pair.domain_id, pair.task_id, pair.language)
        if key not in groups:
            groups[key] = len(
                matching_principles(
                    domain_id=key[0], task_id=key[1], language=key[2], principle_ids=principle_ids
                )
            )
        if groups[key]:
            ids.append(pair.pk)
            requests += 1 if mode == NegativeMode.EXPLAIN else groups[key]
    if not ids:
        raise ValidationError(
            _("No positive matches these filters and has an approved principle to break.")
        )
    ids.sort()
    with transaction.atomic():
        job = Job.objects.create(
            kind=KIND,
            name=_("Negatives for %(n)d positives") % {"n": len(ids)},
            created_by=created_by,
            budget_usd=budget_usd,
            total=requests * samples,
            params={
                "endpoint_id": endpoint.pk,
                "judge_endpoint_id": judge_endpoint.pk if judge_endpoint else None,
                "mode": mode,
                "samples": samples,
                "positives": positives or {},
                "positive_ids": ids,
                "skipped_without_principle": len(chosen) - len(ids),
                "principle_ids": principle_ids or [],
                "thresholds": Thresholds.from_dict(thresholds).as_dict(),
                "prompt_version": prompts.PROMPT_VERSION,
                "judge_prompt_version": prompts.JUDGE_PROMPT_VERSION if judge_endpoint else "",
                "params": {**DEFAULT_PARAMS, **(params or {})},
                "requests_per_positive": max(1, round(requests / len(ids))),
            },
        )
        transaction.on_commit(lambda: run_negatives.delay(job.pk))
    return job


@dataclass
class _Item:
    positive: InstructionPair
    sample: int
    offered: list[PrincipleVersion]
    version: PrincipleVersion | None = None  # the principle to break
    existing: PreferencePair | None = None  # a failed pair tried again
    results: dict = field(default_factory=dict)  # step -> LLMResult
    selection_reason: str = ""
    rejected: str = ""
    rationale: str = ""
    error: str = ""
    raw_text: str = ""
    final: bool = False
    pair: PreferencePair | None = None  # built once final


def _info(pair: InstructionPair) -> prompts.PositiveInfo:
    zh = pair.language.startswith("zh")

    def name(obj):
        return (obj.name_zh if zh else obj.name_en) if obj is not None else ""

    return prompts.PositiveInfo(
        language=pair.language,
        domain=name(pair.domain),
        subdomain=name(pair.subdomain),
        task=name(pair.task),
        instruction=pair.instruction,
        context=pair.context,
        response=pair.response,
    )


def _principle(version: PrincipleVersion, label: str) -> prompts.PrincipleInfo:
    return prompts.PrincipleInfo(label=label, **version.content())


class NegativesSource:
    """Hands :func:`chunked_job_run` the positives after the cursor: each chunk is one batch
    in which a positive's rewrite (step 2) follows its select (step 1) as soon as that is
    answered, then, with a judge, a round on the judge's endpoint."""

    def __init__(self, job: Job):
        p = job.params
        self.mode = p["mode"]
        self.samples = int(p.get("samples") or 1)
        self.ids = p["positive_ids"]
        self.principle_ids = p.get("principle_ids") or None
        self.params = p.get("params") or DEFAULT_PARAMS
        self.thresholds = Thresholds.from_dict(p.get("thresholds"))
        self.prompt_version = p["prompt_version"]
        self.endpoint = Endpoint.objects.get(pk=p["endpoint_id"])
        judge = p.get("judge_endpoint_id")
        self.judge = Endpoint.objects.get(pk=judge) if judge else None
        per_positive = int(p.get("requests_per_positive") or 1) * self.samples
        self.per_chunk = max(1, self.endpoint.max_concurrency * REQUESTS_PER_SLOT // per_positive)
        self._principles: dict[tuple, list[PrincipleVersion]] = {}

    def principles_for(self, pair: InstructionPair) -> list[PrincipleVersion]:
        key = (pair.domain_id, pair.task_id, pair.language)
        if key not in self._principles:
            self._principles[key] = matching_principles(
                domain_id=key[0],
                task_id=key[1],
                language=key[2],
                principle_ids=self.principle_ids,
            )
        return self._principles[key]

    def _params(self, sample: int) -> dict:
        return {**self.params, "seed": sample}

    # --- rounds ----------------------------------------------------------------------------

    def chunk(self, job: Job, after: int) -> Chunk | None:
        start = bisect_right(self.ids, after)
        ids = self.ids[start : start + self.per_chunk]
        if not ids:
            return None
        positives = list(
            InstructionPair.objects.filter(pk__in=ids)
            .select_related("domain", "subdomain", "task")
            .order_by("pk")
        )
        existing = PreferencePair.objects.filter(
            positive__in=ids, prompt_version=self.prompt_version
        )
        if self.mode == NegativeMode.EXPLAIN:
            found = {(p.positive_id, p.sample_index): p for p in existing.filter(mode=self.mode)}
        else:
            found = {
                (p.positive_id, p.principle_version_id, p.sample_index): p
                for p in existing.filter(principle_version__isnull=False)
            }
        chunk = Chunk(cursor=ids[-1], items={})
        for positive in positives:
            offered = self.principles_for(positive)
            if not offered:  # a principle was retired since the job started
                continue
            for sample in range(self.samples):
                if self.mode == NegativeMode.EXPLAIN:
                    keys = [((positive.pk, sample), None)]
                else:
                    keys = [((positive.pk, v.pk, sample), v) for v in offered]
                for key, version in keys:
                    old = found.get(key)
                    if old is not None and old.status != PreferenceStatus.FAILED:
                        chunk.already_done += 1
                        continue
                    item = _Item(positive, sample, offered, version=version, existing=old)
                    chunk.items[key] = item
                    chunk.requests.append(self._first_request(key, item))
        return chunk

    def _first_request(self, key, item: _Item) -> LLMRequest:
        if item.version is not None:
            return self._rewrite_request(key, item)
        labels = [f"P{i}" for i in range(1, len(item.offered) + 1)]
        return LLMRequest(
            messages=prompts.select_messages(
                _info(item.positive),
                [_principle(v, label) for v, label in zip(item.offered, labels, strict=True)],
            ),
            params=self._params(item.sample),
            schema=prompts.select_schema(labels),
            sample_index=item.sample,
            key=(key, "select"),
        )

    def _rewrite_request(self, key, item: _Item) -> LLMRequest:
        return LLMRequest(
            messages=prompts.rewrite_messages(_info(item.positive), _principle(item.version, "P")),
            params=self._params(item.sample),
            schema=prompts.REWRITE_SCHEMA,
            sample_index=item.sample,
            key=(key, "rewrite"),
        )

    def _judge_request(self, key, item: _Item) -> LLMRequest:
        return LLMRequest(
            messages=prompts.judge_messages(
                _info(item.positive), _principle(item.version, "P"), item.rejected
            ),
            params={"temperature": 0, "max_tokens": 800},
            schema=prompts.JUDGE_SCHEMA,
            key=(key, "judge"),
        )

    def follow_one(self, job: Job, chunk: Chunk, result) -> list[LLMRequest]:
        """Record one answer on its item (on the gateway's loop: no queries); a named
        principle's rewrite request goes out at once, in the same batch."""
        key, step = result.request.key
        item: _Item = chunk.items[key]
        if result.status == CallStatus.BUDGET:
            return []  # not answered: the item stays unfinished and is asked again later
        item.results[step] = result
        if not result.ok:
            if step == "judge":  # the pair stands; the verdict stays empty
                item.final = True
                return []
            item.error = _("Step %(step)s failed: %(error)s") % {
                "step": step,
                "error": result.error,
            }
            item.raw_text, item.final = result.text, True
            return []
        if step == "select":
            index = int(result.data["principle"].lstrip("P")) - 1
            if not 0 <= index < len(item.offered):  # the schema admits offered labels only
                item.error = _("Step 1 named a principle that was not offered.")
                item.raw_text, item.final = result.text, True
                return []
            item.version = item.offered[index]
            item.selection_reason = str(result.data["reason"]).strip()
            return [self._rewrite_request(key, item)]
        if step == "rewrite":
            item.rejected = str(result.data["rejected"]).strip()
            item.rationale = str(result.data["rationale"]).strip()
            item.final = self.judge is None
            return []
        item.final = True
        return []

    def follow_up(self, job: Job, chunk: Chunk, results: list):
        """After the generator's batch: the judge's round, on its own endpoint."""
        if self.judge is None:
            return None
        judges = [
            self._judge_request(key, item)
            for key, item in chunk.items.items()
            if item.rejected and "judge" not in item.results
        ]
        return (self.judge, judges) if judges else None

    def accept(self, job: Job, chunk: Chunk, result) -> None:
        """Build a finished item's pair as its last answer comes in (in the job's thread,
        while the rest of the chunk is still being answered), so storing is one insert."""
        item: _Item = chunk.items[result.request.key[0]]
        if item.final and item.pair is None:
            item.pair = self._build(job, item)

    def store(self, job: Job, chunk: Chunk, results: list) -> tuple[int, int]:
        new, retried = [], []
        done = failed = 0
        for item in chunk.items.values():
            if not item.final:
                continue  # its steps did not finish (budget); the next run asks again, free
            pair = item.pair or self._build(job, item)
            if pair.status == PreferenceStatus.FAILED:
                failed += 1
            else:
                done += 1
            (retried if pair.pk else new).append(pair)
        PreferencePair.objects.bulk_create(new, ignore_conflicts=True)
        if retried:
            PreferencePair.objects.bulk_update(retried, _STORED_FIELDS)
        return done, failed

    def _build(self, job: Job, item: _Item) -> PreferencePair:
        pair = item.existing or PreferencePair(
            mode=self.mode,
            positive=item.positive,
            sample_index=item.sample,
            prompt_version=self.prompt_version,
        )
        positive = item.positive
        pair.principle_version = item.version
        pair.offered_versions = (
            [v.pk for v in item.offered] if self.mode == NegativeMode.EXPLAIN else []
        )
        pair.domain_id, pair.subdomain_id = positive.domain_id, positive.subdomain_id
        pair.task_id, pair.language = positive.task_id, positive.language
        pair.instruction, pair.context = positive.instruction, positive.context
        pair.chosen = positive.response
        pair.selection_reason = item.selection_reason
        pair.job, pair.endpoint, pair.model = job, self.endpoint, self.endpoint.model
        pair.params = self.params
        pair.request_hashes = {s: r.request_hash for s, r in item.results.items()}
        pair.call_ids = {s: r.call_id for s, r in item.results.items()}
        pair.cost_usd = sum(
            (
                r.cost_usd
                or (self.judge if s == "judge" else self.endpoint).cost(
                    r.input_tokens, r.output_tokens
                )
                for s, r in item.results.items()
            ),
            Decimal("0"),
        )
        if item.error:
            pair.status = PreferenceStatus.FAILED
            pair.error, pair.raw_text = item.error, item.raw_text
            pair.rejected = pair.rewrite_rationale = ""
            pair.metrics, pair.flags, pair.flagged = {}, [], False
        else:
            pair.status = PreferenceStatus.GENERATED
            pair.error = pair.raw_text = ""
            pair.rejected, pair.rewrite_rationale = item.rejected, item.rationale
            pair.metrics = minimality_metrics(pair.chosen, pair.rejected, language=pair.language)
            pair.flags = metric_flags(pair.metrics, self.thresholds)
            pair.flagged = bool(pair.flags)
            self._judged(pair, item)
        return pair

    def _judged(self, pair: PreferencePair, item: _Item) -> None:
        judged = item.results.get("judge")
        if judged is None or not judged.ok:
            pair.judge_verdict = JudgeVerdict.NONE
            pair.judge_breaks_principle = pair.judge_otherwise_equal = None
            pair.judge_reason = judged.error if judged is not None else ""
            pair.judge_endpoint = self.judge if judged is not None else None
            return
        data = judged.data
        pair.judge_breaks_principle = bool(data["breaks_principle"])
        pair.judge_otherwise_equal = bool(data["otherwise_as_good"])
        pair.judge_reason = str(data["reason"]).strip()
        pair.judge_verdict = (
            JudgeVerdict.PASS
            if pair.judge_breaks_principle and pair.judge_otherwise_equal
            else JudgeVerdict.FAIL
        )
        pair.judge_endpoint = self.judge


_STORED_FIELDS = [
    "status",
    "principle_version",
    "offered_versions",
    "selection_reason",
    "rejected",
    "rewrite_rationale",
    "job",
    "endpoint",
    "model",
    "params",
    "request_hashes",
    "call_ids",
    "cost_usd",
    "error",
    "raw_text",
    "metrics",
    "flags",
    "flagged",
    "judge_verdict",
    "judge_breaks_principle",
    "judge_otherwise_equal",
    "judge_reason",
    "judge_endpoint",
]


def negatives_run(*, job: Job, worker: str) -> None:
    source = NegativesSource(job)
    chunked_job_run(job=job, worker=worker, source=source, endpoint_for=lambda j: source.endpoint)
