"""Evaluation test data built directly in the database (no jobs, no LLM): benchmarks,
contestants on fake endpoints, evaluations with responses already in. Needs the taxonomy
(``reference_data`` or the migrations' data)."""

from __future__ import annotations

import hashlib

from django.utils import timezone

from principles.models import Domain, Task
from training.models import (
    Benchmark,
    BenchmarkItem,
    BenchmarkStatus,
    Contestant,
    ContestantKind,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
)
from weaver_site.llm.models import Endpoint

DOMAINS = ("fiction", "creative_nonfiction", "marketing", "technical_writing")


def make_benchmark(
    n: int = 6, *, name: str = "writebench", frozen: bool = True, language: str = "en", user=None
) -> Benchmark:
    """A benchmark of ``n`` instructions spread over the four domains."""
    version = Benchmark.objects.filter(name=name).count() + 1
    bench = Benchmark.objects.create(name=name, version=version, created_by=user)
    domains = {d.slug: d for d in Domain.objects.filter(slug__in=DOMAINS)}
    task = Task.objects.order_by("position").first()
    for i in range(n):
        BenchmarkItem.objects.create(
            benchmark=bench,
            key=f"q{i + 1:03d}",
            position=i,
            instruction=f"Write a short piece about the {i + 1}th lantern on the old bridge.",
            language=language,
            domain=domains.get(DOMAINS[i % len(DOMAINS)]),
            task=task,
        )
    if frozen:
        digest = hashlib.sha256(
            "".join(it.instruction for it in bench.items.all()).encode()
        ).hexdigest()
        bench.status = BenchmarkStatus.FROZEN
        bench.content_hash = digest
        bench.frozen_at = timezone.now()
        bench.frozen_by = user
        bench.save()
    return bench


def make_endpoint(name: str, *, base_url: str = "http://127.0.0.1:9/v1", **fields) -> Endpoint:
    defaults = {
        "base_url": base_url,
        "model": f"{name}-model",
        "max_concurrency": 4,
        "timeout_seconds": 10,
        "max_attempts": 2,
    }
    defaults.update(fields)
    return Endpoint.objects.create(name=name, **defaults)


def make_contestant(name: str, *, endpoint: Endpoint | None = None, **fields) -> Contestant:
    endpoint = endpoint or make_endpoint(f"ep-{name}".lower().replace(" ", "-")[:60])
    return Contestant.objects.create(
        name=name,
        kind=ContestantKind.ENDPOINT,
        endpoint=endpoint,
        decoding=fields.pop("decoding", {"temperature": 0.7, "max_tokens": 512}),
        **fields,
    )


def make_evaluation_with_responses(
    names: tuple[str, ...] = ("Model Alpha", "Model Beta"),
    *,
    n: int = 6,
    benchmark: Benchmark | None = None,
    status: str = EvaluationStatus.DONE,
    user=None,
) -> Evaluation:
    """An evaluation of ``names`` on a frozen benchmark with every response in."""
    benchmark = benchmark or make_benchmark(n, user=user)
    evaluation = Evaluation.objects.create(
        name="eval of " + ", ".join(names),
        benchmark=benchmark,
        status=status,
        created_by=user,
        grade=False,
        pairwise=False,
    )
    for name in names:
        contestant = make_contestant(name)
        evaluation.contestants.add(contestant)
        for item in benchmark.items.all():
            EvalResponse.objects.create(
                item=item,
                contestant=contestant,
                text=f"{name} answers {item.key}: the lantern glows <b>softly</b>.",
                decoding=contestant.decoding,
                model_name=contestant.endpoint.model,
                request_hash=hashlib.sha256(f"{name}{item.pk}".encode()).hexdigest(),
            )
    return evaluation
