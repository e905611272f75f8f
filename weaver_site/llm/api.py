"""Read-only API of the gateway: endpoints (never their keys) and jobs with their spend."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from weaver_site.jobs import job_cancel, job_is_resumable, job_pause, job_resume
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
    params = serializers.SerializerMethodField(
        help_text="What the job works on and how. Long id lists are given as their length."
    )

    def get_params(self, obj) -> dict:
        return {
            key: len(value) if isinstance(value, list) and len(value) > 100 else value
            for key, value in (obj.params or {}).items()
        }

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
            "params",
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
    """Background jobs with progress, cost and budget; pause, resume and cancel.

    A running job stops after its chunk in flight; a resumed one continues where it stopped.
    Only resumable kinds (backtranslation, curation) pause and resume.
    """

    queryset = Job.objects.all()
    serializer_class = JobSerializer
    required_roles = (ENGINEER, ADMIN)

    def _act(self, change) -> Response:
        job = self.get_object()
        if not change(job=job):
            raise exceptions.ValidationError(
                {"status": f"not possible while the job is {job.status}"}
            )
        job.refresh_from_db()
        return Response(JobSerializer(job).data)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        if not job_is_resumable(self.get_object()):
            raise exceptions.ValidationError({"kind": "this kind of job does not pause"})
        return self._act(job_pause)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._act(job_resume)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(job_cancel)
