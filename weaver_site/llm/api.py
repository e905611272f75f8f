"""Read-only API of the gateway: endpoints (never their keys) and jobs with their spend."""

from rest_framework import serializers, viewsets

from weaver_site.models import Job
from weaver_site.roles import ADMIN, ENGINEER

from .models import Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    has_api_key = serializers.SerializerMethodField()

    class Meta:
        model = Endpoint
        fields = (
            "id",
            "name",
            "backend",
            "base_url",
            "model",
            "is_active",
            "max_concurrency",
            "requests_per_minute",
            "tokens_per_minute",
            "input_price_per_million",
            "output_price_per_million",
            "timeout_seconds",
            "max_attempts",
            "default_params",
            "json_mode",
            "daily_budget_usd",
            "has_api_key",
        )

    def get_has_api_key(self, obj) -> bool:
        return bool(obj.api_key_env or obj.api_key_encrypted)


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = (
            "id",
            "kind",
            "name",
            "status",
            "budget_usd",
            "spent_usd",
            "reserved_usd",
            "total",
            "done",
            "failed",
            "calls",
            "cache_hits",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        )


class EndpointViewSet(viewsets.ReadOnlyModelViewSet):
    """LLM endpoints jobs can use. Keys are never returned; ``has_api_key`` says if one is set."""

    queryset = Endpoint.objects.all()
    serializer_class = EndpointSerializer
    required_roles = (ENGINEER, ADMIN)


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Background jobs with progress, cost and budget."""

    queryset = Job.objects.all()
    serializer_class = JobSerializer
    required_roles = (ENGINEER, ADMIN)
