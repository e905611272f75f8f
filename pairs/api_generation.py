"""API that starts backtranslation, curation and negative-synthesis jobs, and keeps the best
instruction pairs.

Engineers and admins only, like the pages. Watch, pause, resume and cancel a job at
``/api/jobs/{id}/``.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from principles.models import Domain, Language, Task
from weaver_site.llm.api import JobSerializer
from weaver_site.llm.models import Endpoint
from weaver_site.roles import ADMIN, ENGINEER

from .generation import backtranslation, curation, negatives
from .generation.metrics import Thresholds
from .models import NegativeMode, PairOrigin, Selection

ROLES = (ENGINEER, ADMIN)


class BacktranslationJobSerializer(serializers.Serializer):
    selection = serializers.PrimaryKeyRelatedField(queryset=Selection.objects.all())
    tasks = serializers.SlugRelatedField(
        slug_field="slug", queryset=Task.objects.all(), many=True, allow_empty=False
    )
    endpoint = serializers.PrimaryKeyRelatedField(queryset=Endpoint.objects.filter(is_active=True))
    samples = serializers.IntegerField(
        min_value=1, max_value=backtranslation.MAX_SAMPLES, default=1
    )
    spans_per_text = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    temperature = serializers.FloatField(min_value=0, max_value=2, default=0.7)
    budget_usd = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, required=False, allow_null=True
    )


class PairScopeSerializer(serializers.Serializer):
    job_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    task = serializers.SlugRelatedField(
        slug_field="slug", queryset=Task.objects.all(), required=False, allow_null=True
    )
    domain = serializers.SlugRelatedField(
        slug_field="slug", queryset=Domain.objects.all(), required=False, allow_null=True
    )
    language = serializers.ChoiceField(
        choices=Language.choices, required=False, allow_blank=True, default=""
    )
    origin = serializers.ChoiceField(
        choices=PairOrigin.choices, required=False, allow_blank=True, default=""
    )

    def scope(self) -> dict:
        data = self.validated_data
        return {
            "job_id": data.get("job_id"),
            "task": data["task"].slug if data.get("task") else "",
            "domain": data["domain"].slug if data.get("domain") else "",
            "language": data.get("language", ""),
            "origin": data.get("origin", ""),
        }


class CurationJobSerializer(PairScopeSerializer):
    endpoint = serializers.PrimaryKeyRelatedField(queryset=Endpoint.objects.filter(is_active=True))
    budget_usd = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, required=False, allow_null=True
    )


class KeepSerializer(PairScopeSerializer):
    threshold = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
    quota = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    dedup_threshold = serializers.FloatField(min_value=0.3, max_value=1.0, default=0.7)


class KeepResultSerializer(serializers.Serializer):
    kept = serializers.IntegerField()
    dropped = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    unscored = serializers.IntegerField()


class BacktranslationJobViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Start a backtranslation job over a selection's spans."""

    required_roles = ROLES
    serializer_class = BacktranslationJobSerializer

    @extend_schema(request=BacktranslationJobSerializer, responses={201: JobSerializer})
    def create(self, request, *args, **kwargs):
        data = BacktranslationJobSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        job = backtranslation.backtranslation_create(
            selection=d["selection"],
            tasks=list(d["tasks"]),
            endpoint=d["endpoint"],
            samples=d["samples"],
            spans_per_text=d.get("spans_per_text"),
            budget_usd=d.get("budget_usd"),
            params={"temperature": d["temperature"]},
            created_by=request.user,
        )
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class CurationJobViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Start a job that scores instruction pairs 1-5 (Humpback-style curation)."""

    required_roles = ROLES
    serializer_class = CurationJobSerializer

    @extend_schema(request=CurationJobSerializer, responses={201: JobSerializer})
    def create(self, request, *args, **kwargs):
        data = CurationJobSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = curation.curation_create(
            endpoint=data.validated_data["endpoint"],
            budget_usd=data.validated_data.get("budget_usd"),
            created_by=request.user,
            **data.scope(),
        )
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class KeepViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Keep the best scored pairs per subdomain x task, collapsing near-duplicate
    instructions; returns how many were kept, dropped and collapsed."""

    required_roles = ROLES
    serializer_class = KeepSerializer

    @extend_schema(request=KeepSerializer, responses={200: KeepResultSerializer})
    def create(self, request, *args, **kwargs):
        data = KeepSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        counts = curation.instruction_pairs_keep(
            threshold=data.validated_data.get("threshold"),
            quota=data.validated_data.get("quota"),
            dedup_threshold=data.validated_data["dedup_threshold"],
            **data.scope(),
        )
        return Response(KeepResultSerializer(counts).data, status=status.HTTP_200_OK)


class PositivesSerializer(serializers.Serializer):
    domain = serializers.SlugField(required=False, default="", allow_blank=True)
    subdomain = serializers.SlugField(required=False, default="", allow_blank=True)
    task = serializers.SlugField(required=False, default="", allow_blank=True)
    language = serializers.ChoiceField(
        choices=Language.choices, required=False, allow_blank=True, default=""
    )
    min_score = serializers.IntegerField(
        min_value=1, max_value=5, required=False, allow_null=True, default=None
    )
    kept_only = serializers.BooleanField(required=False, default=True)
    top_n = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    job_id = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)


class ThresholdsSerializer(serializers.Serializer):
    min_char_similarity = serializers.FloatField(
        min_value=0, max_value=1, required=False, allow_null=True
    )
    max_edit_ratio = serializers.FloatField(min_value=0, required=False, allow_null=True)
    max_sentences_changed = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    min_length_ratio = serializers.FloatField(min_value=0, required=False, allow_null=True)
    max_length_ratio = serializers.FloatField(min_value=0, required=False, allow_null=True)


class NegativesJobSerializer(serializers.Serializer):
    endpoint = serializers.PrimaryKeyRelatedField(queryset=Endpoint.objects.filter(is_active=True))
    mode = serializers.ChoiceField(choices=NegativeMode.choices, default=NegativeMode.EXPLAIN)
    samples = serializers.IntegerField(min_value=1, max_value=negatives.MAX_SAMPLES, default=1)
    positives = PositivesSerializer(required=False)
    principles = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list
    )
    judge_endpoint = serializers.PrimaryKeyRelatedField(
        queryset=Endpoint.objects.filter(is_active=True), required=False, allow_null=True
    )
    thresholds = ThresholdsSerializer(
        required=False, help_text=f"Defaults: {Thresholds().as_dict()}; null turns a check off."
    )
    temperature = serializers.FloatField(min_value=0, max_value=2, default=0.7)
    budget_usd = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, required=False, allow_null=True
    )


class NegativesJobViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Start a constitutional-negatives job: per positive, a minimal rewrite that breaks one
    approved principle (``explain``: the model first names the principle; ``each``: one per
    matching principle)."""

    required_roles = ROLES
    serializer_class = NegativesJobSerializer

    @extend_schema(request=NegativesJobSerializer, responses={201: JobSerializer})
    def create(self, request, *args, **kwargs):
        data = NegativesJobSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        thresholds = {**Thresholds().as_dict(), **d.get("thresholds", {})}
        job = negatives.negatives_create(
            endpoint=d["endpoint"],
            mode=d["mode"],
            samples=d["samples"],
            positives=dict(d.get("positives") or {}),
            principle_ids=d["principles"],
            judge_endpoint=d.get("judge_endpoint"),
            thresholds=thresholds,
            budget_usd=d.get("budget_usd"),
            params={"temperature": d["temperature"]},
            created_by=request.user,
        )
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)
