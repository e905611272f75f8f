"""Dataset snapshots: named, versioned, immutable copies of SFT or preference pairs.

A snapshot records the filters that chose its pairs and copies each pair, as it was that
minute, into a :class:`DatasetRow` (its canonical JSON), so later reviews, edits or deletions
of the pairs never change it. Its ``content_hash`` is the SHA-256 over its rows in order, so two
snapshots with the same hash hold the same data, split for split. An :class:`DatasetExport`
writes a snapshot to files (JSONL, Parquet, a Hugging Face ``datasets`` folder) on a worker.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DatasetKind(models.TextChoices):
    SFT = "sft", _("SFT (instruction pairs)")
    DPO = "dpo", _("DPO (preference pairs)")


class SnapshotStatus(models.TextChoices):
    BUILDING = "building", _("Freezing")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class Split(models.TextChoices):
    TRAIN = "train", _("Train")
    TEST = "test", _("Test")


class DatasetSnapshot(models.Model):
    """One version of a named dataset. Nothing about its rows changes once it is ready."""

    name = models.CharField(_("name"), max_length=200)
    version = models.PositiveIntegerField(_("version"))
    kind = models.CharField(_("kind"), max_length=8, choices=DatasetKind.choices)
    description = models.TextField(_("description"), blank=True)
    filters = models.JSONField(
        _("filters"), default=dict, blank=True, help_text=_("Which pairs it holds, as recorded.")
    )
    test_fraction = models.FloatField(_("test fraction"), default=0.1)
    stratify = models.BooleanField(
        _("stratify by domain"),
        default=False,
        help_text=_("Give every domain the same share of test prompts."),
    )
    split_seed = models.CharField(
        _("split seed"),
        max_length=64,
        blank=True,
        help_text=_("Mixed into the prompt hash; the same seed gives the same split."),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=SnapshotStatus.choices,
        default=SnapshotStatus.BUILDING,
        db_index=True,
    )
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    train_count = models.PositiveIntegerField(_("train rows"), default=0)
    test_count = models.PositiveIntegerField(_("test rows"), default=0)
    content_hash = models.CharField(
        _("content hash"),
        max_length=64,
        blank=True,
        help_text=_("SHA-256 over the rows in order (split and canonical JSON)."),
    )
    stats = models.JSONField(
        _("statistics"),
        default=dict,
        blank=True,
        help_text=_("Counts per domain, task, language, principle and split; histograms."),
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
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dataset snapshot")
        verbose_name_plural = _("dataset snapshots")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="dataset_snapshot_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


class DatasetRow(models.Model):
    """One frozen pair of a snapshot: its canonical JSON and where it came from."""

    snapshot = models.ForeignKey(
        DatasetSnapshot, on_delete=models.CASCADE, related_name="rows", verbose_name=_("snapshot")
    )
    position = models.PositiveIntegerField(_("position"))
    split = models.CharField(_("split"), max_length=8, choices=Split.choices)
    # No foreign key: the snapshot outlives the pair it copied.
    pair_id = models.BigIntegerField(_("pair id"))
    prompt_key = models.CharField(
        _("prompt key"), max_length=32, help_text=_("Hash of the normalised prompt.")
    )
    digest = models.CharField(_("row digest"), max_length=32)
    data = models.TextField(_("row (JSON)"))

    class Meta:
        verbose_name = _("dataset row")
        verbose_name_plural = _("dataset rows")
        ordering = ("snapshot", "position")
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "position"], name="dataset_row_position")
        ]
        indexes = [models.Index(fields=["snapshot", "pair_id"], name="dataset_row_pair")]

    def __str__(self) -> str:
        return f"{self.snapshot_id}:{self.position}"


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", _("JSON Lines")
    PARQUET = "parquet", _("Parquet")
    HF = "hf", _("Hugging Face datasets folder")


class ExportLayout(models.TextChoices):
    STANDARD = "standard", _("Standard (prompt and completion / chosen and rejected as text)")
    CONVERSATIONAL = "conversational", _("Conversational (messages)")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class DatasetExport(models.Model):
    """A snapshot written to files by a worker, to download or push to the Hub."""

    snapshot = models.ForeignKey(
        DatasetSnapshot,
        on_delete=models.CASCADE,
        related_name="exports",
        verbose_name=_("snapshot"),
    )
    format = models.CharField(_("format"), max_length=16, choices=ExportFormat.choices)
    layout = models.CharField(
        _("layout"), max_length=16, choices=ExportLayout.choices, default=ExportLayout.STANDARD
    )
    include_metadata = models.BooleanField(
        _("metadata columns"),
        default=True,
        help_text=_("Principle, domain, task, language, generator, metrics, review, source."),
    )
    hub_repo = models.CharField(
        _("Hub repository"),
        max_length=200,
        blank=True,
        help_text=_("Push to this Hugging Face dataset repository (needs a configured token)."),
    )
    hub_private = models.BooleanField(_("private on the Hub"), default=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ExportStatus.choices,
        default=ExportStatus.QUEUED,
        db_index=True,
    )
    rows_written = models.PositiveIntegerField(_("rows written"), default=0)
    files = models.JSONField(
        _("files"), default=list, blank=True, help_text=_("Name, size, SHA-256 and rows of each.")
    )
    hub_url = models.CharField(_("Hub address"), max_length=500, blank=True)
    error = models.TextField(_("error"), blank=True)
    worker = models.CharField(_("worker"), max_length=255, blank=True)
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

    class Meta:
        verbose_name = _("dataset export")
        verbose_name_plural = _("dataset exports")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.snapshot} {self.format} #{self.pk}"
