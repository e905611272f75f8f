from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import BatchItem, CachedResponse, Endpoint, EndpointSpend, LLMCall
from .services import endpoint_test_connection


class EndpointForm(forms.ModelForm):
    """The API key is write-only: typed in, stored encrypted, never shown back."""

    base_url = forms.URLField(
        label=_("base URL"),
        required=False,
        assume_scheme="https",
        help_text=Endpoint._meta.get_field("base_url").help_text,
    )
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "Stored encrypted and never shown again. Leave empty to keep the stored key; "
            "prefer the API key variable where you can."
        ),
    )
    clear_api_key = forms.BooleanField(label=_("Remove the stored key"), required=False)

    class Meta:
        model = Endpoint
        fields = (
            "name",
            "backend",
            "base_url",
            "model",
            "is_active",
            "api_key_env",
            "max_concurrency",
            "requests_per_minute",
            "tokens_per_minute",
            "timeout_seconds",
            "max_attempts",
            "input_price_per_million",
            "output_price_per_million",
            "daily_budget_usd",
            "default_params",
            "json_mode",
        )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("backend") == "openai" and not cleaned.get("base_url"):
            self.add_error("base_url", _("An OpenAI-compatible endpoint needs a base URL."))
        if not isinstance(cleaned.get("default_params") or {}, dict):
            self.add_error("default_params", _("Give a JSON object."))
        return cleaned

    def save(self, commit=True):
        endpoint = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            endpoint.set_api_key("")
        elif self.cleaned_data.get("api_key"):
            endpoint.set_api_key(self.cleaned_data["api_key"])
        if commit:
            endpoint.save()
        return endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = (
        "name",
        "backend",
        "model",
        "base_url",
        "max_concurrency",
        "requests_per_minute",
        "tokens_per_minute",
        "daily_budget_usd",
        "key_source",
        "is_active",
    )
    list_filter = ("backend", "is_active", "json_mode")
    search_fields = ("name", "model", "base_url")
    actions = ["test_connection"]
    fieldsets = (
        (None, {"fields": ("name", "backend", "base_url", "model", "is_active")}),
        (_("Credentials"), {"fields": ("api_key_env", "api_key", "clear_api_key")}),
        (
            _("Limits"),
            {
                "fields": (
                    "max_concurrency",
                    "requests_per_minute",
                    "tokens_per_minute",
                    "timeout_seconds",
                    "max_attempts",
                )
            },
        ),
        (
            _("Prices and budget"),
            {
                "fields": (
                    "input_price_per_million",
                    "output_price_per_million",
                    "daily_budget_usd",
                )
            },
        ),
        (_("Generation"), {"fields": ("default_params", "json_mode")}),
    )

    @admin.display(description=_("API key"))
    def key_source(self, obj):
        if obj.api_key_env:
            return format_html("${}", obj.api_key_env)
        return _("stored (encrypted)") if obj.has_stored_key else "—"

    @admin.action(description=_("Test connection (one tiny request)"))
    def test_connection(self, request, queryset):
        for endpoint in queryset:
            try:
                result = endpoint_test_connection(endpoint=endpoint)
            except Exception as exc:  # shown to the admin, never raised into a 500 page
                self.message_user(request, f"{endpoint.name}: {exc}", messages.ERROR)
                continue
            if result.ok:
                self.message_user(
                    request,
                    _("%(name)s answered in %(ms)d ms: %(text)s")
                    % {"name": endpoint.name, "ms": result.latency_ms, "text": result.text[:200]},
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, f"{endpoint.name}: {result.error}", messages.ERROR)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LLMCall)
class LLMCallAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "endpoint",
        "job",
        "status",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
        "attempts",
    )
    list_filter = ("status", "endpoint")
    search_fields = ("request_hash", "error", "raw_text")
    list_select_related = ("endpoint", "job")
    date_hierarchy = "created_at"


@admin.register(CachedResponse)
class CachedResponseAdmin(ReadOnlyAdmin):
    list_display = (
        "request_hash",
        "endpoint",
        "model",
        "input_tokens",
        "output_tokens",
        "created_at",
    )
    list_filter = ("endpoint",)
    search_fields = ("request_hash", "text")


@admin.register(EndpointSpend)
class EndpointSpendAdmin(ReadOnlyAdmin):
    list_display = ("day", "endpoint", "spent_usd", "reserved_usd", "calls")
    list_filter = ("endpoint",)
    date_hierarchy = "day"


@admin.register(BatchItem)
class BatchItemAdmin(ReadOnlyAdmin):
    list_display = ("job", "position", "endpoint", "status", "error")
    list_filter = ("status", "endpoint")
    search_fields = ("text", "error")
    list_select_related = ("job", "endpoint")
