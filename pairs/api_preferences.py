"""Preference pair API: read pairs with the list page's filters, and statistics per principle.

Engineers, reviewers and admins, like the pages. Read-only: pairs are made by negative
synthesis jobs and changed by review.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from weaver_site.roles import ADMIN, ENGINEER, REVIEWER

from . import selectors
from .models import JudgeVerdict, PreferencePair, PreferenceStatus

PREFERENCE_ROLES = (ENGINEER, REVIEWER, ADMIN)


class PreferencePairSerializer(serializers.ModelSerializer):
    """One shape for the list and a single pair."""

    principle = serializers.IntegerField(
        source="principle_version.principle_id",
        read_only=True,
        allow_null=True,
        help_text="Id of the principle the rejected response breaks.",
    )
    principle_version = serializers.PrimaryKeyRelatedField(read_only=True)
    principle_version_title = serializers.CharField(
        source="principle_version.title", read_only=True, allow_null=True
    )
    principle_version_number = serializers.IntegerField(
        source="principle_version.number", read_only=True, allow_null=True
    )
    positive = serializers.PrimaryKeyRelatedField(read_only=True)
    task = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    subdomain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    job = serializers.PrimaryKeyRelatedField(read_only=True)
    endpoint = serializers.SlugRelatedField(slug_field="name", read_only=True)
    judge_endpoint = serializers.SlugRelatedField(slug_field="name", read_only=True)
    reviewed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    offered_versions = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    metrics = serializers.DictField(read_only=True)
    flags = serializers.ListField(child=serializers.CharField(), read_only=True)
    params = serializers.DictField(read_only=True)
    request_hashes = serializers.DictField(child=serializers.CharField(), read_only=True)
    call_ids = serializers.DictField(read_only=True)

    class Meta:
        model = PreferencePair
        fields = [
            "id",
            "status",
            "mode",
            "positive",
            "principle",
            "principle_version",
            "principle_version_title",
            "principle_version_number",
            "offered_versions",
            "selection_reason",
            "task",
            "domain",
            "subdomain",
            "language",
            "instruction",
            "context",
            "chosen",
            "rejected",
            "rewrite_rationale",
            "metrics",
            "flags",
            "flagged",
            "judge_verdict",
            "judge_breaks_principle",
            "judge_otherwise_equal",
            "judge_reason",
            "judge_endpoint",
            "job",
            "endpoint",
            "model",
            "params",
            "prompt_version",
            "sample_index",
            "request_hashes",
            "call_ids",
            "cost_usd",
            "error",
            "raw_text",
            "reviewed_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class HistogramBinSerializer(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()
    count = serializers.IntegerField()


class MetricSummarySerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Pairs with this metric.")
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    bins = HistogramBinSerializer(many=True)


class PrincipleMetricsSerializer(serializers.Serializer):
    char_similarity = MetricSummarySerializer()
    edit_ratio = MetricSummarySerializer()
    sentences_changed = MetricSummarySerializer()
    length_ratio = MetricSummarySerializer()


class PrincipleStatsVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    title = serializers.CharField()
    pairs = serializers.IntegerField()


class PrincipleStatsSerializer(serializers.Serializer):
    principle = serializers.IntegerField(source="principle_id")
    title = serializers.CharField(help_text="Title of the newest version used.")
    domain = serializers.CharField(help_text="The principle's domain slug.")
    task = serializers.CharField(help_text="The principle's task slug (empty: every task).")
    language = serializers.CharField()
    versions = PrincipleStatsVersionSerializer(many=True)
    total = serializers.IntegerField(help_text="Pairs made with the principle, any status.")
    per_status = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=f"Pairs per status ({', '.join(PreferenceStatus.values)}).",
    )
    flagged = serializers.IntegerField()
    flagged_share = serializers.FloatField(
        allow_null=True, help_text="Flagged pairs over the pairs that did not fail."
    )
    judged = serializers.IntegerField()
    judge_pass = serializers.IntegerField()
    judge_fail = serializers.IntegerField()
    judge_pass_rate = serializers.FloatField(
        allow_null=True, help_text="Pairs the judge passed over the pairs it judged."
    )
    metrics = PrincipleMetricsSerializer()


PREFERENCE_FILTER_PARAMS = [
    OpenApiParameter("q", str, description="Search in instructions, chosen and rejected."),
    OpenApiParameter("principle", int, description="Principle id (any of its versions)."),
    OpenApiParameter("principle_version", int, description="Principle version id."),
    OpenApiParameter(
        "status",
        str,
        enum=[*PreferenceStatus.values, selectors.STATUS_ALL],
        description="Empty: every status but failed; 'all': every status.",
    ),
    OpenApiParameter(
        "flagged", str, enum=[selectors.FLAGGED_YES, selectors.FLAGGED_NO], description="Flagged."
    ),
    OpenApiParameter(
        "judge",
        str,
        enum=[JudgeVerdict.PASS.value, JudgeVerdict.FAIL.value, selectors.JUDGE_NONE],
        description="The judge's verdict; 'none': pairs not judged.",
    ),
    OpenApiParameter("domain", str, description="Domain slug."),
    OpenApiParameter("task", str, description="Task slug."),
    OpenApiParameter("language", str),
    OpenApiParameter("job", int, description="Job id."),
]
STATS_FILTER_PARAMS = [
    OpenApiParameter("domain", str, description="Domain slug of the pairs."),
    OpenApiParameter("task", str, description="Task slug of the pairs."),
    OpenApiParameter("language", str),
    OpenApiParameter("job", int, description="Job id."),
]
PAIR_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Pair id.")


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@extend_schema_view(
    list=extend_schema(parameters=PREFERENCE_FILTER_PARAMS),
    retrieve=extend_schema(parameters=[PAIR_ID]),
)
class PreferencePairViewSet(viewsets.ReadOnlyModelViewSet):
    """Preference pairs (Constitutional DPO), newest first; statistics per principle."""

    required_roles = PREFERENCE_ROLES
    queryset = PreferencePair.objects.none()
    lookup_value_regex = r"\d+"
    serializer_class = PreferencePairSerializer

    def get_queryset(self):
        filters = selectors.PreferencePairFilters.from_params(self.request.query_params)
        # The API lists whole pairs: load the long columns the page leaves out.
        return (
            selectors.preference_pair_list(filters=filters)
            .defer(None)
            .select_related("judge_endpoint", "reviewed_by")
        )

    def get_object(self):
        pair = selectors.preference_pair_get(pk=self.kwargs["pk"])
        if pair is None:
            raise Http404
        self.check_object_permissions(self.request, pair)
        return pair

    @extend_schema(
        parameters=STATS_FILTER_PARAMS,
        responses=PrincipleStatsSerializer(many=True),
    )
    @action(detail=False, methods=["get"], url_path="principle-stats", pagination_class=None)
    def principle_stats(self, request):
        params = request.query_params
        rows = selectors.principle_preference_stats(
            domain=(params.get("domain") or "").strip()[:64],
            task=(params.get("task") or "").strip()[:64],
            language=(params.get("language") or "").strip()[:8],
            job=_int(params.get("job")),
        )
        return Response(PrincipleStatsSerializer(rows, many=True).data)
