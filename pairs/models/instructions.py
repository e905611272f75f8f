"""Instruction pairs (SFT data): made from corpus spans by backtranslation, or imported.

A backtranslated pair is unique per span x task x recipe version x sample index, so running a
job again, or resuming it after a lost worker, never makes a second copy. A failed generation
is kept as a pair row with status ``failed`` and the raw answer, and is tried again in place
the next time a job reaches it.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .corpus import CorpusText, TextSpan


class PairOrigin(models.TextChoices):
    BACKTRANSLATION = "backtranslation", _("Backtranslation")
    IMPORT = "import", _("Import")


class PairStatus(models.TextChoices):
    GENERATED = "generated", _("Generated")
    FAILED = "failed", _("Failed")
    KEPT = "kept", _("Kept")
    DROPPED = "dropped", _("Dropped")
    DUPLICATE = "duplicate", _("Near-duplicate")


class PairMark(models.TextChoices):
    NONE = "", _("Not marked")
    GOOD = "good", _("Good")
    BAD = "bad", _("Bad")


class PairImport(models.Model):
    """One upload of ready-made instruction pairs (JSONL)."""

    name = models.CharField(_("name"), max_length=200)
    original_name = models.CharField(_("original file name"), max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    imported = models.PositiveIntegerField(_("pairs imported"), default=0)
    duplicates = models.PositiveIntegerField(_("exact duplicates skipped"), default=0)
    errors = models.PositiveIntegerField(_("rows refused"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("pair import")
        verbose_name_plural = _("pair imports")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name


class PairImportIssue(models.Model):
    """A row of a pair import that was refused: where, which field, and why."""

    pair_import = models.ForeignKey(PairImport, on_delete=models.CASCADE, related_name="issues")
    line = models.PositiveIntegerField(_("line"))
    field = models.CharField(_("field"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=500)
    excerpt = models.CharField(_("excerpt"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("pair import issue")
        verbose_name_plural = _("pair import issues")
        ordering = ("pair_import", "line")

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class InstructionPair(models.Model):
    """An instruction (with its context, where the task has one) and the response to it."""

    origin = models.CharField(
        _("origin"), max_length=16, choices=PairOrigin.choices, default=PairOrigin.BACKTRANSLATION
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=PairStatus.choices,
        default=PairStatus.GENERATED,
        db_index=True,
    )
    span = models.ForeignKey(
        TextSpan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="instruction_pairs",
        verbose_name=_("source span"),
    )
    source_text = models.ForeignKey(
        CorpusText,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="instruction_pairs",
        verbose_name=_("source text"),
    )
    domain = models.ForeignKey(
        "principles.Domain",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("domain"),
    )
    subdomain = models.ForeignKey(
        "principles.Subdomain",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("subdomain"),
    )
    task = models.ForeignKey(
        "principles.Task", on_delete=models.PROTECT, related_name="+", verbose_name=_("task")
    )
    language = models.CharField(_("language"), max_length=8, db_index=True)
    instruction = models.TextField(_("instruction"), blank=True)
    context = models.TextField(
        _("context"), blank=True, help_text=_("The text the instruction works on, if any.")
    )
    response = models.TextField(_("response"), blank=True)
    reasoning = models.TextField(_("generator's reasoning"), blank=True)
    # How it was made.
    recipe_version = models.CharField(_("recipe version"), max_length=32, blank=True)
    sample_index = models.PositiveIntegerField(_("sample"), default=0)
    fewshot_versions = models.JSONField(
        _("few-shot case versions"),
        default=list,
        blank=True,
        help_text=_("Ids of the few-shot case versions shown to the model."),
    )
    job = models.ForeignKey(
        "weaver_site.Job",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="instruction_pairs",
        verbose_name=_("job"),
    )
    endpoint = models.ForeignKey(
        "llm.Endpoint",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("endpoint"),
    )
    model = models.CharField(_("model"), max_length=255, blank=True)
    call = models.ForeignKey(
        "llm.LLMCall",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("LLM call"),
    )
    request_hash = models.CharField(_("request hash"), max_length=64, blank=True)
    cost_usd = models.DecimalField(
        _("cost (USD)"), max_digits=14, decimal_places=6, default=Decimal("0")
    )
    error = models.TextField(_("error"), blank=True)
    raw_text = models.TextField(
        _("raw answer"), blank=True, help_text=_("The answer as received, when it failed.")
    )
    # Curation.
    curation_score = models.PositiveSmallIntegerField(
        _("curation score"), null=True, blank=True, db_index=True
    )
    curation_reason = models.TextField(_("curation reasoning"), blank=True)
    curation_details = models.JSONField(
        _("curation details"),
        default=dict,
        blank=True,
        help_text=_("Instruction clarity, response relevance and overall quality, 1-5."),
    )
    curation_prompt_version = models.CharField(
        _("curation prompt version"), max_length=32, blank=True
    )
    curation_endpoint = models.ForeignKey(
        "llm.Endpoint",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("curation endpoint"),
    )
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("near-duplicate of"),
    )
    # People.
    mark = models.CharField(
        _("mark"), max_length=8, choices=PairMark.choices, default=PairMark.NONE, blank=True
    )
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("marked by"),
    )
    marked_at = models.DateTimeField(_("marked at"), null=True, blank=True)
    # Imported pairs.
    pair_import = models.ForeignKey(
        PairImport,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="pairs",
        verbose_name=_("import"),
    )
    source_line = models.PositiveIntegerField(_("line in the import"), null=True, blank=True)
    content_hash = models.CharField(
        _("content hash"),
        max_length=64,
        blank=True,
        help_text=_("SHA-256 of instruction, context and response (imported pairs)."),
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("instruction pair")
        verbose_name_plural = _("instruction pairs")
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["span", "task", "recipe_version", "sample_index"],
                condition=Q(span__isnull=False),
                name="instruction_pair_one_per_sample",
            ),
            models.UniqueConstraint(
                fields=["content_hash"],
                condition=Q(origin="import"),
                name="instruction_pair_import_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["subdomain", "task", "status"]),
            models.Index(fields=["job", "status"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.instruction[:60]}"
