from django.urls import path

from . import views_negatives, views_preferences

app_name = "preferences"

urlpatterns = [
    path("", views_preferences.PreferencePairListView.as_view(), name="list"),
    path("<int:pk>/", views_preferences.PreferencePairDetailView.as_view(), name="detail"),
    path(
        "principles/",
        views_preferences.PrincipleStatsView.as_view(),
        name="principle-stats",
    ),
    path("new/", views_negatives.NegativeJobStartView.as_view(), name="new"),
]
