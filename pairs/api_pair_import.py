"""Instruction pair imports over the API: upload a JSONL file (multipart), list and read the
imports with their issues. Engineers and admins only, like the pages."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from weaver_site.roles import ADMIN, ENGINEER

from .corpus.uploads import LimitedUploadHandler
from .generation import pair_import as service
from .models import PairImport, PairImportIssue


class PairImportIssueSerializer(serializers.ModelSerializer):
    class Meta:
        model = PairImportIssue
        fields = ["id", "line", "field", "reason", "excerpt"]
        read_only_fields = fields


class PairImportSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PairImport
        fields = [
            "id",
            "name",
            "original_name",
            "created_by",
            "rows_read",
            "imported",
            "duplicates",
            "errors",
            "created_at",
        ]
        read_only_fields = fields


class PairImportDetailSerializer(PairImportSerializer):
    issues = PairImportIssueSerializer(many=True, read_only=True)

    class Meta(PairImportSerializer.Meta):
        fields = PairImportSerializer.Meta.fields + ["issues"]
        read_only_fields = fields


class PairImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL: one pair per line (see the import page).")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    keep = serializers.BooleanField(
        required=False, default=False, help_text="Mark the imported pairs as kept."
    )


class PairImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Imports of ready-made instruction pairs: upload a file (runs the import at once), list
    them, read one with its issues."""

    required_roles = (ENGINEER, ADMIN)
    queryset = PairImport.objects.none()
    parser_classes = [MultiPartParser]

    def get_serializer_class(self):
        return PairImportSerializer if self.action == "list" else PairImportDetailSerializer

    def get_queryset(self):
        return service.pair_import_list()

    def get_object(self):
        pair_import = service.pair_import_get(pk=self.kwargs["pk"])
        if pair_import is None:
            raise Http404
        return pair_import

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST" and request.content_type.startswith("multipart/"):
            limit = service.upload_max_bytes() + service.UPLOAD_OVERHEAD_BYTES
            request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=limit))
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": PairImportUploadSerializer},
        responses={201: PairImportDetailSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = PairImportUploadSerializer(data=request.data)
        if getattr(request._request, "upload_over_limit", None):
            limit = service.upload_max_bytes()
            raise exceptions.ValidationError({"file": [service.too_large_message(limit)]})
        data.is_valid(raise_exception=True)
        pair_import = service.instruction_pairs_import_upload(
            uploaded_file=data.validated_data["file"],
            name=data.validated_data.get("name") or "",
            created_by=request.user,
            keep=data.validated_data["keep"],
        )
        return Response(
            PairImportDetailSerializer(pair_import).data, status=status.HTTP_201_CREATED
        )
