"""Throughput of constitutional-negative synthesis against the test LLM server.

The test server (``tests/fakes/llm_server.py --schema-answers``, in its own process) answers
every request after ``--latency`` seconds (default 0.3) with JSON valid for the schema it was
sent. The endpoint allows ``--concurrency`` simultaneous requests (default 64). Each pair
needs two requests one after the other (step 1 names the principle, step 2 rewrites), so no
client can make more than ``concurrency / latency / 2`` pairs per second: 6,400 pairs per
minute by default, the *bound*.

1. Job: a real negatives job over ``--positives`` kept instruction pairs (default 5,000) with
   three approved principles to choose from, run as a worker runs it (chunks of rounds through
   the gateway: cache, ledger, budget, shared limits, metrics, one transaction per chunk).
2. Baseline: ``--baseline-positives`` (default 40) positives done one at a time, step 1 then
   step 2 through the gateway's single-call interface, as a first attempt would.

It prints pairs per minute for both, the job's share of the bound (goal: at least 85%) and
the ratio of the two. Run::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python benchmarks/negatives.py [--positives 5000] [--baseline-positives 40]
"""

from __future__ import annotations

import argparse
import sys
import time

import harness  # noqa: E402  (sets up Django)
from django.conf import settings  # noqa: E402
from llm_gateway import fake_server, reset, stats  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positives", type=int, default=5000)
    parser.add_argument("--baseline-positives", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--allow-sqlite", action="store_true")
    return parser.parse_args(argv)


def make_data(n: int):
    """``n`` kept English fiction positives and three approved principles for them."""
    from django.contrib.auth import get_user_model

    from pairs.models import InstructionPair, PairStatus
    from principles import services
    from principles.models import Domain, Task

    user = get_user_model().objects.create_user("bench-admin")
    from django.contrib.auth.models import Group

    user.groups.set(Group.objects.filter(name__in=["Author", "Admin"]))
    fiction = Domain.objects.get(slug="fiction")
    writing = Task.objects.get(slug="content_writing")
    for i, title in enumerate(("Show, don't tell", "Concrete detail", "Vary the rhythm")):
        principle = services.principle_create(
            owner=user,
            domain=fiction,
            task=None,
            language="en",
            content={
                "title": title,
                "description": f"Principle {i}: a description of what good writing does.",
                "following_instruction": "Write a scene where a girl waits for her father.",
                "following_text": "She pressed her face to the cold window.",
                "following_rationale": "The longing shows through what she does.",
                "violating_instruction": "Write a scene where a girl waits for her father.",
                "violating_text": "She was very sad and missed her father.",
                "violating_rationale": "The feeling is named, not shown.",
            },
        )
        services.principle_submit(principle=principle, user=user)
        services.principle_approve(principle=principle, user=user)
    body = (
        "The river ran slow under the moon, and the ferryman leaned on his oar. "
        "On the far bank a lamp went out, then another, until only the stars were left. "
    ) * 4
    InstructionPair.objects.bulk_create(
        InstructionPair(
            status=PairStatus.KEPT,
            domain=fiction,
            task=writing,
            language="en",
            instruction=f"Write scene {i}: a ferryman crossing a river at night.",
            response=f"Scene {i}. {body}",
            curation_score=5,
        )
        for i in range(n)
    )


def endpoint_for(url: str, name: str, concurrency: int):
    from weaver_site.llm.models import Endpoint

    return Endpoint.objects.create(
        name=name,
        base_url=url,
        model="fake-model",
        max_concurrency=concurrency,
        timeout_seconds=30,
        input_price_per_million=1,
        output_price_per_million=2,
    )


def run_job(url: str, args) -> float:
    from pairs.generation import negatives
    from pairs.models import PreferencePair, PreferenceStatus
    from weaver_site.models import Job, JobStatus

    endpoint = endpoint_for(url, "bench-job", args.concurrency)
    job = negatives.negatives_create(endpoint=endpoint)
    reset(url)
    started = time.perf_counter()
    negatives.negatives_run(job=Job.objects.get(pk=job.pk), worker="")
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    made = PreferencePair.objects.filter(job=job, status=PreferenceStatus.GENERATED).count()
    if job.status != JobStatus.DONE or made != args.positives:
        raise SystemExit(f"the job ended {job.status} with {made} of {args.positives} pairs")
    peak = stats(url)["peak_concurrency"]
    rate = made / elapsed * 60
    print(
        f"job       {made:5d} pairs in {elapsed:6.2f} s  {rate:7.0f} pairs/min"
        f"  ({job.calls} calls, peak concurrency {peak})"
    )
    return rate


def run_baseline(url: str, args) -> float:
    """One positive at a time: step 1, then step 2, each a single gateway call."""
    from pairs.generation import negative_prompts as prompts
    from pairs.generation.negatives import _info, _principle, matching_principles
    from pairs.models import InstructionPair
    from weaver_site.llm.gateway import LLMRequest, complete

    endpoint = endpoint_for(url, "bench-baseline", args.concurrency)
    positives = list(
        InstructionPair.objects.select_related("domain", "task", "subdomain").order_by("-pk")[
            : args.baseline_positives
        ]
    )
    started = time.perf_counter()
    for pair in positives:
        versions = matching_principles(
            domain_id=pair.domain_id, task_id=pair.task_id, language=pair.language
        )
        labels = [f"P{i}" for i in range(1, len(versions) + 1)]
        offered = [_principle(v, label) for v, label in zip(versions, labels, strict=True)]
        first = complete(
            endpoint,
            LLMRequest(
                messages=prompts.select_messages(_info(pair), offered),
                schema=prompts.select_schema(labels),
                params={"seed": 1},
            ),
        )
        chosen = versions[labels.index(first.data["principle"])]
        second = complete(
            endpoint,
            LLMRequest(
                messages=prompts.rewrite_messages(_info(pair), _principle(chosen, "P")),
                schema=prompts.REWRITE_SCHEMA,
                params={"seed": 1},
            ),
        )
        assert second.ok
    elapsed = time.perf_counter() - started
    rate = len(positives) / elapsed * 60
    print(
        f"baseline  {len(positives):5d} pairs in {elapsed:6.2f} s  {rate:7.0f} pairs/min"
        "  (one positive at a time, one call at a time)"
    )
    return rate


def main(argv=None) -> int:
    args = parse_args(argv)
    if not harness.require_postgresql(args.allow_sqlite):
        return 2
    bound = args.concurrency / args.latency / 2 * 60
    print(
        f"test server latency {args.latency * 1000:.0f} ms, {args.concurrency} concurrent "
        f"requests allowed, 2 requests per pair: bound {bound:.0f} pairs/min; broker "
        f"{'redis' if settings.REDIS_URL else 'embedded filesystem'}, database "
        f"{harness.connection.vendor}"
    )
    with harness.throwaway_database(), fake_server(args.latency, schema_answers=True) as url:
        make_data(args.positives)
        job = run_job(url, args)
        baseline = run_baseline(url, args) if args.baseline_positives else None
    share = job / bound
    print(f"job / bound        = {share:6.1%}  (goal: at least 85%)")
    if baseline:
        print(f"job / baseline     = {job / baseline:6.1f}x")
    return 0 if share >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
