from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .api import HealthView, TokenView
from .views import HealthPageView, HomeView

api_patterns = [
    path("health/", HealthView.as_view(), name="api-health"),
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("principles.api.urls")),
]

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("health/", HealthPageView.as_view(), name="health"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("principles/", include("principles.urls")),
    path("corpus/", include("pairs.urls")),
    path("pairs/preferences/", include("pairs.urls_preferences")),
    path("pairs/", include("pairs.urls_instructions")),
    path("review/", include("pairs.review.urls")),
    path("datasets/", include("pairs.datasets.urls")),
    path("training/", include("training.urls")),
    path("evaluation/", include("training.evaluation.urls")),
    path("arena/", include("training.evaluation.urls_arena")),
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
]
