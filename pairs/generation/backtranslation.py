"""Instruction backtranslation: spans of selected texts become instruction pairs, task by task.

A job takes a selection, tasks, an endpoint, samples per span and a budget. Per span x task x
sample the task's recipe asks the LLM (with the subdomain's few-shot cases) for its reasoning
and the pair as JSON; the pair is stored with its span, recipe version, few-shot versions,
endpoint, model, call, request hash and cost. Pairs are unique per span x task x recipe
version x sample index, so a resumed or repeated job never makes a second copy; an answer that
does not parse leaves a ``failed`` pair holding the raw text, tried again the next time a job
reaches it. Jobs run on the ``llm`` queue through :func:`weaver_site.jobs.chunked_job_run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from principles.models import Task
from principles.selectors import fewshot_examples
from weaver_site.jobs import Chunk, chunked_job_run
from weaver_site.llm.gateway import LLMRequest
from weaver_site.llm.models import Endpoint
from weaver_site.models import Job

from ..models import InstructionPair, PairOrigin, PairStatus, Selection, SelectionItem, TextSpan
from . import kinds
from .recipes import Example, SpanInfo, recipe_for

KIND = kinds.BACKTRANSLATION
CHUNK_ITEMS = 120  # requests per chunk: progress and the cursor move once per chunk
MAX_SAMPLES = 8
DEFAULT_PARAMS = {"temperature": 0.7, "max_tokens": 2048}


def backtranslation_spans(*, selection_id: int, spans_per_text: int | None) -> QuerySet[TextSpan]:
    """The spans a job over ``selection_id`` works on, in the order it works."""
    qs = TextSpan.objects.filter(
        text__in=SelectionItem.objects.filter(selection_id=selection_id).values("text")
    )
    if spans_per_text:
        qs = qs.filter(ordinal__lt=spans_per_text)
    return qs.order_by("pk")


def backtranslation_create(
    *,
    selection: Selection,
    tasks: list[Task],
    endpoint: Endpoint,
    samples: int = 1,
    spans_per_text: int | None = None,
    budget_usd: Decimal | None = None,
    params: dict | None = None,
    created_by=None,
) -> Job:
    """A backtranslation job over the spans of ``selection``; queued on commit."""
    from .tasks import run_backtranslation

    errors = {}
    if not tasks:
        errors["tasks"] = _("Choose at least one task.")
    if not 1 <= samples <= MAX_SAMPLES:
        errors["samples"] = _("Pairs per span must be between 1 and %(max)d.") % {
            "max": MAX_SAMPLES
        }
    if not endpoint.is_active:
        errors["endpoint"] = _("This endpoint is not active.")
    for task in tasks:
        try:
            recipe_for(task.slug)
        except ValueError as exc:
            errors["tasks"] = str(exc)
    if errors:
        raise ValidationError(errors)
    spans = backtranslation_spans(selection_id=selection.pk, spans_per_text=spans_per_text)
    with transaction.atomic():
        job = Job.objects.create(
            kind=KIND,
            name=_("Backtranslate %(selection)s") % {"selection": selection.name},
            created_by=created_by,
            budget_usd=budget_usd,
            params={
                "selection_id": selection.pk,
                "tasks": [t.slug for t in tasks],
                "endpoint_id": endpoint.pk,
                "samples": samples,
                "spans_per_text": spans_per_text,
                "params": {**DEFAULT_PARAMS, **(params or {})},
            },
            total=spans.count() * len(tasks) * samples,
        )
        transaction.on_commit(lambda: run_backtranslation.delay(job.pk))
    return job


@dataclass
class _Item:
    span: TextSpan
    task: Task
    sample: int
    recipe_version: str
    fewshot_ids: list[int]
    existing: InstructionPair | None  # a failed pair tried again


class BacktranslationSource:
    """Hands :func:`chunked_job_run` the span x task x sample items after the cursor."""

    def __init__(self, job: Job):
        p = job.params
        self.tasks = list(Task.objects.filter(slug__in=p["tasks"]).order_by("position"))
        self.recipes = {t.pk: recipe_for(t.slug) for t in self.tasks}
        self.samples = int(p.get("samples") or 1)
        self.spans = backtranslation_spans(
            selection_id=p["selection_id"], spans_per_text=p.get("spans_per_text")
        )
        self.params = p.get("params") or {}
        self.endpoint = Endpoint.objects.get(pk=p["endpoint_id"])
        self._examples: dict[tuple, list] = {}

    def examples(self, text, task: Task) -> list:
        key = (text.subdomain_id, text.domain_id, task.pk, text.language)
        if key not in self._examples:
            self._examples[key] = fewshot_examples(
                subdomain_id=text.subdomain_id,
                domain_id=text.domain_id,
                task_id=task.pk,
                language=text.language if text.language in ("zh", "en") else "en",
            )
        return self._examples[key]

    def chunk(self, job: Job, after: int) -> Chunk | None:
        per_span = max(1, len(self.tasks) * self.samples)
        spans = list(
            self.spans.filter(pk__gt=after)
            .select_related("text__domain", "text__subdomain")
            .order_by("pk")[: max(1, CHUNK_ITEMS // per_span)]
        )
        if not spans:
            return None
        versions = Q()
        for task in self.tasks:
            versions |= Q(task=task, recipe_version=self.recipes[task.pk].version)
        existing = {
            (p.span_id, p.task_id, p.sample_index): p
            for p in InstructionPair.objects.filter(versions, span__in=spans)
        }
        chunk = Chunk(cursor=spans[-1].pk, items={})
        for span in spans:
            text = span.text
            content = span.content
            for task in self.tasks:
                recipe = self.recipes[task.pk]
                examples = self.examples(text, task)
                messages = None
                for sample in range(self.samples):
                    key = (span.pk, task.pk, sample)
                    found = existing.get(key)
                    if found is not None and found.status != PairStatus.FAILED:
                        chunk.already_done += 1
                        continue
                    if messages is None:
                        messages = recipe.messages(_span_info(text, content), _shown(examples))
                    chunk.items[key] = _Item(
                        span, task, sample, recipe.version, [e.pk for e in examples], found
                    )
                    chunk.requests.append(
                        LLMRequest(
                            messages=messages,
                            # A seed per sample: distinct, reproducible samples where the
                            # server honours seeds (OpenAI, vLLM, Ollama).
                            params={**self.params, "seed": sample},
                            schema=recipe.schema(),
                            sample_index=sample,
                            key=key,
                        )
                    )
        return chunk

    def store(self, job: Job, chunk: Chunk, results: list) -> tuple[int, int]:
        new, retried = [], []
        done = failed = 0
        for result in results:
            item: _Item = chunk.items[result.request.key]
            text = item.span.text
            pair = item.existing or InstructionPair(
                origin=PairOrigin.BACKTRANSLATION,
                span=item.span,
                source_text=text,
                domain_id=text.domain_id,
                subdomain_id=text.subdomain_id,
                task=item.task,
                language=text.language,
                recipe_version=item.recipe_version,
                sample_index=item.sample,
            )
            pair.fewshot_versions = item.fewshot_ids
            pair.job = job
            pair.endpoint = self.endpoint
            pair.model = self.endpoint.model
            pair.call_id = result.call_id
            pair.request_hash = result.request_hash
            # What the answer cost when it was made (a cached answer costs this job nothing).
            pair.cost_usd = result.cost_usd or self.endpoint.cost(
                result.input_tokens, result.output_tokens
            )
            fields = None
            if result.ok:
                try:
                    fields = self.recipes[item.task.pk].pair(item.span.content, result.data)
                except ValueError as exc:
                    pair.error = _("The answer was not usable: %(error)s") % {"error": exc}
            else:
                pair.error = result.error
            if fields is not None:
                pair.status = PairStatus.GENERATED
                pair.instruction = fields["instruction"]
                pair.context = fields["context"]
                pair.response = fields["response"]
                pair.reasoning = fields["reasoning"]
                pair.error = pair.raw_text = ""
                done += 1
            else:
                pair.status = PairStatus.FAILED
                pair.raw_text = result.text
                failed += 1
            (retried if pair.pk else new).append(pair)
        InstructionPair.objects.bulk_create(new, ignore_conflicts=True)
        if retried:
            InstructionPair.objects.bulk_update(
                retried,
                [
                    "status",
                    "instruction",
                    "context",
                    "response",
                    "reasoning",
                    "error",
                    "raw_text",
                    "fewshot_versions",
                    "job",
                    "endpoint",
                    "model",
                    "call",
                    "request_hash",
                    "cost_usd",
                ],
            )
        return done, failed


def _span_info(text, content: str) -> SpanInfo:
    zh = text.language == "zh"
    return SpanInfo(
        text=content,
        language=text.language,
        domain=(text.domain.name_zh if zh else text.domain.name_en) if text.domain_id else "",
        subdomain=(
            (text.subdomain.name_zh if zh else text.subdomain.name_en) if text.subdomain_id else ""
        ),
        title=text.title,
    )


def _shown(versions: list) -> list[Example]:
    return [
        Example(
            source_span=v.source_span,
            context=v.context,
            instruction=v.instruction,
            output=v.output,
            rationale=v.rationale,
        )
        for v in versions
    ]


def backtranslation_run(*, job: Job, worker: str) -> None:
    """Run (or resume) a backtranslation job; see :func:`weaver_site.jobs.chunked_job_run`."""
    source = BacktranslationSource(job)
    chunked_job_run(job=job, worker=worker, source=source, endpoint_for=lambda j: source.endpoint)
