"""Corpus API: imports (upload, mapping, start, cancel, issues), texts and selections.

Engineers and admins only, like the pages; writes go through the importer's services.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from principles.models import Language
from weaver_site.llm.api import JobSerializer
from weaver_site.llm.models import Endpoint
from weaver_site.roles import ADMIN, ENGINEER

from . import selectors
from .corpus import importer
from .corpus.scoring import corpus_scoring_create
from .corpus.selection import selection_create
from .models import (
    CorpusImport,
    CorpusText,
    ImportFormat,
    ImportIssue,
    Selection,
    SelectionItem,
    TextSpan,
)

CORPUS_ROLES = (ENGINEER, ADMIN)


# --- serializers ----------------------------------------------------------------------------


class CorpusImportSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    progress = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = CorpusImport
        fields = [
            "id",
            "name",
            "format",
            "original_name",
            "size_bytes",
            "mapping",
            "defaults",
            "status",
            "created_by",
            "rows_total",
            "rows_read",
            "imported",
            "duplicates",
            "errors",
            "progress",
            "cancel_requested",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=ImportFormat.choices)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class MappingSerializer(serializers.Serializer):
    mapping = serializers.DictField(
        help_text="Target -> source field; 'signals' is a list of numeric fields."
    )
    defaults = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )


class ImportIssueSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportIssue
        fields = ["id", "file", "line", "reason", "excerpt"]
        read_only_fields = fields


class TextSpanSerializer(serializers.ModelSerializer):
    content = serializers.CharField(read_only=True)

    class Meta:
        model = TextSpan
        fields = ["ordinal", "start", "end", "content"]
        read_only_fields = fields


class CorpusTextListSerializer(serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    subdomain = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = CorpusText
        fields = [
            "id",
            "corpus_import",
            "title",
            "author",
            "language",
            "domain",
            "subdomain",
            "length",
            "verdict",
            "llm_score",
            "signals",
            "is_active",
            "cluster",
            "content_hash",
        ]
        read_only_fields = fields


class CorpusTextSerializer(CorpusTextListSerializer):
    spans = serializers.SerializerMethodField()

    class Meta(CorpusTextListSerializer.Meta):
        fields = CorpusTextListSerializer.Meta.fields + [
            "text",
            "source_file",
            "source_line",
            "source",
            "licence",
            "external_id",
            "verdict_reasons",
            "llm_reason",
            "llm_prompt_version",
            "created_at",
            "spans",
        ]
        read_only_fields = fields

    def get_spans(self, obj) -> list[dict]:
        return TextSpanSerializer([_with_text(s, obj) for s in obj.spans.all()], many=True).data


def _with_text(span, text):
    span.text = text  # the span's content reads the text already loaded
    return span


class SelectionItemSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="text.title", read_only=True)
    language = serializers.CharField(source="text.language", read_only=True)
    domain = serializers.CharField(source="text.domain.slug", read_only=True, default=None)
    subdomain = serializers.CharField(source="text.subdomain.slug", read_only=True, default=None)

    class Meta:
        model = SelectionItem
        fields = ["text", "rank", "score", "title", "language", "domain", "subdomain"]
        read_only_fields = fields


class SelectionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Selection
        fields = ["id", "name", "params", "size", "created_by", "created_at"]
        read_only_fields = fields


class SelectionDetailSerializer(SelectionSerializer):
    items = SelectionItemSerializer(many=True, read_only=True)

    class Meta(SelectionSerializer.Meta):
        fields = SelectionSerializer.Meta.fields + ["items"]
        read_only_fields = fields


# --- views ----------------------------------------------------------------------------------


class CorpusImportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Imports: upload a file (multipart), map its fields, start, cancel, read its issues."""

    serializer_class = CorpusImportSerializer
    required_roles = CORPUS_ROLES
    queryset = CorpusImport.objects.none()
    parser_classes = [MultiPartParser, JSONParser]

    def get_queryset(self):
        return selectors.import_list()

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST" and request.content_type.startswith("multipart/"):
            request.upload_handlers.insert(0, importer.LimitedUploadHandler(request))
        return super().initialize_request(request, *args, **kwargs)

    def _out(self, corpus_import, code=status.HTTP_200_OK):
        corpus_import.refresh_from_db()
        return Response(CorpusImportSerializer(corpus_import).data, status=code)

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={201: CorpusImportSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = UploadSerializer(data=request.data)
        limit = getattr(request._request, "upload_over_limit", None)
        if limit:
            raise exceptions.ValidationError(
                {"file": [f"The file is larger than the upload limit of {limit} bytes."]}
            )
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        corpus_import = importer.corpus_import_create(
            uploaded_file=upload,
            format=data.validated_data["format"],
            name=data.validated_data.get("name") or upload.name,
            created_by=request.user,
        )
        return self._out(corpus_import, status.HTTP_201_CREATED)

    @extend_schema(request=MappingSerializer, responses=CorpusImportSerializer)
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def mapping(self, request, pk=None):
        corpus_import = self.get_object()
        data = MappingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        corpus_import = importer.corpus_import_configure(
            corpus_import=corpus_import,
            mapping=data.validated_data["mapping"],
            defaults=data.validated_data.get("defaults") or {},
        )
        return self._out(corpus_import)

    @extend_schema(request=None, responses=CorpusImportSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        corpus_import = self.get_object()
        importer.corpus_import_start(corpus_import=corpus_import)
        return self._out(corpus_import)

    @extend_schema(request=None, responses=CorpusImportSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        corpus_import = self.get_object()
        importer.corpus_import_cancel(corpus_import=corpus_import)
        return self._out(corpus_import)

    @extend_schema(responses=ImportIssueSerializer(many=True))
    @action(detail=True, methods=["get"])
    def issues(self, request, pk=None):
        corpus_import = self.get_object()
        page = self.paginate_queryset(selectors.import_issues(corpus_import=corpus_import))
        return self.get_paginated_response(ImportIssueSerializer(page, many=True).data)


TEXT_FILTER_PARAMS = [
    OpenApiParameter("q", str, description="Search in titles and texts."),
    OpenApiParameter("language", str),
    OpenApiParameter("domain", str, description="Domain slug."),
    OpenApiParameter("subdomain", str, description="Subdomain slug."),
    OpenApiParameter("verdict", str, enum=["pending", "keep", "drop"]),
    OpenApiParameter("score_min", int),
    OpenApiParameter("score_max", int),
    OpenApiParameter("selection", int, description="Selection id."),
    OpenApiParameter("import", int, description="Import id."),
    OpenApiParameter("active", bool, description="Only active texts."),
]


@extend_schema_view(list=extend_schema(parameters=TEXT_FILTER_PARAMS))
class CorpusTextViewSet(viewsets.ReadOnlyModelViewSet):
    required_roles = CORPUS_ROLES
    queryset = CorpusText.objects.none()

    def get_serializer_class(self):
        return CorpusTextSerializer if self.action == "retrieve" else CorpusTextListSerializer

    def get_queryset(self):
        return selectors.text_list(
            filters=selectors.TextFilters.from_params(self.request.query_params)
        )

    def get_object(self):
        text = selectors.text_get(pk=self.kwargs["pk"])
        if text is None:
            raise Http404
        return text


class SelectionViewSet(viewsets.ReadOnlyModelViewSet):
    required_roles = CORPUS_ROLES
    queryset = Selection.objects.none()

    def get_serializer_class(self):
        return SelectionDetailSerializer if self.action == "retrieve" else SelectionSerializer

    def get_queryset(self):
        return selectors.selection_list()

    def get_object(self):
        selection = selectors.selection_get(pk=self.kwargs["pk"])
        if selection is None:
            raise Http404
        return selection


class SelectionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    top_n = serializers.IntegerField(min_value=1)
    weights = serializers.DictField(
        required=False,
        help_text='{"score": 1.0, "signals": {"upvotes": 0.5}}: see pairs/corpus/selection.py',
    )
    filters = serializers.DictField(
        required=False, help_text='{"language": "zh", "domain": "fiction", "min_score": 3}'
    )


class ScoringJobSerializer(serializers.Serializer):
    endpoint = serializers.PrimaryKeyRelatedField(queryset=Endpoint.objects.filter(is_active=True))
    budget_usd = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, required=False, allow_null=True
    )
    language = serializers.ChoiceField(
        choices=Language.choices, required=False, allow_blank=True, default=""
    )
    domain = serializers.SlugField(required=False, default="")
    import_id = serializers.IntegerField(required=False, allow_null=True)


class SelectionWriteViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Create a selection: the top ``top_n`` texts per domain and subdomain."""

    required_roles = CORPUS_ROLES
    serializer_class = SelectionCreateSerializer

    @extend_schema(request=SelectionCreateSerializer, responses={201: SelectionSerializer})
    def create(self, request, *args, **kwargs):
        data = SelectionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        selection = selection_create(created_by=request.user, **data.validated_data)
        return Response(SelectionSerializer(selection).data, status=status.HTTP_201_CREATED)


class ScoringJobViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Start an LLM quality-scoring job; watch it at ``/api/jobs/{id}/``."""

    required_roles = CORPUS_ROLES
    serializer_class = ScoringJobSerializer

    @extend_schema(request=ScoringJobSerializer, responses={201: JobSerializer})
    def create(self, request, *args, **kwargs):
        data = ScoringJobSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = corpus_scoring_create(created_by=request.user, **data.validated_data)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)
