"""The writing taxonomy and the principle library.

A principle's content lives in immutable :class:`PrincipleVersion` rows; the
:class:`Principle` row holds what changes (status, owner, which version is in use). Later data
(negatives, reviews, datasets) points at the exact version it used.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    ZH = "zh", _("Chinese")
    EN = "en", _("English")


class BilingualName(models.Model):
    """A taxonomy entry with an English and a Chinese name; ``name`` follows the UI language."""

    slug = models.SlugField(_("slug"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=128)
    name_zh = models.CharField(_("Chinese name"), max_length=128)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        abstract = True
        ordering = ("position", "slug")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        lang = (get_language() or "en").lower()
        return self.name_zh if lang.startswith("zh") else self.name_en


class Domain(BilingualName):
    class Meta(BilingualName.Meta):
        verbose_name = _("domain")
        verbose_name_plural = _("domains")
        constraints = [models.UniqueConstraint(fields=["slug"], name="domain_slug_unique")]


class Subdomain(BilingualName):
    domain = models.ForeignKey(
        Domain, on_delete=models.PROTECT, related_name="subdomains", verbose_name=_("domain")
    )

    class Meta(BilingualName.Meta):
        verbose_name = _("subdomain")
        verbose_name_plural = _("subdomains")
        ordering = ("domain__position", "position", "slug")
        constraints = [
            models.UniqueConstraint(fields=["domain", "slug"], name="subdomain_slug_unique")
        ]


class Task(BilingualName):
    class Meta(BilingualName.Meta):
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [models.UniqueConstraint(fields=["slug"], name="task_slug_unique")]


class PrincipleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    APPROVED = "approved", _("Approved")
    RETIRED = "retired", _("Retired")


class VersionState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    APPROVED = "approved", _("Approved")
    SUPERSEDED = "superseded", _("Superseded")


class Principle(models.Model):
    domain = models.ForeignKey(
        Domain, on_delete=models.PROTECT, related_name="principles", verbose_name=_("domain")
    )
    task = models.ForeignKey(
        Task,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="principles",
        verbose_name=_("task"),
        help_text=_("Empty means every task of the domain."),
    )
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="principles",
        verbose_name=_("owner"),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=PrincipleStatus.choices,
        default=PrincipleStatus.DRAFT,
        db_index=True,
        help_text=_("The state of the latest version, or retired."),
    )
    latest_version = models.ForeignKey(
        "PrincipleVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("latest version"),
    )
    approved_version = models.ForeignKey(
        "PrincipleVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("version in use"),
        help_text=_("The approved version that later data uses."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta:
        verbose_name = _("principle")
        verbose_name_plural = _("principles")
        ordering = ("-updated_at", "-id")
        indexes = [models.Index(fields=["domain", "task", "language", "status"])]

    def __str__(self) -> str:
        title = self.latest_version.title if self.latest_version_id else ""
        return f"#{self.pk} {title}".strip()


class PrincipleVersion(models.Model):
    """One immutable revision of a principle's content. Only its review state changes."""

    CONTENT_FIELDS = (
        "title",
        "description",
        "following_instruction",
        "following_text",
        "following_rationale",
        "violating_instruction",
        "violating_text",
        "violating_rationale",
    )

    principle = models.ForeignKey(
        Principle, on_delete=models.CASCADE, related_name="versions", verbose_name=_("principle")
    )
    number = models.PositiveIntegerField(_("version"))
    state = models.CharField(
        _("state"), max_length=16, choices=VersionState.choices, default=VersionState.DRAFT
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    following_instruction = models.TextField(_("instruction (following case)"))
    following_text = models.TextField(_("text that follows the principle"))
    following_rationale = models.TextField(_("why it follows"))
    violating_instruction = models.TextField(_("instruction (violating case)"))
    violating_text = models.TextField(_("text that violates the principle"))
    violating_rationale = models.TextField(_("why it violates"))
    change_note = models.CharField(_("change note"), max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="principle_versions",
        verbose_name=_("author"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    review_comment = models.TextField(_("review comment"), blank=True)

    class Meta:
        verbose_name = _("principle version")
        verbose_name_plural = _("principle versions")
        ordering = ("principle", "-number")
        constraints = [
            models.UniqueConstraint(fields=["principle", "number"], name="principle_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.number})"

    def content(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in self.CONTENT_FIELDS}


class FewShotCase(models.Model):
    """An expert-written example of one task in one subdomain and language, shown to the model
    that backtranslates spans of that subdomain. Its content lives in immutable versions; the
    latest version of an active case is the one used, and each pair records the version."""

    subdomain = models.ForeignKey(
        Subdomain,
        on_delete=models.PROTECT,
        related_name="fewshot_cases",
        verbose_name=_("subdomain"),
    )
    task = models.ForeignKey(
        Task, on_delete=models.PROTECT, related_name="fewshot_cases", verbose_name=_("task")
    )
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="fewshot_cases",
        verbose_name=_("owner"),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Retired cases are no longer shown to the model.")
    )
    latest_version = models.ForeignKey(
        "FewShotCaseVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("latest version"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("few-shot case")
        verbose_name_plural = _("few-shot cases")
        ordering = ("subdomain__domain__position", "subdomain__position", "task__position", "id")
        indexes = [models.Index(fields=["subdomain", "task", "language", "is_active"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subdomain} / {self.task} ({self.language})"


class FewShotCaseVersion(models.Model):
    """One immutable revision of a few-shot case."""

    CONTENT_FIELDS = ("source_span", "context", "instruction", "output", "rationale")

    case = models.ForeignKey(
        FewShotCase, on_delete=models.CASCADE, related_name="versions", verbose_name=_("case")
    )
    number = models.PositiveIntegerField(_("version"))
    source_span = models.TextField(_("source span"))
    context = models.TextField(
        _("context"),
        blank=True,
        help_text=_(
            "For polishing, style transfer, expanding, summarizing and reviewing: the text the "
            "instruction works on."
        ),
    )
    instruction = models.TextField(_("instruction"))
    output = models.TextField(_("output"))
    rationale = models.TextField(_("rationale"))
    change_note = models.CharField(_("change note"), max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("author"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("few-shot case version")
        verbose_name_plural = _("few-shot case versions")
        ordering = ("case", "-number")
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="fewshot_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} v{self.number}"

    def content(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in self.CONTENT_FIELDS}
