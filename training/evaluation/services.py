"""Writes of evaluation: contestants, and the life of an evaluation and its jobs.

An evaluation runs one generation job per contestant (a :class:`weaver_site.models.Job` of kind
``eval.generate`` for a gateway endpoint, ``eval.generate_local`` for a checkpoint, on the ``gpu``
queue), then, when every generation job is done, one judge job (``eval.judge``) if a judge is
set and grading or pairwise judging is asked for. Each job's task calls
:func:`evaluation_advance` when its run ends; that step is idempotent and safe when several
workers call it at once, so the evaluation moves on exactly once.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from weaver_site.jobs import job_cancel, job_resume
from weaver_site.llm.models import Backend, Endpoint
from weaver_site.models import Job, JobStatus

from . import kinds
from .judge_prompts import PROMPT_VERSION
from .models import (
    Benchmark,
    Contestant,
    ContestantKind,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    GenerationJob,
)

__all__ = [
    "DECODING_KEYS",
    "contestant_create",
    "contestant_delete",
    "decoding_clean",
    "evaluation_advance",
    "evaluation_cancel",
    "evaluation_create",
    "evaluation_delete",
    "evaluation_jobs",
    "evaluation_resume",
    "judge_job_total",
]

DECODING_KEYS = ("temperature", "top_p", "max_tokens", "seed")
CHECKPOINT_CONCURRENCY = 8  # requests the local backend batches together
CHECKPOINT_TIMEOUT_SECONDS = 3600.0  # a first request waits for the model to load
FINISHED = (EvaluationStatus.DONE, EvaluationStatus.FAILED, EvaluationStatus.CANCELLED)
STOPPED = (JobStatus.FAILED, JobStatus.STOPPED_BUDGET)


# --- Contestants ---------------------------------------------------------------------------


def _is_number(value) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decoding_clean(decoding: dict | None) -> dict:
    """The decoding parameters, checked: ``temperature`` a number >= 0, ``top_p`` in (0, 1],
    ``max_tokens`` an integer >= 1, ``seed`` an integer; nothing else. Raises ValidationError
    keyed ``decoding.<name>`` (``decoding`` for the whole)."""
    if decoding is None:
        return {}
    if not isinstance(decoding, dict):
        raise ValidationError({"decoding": _("Decoding parameters are a JSON object.")})
    errors: dict[str, str] = {}
    for key in decoding:
        if key not in DECODING_KEYS:
            errors[f"decoding.{key}"] = _("Unknown decoding parameter; known: %(keys)s.") % {
                "keys": ", ".join(DECODING_KEYS)
            }
    value = decoding.get("temperature")
    if value is not None and not (_is_number(value) and value >= 0):
        errors["decoding.temperature"] = _("The temperature is a number of 0 or more.")
    value = decoding.get("top_p")
    if value is not None and not (_is_number(value) and 0 < value <= 1):
        errors["decoding.top_p"] = _("top_p is a number above 0 and at most 1.")
    value = decoding.get("max_tokens")
    if value is not None and not (_is_int(value) and value >= 1):
        errors["decoding.max_tokens"] = _("max_tokens is a whole number of 1 or more.")
    value = decoding.get("seed")
    if value is not None and not _is_int(value):
        errors["decoding.seed"] = _("The seed is a whole number.")
    if errors:
        raise ValidationError(errors)
    return {key: decoding[key] for key in DECODING_KEYS if decoding.get(key) is not None}


def _checkpoint_endpoint(checkpoint) -> Endpoint:
    """The endpoint record of a checkpoint (made once, shared by its contestants)."""
    label = "final" if checkpoint.final else f"step-{checkpoint.step}"
    name = f"ckpt-run{checkpoint.run_id}-{label}"
    endpoint, _made = Endpoint.objects.get_or_create(
        name=name,
        defaults={
            "backend": Backend.TRANSFORMERS,
            "model": checkpoint.path,
            "max_concurrency": CHECKPOINT_CONCURRENCY,
            "timeout_seconds": CHECKPOINT_TIMEOUT_SECONDS,
            "max_attempts": 2,
        },
    )
    if endpoint.backend != Backend.TRANSFORMERS or endpoint.model != checkpoint.path:
        raise ValidationError(
            {
                "checkpoint": _("An endpoint named %(name)s exists for another model.")
                % {"name": name}
            }
        )
    return endpoint


def contestant_create(
    *,
    name: str,
    endpoint: Endpoint | None = None,
    checkpoint=None,
    decoding: dict | None = None,
    system_prompt: str = "",
    created_by=None,
) -> Contestant:
    """A model to evaluate: a gateway ``endpoint`` or a training run's ``checkpoint`` (exactly
    one), with its decoding parameters. A checkpoint gets an endpoint record of its own
    (backend ``transformers``, model = the checkpoint's folder)."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Give the model a name.")
    elif len(name) > Contestant._meta.get_field("name").max_length:
        errors["name"] = _("The name is too long.")
    elif Contestant.objects.filter(name=name).exists():
        errors["name"] = _("A model with this name exists already.")
    if (endpoint is None) == (checkpoint is None):
        errors["endpoint"] = _("Choose either an endpoint or a checkpoint.")
    elif endpoint is not None and not endpoint.is_active:
        errors["endpoint"] = _("This endpoint is not active.")
    elif checkpoint is not None and not checkpoint.path:
        errors["checkpoint"] = _("This checkpoint has no folder.")
    try:
        decoding = decoding_clean(decoding)
    except ValidationError as exc:
        errors.update({key: value[0] for key, value in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if checkpoint is not None:
            return Contestant.objects.create(
                name=name,
                kind=ContestantKind.CHECKPOINT,
                endpoint=_checkpoint_endpoint(checkpoint),
                run=checkpoint.run,
                checkpoint=checkpoint,
                decoding=decoding,
                system_prompt=system_prompt or "",
                created_by=created_by,
            )
        return Contestant.objects.create(
            name=name,
            kind=ContestantKind.ENDPOINT,
            endpoint=endpoint,
            decoding=decoding,
            system_prompt=system_prompt or "",
            created_by=created_by,
        )


def contestant_delete(*, contestant: Contestant) -> None:
    """Delete a model no evaluation uses (with its responses); a checkpoint's own endpoint
    goes too once nothing else needs it."""
    if contestant.evaluations.exists():
        raise ValidationError(
            {"contestant": _("An evaluation uses this model; delete the evaluation first.")}
        )
    with transaction.atomic():
        endpoint = contestant.endpoint
        contestant.delete()
        if (
            contestant.kind == ContestantKind.CHECKPOINT
            and endpoint.backend == Backend.TRANSFORMERS
            and not endpoint.contestants.exists()
        ):
            try:
                with transaction.atomic():
                    endpoint.delete()
            except ProtectedError:  # a judge grade or a call still refers to it: keep it
                pass


# --- Evaluations ---------------------------------------------------------------------------


def _generation_kind(contestant: Contestant) -> str:
    if contestant.kind == ContestantKind.CHECKPOINT:
        return kinds.GENERATE_LOCAL
    return kinds.GENERATE


def _enqueue(job: Job) -> None:
    from celery import current_app

    task_name = kinds.TASKS[job.kind]
    transaction.on_commit(lambda: current_app.send_task(task_name, args=[job.pk]))


def evaluation_create(
    *,
    name: str,
    benchmark: Benchmark,
    contestants: list[Contestant],
    judge: Endpoint | None = None,
    grade: bool = True,
    pairwise: bool = True,
    arena_open: bool = True,
    budget_usd: Decimal | None = None,
    created_by=None,
) -> Evaluation:
    """Put ``contestants`` on a frozen ``benchmark``: one generation job per contestant,
    queued on commit; the judge job follows when all generation is done."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    contestants = list(contestants or [])
    if not name:
        errors["name"] = _("Give the evaluation a name.")
    elif len(name) > Evaluation._meta.get_field("name").max_length:
        errors["name"] = _("The name is too long.")
    if benchmark is None:
        errors["benchmark"] = _("Choose a benchmark.")
    elif not benchmark.frozen:
        errors["benchmark"] = _("Only a frozen benchmark can be evaluated; freeze it first.")
    elif not benchmark.items.exists():
        errors["benchmark"] = _("This benchmark has no instructions.")
    ids = [c.pk for c in contestants]
    if not contestants:
        errors["contestants"] = _("Choose at least one model.")
    elif len(set(ids)) != len(ids):
        errors["contestants"] = _("A model is chosen twice.")
    elif pairwise and len(contestants) < 2:
        errors["contestants"] = _("Pairwise judging needs at least two models.")
    else:
        inactive = [c.name for c in contestants if not c.endpoint.is_active]
        if inactive:
            errors["contestants"] = _("The endpoint of %(names)s is not active.") % {
                "names": ", ".join(inactive)
            }
    if judge is not None and not judge.is_active:
        errors["judge"] = _("This judge endpoint is not active.")
    if budget_usd is not None:
        try:
            budget_usd = Decimal(str(budget_usd))
        except ArithmeticError:
            errors["budget_usd"] = _("The budget is a number.")
        else:
            if not budget_usd.is_finite() or budget_usd < 0:
                errors["budget_usd"] = _("The budget cannot be negative.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            name=name,
            benchmark=benchmark,
            judge=judge,
            grade=grade,
            pairwise=pairwise,
            arena_open=arena_open,
            budget_usd=budget_usd,
            created_by=created_by,
        )
        evaluation.contestants.set(contestants)
        items = benchmark.items.count()
        for contestant in sorted(contestants, key=lambda c: c.pk):
            job = Job.objects.create(
                kind=_generation_kind(contestant),
                name=_("Answer %(benchmark)s with %(model)s")
                % {"benchmark": benchmark, "model": contestant.name},
                created_by=created_by,
                budget_usd=budget_usd,
                params={"evaluation_id": evaluation.pk, "contestant_id": contestant.pk},
                total=items,
            )
            GenerationJob.objects.create(evaluation=evaluation, contestant=contestant, job=job)
            _enqueue(job)
    return evaluation


def evaluation_jobs(*, evaluation: Evaluation) -> list[Job]:
    """The evaluation's generation jobs (by model name), then its judge job if any."""
    jobs = [
        gj.job
        for gj in GenerationJob.objects.filter(evaluation=evaluation)
        .select_related("job", "contestant")
        .order_by("contestant__name")
    ]
    judge_job_id = (
        Evaluation.objects.filter(pk=evaluation.pk).values_list("judge_job_id", flat=True).first()
    )
    if judge_job_id:
        jobs.append(Job.objects.get(pk=judge_job_id))
    return jobs


def judge_job_total(*, evaluation: Evaluation) -> int:
    """The judge job's work: one unit per response graded and one per pair of responses to an
    instruction compared (in both orders)."""
    responses = EvalResponse.objects.filter(
        item__benchmark_id=evaluation.benchmark_id,
        contestant__in=evaluation.contestants.all(),
    )
    total = 0
    if evaluation.grade:
        total += responses.count()
    if evaluation.pairwise:
        per_item: dict[int, int] = {}
        for item_id in responses.values_list("item_id", flat=True):
            per_item[item_id] = per_item.get(item_id, 0) + 1
        total += sum(n * (n - 1) // 2 for n in per_item.values())
    return total


def _judge_job_create(evaluation: Evaluation) -> Job:
    job = Job.objects.create(
        kind=kinds.JUDGE,
        name=_("Judge %(evaluation)s with %(judge)s")
        % {"evaluation": evaluation.name, "judge": evaluation.judge.name},
        created_by=evaluation.created_by,
        budget_usd=evaluation.budget_usd,
        params={
            "evaluation_id": evaluation.pk,
            "judge_id": evaluation.judge_id,
            "prompt_version": PROMPT_VERSION,
        },
        total=judge_job_total(evaluation=evaluation),
    )
    _enqueue(job)
    return job


def _job_problem(job: Job) -> str:
    if job.error:
        return job.error
    if job.status == JobStatus.STOPPED_BUDGET:
        return _("Job %(name)s was stopped by its budget.") % {"name": job.name}
    return _("Job %(name)s failed.") % {"name": job.name}


def evaluation_advance(*, evaluation_id: int) -> None:
    """Move the evaluation on as its jobs finish; idempotent and safe under concurrency.

    Every generation job done: the judge job is made and queued (a judge set, and grading or
    pairwise judging asked for), else the evaluation is done. The judge job done: done. A job
    failed or stopped by its budget: failed, with the job's error. A job cancelled elsewhere:
    cancelled."""
    with transaction.atomic():
        evaluation = (
            Evaluation.objects.select_for_update(of=("self",))
            .select_related("judge")
            .filter(pk=evaluation_id)
            .first()
        )
        if evaluation is None or evaluation.status in FINISHED:
            return
        generation = list(
            Job.objects.filter(
                pk__in=GenerationJob.objects.filter(evaluation=evaluation).values("job_id")
            ).order_by("pk")
        )
        judge_job = Job.objects.filter(pk=evaluation.judge_job_id).first()
        jobs = generation + ([judge_job] if judge_job is not None else [])
        now = timezone.now()
        same = Evaluation.objects.filter(pk=evaluation.pk, status=evaluation.status)
        stopped = next((job for job in jobs if job.status in STOPPED), None)
        if stopped is not None:
            same.update(
                status=EvaluationStatus.FAILED, error=_job_problem(stopped), finished_at=now
            )
            return
        if any(job.status == JobStatus.CANCELLED for job in jobs):
            same.update(status=EvaluationStatus.CANCELLED, finished_at=now)
            return
        if evaluation.status == EvaluationStatus.GENERATING:
            if not all(job.status == JobStatus.DONE for job in generation):
                return
            wants_judge = evaluation.judge_id is not None and (
                evaluation.grade or evaluation.pairwise
            )
            if not wants_judge:
                same.update(status=EvaluationStatus.DONE, error="", finished_at=now)
                return
            # The conditional update is the claim: one caller makes the judge job.
            if same.filter(judge_job__isnull=True).update(status=EvaluationStatus.JUDGING):
                job = _judge_job_create(evaluation)
                Evaluation.objects.filter(pk=evaluation.pk).update(judge_job=job)
            return
        judged = judge_job is not None and judge_job.status == JobStatus.DONE
        if evaluation.status == EvaluationStatus.JUDGING and judged:
            same.update(status=EvaluationStatus.DONE, error="", finished_at=now)


def evaluation_cancel(*, evaluation: Evaluation) -> bool:
    """Stop the evaluation and all its jobs for good. Returns whether it changed."""
    with transaction.atomic():
        changed = Evaluation.objects.filter(
            pk=evaluation.pk,
            status__in=(
                EvaluationStatus.GENERATING,
                EvaluationStatus.JUDGING,
                EvaluationStatus.FAILED,
            ),
        ).update(status=EvaluationStatus.CANCELLED, finished_at=timezone.now())
        for job in evaluation_jobs(evaluation=evaluation):
            job_cancel(job=job)
    evaluation.refresh_from_db()
    return bool(changed)


def evaluation_resume(*, evaluation: Evaluation) -> bool:
    """Queue again the failed, budget-stopped or paused jobs of a failed (or stalled)
    evaluation, which goes back to generating or judging. Returns whether it changed."""
    with transaction.atomic():
        evaluation = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
        if evaluation.status in (EvaluationStatus.DONE, EvaluationStatus.CANCELLED):
            return False
        jobs = evaluation_jobs(evaluation=evaluation)
        resumed = [
            job
            for job in jobs
            if job.status in (*STOPPED, JobStatus.PAUSED) and job_resume(job=job)
        ]
        generation_done = all(
            job.status == JobStatus.DONE for job in jobs if job.pk != evaluation.judge_job_id
        )
        status = (
            EvaluationStatus.JUDGING
            if generation_done and evaluation.judge_job_id
            else EvaluationStatus.GENERATING
        )
        changed = (
            Evaluation.objects.filter(pk=evaluation.pk)
            .exclude(status=status, error="")
            .update(status=status, error="", finished_at=None)
        )
    evaluation_advance(evaluation_id=evaluation.pk)
    return bool(resumed or changed)


def evaluation_delete(*, evaluation: Evaluation) -> None:
    """Delete an evaluation that is not running, with its jobs and human comparisons (the
    responses stay: they belong to the models and serve later evaluations)."""
    jobs = evaluation_jobs(evaluation=evaluation)
    if any(job.status in (JobStatus.QUEUED, JobStatus.RUNNING) for job in jobs):
        raise ValidationError(
            {"evaluation": _("This evaluation is still running; cancel it first.")}
        )
    with transaction.atomic():
        evaluation.delete()
        Job.objects.filter(pk__in=[job.pk for job in jobs]).delete()
