"""Budgets per job and per endpoint per day, checked before a request is sent.

Each call reserves its estimated cost with one conditional UPDATE (atomic across processes),
and settles the actual cost when the answer arrives. A call whose reservation would pass a
budget is refused and its job is marked as stopped by budget.
"""

from __future__ import annotations

import math
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from weaver_site.models import Job, JobStatus

from .models import Endpoint, EndpointSpend

DEFAULT_MAX_OUTPUT_TOKENS = 1024  # assumed for the estimate when a call sets no max_tokens


class BudgetExceeded(Exception):
    def __init__(self, message: str, *, scope: str):
        super().__init__(message)
        self.scope = scope  # "job" or "endpoint"


def estimate_tokens(messages: list[dict]) -> int:
    """A cautious estimate of prompt tokens: a UTF-8 byte count over three (one token per CJK
    character, about three per English word) plus a few per message."""
    total = 0
    for message in messages:
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = str(content)
        total += math.ceil(len(content.encode()) / 3) + 4
    return total


def estimate_cost(endpoint: Endpoint, messages: list[dict], params: dict) -> tuple[int, Decimal]:
    max_out = params.get("max_tokens") or params.get("max_completion_tokens")
    tokens_in = estimate_tokens(messages)
    return tokens_in, endpoint.cost(tokens_in, int(max_out or DEFAULT_MAX_OUTPUT_TOKENS))


def _today():
    return timezone.now().date()


def _stop_job(job: Job | None, reason: str) -> None:
    if job is not None:
        Job.objects.filter(pk=job.pk).exclude(status=JobStatus.STOPPED_BUDGET).update(
            status=JobStatus.STOPPED_BUDGET,
            error=f"stopped by budget: {reason}",
            finished_at=timezone.now(),
        )


def reserve(*, endpoint: Endpoint, job: Job | None, amount: Decimal) -> None:
    """Reserve ``amount`` against the job's budget and the endpoint's daily budget, or raise.

    Each check-and-reserve is one conditional UPDATE, atomic across processes.
    """
    if job is not None:
        jobs = Job.objects.filter(pk=job.pk)
        if job.budget_usd is not None:
            jobs = jobs.filter(spent_usd__lte=F("budget_usd") - F("reserved_usd") - amount)
        if not jobs.update(reserved_usd=F("reserved_usd") + amount):
            _stop_job(
                job,
                f"the next call (about ${amount:.6f}) would pass the job's budget "
                f"of ${job.budget_usd}",
            )
            raise BudgetExceeded("the job's budget would be passed", scope="job")
    if endpoint.daily_budget_usd is not None:
        EndpointSpend.objects.get_or_create(endpoint=endpoint, day=_today())
        updated = EndpointSpend.objects.filter(
            endpoint=endpoint,
            day=_today(),
            spent_usd__lte=endpoint.daily_budget_usd - F("reserved_usd") - amount,
        ).update(reserved_usd=F("reserved_usd") + amount)
        if not updated:
            if job is not None:
                Job.objects.filter(pk=job.pk).update(reserved_usd=F("reserved_usd") - amount)
            _stop_job(
                job,
                f"endpoint {endpoint.name} reached its daily budget of "
                f"${endpoint.daily_budget_usd}",
            )
            raise BudgetExceeded(
                f"endpoint {endpoint.name} would pass its daily budget", scope="endpoint"
            )


def settle(
    *,
    endpoint: Endpoint,
    job: Job | None,
    reserved: Decimal,
    cost: Decimal,
    calls: int,
    cache_hits: int = 0,
) -> None:
    """Release reservations and book what the calls really cost (one update per scope)."""
    if job is not None and (reserved or cost or calls or cache_hits):
        Job.objects.filter(pk=job.pk).update(
            reserved_usd=F("reserved_usd") - reserved,
            spent_usd=F("spent_usd") + cost,
            calls=F("calls") + calls,
            cache_hits=F("cache_hits") + cache_hits,
        )
    if calls or reserved:
        spend, _ = EndpointSpend.objects.get_or_create(endpoint=endpoint, day=_today())
        EndpointSpend.objects.filter(pk=spend.pk).update(
            reserved_usd=F("reserved_usd")
            - (reserved if endpoint.daily_budget_usd is not None else 0),
            spent_usd=F("spent_usd") + cost,
            calls=F("calls") + calls,
        )
