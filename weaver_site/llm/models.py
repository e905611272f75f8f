import os
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import crypto


class Backend(models.TextChoices):
    OPENAI = "openai", _("OpenAI-compatible server")
    TRANSFORMERS = "transformers", _("Local transformers model")


class JsonMode(models.TextChoices):
    JSON_SCHEMA = "json_schema", _("JSON schema (structured outputs)")
    JSON_OBJECT = "json_object", _("JSON mode")
    PROMPT = "prompt", _("Ask in the prompt only")


class Endpoint(models.Model):
    """A model behind an API (or on local disk) with its limits, prices and budget."""

    name = models.SlugField(_("name"), max_length=64, unique=True)
    backend = models.CharField(
        _("backend"), max_length=16, choices=Backend.choices, default=Backend.OPENAI
    )
    base_url = models.URLField(
        _("base URL"),
        blank=True,
        help_text=_(
            "e.g. https://api.openai.com/v1, http://gpu-box:8000/v1 (vLLM), "
            "http://localhost:11434/v1 (Ollama)"
        ),
    )
    model = models.CharField(
        _("model"),
        max_length=255,
        help_text=_(
            "The model name the server expects, or a local path or hub id for "
            "the transformers backend."
        ),
    )
    api_key_env = models.CharField(
        _("API key variable"),
        max_length=128,
        blank=True,
        help_text=_("Name of the environment variable that holds the API key."),
    )
    api_key_encrypted = models.TextField(_("API key (encrypted)"), blank=True, editable=False)
    max_concurrency = models.PositiveIntegerField(
        _("maximum concurrent requests"), default=8, validators=[MinValueValidator(1)]
    )
    requests_per_minute = models.PositiveIntegerField(
        _("requests per minute"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    tokens_per_minute = models.PositiveIntegerField(
        _("tokens per minute"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    input_price_per_million = models.DecimalField(
        _("price per million input tokens (USD)"),
        max_digits=12,
        decimal_places=6,
        default=Decimal("0"),
    )
    output_price_per_million = models.DecimalField(
        _("price per million output tokens (USD)"),
        max_digits=12,
        decimal_places=6,
        default=Decimal("0"),
    )
    timeout_seconds = models.FloatField(
        _("timeout (seconds)"), default=120, validators=[MinValueValidator(0.1)]
    )
    max_attempts = models.PositiveSmallIntegerField(
        _("maximum attempts"), default=6, validators=[MinValueValidator(1)]
    )
    default_params = models.JSONField(
        _("default generation parameters"),
        default=dict,
        blank=True,
        help_text=_('e.g. {"temperature": 0.7, "max_tokens": 1024}'),
    )
    json_mode = models.CharField(
        _("structured output"),
        max_length=16,
        choices=JsonMode.choices,
        default=JsonMode.JSON_SCHEMA,
    )
    daily_budget_usd = models.DecimalField(
        _("daily budget (USD)"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("Empty: no daily limit."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("LLM endpoint")
        verbose_name_plural = _("LLM endpoints")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def api_key(self) -> str:
        """The key from the named environment variable, else the stored one; never logged."""
        if self.api_key_env:
            return os.environ.get(self.api_key_env, "")
        if self.api_key_encrypted:
            return crypto.decrypt(self.api_key_encrypted)
        return ""

    def set_api_key(self, plain: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plain) if plain else ""

    @property
    def has_stored_key(self) -> bool:
        return bool(self.api_key_encrypted)

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        return (
            Decimal(input_tokens) * self.input_price_per_million
            + Decimal(output_tokens) * self.output_price_per_million
        ) / Decimal(1_000_000)


class EndpointSpend(models.Model):
    """Money spent and reserved on an endpoint per day (UTC), for the daily budget."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="spend")
    day = models.DateField()
    spent_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    reserved_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("endpoint spend per day")
        verbose_name_plural = _("endpoint spend per day")
        ordering = ("-day", "endpoint")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "day"], name="endpoint_spend_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.day}"


class CachedResponse(models.Model):
    """A successful answer, keyed by the request hash: a repeated request is free."""

    request_hash = models.CharField(max_length=64, unique=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.SET_NULL, null=True, related_name="+")
    model = models.CharField(max_length=255)
    text = models.TextField()
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    latency_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("cached response")
        verbose_name_plural = _("cached responses")

    def __str__(self) -> str:
        return self.request_hash[:12]


class CallStatus(models.TextChoices):
    OK = "ok", _("Answered")
    CACHED = "cached", _("From cache")
    INVALID = "invalid", _("Answer failed validation")
    FAILED = "failed", _("Failed")
    BUDGET = "budget", _("Refused by budget")


class LLMCall(models.Model):
    """The ledger: one row per logical call, with what it cost and how it ended."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="calls")
    job = models.ForeignKey(
        "weaver_site.Job",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="llm_calls",
    )
    request_hash = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=8, choices=CallStatus.choices)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    latency_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    raw_text = models.TextField(
        blank=True, help_text=_("The answer as received, when it failed validation.")
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("LLM call")
        verbose_name_plural = _("LLM calls")
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["endpoint", "created_at"])]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status} {self.request_hash[:12]}"


class ItemStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class BatchItem(models.Model):
    """One request of a batch job (``Job.kind == "llm.batch"``) and what came back."""

    job = models.ForeignKey("weaver_site.Job", on_delete=models.CASCADE, related_name="llm_items")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()
    messages = models.JSONField()
    params = models.JSONField(default=dict, blank=True)
    schema = models.JSONField(null=True, blank=True)
    sample_index = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=8, choices=ItemStatus.choices, default=ItemStatus.PENDING, db_index=True
    )
    call = models.ForeignKey(
        LLMCall, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    text = models.TextField(blank=True)
    data = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("batch item")
        verbose_name_plural = _("batch items")
        ordering = ("job", "position")
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="batch_item_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.position}"
