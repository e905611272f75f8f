from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """A Celery worker's last sign of life, written by ``weaver_site.heartbeat.HeartbeatStep``."""

    hostname = models.CharField(_("hostname"), max_length=255, unique=True)
    queues = models.CharField(_("queues"), max_length=255, help_text=_("Comma-separated."))
    pid = models.PositiveIntegerField(_("process id"))
    started_at = models.DateTimeField(_("started at"))
    last_seen = models.DateTimeField(_("last seen"), db_index=True)

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        ordering = ("hostname",)

    def __str__(self) -> str:
        return self.hostname

    @property
    def queue_list(self) -> list[str]:
        return [q for q in self.queues.split(",") if q]


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    STOPPED_BUDGET = "stopped_budget", _("Stopped by budget")


class Job(models.Model):
    """A unit of background work with progress, cost and a budget.

    Every job type (scoring, backtranslation, negatives, judging) keeps one of these, so cost
    accounting, budgets and progress work the same everywhere.
    """

    kind = models.CharField(_("kind"), max_length=64, db_index=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=JobStatus.choices,
        default=JobStatus.QUEUED,
        db_index=True,
    )
    created_by = models.ForeignKey(
        "auth.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    budget_usd = models.DecimalField(
        _("budget (USD)"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("Empty: no limit."),
    )
    spent_usd = models.DecimalField(_("spent (USD)"), max_digits=14, decimal_places=6, default=0)
    reserved_usd = models.DecimalField(
        _("reserved (USD)"),
        max_digits=14,
        decimal_places=6,
        default=0,
        help_text=_("Estimated cost of calls in flight."),
    )
    params = models.JSONField(
        _("parameters"),
        default=dict,
        blank=True,
        help_text=_("What the job works on and how, as it was started."),
    )
    total = models.PositiveIntegerField(_("items"), default=0)
    done = models.PositiveIntegerField(_("items done"), default=0)
    failed = models.PositiveIntegerField(_("items failed"), default=0)
    calls = models.PositiveIntegerField(_("LLM calls"), default=0)
    cache_hits = models.PositiveIntegerField(_("cache hits"), default=0)
    error = models.TextField(_("error"), blank=True)
    worker = models.CharField(
        _("worker"), max_length=255, blank=True, help_text=_("The worker running it now.")
    )
    cursor = models.BigIntegerField(
        _("resume point"),
        default=0,
        help_text=_("The last item id fully processed: a resumed job continues after it."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.name}".strip()
