"""Preference pairs (Constitutional DPO): an expert-quality response (chosen) and a minimally
edited copy that breaks exactly one principle (rejected), for the same prompt.

A pair is unique per positive x principle version x prompt version x sample index; in the
"explain" mode (the model first names the principle that best explains the positive's
quality) also per positive x prompt version x sample index, so a job run again, or resumed
after a lost worker, never makes a second copy.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .instructions import InstructionPair


class NegativeMode(models.TextChoices):
    EXPLAIN = "explain", _("Name the principle that explains the quality, then break it")
    EACH = "each", _("One negative per matching principle")


class PreferenceStatus(models.TextChoices):
    GENERATED = "generated", _("Generated")
    FAILED = "failed", _("Failed")
    IN_REVIEW = "in_review", _("In review")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


class JudgeVerdict(models.TextChoices):
    NONE = "", _("Not judged")
    PASS = "pass", _("Pass")
    FAIL = "fail", _("Fail")


class PreferencePair(models.Model):
    """(prompt, chosen, rejected), with the principle it breaks and how it was made."""

    status = models.CharField(
        _("status"),
        max_length=16,
        choices=PreferenceStatus.choices,
        default=PreferenceStatus.GENERATED,
        db_index=True,
    )
    mode = models.CharField(_("mode"), max_length=8, choices=NegativeMode.choices)
    positive = models.ForeignKey(
        InstructionPair,
        on_delete=models.PROTECT,
        related_name="preference_pairs",
        verbose_name=_("positive"),
    )
    principle_version = models.ForeignKey(
        "principles.PrincipleVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="preference_pairs",
        verbose_name=_("principle version"),
        help_text=_("The principle the rejected response breaks (empty if step 1 failed)."),
    )
    offered_versions = models.JSONField(
        _("principle versions offered"),
        default=list,
        blank=True,
        help_text=_("Ids of the principle versions shown in step 1."),
    )
    selection_reason = models.TextField(_("why this principle (step 1)"), blank=True)
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
    instruction = models.TextField(_("instruction"))
    context = models.TextField(_("context"), blank=True)
    chosen = models.TextField(_("chosen response"))
    rejected = models.TextField(_("rejected response"), blank=True)
    rewrite_rationale = models.TextField(_("how the rewrite breaks the principle"), blank=True)
    # How it was made.
    prompt_version = models.CharField(_("prompt version"), max_length=32)
    sample_index = models.PositiveIntegerField(_("sample"), default=0)
    job = models.ForeignKey(
        "weaver_site.Job",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="preference_pairs",
        verbose_name=_("job"),
    )
    endpoint = models.ForeignKey(
        "llm.Endpoint",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("generator endpoint"),
    )
    model = models.CharField(_("generator model"), max_length=255, blank=True)
    params = models.JSONField(_("generation parameters"), default=dict, blank=True)
    request_hashes = models.JSONField(
        _("request hashes"),
        default=dict,
        blank=True,
        help_text=_("Per step (select, rewrite, judge): the gateway's request hash."),
    )
    call_ids = models.JSONField(_("LLM calls"), default=dict, blank=True)
    cost_usd = models.DecimalField(
        _("cost (USD)"), max_digits=14, decimal_places=6, default=Decimal("0")
    )
    error = models.TextField(_("error"), blank=True)
    raw_text = models.TextField(
        _("raw answer"), blank=True, help_text=_("The answer as received, when a step failed.")
    )
    # Minimality and sanity.
    metrics = models.JSONField(
        _("metrics"),
        default=dict,
        blank=True,
        help_text=_(
            "Character similarity, edit ratio (words; characters for Chinese), sentences "
            "changed, length ratio, identical."
        ),
    )
    flags = models.JSONField(
        _("flags"), default=list, blank=True, help_text=_("Metrics outside the job's thresholds.")
    )
    flagged = models.BooleanField(_("flagged"), default=False, db_index=True)
    # The optional LLM judge.
    judge_verdict = models.CharField(
        _("judge verdict"), max_length=8, choices=JudgeVerdict.choices, default="", blank=True
    )
    judge_breaks_principle = models.BooleanField(
        _("judge: breaks the principle"), null=True, blank=True
    )
    judge_otherwise_equal = models.BooleanField(
        _("judge: otherwise as good"), null=True, blank=True
    )
    judge_reason = models.TextField(_("judge's reason"), blank=True)
    judge_endpoint = models.ForeignKey(
        "llm.Endpoint",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("judge endpoint"),
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("preference pair")
        verbose_name_plural = _("preference pairs")
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["positive", "principle_version", "prompt_version", "sample_index"],
                condition=Q(principle_version__isnull=False),
                name="preference_pair_one_per_principle",
            ),
            models.UniqueConstraint(
                fields=["positive", "prompt_version", "sample_index"],
                condition=Q(mode="explain"),
                name="preference_pair_one_explained",
            ),
        ]
        indexes = [
            models.Index(fields=["principle_version", "status"]),
            models.Index(fields=["job", "status"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.instruction[:60]}"
