"""Instruction pair API: read pairs with the browser's filters, and mark them good or bad.

Engineers, reviewers and admins, like the pages; the mark goes through the service.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from weaver_site.roles import ADMIN, ENGINEER, REVIEWER

from . import selectors, services
from .models import InstructionPair, PairMark, PairOrigin, PairStatus

PAIR_ROLES = (ENGINEER, REVIEWER, ADMIN)


class InstructionPairSerializer(serializers.ModelSerializer):
    """One shape for the list and a single pair (one schema component, so the ``status`` enum
    is named after it)."""

    task = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    subdomain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    span = serializers.PrimaryKeyRelatedField(read_only=True)
    source_text = serializers.PrimaryKeyRelatedField(read_only=True)
    job = serializers.PrimaryKeyRelatedField(read_only=True)
    endpoint = serializers.SlugRelatedField(slug_field="name", read_only=True)
    call = serializers.PrimaryKeyRelatedField(read_only=True)
    curation_endpoint = serializers.SlugRelatedField(slug_field="name", read_only=True)
    duplicate_of = serializers.PrimaryKeyRelatedField(read_only=True)
    pair_import = serializers.PrimaryKeyRelatedField(read_only=True)
    marked_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    fewshot_versions = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    curation_details = serializers.DictField(read_only=True)
    metadata = serializers.DictField(read_only=True)

    class Meta:
        model = InstructionPair
        fields = [
            "id",
            "origin",
            "status",
            "task",
            "domain",
            "subdomain",
            "language",
            "instruction",
            "context",
            "response",
            "reasoning",
            "span",
            "source_text",
            "pair_import",
            "source_line",
            "content_hash",
            "job",
            "endpoint",
            "model",
            "call",
            "request_hash",
            "recipe_version",
            "sample_index",
            "fewshot_versions",
            "cost_usd",
            "error",
            "raw_text",
            "curation_score",
            "curation_reason",
            "curation_details",
            "curation_prompt_version",
            "curation_endpoint",
            "duplicate_of",
            "mark",
            "marked_by",
            "marked_at",
            "metadata",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class InstructionPairMarkSerializer(serializers.Serializer):
    mark = serializers.CharField(
        allow_blank=True,
        help_text='"good", "bad", or "" to clear the mark.',
    )


PAIR_FILTER_PARAMS = [
    OpenApiParameter("q", str, description="Search in instructions and responses."),
    OpenApiParameter("task", str, description="Task slug."),
    OpenApiParameter("domain", str, description="Domain slug."),
    OpenApiParameter("subdomain", str, description="Subdomain slug."),
    OpenApiParameter("language", str),
    OpenApiParameter(
        "status",
        str,
        enum=[*PairStatus.values, selectors.STATUS_ALL],
        description="Empty: every status but failed; 'all': every status.",
    ),
    OpenApiParameter("origin", str, enum=PairOrigin.values),
    OpenApiParameter(
        "mark",
        str,
        enum=[PairMark.GOOD.value, PairMark.BAD.value, selectors.MARK_NONE],
        description="'none': pairs nobody has marked.",
    ),
    OpenApiParameter("job", int, description="Job id."),
    OpenApiParameter("min_score", int, description="Lowest curation score."),
    OpenApiParameter("max_score", int, description="Highest curation score."),
]


PAIR_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Pair id.")


@extend_schema_view(
    list=extend_schema(parameters=PAIR_FILTER_PARAMS),
    retrieve=extend_schema(parameters=[PAIR_ID]),
)
class InstructionPairViewSet(viewsets.ReadOnlyModelViewSet):
    """Instruction pairs (SFT data), newest first; mark one good or bad."""

    required_roles = PAIR_ROLES
    queryset = InstructionPair.objects.none()
    lookup_value_regex = r"\d+"

    serializer_class = InstructionPairSerializer

    def get_queryset(self):
        filters = selectors.InstructionPairFilters.from_params(self.request.query_params)
        # The API lists whole pairs: load the long columns the pages leave out.
        return (
            selectors.instruction_pair_list(filters=filters)
            .defer(None)
            .select_related("curation_endpoint")
        )

    def get_object(self):
        pair = selectors.instruction_pair_get(pk=self.kwargs["pk"])
        if pair is None:
            raise Http404
        self.check_object_permissions(self.request, pair)
        return pair

    @extend_schema(
        parameters=[PAIR_ID],
        request=InstructionPairMarkSerializer,
        responses=InstructionPairSerializer,
    )
    @action(detail=True, methods=["post"])
    def mark(self, request, pk=None):
        pair = self.get_object()
        data = InstructionPairMarkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair = services.instruction_pair_mark(
            pair=pair, user=request.user, mark=data.validated_data["mark"]
        )
        return Response(InstructionPairSerializer(pair).data)
