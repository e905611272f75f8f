"""The few-shot case API: read for every role; write per :mod:`principles.policy`."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from weaver_site.roles import STUDIO_ROLES

from .. import policy, services
from ..models import Domain, FewShotCase, FewShotCaseVersion, Language, Subdomain, Task
from ..selectors import FewShotFilters, fewshot_case_get, fewshot_case_list, fewshot_case_versions

# --- Serializers ---------------------------------------------------------------------------


class FewShotVersionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = FewShotCaseVersion
        fields = (
            "number",
            "source_span",
            "context",
            "instruction",
            "output",
            "rationale",
            "change_note",
            "author",
            "created_at",
        )
        read_only_fields = fields


class FewShotCaseSerializer(serializers.ModelSerializer):
    domain = serializers.CharField(source="subdomain.domain.slug", read_only=True)
    subdomain = serializers.CharField(source="subdomain.slug", read_only=True)
    subdomain_id = serializers.IntegerField(read_only=True)
    task = serializers.CharField(source="task.slug", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    latest_version = FewShotVersionSerializer(read_only=True)

    class Meta:
        model = FewShotCase
        fields = (
            "id",
            "domain",
            "subdomain",
            "subdomain_id",
            "task",
            "language",
            "owner",
            "is_active",
            "created_at",
            "updated_at",
            "latest_version",
        )
        read_only_fields = fields


class FewShotCaseDetailSerializer(FewShotCaseSerializer):
    versions = serializers.SerializerMethodField()

    class Meta(FewShotCaseSerializer.Meta):
        fields = (*FewShotCaseSerializer.Meta.fields, "versions")
        read_only_fields = fields

    def get_versions(self, obj) -> FewShotVersionSerializer(many=True):
        return FewShotVersionSerializer(fewshot_case_versions(case=obj), many=True).data


class FewShotWriteSerializer(serializers.Serializer):
    """A new version's content. ``domain`` + ``subdomain`` (slugs), ``task`` and ``language``
    move the case when given; PATCH keeps the content fields left out."""

    domain = serializers.SlugRelatedField(
        slug_field="slug", queryset=Domain.objects.all(), required=False
    )
    subdomain = serializers.CharField(
        required=False, help_text="Subdomain slug within 'domain' (both are needed to move)."
    )
    task = serializers.SlugRelatedField(
        slug_field="slug", queryset=Task.objects.all(), required=False
    )
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    source_span = serializers.CharField(trim_whitespace=False)
    context = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    instruction = serializers.CharField(trim_whitespace=False)
    output = serializers.CharField(trim_whitespace=False)
    rationale = serializers.CharField(trim_whitespace=False)
    change_note = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )

    def validate(self, attrs):
        domain, slug = attrs.get("domain"), attrs.pop("subdomain", None)
        if (domain is None) != (slug is None):
            missing = "subdomain" if slug is None else "domain"
            raise serializers.ValidationError({missing: _("Give the domain and the subdomain.")})
        if domain is not None:
            subdomain = Subdomain.objects.filter(domain=domain, slug=slug).first()
            if subdomain is None:
                raise serializers.ValidationError({"subdomain": _("No such subdomain here.")})
            attrs["subdomain_obj"] = subdomain
        return attrs

    def content(self) -> dict:
        return {f: self.validated_data.get(f, "") for f in FewShotCaseVersion.CONTENT_FIELDS}


class FewShotCreateSerializer(FewShotWriteSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", queryset=Domain.objects.all())
    subdomain = serializers.CharField(help_text="Subdomain slug within 'domain'.")
    task = serializers.SlugRelatedField(slug_field="slug", queryset=Task.objects.all())
    language = serializers.ChoiceField(choices=Language.choices)


# --- The view set --------------------------------------------------------------------------

FEWSHOT_FILTER_PARAMS = [
    OpenApiParameter("domain", str, description="Domain slug."),
    OpenApiParameter("subdomain", str, description="Subdomain id, or slug (with 'domain')."),
    OpenApiParameter("task", str, description="Task slug."),
    OpenApiParameter("language", str, enum=["zh", "en"]),
    OpenApiParameter("state", str, enum=["active", "retired"]),
    OpenApiParameter("owner", str, description="'mine', or an owner's username."),
    OpenApiParameter("q", str, description="Search in the latest version's content."),
]


@extend_schema_view(list=extend_schema(parameters=FEWSHOT_FILTER_PARAMS))
class FewShotCaseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Few-shot cases for instruction backtranslation. Saving (PUT/PATCH) makes a new version."""

    serializer_class = FewShotCaseSerializer
    required_roles = STUDIO_ROLES
    queryset = FewShotCase.objects.none()  # for the schema; reads go through the selectors

    def get_queryset(self):
        return fewshot_case_list(
            user=self.request.user, filters=FewShotFilters.from_params(self.request.query_params)
        )

    def get_object(self):
        case = fewshot_case_get(user=self.request.user, pk=self.kwargs["pk"])
        if case is None:
            raise Http404
        return case

    def get_serializer_class(self):
        return FewShotCaseDetailSerializer if self.action != "list" else FewShotCaseSerializer

    def _out(self, case, code=status.HTTP_200_OK):
        case = fewshot_case_get(user=self.request.user, pk=case.pk)
        return Response(FewShotCaseDetailSerializer(case).data, status=code)

    @extend_schema(request=FewShotCreateSerializer, responses={201: FewShotCaseDetailSerializer})
    def create(self, request, *args, **kwargs):
        if not policy.can_create_fewshot(request.user):
            raise PermissionDenied(_("Only authors and admins write few-shot cases."))
        data = FewShotCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = services.fewshot_case_create(
            owner=request.user,
            subdomain=data.validated_data["subdomain_obj"],
            task=data.validated_data["task"],
            language=data.validated_data["language"],
            content=data.content(),
            change_note=data.validated_data["change_note"],
        )
        return self._out(case, status.HTTP_201_CREATED)

    def _save_version(self, request, *, partial: bool):
        case = self.get_object()
        if not policy.can_edit_fewshot(request.user, case):
            raise PermissionDenied(_("Only the owner or an admin edits a few-shot case."))
        body = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
        if "subdomain" in body and "domain" not in body:
            body["domain"] = case.subdomain.domain.slug  # a subdomain of the same domain
        if partial and case.latest_version is not None:
            body = {**case.latest_version.content(), "change_note": "", **body}
        data = FewShotWriteSerializer(data=body)
        data.is_valid(raise_exception=True)
        services.fewshot_case_version_create(
            case=case,
            author=request.user,
            content=data.content(),
            change_note=data.validated_data["change_note"],
            subdomain=data.validated_data.get("subdomain_obj"),
            task=data.validated_data.get("task"),
            language=data.validated_data.get("language"),
        )
        return self._out(case)

    @extend_schema(request=FewShotWriteSerializer, responses=FewShotCaseDetailSerializer)
    def update(self, request, *args, **kwargs):
        """Save the whole content as a new version."""
        return self._save_version(request, partial=False)

    @extend_schema(request=FewShotWriteSerializer, responses=FewShotCaseDetailSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Save a new version; content fields left out keep the latest version's text."""
        return self._save_version(request, partial=True)

    @extend_schema(request=None, responses=FewShotCaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        case = self.get_object()
        services.fewshot_case_retire(case=case, user=request.user)
        return self._out(case)

    @extend_schema(request=None, responses=FewShotCaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        case = self.get_object()
        services.fewshot_case_restore(case=case, user=request.user)
        return self._out(case)
