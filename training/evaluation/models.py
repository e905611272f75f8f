"""Evaluation: WriteBench-style benchmarks, the models evaluated on them, their responses, the
model judge's grades and comparisons, and the blind human arena.

- A :class:`Benchmark` is a named, versioned set of writing instructions (:class:`BenchmarkItem`,
  each with a language, a domain and a task). A draft is edited in the browser or imported from
  JSONL; freezing it fixes its content (and its SHA-256), and only frozen versions are
  evaluated. Changing a frozen benchmark means a new version.
- A :class:`Contestant` is a model to evaluate with its decoding parameters: a training run's
  checkpoint (generated with the local ``transformers`` backend, through an endpoint record made
  for it) or any gateway endpoint.
- An :class:`Evaluation` puts contestants on a frozen benchmark: one generation job per
  contestant (a :class:`weaver_site.models.Job`), then a judge job. :class:`EvalResponse` holds
  one answer per contestant and item (cached: another evaluation of the same contestant on the
  same item reuses it) with the decoding parameters it was made with.
- :class:`JudgeGrade` and :class:`JudgeComparison` are the model judge's work;
  :class:`ArenaAssignment` and :class:`HumanComparison` are the evaluators'.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = [
    "BenchmarkStatus",
    "Benchmark",
    "BenchmarkItem",
    "ContestantKind",
    "Contestant",
    "EvaluationStatus",
    "Evaluation",
    "GenerationJob",
    "EvalResponse",
    "JudgeGrade",
    "Outcome",
    "JudgeComparison",
    "ArenaAssignment",
    "HumanComparison",
    "ContaminationReport",
]


class BenchmarkStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    FROZEN = "frozen", _("Frozen")


class Benchmark(models.Model):
    name = models.CharField(_("name"), max_length=120)
    version = models.PositiveIntegerField(_("version"), default=1)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=BenchmarkStatus.choices, default=BenchmarkStatus.DRAFT
    )
    content_hash = models.CharField(
        _("content hash"),
        max_length=64,
        blank=True,
        help_text=_("SHA-256 over the items in order, set when the version is frozen."),
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("made from"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("frozen by"),
    )

    class Meta:
        verbose_name = _("benchmark")
        verbose_name_plural = _("benchmarks")
        ordering = ("name", "-version")
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="benchmark_name_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def frozen(self) -> bool:
        return self.status == BenchmarkStatus.FROZEN


class BenchmarkItem(models.Model):
    benchmark = models.ForeignKey(
        Benchmark, on_delete=models.CASCADE, related_name="items", verbose_name=_("benchmark")
    )
    key = models.CharField(
        _("id"), max_length=100, help_text=_("The instruction's id within the benchmark.")
    )
    position = models.PositiveIntegerField(_("position"))
    instruction = models.TextField(_("instruction"))
    language = models.CharField(
        _("language"), max_length=8, choices=(("zh", _("Chinese")), ("en", _("English")))
    )
    domain = models.ForeignKey(
        "principles.Domain",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("domain"),
    )
    task = models.ForeignKey(
        "principles.Task",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("task"),
    )
    reference = models.TextField(
        _("reference answer"), blank=True, help_text=_("Optional; never shown to the judge.")
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)

    class Meta:
        verbose_name = _("benchmark instruction")
        verbose_name_plural = _("benchmark instructions")
        ordering = ("benchmark", "position")
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "key"], name="benchmark_item_key"),
        ]

    def __str__(self) -> str:
        return f"{self.benchmark} / {self.key}"


class ContestantKind(models.TextChoices):
    CHECKPOINT = "checkpoint", _("Training run checkpoint")
    ENDPOINT = "endpoint", _("Gateway endpoint")


class Contestant(models.Model):
    """A model to evaluate, with the decoding parameters of its answers.

    ``endpoint`` is set for both kinds: a checkpoint contestant gets an endpoint record of its
    own (backend ``transformers``, model = the checkpoint's folder), so its generation goes
    through the gateway (cache, limits, cost) like any other."""

    name = models.CharField(
        _("name"),
        max_length=120,
        unique=True,
        help_text=_("Shown on leaderboards, never to evaluators."),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=ContestantKind.choices)
    endpoint = models.ForeignKey(
        "llm.Endpoint",
        on_delete=models.PROTECT,
        related_name="contestants",
        verbose_name=_("endpoint"),
    )
    run = models.ForeignKey(
        "training.TrainingRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contestants",
        verbose_name=_("training run"),
    )
    checkpoint = models.ForeignKey(
        "training.RunCheckpoint",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contestants",
        verbose_name=_("checkpoint"),
    )
    decoding = models.JSONField(
        _("decoding parameters"),
        default=dict,
        blank=True,
        help_text=_('e.g. {"temperature": 0.7, "top_p": 0.9, "max_tokens": 1024, "seed": 0}'),
    )
    system_prompt = models.TextField(_("system prompt"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("model under evaluation")
        verbose_name_plural = _("models under evaluation")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class EvaluationStatus(models.TextChoices):
    GENERATING = "generating", _("Generating")
    JUDGING = "judging", _("Judging")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Evaluation(models.Model):
    """Contestants on a frozen benchmark: their answers, the judge's work and the arena."""

    name = models.CharField(_("name"), max_length=200)
    benchmark = models.ForeignKey(
        Benchmark, on_delete=models.PROTECT, related_name="evaluations", verbose_name=_("benchmark")
    )
    contestants = models.ManyToManyField(
        Contestant, related_name="evaluations", verbose_name=_("models")
    )
    judge = models.ForeignKey(
        "llm.Endpoint",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("judge endpoint"),
        help_text=_("Empty: no model judge (human comparisons only)."),
    )
    grade = models.BooleanField(
        _("grade each response"), default=True, help_text=_("Scores 1-10 per criterion.")
    )
    pairwise = models.BooleanField(
        _("compare responses pairwise"),
        default=True,
        help_text=_("Every pair of models on every instruction, judged in both orders."),
    )
    arena_open = models.BooleanField(
        _("open to evaluators"),
        default=True,
        help_text=_("Evaluators compare its responses blind in the arena."),
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=EvaluationStatus.choices,
        default=EvaluationStatus.GENERATING,
        db_index=True,
    )
    budget_usd = models.DecimalField(
        _("budget (USD)"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("For each job of the evaluation; empty: no limit."),
    )
    judge_job = models.ForeignKey(
        "weaver_site.Job",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("judge job"),
    )
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("evaluation")
        verbose_name_plural = _("evaluations")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name


class GenerationJob(models.Model):
    """The generation job of one contestant in one evaluation."""

    evaluation = models.ForeignKey(
        Evaluation,
        on_delete=models.CASCADE,
        related_name="generation_jobs",
        verbose_name=_("evaluation"),
    )
    contestant = models.ForeignKey(
        Contestant, on_delete=models.PROTECT, related_name="+", verbose_name=_("model")
    )
    job = models.OneToOneField(
        "weaver_site.Job", on_delete=models.PROTECT, related_name="+", verbose_name=_("job")
    )

    class Meta:
        verbose_name = _("generation job")
        verbose_name_plural = _("generation jobs")
        ordering = ("evaluation", "contestant__name")
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "contestant"], name="generation_job_per_contestant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.evaluation} / {self.contestant}"


class EvalResponse(models.Model):
    """A contestant's answer to a benchmark instruction, with how it was made."""

    item = models.ForeignKey(
        BenchmarkItem,
        on_delete=models.CASCADE,
        related_name="responses",
        verbose_name=_("instruction"),
    )
    contestant = models.ForeignKey(
        Contestant, on_delete=models.CASCADE, related_name="responses", verbose_name=_("model")
    )
    text = models.TextField(_("response"))
    decoding = models.JSONField(_("decoding parameters"), default=dict)
    model_name = models.CharField(
        _("model served"), max_length=500, help_text=_("The endpoint's model when it answered.")
    )
    request_hash = models.CharField(_("request hash"), max_length=64)
    output_tokens = models.PositiveIntegerField(_("output tokens"), default=0)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    cost_usd = models.DecimalField(_("cost (USD)"), max_digits=14, decimal_places=6, default=0)
    job = models.ForeignKey(
        "weaver_site.Job",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("job"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        ordering = ("item", "contestant")
        constraints = [
            models.UniqueConstraint(fields=["item", "contestant"], name="eval_response_once")
        ]

    def __str__(self) -> str:
        return f"{self.contestant} / {self.item.key}"


class JudgeGrade(models.Model):
    """The model judge's 1-10 scores of one response (reason first)."""

    response = models.ForeignKey(
        EvalResponse, on_delete=models.CASCADE, related_name="grades", verbose_name=_("response")
    )
    judge = models.ForeignKey(
        "llm.Endpoint", on_delete=models.PROTECT, related_name="+", verbose_name=_("judge")
    )
    prompt_version = models.CharField(_("prompt version"), max_length=64)
    reason = models.TextField(_("reason"))
    style = models.PositiveSmallIntegerField(_("style"))
    relevance = models.PositiveSmallIntegerField(_("relevance"))
    creativity = models.PositiveSmallIntegerField(_("creativity"))
    overall = models.PositiveSmallIntegerField(_("overall"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("judge grade")
        verbose_name_plural = _("judge grades")
        ordering = ("response",)
        constraints = [
            models.UniqueConstraint(
                fields=["response", "judge", "prompt_version"], name="judge_grade_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.response} {self.overall}/10"


class Outcome(models.TextChoices):
    A = "a", _("First model better")
    B = "b", _("Second model better")
    TIE = "tie", _("Tie")


class JudgeComparison(models.Model):
    """The model judge's comparison of two responses to one instruction, judged in both orders.

    ``response_a`` belongs to the contestant with the lower id. ``first`` is the answer with A
    shown first, ``second`` with the two swapped; ``outcome`` and ``criteria`` ("a", "b" or
    "tie", a disagreement between the orders counting as a tie) are in the a/b order."""

    item = models.ForeignKey(
        BenchmarkItem, on_delete=models.CASCADE, related_name="+", verbose_name=_("instruction")
    )
    response_a = models.ForeignKey(
        EvalResponse, on_delete=models.CASCADE, related_name="+", verbose_name=_("response A")
    )
    response_b = models.ForeignKey(
        EvalResponse, on_delete=models.CASCADE, related_name="+", verbose_name=_("response B")
    )
    judge = models.ForeignKey(
        "llm.Endpoint", on_delete=models.PROTECT, related_name="+", verbose_name=_("judge")
    )
    prompt_version = models.CharField(_("prompt version"), max_length=64)
    first = models.JSONField(_("answer, A shown first"), default=dict)
    second = models.JSONField(_("answer, B shown first"), default=dict)
    outcome = models.CharField(_("outcome"), max_length=4, choices=Outcome.choices)
    criteria = models.JSONField(_("outcome per criterion"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("judge comparison")
        verbose_name_plural = _("judge comparisons")
        ordering = ("item", "response_a", "response_b")
        constraints = [
            models.UniqueConstraint(
                fields=["response_a", "response_b", "judge", "prompt_version"],
                name="judge_comparison_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.item} {self.response_a_id}-{self.response_b_id}: {self.outcome}"


class ArenaAssignment(models.Model):
    """A comparison shown to an evaluator and not answered yet. The page knows it only by
    ``token``; which response is on the left is decided here, at random."""

    token = models.UUIDField(_("token"), default=uuid.uuid4, unique=True, editable=False)
    evaluation = models.ForeignKey(
        Evaluation, on_delete=models.CASCADE, related_name="+", verbose_name=_("evaluation")
    )
    evaluator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("evaluator"),
    )
    response_a = models.ForeignKey(
        EvalResponse, on_delete=models.CASCADE, related_name="+", verbose_name=_("response A")
    )
    response_b = models.ForeignKey(
        EvalResponse, on_delete=models.CASCADE, related_name="+", verbose_name=_("response B")
    )
    a_on_left = models.BooleanField(_("A shown on the left"))
    created_at = models.DateTimeField(_("shown at"), auto_now_add=True)

    class Meta:
        verbose_name = _("arena assignment")
        verbose_name_plural = _("arena assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["evaluator", "response_a", "response_b"], name="arena_assignment_once"
            )
        ]

    def __str__(self) -> str:
        return str(self.token)


class HumanComparison(models.Model):
    """An evaluator's blind comparison of two responses (``response_a``: the contestant with
    the lower id). ``criteria`` holds "a", "b" or "tie" for creativity, style, relevance and
    fluency; ``outcome`` is the overall result: the response better on more criteria, else a
    tie."""

    evaluation = models.ForeignKey(
        Evaluation,
        on_delete=models.CASCADE,
        related_name="human_comparisons",
        verbose_name=_("evaluation"),
    )
    evaluator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("evaluator"),
    )
    item = models.ForeignKey(
        BenchmarkItem, on_delete=models.CASCADE, related_name="+", verbose_name=_("instruction")
    )
    response_a = models.ForeignKey(
        EvalResponse, on_delete=models.CASCADE, related_name="+", verbose_name=_("response A")
    )
    response_b = models.ForeignKey(
        EvalResponse, on_delete=models.CASCADE, related_name="+", verbose_name=_("response B")
    )
    a_on_left = models.BooleanField(_("A shown on the left"))
    criteria = models.JSONField(_("outcome per criterion"), default=dict)
    outcome = models.CharField(_("outcome"), max_length=4, choices=Outcome.choices)
    seconds = models.PositiveIntegerField(_("seconds taken"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("human comparison")
        verbose_name_plural = _("human comparisons")
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["evaluator", "response_a", "response_b"], name="human_comparison_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.item} {self.response_a_id}-{self.response_b_id}: {self.outcome}"


class ContaminationReport(models.Model):
    """Benchmark instructions found in a snapshot's prompts (both are immutable, so a report
    is computed once)."""

    benchmark = models.ForeignKey(
        Benchmark,
        on_delete=models.CASCADE,
        related_name="contamination_reports",
        verbose_name=_("benchmark"),
    )
    snapshot = models.ForeignKey(
        "pairs.DatasetSnapshot",
        on_delete=models.CASCADE,
        related_name="contamination_reports",
        verbose_name=_("snapshot"),
    )
    threshold = models.FloatField(_("near-duplicate threshold"))
    matches = models.JSONField(_("matches"), default=list)
    exact = models.PositiveIntegerField(_("exact copies"), default=0)
    near = models.PositiveIntegerField(_("near duplicates"), default=0)
    instructions = models.PositiveIntegerField(_("instructions found"), default=0)
    created_at = models.DateTimeField(_("checked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("contamination report")
        verbose_name_plural = _("contamination reports")
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["benchmark", "snapshot", "threshold"], name="contamination_report_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.benchmark} in {self.snapshot}"
