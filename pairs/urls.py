from django.urls import path

from . import views, views_jobs

app_name = "pairs"

urlpatterns = [
    path("", views.CorpusBrowserView.as_view(), name="browser"),
    path("stats/", views.StatsView.as_view(), name="stats"),
    path("texts/<int:pk>/", views.TextDetailView.as_view(), name="text-detail"),
    path("score/", views_jobs.ScoringStartView.as_view(), name="score"),
    path("clean/", views_jobs.CleaningView.as_view(), name="clean"),
    path("jobs/<int:pk>/", views_jobs.JobView.as_view(), name="job"),
    path("selections/new/", views_jobs.SelectionCreateView.as_view(), name="selection-create"),
    path("selections/<int:pk>/", views_jobs.SelectionDetailView.as_view(), name="selection"),
    path("imports/", views.ImportListView.as_view(), name="import-list"),
    path("imports/new/", views.ImportCreateView.as_view(), name="import-create"),
    path("imports/<int:pk>/", views.ImportDetailView.as_view(), name="import-detail"),
    path("imports/<int:pk>/mapping/", views.ImportMappingView.as_view(), name="import-mapping"),
    path("imports/<int:pk>/progress/", views.ImportProgressView.as_view(), name="import-progress"),
    path("imports/<int:pk>/start/", views.ImportStartView.as_view(), name="import-start"),
    path("imports/<int:pk>/cancel/", views.ImportCancelView.as_view(), name="import-cancel"),
]
