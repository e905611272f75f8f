"""Training runs: an SFT or DPO run on a dataset snapshot, its metrics, checkpoints and log.

A :class:`TrainingRun` is what an engineer asked for (kind, snapshot, base model, method,
hyperparameters) and where it stands. A worker on the ``gpu`` queue runs the engine
(``training/engine/``) as a subprocess; it holds the run's *lease* (``lease_token`` and
``lease_expires_at``, renewed by heartbeats) while it does, so a run trains in at most one place
at a time, and a run whose lease ran out (its worker died) is queued again and resumes from its
last checkpoint. Metrics (:class:`RunMetric`, one row per logging step), checkpoints
(:class:`RunCheckpoint`) and the process's output (:class:`RunLogChunk`) are written as the
engine reports them, so the pages can show them from any machine.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RunKind(models.TextChoices):
    SFT = "sft", _("SFT")
    DPO = "dpo", _("DPO")


class RunMethod(models.TextChoices):
    FULL = "full", _("Full fine-tune")
    LORA = "lora", _("LoRA")
    QLORA = "qlora", _("QLoRA (4-bit)")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    CANCELLING = "cancelling", _("Cancelling")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING)
FINISHED_STATUSES = (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED)


class TrainingRun(models.Model):
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=8, choices=RunKind.choices)
    snapshot = models.ForeignKey(
        "pairs.DatasetSnapshot",
        on_delete=models.PROTECT,
        related_name="training_runs",
        verbose_name=_("dataset snapshot"),
    )
    base_model = models.CharField(
        _("base model"),
        max_length=500,
        blank=True,
        help_text=_("A local path on the GPU workers or a Hugging Face model id."),
    )
    base_run = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="derived_runs",
        verbose_name=_("start from run"),
        help_text=_("Train from the final model of an earlier run (for DPO, usually an SFT run)."),
    )
    method = models.CharField(
        _("method"), max_length=8, choices=RunMethod.choices, default=RunMethod.FULL
    )
    hyperparameters = models.JSONField(
        _("hyperparameters"),
        default=dict,
        blank=True,
        help_text=_("Hyperparameters as the engine takes them (checked when the run is made)."),
    )
    gpus = models.PositiveSmallIntegerField(
        _("GPUs"), default=1, help_text=_("0: CPU. More than 1: accelerate launch.")
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=RunStatus.choices,
        default=RunStatus.QUEUED,
        db_index=True,
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
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Where it stands.
    step = models.PositiveIntegerField(_("step"), default=0)
    max_steps = models.PositiveIntegerField(_("planned steps"), default=0)
    epoch = models.FloatField(_("epoch"), default=0)
    last_loss = models.FloatField(_("last loss"), null=True, blank=True)
    attempts = models.PositiveIntegerField(
        _("attempts"), default=0, help_text=_("Times a worker started it (resumes included).")
    )
    resumed_from = models.CharField(_("resumed from"), max_length=500, blank=True)
    segment_started_at = models.DateTimeField(
        _("attempt started at"), null=True, blank=True, help_text=_("For the ETA.")
    )
    segment_start_step = models.PositiveIntegerField(_("attempt's first step"), default=0)
    final_dir = models.CharField(_("final model folder"), max_length=500, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The lease: who runs it now.
    worker = models.CharField(_("worker"), max_length=255, blank=True)
    pid = models.PositiveIntegerField(_("engine process id"), null=True, blank=True)
    lease_token = models.CharField(_("lease"), max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    events_offset = models.BigIntegerField(
        _("events read"), default=0, help_text=_("Bytes of the engine's events file read.")
    )

    class Meta:
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0


class RunMetric(models.Model):
    """The values the engine logged at one step (loss, learning rate, rewards, ...)."""

    run = models.ForeignKey(
        TrainingRun, on_delete=models.CASCADE, related_name="metrics", verbose_name=_("run")
    )
    step = models.PositiveIntegerField(_("step"))
    values = models.JSONField(_("values"), default=dict)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("run metric")
        verbose_name_plural = _("run metrics")
        ordering = ("run", "step")
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="run_metric_step")]

    def __str__(self) -> str:
        return f"run {self.run_id} step {self.step}"


class RunCheckpoint(models.Model):
    """A checkpoint the engine saved (``final``: the finished model or adapter)."""

    run = models.ForeignKey(
        TrainingRun, on_delete=models.CASCADE, related_name="checkpoints", verbose_name=_("run")
    )
    step = models.PositiveIntegerField(_("step"))
    path = models.CharField(_("folder"), max_length=500)
    final = models.BooleanField(_("final model"), default=False)
    size_bytes = models.BigIntegerField(_("size (bytes)"), default=0)
    created_at = models.DateTimeField(_("saved at"), auto_now_add=True)

    class Meta:
        verbose_name = _("checkpoint")
        verbose_name_plural = _("checkpoints")
        ordering = ("run", "step", "final")
        constraints = [
            models.UniqueConstraint(fields=["run", "step", "final"], name="run_checkpoint_step")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.name}"

    @property
    def name(self) -> str:
        return "final" if self.final else f"checkpoint-{self.step}"


class RunLogChunk(models.Model):
    """A piece of the engine's output, in order: the run's log lives in the database so any
    web server can show it, whichever machine trained."""

    run = models.ForeignKey(
        TrainingRun, on_delete=models.CASCADE, related_name="log_chunks", verbose_name=_("run")
    )
    seq = models.PositiveIntegerField(_("sequence"))
    attempt = models.PositiveIntegerField(_("attempt"), default=0)
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("written at"), auto_now_add=True)

    class Meta:
        verbose_name = _("log chunk")
        verbose_name_plural = _("log chunks")
        ordering = ("run", "seq")
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="run_log_seq")]

    def __str__(self) -> str:
        return f"run {self.run_id} log {self.seq}"


from .evaluation.models import *  # noqa: E402,F401,F403  (evaluation's models live beside it)
