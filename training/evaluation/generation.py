"""The generation job of one contestant in an evaluation: one request per benchmark
instruction, through the gateway (a checkpoint's requests go to the local ``transformers``
backend, which batches them).

An instruction this contestant has answered before (in any evaluation) is not asked again: its
:class:`EvalResponse` is reused and counted as already done. Each answer is stored with the
decoding parameters, the model served, the request hash, tokens, latency and cost.
"""

from __future__ import annotations

from django.db.models import QuerySet

from weaver_site.jobs import Chunk, chunked_job_run
from weaver_site.llm.gateway import LLMRequest
from weaver_site.llm.models import Endpoint
from weaver_site.models import Job

from .models import BenchmarkItem, Contestant, EvalResponse, Evaluation

__all__ = ["CHUNK_ITEMS", "GenerationSource", "contestant_messages", "generation_run"]

CHUNK_ITEMS = 50


def contestant_messages(contestant: Contestant, instruction: str) -> list[dict]:
    """The chat a contestant answers: its system prompt (if any), then the instruction."""
    messages = []
    if contestant.system_prompt.strip():
        messages.append({"role": "system", "content": contestant.system_prompt})
    messages.append({"role": "user", "content": instruction})
    return messages


class GenerationSource:
    """Hands out the benchmark's instructions in order (cursor: the item id)."""

    def __init__(self, job: Job):
        self.evaluation = Evaluation.objects.get(pk=job.params["evaluation_id"])
        self.contestant = Contestant.objects.select_related("endpoint").get(
            pk=job.params["contestant_id"]
        )
        self.endpoint: Endpoint = self.contestant.endpoint
        self.decoding = dict(self.contestant.decoding or {})

    def scope(self) -> QuerySet[BenchmarkItem]:
        return BenchmarkItem.objects.filter(benchmark_id=self.evaluation.benchmark_id).order_by(
            "pk"
        )

    def chunk(self, job: Job, after: int) -> Chunk | None:
        items = list(self.scope().filter(pk__gt=after)[:CHUNK_ITEMS])
        if not items:
            return None
        answered = set(
            EvalResponse.objects.filter(contestant=self.contestant, item__in=items).values_list(
                "item_id", flat=True
            )
        )
        chunk = Chunk(cursor=items[-1].pk, items={})
        for item in items:
            if item.pk in answered:
                chunk.already_done += 1
                continue
            chunk.items[item.pk] = item
            chunk.requests.append(
                LLMRequest(
                    messages=contestant_messages(self.contestant, item.instruction),
                    params=self.decoding,
                    key=item.pk,
                )
            )
        return chunk

    def store(self, job: Job, chunk: Chunk, results: list) -> tuple[int, int]:
        rows = [
            EvalResponse(
                item=chunk.items[result.request.key],
                contestant=self.contestant,
                text=result.text,
                decoding={**(self.endpoint.default_params or {}), **self.decoding},
                model_name=self.endpoint.model,
                request_hash=result.request_hash,
                output_tokens=result.output_tokens,
                latency_ms=result.latency_ms,
                cost_usd=result.cost_usd,
                job=job,
            )
            for result in results
            if result.ok
        ]
        # Another evaluation of this contestant may have stored the same answer meanwhile.
        EvalResponse.objects.bulk_create(rows, ignore_conflicts=True)
        return len(rows), len(results) - len(rows)


def generation_run(*, job: Job, worker: str) -> None:
    """Run a generation job (in a Celery task, or in-process in tests)."""
    source = GenerationSource(job)
    chunked_job_run(job=job, worker=worker, source=source, endpoint_for=lambda j: source.endpoint)
