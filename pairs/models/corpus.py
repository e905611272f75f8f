"""Corpus texts and their imports, spans, quality verdicts, near-duplicate clusters, LLM scores
and selections."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportFormat(models.TextChoices):
    JSONL = "jsonl", _("JSON Lines")
    CSV = "csv", _("CSV")
    ZIP = "zip", _("Zip of .txt/.md files")
    PARQUET = "parquet", _("Parquet")
    HF_DISK = "hf_disk", _("Hugging Face dataset saved to disk")


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded: waiting for a mapping")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class CorpusImport(models.Model):
    """One file (or folder) brought into the corpus, with its field mapping and progress.

    ``mapping`` names the source field for each target: ``{"text": "body", "title": "title",
    "author": ..., "language": ..., "domain": ..., "subdomain": ..., "licence": ...,
    "source": ..., "signals": ["upvotes", "reads"]}``; ``defaults`` gives values for targets
    the file lacks (``{"language": "zh", "domain": "fiction", "licence": "CC-BY"}``).
    Batches commit together with ``resume_from``, so a crashed or cancelled import resumes
    where it stopped and never leaves half a batch behind.
    """

    name = models.CharField(_("name"), max_length=200)
    format = models.CharField(_("format"), max_length=16, choices=ImportFormat.choices)
    path = models.CharField(
        _("stored file"), max_length=1000, help_text=_("Under WEAVER_DATA_DIR/imports/.")
    )
    original_name = models.CharField(_("original file name"), max_length=255)
    size_bytes = models.BigIntegerField(_("size (bytes)"), default=0)
    mapping = models.JSONField(_("field mapping"), default=dict, blank=True)
    defaults = models.JSONField(_("default values"), default=dict, blank=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ImportStatus.choices,
        default=ImportStatus.UPLOADED,
        db_index=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    rows_total = models.BigIntegerField(_("rows in the file"), null=True, blank=True)
    rows_read = models.BigIntegerField(_("rows read"), default=0)
    imported = models.BigIntegerField(_("texts imported"), default=0)
    duplicates = models.BigIntegerField(_("exact duplicates skipped"), default=0)
    errors = models.BigIntegerField(_("rows refused"), default=0)
    resume_from = models.BigIntegerField(
        _("resume from row"), default=0, help_text=_("Rows before this one are committed.")
    )
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("corpus import")
        verbose_name_plural = _("corpus imports")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name

    @property
    def progress(self) -> float | None:
        """Share of rows read, 0..1, when the total is known."""
        if not self.rows_total:
            return None
        return min(1.0, self.rows_read / self.rows_total)


class ImportIssue(models.Model):
    """A row that was refused, with where it was and why."""

    corpus_import = models.ForeignKey(CorpusImport, on_delete=models.CASCADE, related_name="issues")
    file = models.CharField(_("file"), max_length=500, blank=True)
    line = models.BigIntegerField(_("line or row"))
    reason = models.CharField(_("reason"), max_length=500)
    excerpt = models.CharField(_("excerpt"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("import issue")
        verbose_name_plural = _("import issues")
        ordering = ("corpus_import", "line")
        constraints = [
            models.UniqueConstraint(
                fields=["corpus_import", "file", "line"], name="import_issue_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class Verdict(models.TextChoices):
    PENDING = "pending", _("Not checked")
    KEEP = "keep", _("Kept")
    DROP = "drop", _("Filtered out")


class NearDuplicateCluster(models.Model):
    """Texts whose MinHash signatures collide; the best-signalled member stays active."""

    keeper = models.ForeignKey(
        "CorpusText",
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("kept text"),
    )
    size = models.PositiveIntegerField(_("size"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("near-duplicate cluster")
        verbose_name_plural = _("near-duplicate clusters")

    def __str__(self) -> str:
        return f"cluster {self.pk} ({self.size})"


class CorpusText(models.Model):
    """One text of the corpus with its provenance, signals and quality."""

    corpus_import = models.ForeignKey(
        CorpusImport, on_delete=models.PROTECT, related_name="texts", verbose_name=_("import")
    )
    source_file = models.CharField(_("file"), max_length=500, blank=True)
    source_line = models.BigIntegerField(_("line or row"))
    source = models.CharField(_("source"), max_length=500, blank=True)
    licence = models.CharField(_("licence"), max_length=200, blank=True)
    external_id = models.CharField(_("id in the source"), max_length=200, blank=True)
    title = models.CharField(_("title"), max_length=500, blank=True)
    author = models.CharField(_("author"), max_length=200, blank=True)
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=8, db_index=True)
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
    content_hash = models.CharField(
        _("content hash"),
        max_length=64,
        unique=True,
        help_text=_("SHA-256 of the text after Unicode NFKC and whitespace normalisation."),
    )
    length = models.PositiveIntegerField(_("length (characters)"), default=0)
    signals = models.JSONField(_("popularity signals"), default=dict, blank=True)
    verdict = models.CharField(
        _("quality verdict"),
        max_length=8,
        choices=Verdict.choices,
        default=Verdict.PENDING,
        db_index=True,
    )
    verdict_reasons = models.JSONField(_("verdict reasons"), default=list, blank=True)
    llm_score = models.PositiveSmallIntegerField(_("LLM score"), null=True, blank=True)
    llm_reason = models.TextField(_("LLM reason"), blank=True)
    llm_prompt_version = models.CharField(_("scoring prompt version"), max_length=32, blank=True)
    llm_endpoint = models.ForeignKey(
        "llm.Endpoint",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("scoring endpoint"),
    )
    cluster = models.ForeignKey(
        NearDuplicateCluster,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("near-duplicate cluster"),
    )
    minhash = models.BinaryField(_("MinHash signature"), null=True, blank=True, editable=False)
    is_active = models.BooleanField(
        _("active"),
        default=True,
        db_index=True,
        help_text=_("False for near-duplicates that lost to a better-signalled text."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("corpus text")
        verbose_name_plural = _("corpus texts")
        ordering = ("id",)
        indexes = [
            models.Index(fields=["domain", "subdomain", "language"]),
            models.Index(fields=["corpus_import", "source_line"]),
        ]

    def __str__(self) -> str:
        return self.title or self.text[:40]


class TextSpan(models.Model):
    """A piece of a text cut at paragraph (and, for Chinese, sentence) boundaries."""

    text = models.ForeignKey(CorpusText, on_delete=models.CASCADE, related_name="spans")
    ordinal = models.PositiveIntegerField(_("position"))
    start = models.PositiveIntegerField(_("start offset"))
    end = models.PositiveIntegerField(_("end offset"))

    class Meta:
        verbose_name = _("text span")
        verbose_name_plural = _("text spans")
        ordering = ("text", "ordinal")
        constraints = [models.UniqueConstraint(fields=["text", "ordinal"], name="text_span_unique")]

    def __str__(self) -> str:
        return f"{self.text_id}[{self.start}:{self.end}]"

    @property
    def content(self) -> str:
        return self.text.text[self.start : self.end]


class Selection(models.Model):
    """A named, reproducible choice of the best texts per domain and subdomain."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    params = models.JSONField(
        _("parameters"),
        default=dict,
        help_text=_("top_n, weights of the signals and of the score, and the filters used."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    size = models.PositiveIntegerField(_("texts"), default=0)

    class Meta:
        verbose_name = _("selection")
        verbose_name_plural = _("selections")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name


class SelectionItem(models.Model):
    selection = models.ForeignKey(Selection, on_delete=models.CASCADE, related_name="items")
    text = models.ForeignKey(CorpusText, on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveIntegerField(_("rank in its domain and subdomain"))
    score = models.FloatField(_("combined score"))

    class Meta:
        verbose_name = _("selected text")
        verbose_name_plural = _("selected texts")
        ordering = ("selection", "rank")
        constraints = [
            models.UniqueConstraint(fields=["selection", "text"], name="selection_text_unique")
        ]

    def __str__(self) -> str:
        return f"{self.selection_id}#{self.rank}"
