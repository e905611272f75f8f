"""Shared API views: health and token login."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from .roles import has_role
from .selectors import health_report


class HealthView(APIView):
    """Anyone may ask whether the studio is up; details need a signed-in user with a role."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.ChoiceField(choices=["ok", "degraded", "down"]),
                "database": serializers.DictField(required=False),
                "broker": serializers.DictField(required=False),
                "queues": serializers.DictField(required=False),
            },
        )
    )
    def get(self, request):
        report = health_report()
        code = 503 if report["status"] == "down" else 200
        if not has_role(request.user):
            report = {"status": report["status"]}
        return Response(report, status=code)


class LoginThrottle(AnonRateThrottle):
    rate = "30/min"


class TokenView(ObtainAuthToken):
    """POST username and password; get the token for the ``Authorization: Token …`` header."""

    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=inline_serializer(
            "TokenRequest",
            {"username": serializers.CharField(), "password": serializers.CharField()},
        ),
        responses=inline_serializer("TokenResponse", {"token": serializers.CharField()}),
        description=str(_("Exchange a username and password for an API token.")),
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
