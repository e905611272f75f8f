from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from weaver_site.roles import ADMIN, STUDIO_ROLES, has_role

from .. import policy, services, transfer
from ..models import Domain, Subdomain, Task
from ..selectors import (
    PrincipleFilters,
    principle_display_version,
    principle_get,
    principle_list,
    principle_versions,
)
from .serializers import (
    CommentSerializer,
    DomainSerializer,
    ImportErrorSerializer,
    ImportResultSerializer,
    PrincipleCreateSerializer,
    PrincipleSerializer,
    SubdomainSerializer,
    TaskSerializer,
    VersionSerializer,
    VersionWriteSerializer,
)


class TaxonomyPermissionMixin:
    """Anyone with a role reads the taxonomy; only admins change it."""

    def check_permissions(self, request):
        super().check_permissions(request)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not has_role(request.user, ADMIN):
            self.permission_denied(request, message="Only admins change the taxonomy.")


class DomainViewSet(TaxonomyPermissionMixin, viewsets.ModelViewSet):
    queryset = Domain.objects.all()
    serializer_class = DomainSerializer
    lookup_field = "slug"


class SubdomainViewSet(TaxonomyPermissionMixin, viewsets.ModelViewSet):
    queryset = Subdomain.objects.select_related("domain")
    serializer_class = SubdomainSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        domain = self.request.query_params.get("domain")
        return qs.filter(domain__slug=domain) if domain else qs


class TaskViewSet(TaxonomyPermissionMixin, viewsets.ModelViewSet):
    queryset = Task.objects.all()
    serializer_class = TaskSerializer
    lookup_field = "slug"


FILTER_PARAMS = [
    OpenApiParameter("domain", str, description="Domain slug."),
    OpenApiParameter(
        "task", str, description="Task slug (matches principles for all tasks too), or 'all'."
    ),
    OpenApiParameter("language", str, enum=["zh", "en"]),
    OpenApiParameter("status", str, enum=["draft", "in_review", "approved", "retired"]),
    OpenApiParameter("owner", str, description="Owner's username."),
    OpenApiParameter("q", str, description="Search in titles, descriptions, cases and rationales."),
    OpenApiParameter(
        "in_use", bool, description="Only principles with an approved version in use."
    ),
]


@extend_schema_view(list=extend_schema(parameters=FILTER_PARAMS))
class PrincipleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PrincipleSerializer
    required_roles = STUDIO_ROLES

    def get_queryset(self):
        return principle_list(
            user=self.request.user, filters=PrincipleFilters.from_params(self.request.query_params)
        )

    def get_object(self):
        principle = principle_get(user=self.request.user, pk=self.kwargs["pk"])
        if principle is None:
            raise Http404
        return principle

    def _out(self, principle, code=status.HTTP_200_OK):
        principle.shown = principle_display_version(user=self.request.user, principle=principle)
        return Response(PrincipleSerializer(principle).data, status=code)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        for principle in page:
            principle.shown = principle_display_version(user=request.user, principle=principle)
        return self.get_paginated_response(PrincipleSerializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return self._out(self.get_object())

    @extend_schema(request=PrincipleCreateSerializer, responses={201: PrincipleSerializer})
    def create(self, request, *args, **kwargs):
        if not policy.can_create(request.user):
            raise PermissionDenied(_("Only authors and admins create principles."))
        data = PrincipleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principle = services.principle_create(
            owner=request.user,
            domain=data.validated_data["domain"],
            task=data.validated_data.get("task"),
            language=data.validated_data["language"],
            content=data.content(),
            change_note=data.validated_data.get("change_note", ""),
        )
        return self._out(principle, status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses=VersionSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=VersionWriteSerializer, responses={201: VersionSerializer}
    )
    @action(detail=True, methods=["get", "post"])
    def versions(self, request, pk=None):
        """GET: the versions you may read. POST: save an edit as a new draft version."""
        principle = self.get_object()
        if request.method == "GET":
            versions = principle_versions(user=request.user, principle=principle)
            return Response(VersionSerializer(versions, many=True).data)
        if not policy.can_edit(request.user, principle):
            raise PermissionDenied(
                _("Only the owner edits a principle, and not once it is retired.")
            )
        data = VersionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.principle_version_create(
            principle=principle,
            author=request.user,
            content=data.content(),
            change_note=data.validated_data.get("change_note", ""),
            domain=data.validated_data.get("domain"),
            task=data.validated_data.get("task"),
            set_task="task" in data.validated_data,
            language=data.validated_data.get("language"),
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=VersionSerializer)
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>\d+)")
    def version(self, request, pk=None, number=None):
        principle = self.get_object()
        version = (
            principle_versions(user=request.user, principle=principle).filter(number=number).first()
        )
        if version is None:
            raise Http404
        return Response(VersionSerializer(version).data)

    @extend_schema(request=None, responses=PrincipleSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        principle = self.get_object()
        services.principle_submit(principle=principle, user=request.user)
        return self._out(principle)

    @extend_schema(request=CommentSerializer, responses=PrincipleSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        principle = self.get_object()
        data = CommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.principle_approve(
            principle=principle, user=request.user, comment=data.validated_data["comment"]
        )
        return self._out(principle)

    @extend_schema(request=CommentSerializer, responses=PrincipleSerializer)
    @action(detail=True, methods=["post"], url_path="send-back")
    def send_back(self, request, pk=None):
        principle = self.get_object()
        data = CommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.principle_send_back(
            principle=principle, user=request.user, comment=data.validated_data["comment"]
        )
        return self._out(principle)

    @extend_schema(request=None, responses=PrincipleSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        principle = self.get_object()
        services.principle_retire(principle=principle, user=request.user)
        return self._out(principle)

    @extend_schema(
        description=(
            "Import principles from the JSON format of docs/principles-json.md, sent as the "
            "request body or as a multipart 'file'. All or nothing."
        ),
        request={"application/json": dict, "multipart/form-data": dict},
        responses={201: ImportResultSerializer, 400: ImportErrorSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[JSONParser, MultiPartParser],
    )
    def import_(self, request):
        if request.content_type.startswith("multipart/"):
            upload = request.FILES.get("file")
            if upload is None:
                return Response(
                    {"errors": [{"text": "Send the file in the multipart field 'file'."}]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
            payload = upload.read()
        else:
            payload = request._request.body
        try:
            created = transfer.principles_import(user=request.user, data=payload)
        except transfer.ImportRejected as exc:
            return Response(
                {"errors": [i.as_dict() for i in exc.issues]}, status=status.HTTP_400_BAD_REQUEST
            )
        return Response({"created": [p.pk for p in created]}, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=FILTER_PARAMS, responses=dict)
    @action(detail=False, methods=["get"])
    def export(self, request):
        return Response(transfer.principles_export(user=request.user, queryset=self.get_queryset()))
